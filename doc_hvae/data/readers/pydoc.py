"""Reader `pydoc`: CPython's own documentation topics (`pydoc_data.topics`): the corpus that needs no download."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..document import Document, SkipReport
from ..segmentation import unwrap
from .common import (
    _document,
    check_splitter,
    paragraph_sentences,
)
from .registry import register_reader

# reST-style heading underline, as pydoc's text rendering keeps it.
_UNDERLINE = re.compile(r"^\s*([*=\-~^])\1{2,}\s*$")
# Sphinx "rubric" lines such as "-[ Footnotes ]-".
_RUBRIC = re.compile(r"^\s*-\[ .* \]-\s*$")
# Admonition labels rendered on a line of their own; their body (indented) is prose.
_ADMONITIONS = frozenset(
    {"Note:", "See also:", "Warning:", "Important:", "Tip:", "Hint:", "Caution:", "Attention:", "Danger:", "Error:"}
)
_BULLET = re.compile(r"^\s*(?:[*\-+•]|\d+\.|\(\d+\))\s+")
# List markers removed from the start of a prose paragraph: "* ", "- ", "1. " are markup (and
# the sentence splitter would make "1." a sentence of its own).
_LIST_MARKER = re.compile(r"^(?:[*\-+•]|\d+\.)\s+")
# A BNF production ("if_stmt ::= ..."): grammar, whatever its indentation.
_GRAMMAR = re.compile(r"\s::=\s")


def _reads_as_prose(lines: list[str]) -> bool:
    """Whether a block reads as prose: a list item, or a capitalised (or quoted/emphasised)
    text that ends like a sentence. Grammar rules, code and debugger sessions do not."""
    if any(_GRAMMAR.search(line) for line in lines):
        return False
    if _BULLET.match(lines[0]):
        return True
    text = " ".join(" ".join(lines).split())
    starts = bool(re.match(r"^[A-Z\"“'*]", text))
    ends = text[-1] in '.!?:"”' or text.endswith((".)", "?)", "!)"))
    return starts and ends


@register_reader("pydoc", path_kind="none", expects="the documentation topics shipped with CPython (pydoc_data.topics)")
def read_pydoc(*, report: SkipReport, splitter: str = "blingfire") -> Iterator[Document]:
    """CPython's documentation topics (`pydoc_data.topics.topics`): a corpus that needs no download.

    Each topic is a document (`id` = topic key, `title` = its first heading). The text is
    pydoc's plain-text rendering of reST, read as blocks separated by blank lines, with
    these rules, applied in order:

    1. a line underlined with `*`, `=`, `-`, `~` or `^`, and rubrics like `-[ Footnotes ]-`,
       are headings: paragraph boundaries, not text; so are transitions (a lone `=====`);
    2. a block with a `>>>` line is an interactive example: skipped;
    3. a grid table (`+---+`): skipped;
    4. a block indented deeper than the text before it (the topic starts at column 0) is a
       literal block (code, grammar, debugger session) unless it reads as prose (a list
       item, or capitalised text that ends like a sentence, as a definition body or a note
       does); a block with a grammar production (`::=`) is always one; the blocks after it
       that are indented at least as deep belong to the same literal block: skipped;
    5. admonition labels ("Note:", "See also:") and definition terms (a one-line block with
       no sentence-final punctuation followed by a deeper block, e.g. `str.count(sub[,
       start[, end]])`) are skipped: they are markup, not prose;
    6. everything else is a prose paragraph: a leading list marker (`*`, `-`, `1.`) is
       removed, lines are unwrapped and split into sentences.

    Every skip is counted in `report`.
    """
    check_splitter(splitter)
    return _iter_pydoc(report, splitter)


def _iter_pydoc(report: SkipReport, splitter: str) -> Iterator[Document]:
    from pydoc_data.topics import topics

    for key in topics:  # the module's own order (alphabetical)
        title, paragraphs = _pydoc_topic(topics[key], splitter, report)
        document = _document(key, paragraphs, report, title=title)
        if document is not None:
            yield document


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _pydoc_topic(text: str, splitter: str, report: SkipReport) -> tuple[str | None, list[list[str]]]:
    lines = text.replace("\r\n", "\n").split("\n")
    title = _blank_out_headings(lines, report)
    return title, _prose_paragraphs(_blocks(lines), splitter, report)


def _blank_out_headings(lines: list[str], report: SkipReport) -> str | None:
    """Rule 1: blank out headings, rubrics and transitions (in place) so that they become block
    boundaries; return the first heading (the topic's title), or None."""
    title = None
    for i in range(len(lines) - 1):
        heading = lines[i].strip()
        if (
            heading
            and _UNDERLINE.match(lines[i + 1])
            and len(lines[i + 1].strip()) >= len(heading)
            and not _UNDERLINE.match(lines[i])
        ):
            title = title or heading
            report.add("section heading used as paragraph boundary", example=heading)
            lines[i] = lines[i + 1] = ""
    for i, line in enumerate(lines):
        if _RUBRIC.match(line):
            report.add("section heading used as paragraph boundary", example=line.strip())
            lines[i] = ""
        elif _UNDERLINE.match(line):  # a transition ("=====" on its own), not an underline
            report.add("transition line skipped", example=line.strip())
            lines[i] = ""
    return title


def _blocks(lines: list[str]) -> list[list[str]]:
    """The runs of non-blank lines."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines + [""]:
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    return blocks


def _prose_paragraphs(blocks: list[list[str]], splitter: str, report: SkipReport) -> list[list[str]]:
    """Rules 2-6: the blocks read as prose, each split into sentences; every other block is skipped (and counted)."""
    paragraphs: list[list[str]] = []
    literal_indent: int | None = None  # inside a literal block: the indentation of its first block
    previous_indent = 0  # indentation of the last block read as text (prose, label or term); prose starts at column 0
    for j, block in enumerate(blocks):
        indent = min(_indent(line) for line in block)
        first = block[0].strip()
        if literal_indent is not None and indent >= literal_indent:
            report.add("code block skipped", example=first)
            continue
        literal_indent = None
        if any(line.lstrip().startswith(">>>") for line in block):  # rule 2
            report.add("interactive example skipped", example=first)
            continue
        if first.startswith(("+-", "+=")):  # rule 3
            report.add("table skipped", example=first)
            continue
        if (indent > previous_indent or any(_GRAMMAR.search(line) for line in block)) and not _reads_as_prose(
            block
        ):  # rule 4
            report.add("code block skipped", example=first)
            literal_indent = indent
            continue
        previous_indent = indent
        next_indent = min(_indent(line) for line in blocks[j + 1]) if j + 1 < len(blocks) else -1
        if len(block) == 1 and first in _ADMONITIONS:  # rule 5
            report.add("admonition label skipped", example=first)
            continue
        if len(block) == 1 and next_indent > indent and not re.search(r"[.:!?]$", first):
            # Mostly signatures ("str.count(sub[, start[, end]])"); also the odd caption that
            # introduces code without a colon ("is roughly equivalent to").
            report.add("definition term skipped", example=first)
            continue
        sentences = _prose_sentences(block, splitter, report)  # rule 6
        if sentences:
            paragraphs.append(sentences)
    return paragraphs


def _prose_sentences(block: list[str], splitter: str, report: SkipReport) -> list[str]:
    """Rule 6: a prose block unwrapped, without its leading list marker, split into sentences."""
    prose = unwrap("\n".join(line.strip() for line in block))
    if _LIST_MARKER.match(prose):
        report.add("list marker removed", example=prose)
        prose = _LIST_MARKER.sub("", prose, count=1)
    return paragraph_sentences(prose, splitter, report)
