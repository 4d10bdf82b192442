"""The documentation: README.md a user's page, docs/ one page per concern, links that land, metrics from the code."""

import re
from pathlib import Path

from conftest import REPO_ROOT
from doc_hvae.evaluation import definitions_markdown

README = REPO_ROOT / "README.md"
PAGES = [README, *sorted((REPO_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
ANCHOR = re.compile(r'<a id="([^"]+)"></a>')


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets are code, not links."""
    return re.sub(r"`[^`\n]*`", "", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))


def heading_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = page.read_text()
    found, seen = set(ANCHOR.findall(text)), {}
    for heading in re.findall(r"^#{1,6} (.+)$", prose(text), flags=re.M):
        slug = heading_slug(heading)
        found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")  # GitHub numbers repeated headings
        seen[slug] = seen.get(slug, 0) + 1
    return found


def test_metrics_page_is_generated_from_the_code():
    page = REPO_ROOT / "docs" / "metrics.md"
    assert page.read_text() == definitions_markdown(), (
        "docs/metrics.md differs from doc_hvae.evaluation.DEFINITIONS / doc_hvae.style.DEFINITION; regenerate it with\n"
        '  python -c \'import doc_hvae.evaluation as e; open("docs/metrics.md", "w").write(e.definitions_markdown())\''
    )


def test_readme_is_a_users_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move details to docs/ (at most 300)"


def test_every_relative_link_lands_on_a_file_and_an_anchor():
    broken = []
    for page in PAGES:
        for target in LINK.findall(prose(page.read_text())):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page.name}: {target} (no such anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_findings_anchors_are_unique_and_dated_history_lives_only_there():
    ids = ANCHOR.findall((REPO_ROOT / "docs" / "findings.md").read_text())
    assert len(ids) == len(set(ids)) and "gate-random-walk" in ids
    dated = [
        f"{page.name}: {date}"
        for page in PAGES
        if page.name != "findings.md"
        for date in re.findall(r"\b20\d\d-\d\d-\d\d\b", page.read_text())
    ]
    assert not dated, "dated history belongs in docs/findings.md: " + ", ".join(dated)
