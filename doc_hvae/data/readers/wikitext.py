"""Reader `wikitext`: WikiText `wiki.*.tokens` / `wiki.*.raw`: an article per document."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..document import Document, SkipReport
from .common import (
    _check_encoding,
    _document,
    _iter_lines,
    _UniqueIds,
    check_splitter,
    paragraph_sentences,
)
from .registry import register_reader

# " = Title = ", " = = Section = = ", ...: the same run of "=" (space separated) on both sides.
_WIKI_HEADING = re.compile(r"^\s*(?P<open>=(?: =)*) (?P<text>\S.*?) (?P<close>=(?: =)*)\s*$")


@register_reader("wikitext", path_kind="file", expects="a WikiText file such as wiki.train.tokens or wiki.test.raw")
def read_wikitext(
    path: str | os.PathLike, *, report: SkipReport, splitter: str = "blingfire", fallback_encoding: str = "latin-1"
) -> Iterator[Document]:
    """Articles of a WikiText file (Merity et al. 2016), tokenized or raw.

    - An article starts at a ` = Title = ` line (one "=" each side); `id` and `title` are the
      title (a repeated title gets "#2", "#3", ...; counted).
    - ` = = Section = = ` and deeper headings are paragraph boundaries, not text (counted).
    - Every other non-empty line is one paragraph, split into sentences by `splitter`
      (blingfire handles the tokenized ` . ` + capital and `@.@` forms).
    - A heading line counts as a heading only with a blank line before and after it, as every
      real heading in WikiText has: the release also contains table fragments such as
      ` = Played , W = ` inside text, which are kept as text (counted). With this rule
      WikiText-2 has exactly 600 / 60 / 60 articles.
    - Lines before the first title form a document with id "untitled" (counted).
    """
    check_splitter(splitter)
    _check_encoding(fallback_encoding)
    return _iter_wikitext(Path(path), report, splitter, fallback_encoding)


def _iter_wikitext(path: Path, report: SkipReport, splitter: str, fallback_encoding: str) -> Iterator[Document]:
    unique = _UniqueIds(report)
    title: str | None = None
    paragraphs: list[list[str]] = []
    started = False  # whether any text or title has been seen (for the "untitled" document)

    def finish() -> Document | None:
        if title is None:
            if not paragraphs:
                return None
            report.add("text before the first title read as document 'untitled'", example=" ".join(paragraphs[0])[:200])
            return _document(unique("untitled"), paragraphs, report)
        return _document(unique(title), paragraphs, report, title=title)

    # One line of lookahead: a heading must be followed by a blank line.
    previous_blank = True
    lines = _iter_lines(path, report, fallback_encoding)
    current = next(lines, None)
    while current is not None:
        following = next(lines, None)
        number, line = current
        stripped = line.strip()
        if not stripped:
            previous_blank = True
            current = following
            continue
        match = _WIKI_HEADING.match(line)
        heading_level = 0
        if match and match["open"].count("=") == match["close"].count("="):
            next_blank = following is None or not following[1].strip()
            if previous_blank and next_blank:
                heading_level = match["open"].count("=")
            else:
                report.add(
                    "heading-like line without blank lines around it kept as text",
                    example=f"{path.name}:{number}: {stripped}",
                )
        if heading_level == 1:
            document = finish()
            if document is not None:
                yield document
            title, paragraphs = match["text"].strip(), []
        elif heading_level > 1:
            report.add("section heading used as paragraph boundary", example=stripped)
        else:
            sentences = paragraph_sentences(stripped, splitter, report)
            if sentences:
                paragraphs.append(sentences)
        started = True
        previous_blank = False
        current = following
    if started:
        document = finish()
        if document is not None:
            yield document
    else:
        report.add("empty file", example=str(path))
