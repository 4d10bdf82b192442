"""What every reader shares: decoding with a counted fallback, sentence and paragraph splitting, documents."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..document import Document, SkipReport
from ..segmentation import split_sentences, unwrap

logger = logging.getLogger(__name__)

# A blank line (possibly holding spaces or tabs): the paragraph boundary of plain text.
_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n")


def check_splitter(splitter: str) -> None:
    """Fail at call time, not at the first document, on an unknown sentence splitter.

    `split_sentences` owns the list of splitters; asking it to split a tiny text is the one
    check that stays right when that list changes.
    """
    if not isinstance(splitter, str):
        raise ValueError(
            f"splitter must be a splitter name (e.g. 'blingfire', 'punctuation', 'none'), got {splitter!r}."
        )
    split_sentences("Check.", splitter)


def _check_encoding(encoding: str) -> None:
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError as error:
        raise ValueError(
            f"unknown fallback_encoding {encoding!r}; use a Python codec name such as 'latin-1' or 'cp1252'."
        ) from error


def _decode(data: bytes, fallback_encoding: str, report: SkipReport, where: str) -> str:
    """UTF-8 first; otherwise the fallback encoding, counted, so that no text is lost."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        report.add(f"invalid UTF-8 decoded as {fallback_encoding}", example=where)
        logger.warning(
            "%s is not valid UTF-8 (byte %d: %r); decoded as %s",
            where,
            error.start,
            data[error.start : error.start + 1],
            fallback_encoding,
        )
        try:
            return data.decode(fallback_encoding)
        except UnicodeDecodeError:
            # Only reachable with a partial fallback codec (latin-1 decodes every byte).
            report.add("undecodable bytes replaced", example=where)
            return data.decode(fallback_encoding, errors="replace")


def read_text_file(path: str | os.PathLike, report: SkipReport, fallback_encoding: str = "latin-1") -> str:
    """A text file as corpora are read (UTF-8, else the fallback encoding, counted; BOM removed);
    a missing or binary file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} is not a file; give the path of a text file")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ValueError(f"{str(path)!r} looks like a binary file (it has NUL bytes); give a plain-text file")
    return _strip_bom(_decode(data, fallback_encoding, report, str(path)), report, str(path))


def _strip_bom(text: str, report: SkipReport, where: str) -> str:
    if text.startswith("\ufeff"):
        report.add("UTF-8 byte-order mark removed", example=where)
        return text[1:]
    return text


def _iter_lines(path: Path, report: SkipReport, fallback_encoding: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its end) for each line of a file, read in a stream.

    Lines are split at b"\\n" only (not at the other separators `str.splitlines` knows, such
    as U+2028 or form feeds), so that line numbers match `wc -l` and one-item-per-line
    corpora keep their counts. Each line is decoded on its own: one bad byte costs one
    counted line, not the whole file.
    """
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = _decode(raw.rstrip(b"\r\n"), fallback_encoding, report, f"{path.name}:{number}")
            if number == 1:
                line = _strip_bom(line, report, f"{path.name}:1")
            yield number, line


def paragraph_sentences(text: str, splitter: str, report: SkipReport) -> list[str]:
    """Sentences of one paragraph, stripped, never empty."""
    sentences = [sentence.strip() for sentence in split_sentences(text, splitter)]
    kept = [sentence for sentence in sentences if sentence]
    if len(kept) < len(sentences):
        report.add("empty sentence dropped", len(sentences) - len(kept), example=text)
    return kept


def _paragraphs_from_text(
    text: str, splitter: str, report: SkipReport, *, single_newline_fallback: bool, per_line: bool = False
) -> list[list[str]]:
    """Paragraphs at blank lines, each unwrapped (hard line breaks joined) and split into sentences.

    With `single_newline_fallback`, a text that has no blank line at all is split at single
    newlines instead: records that store one paragraph per line (common in JSON corpora).
    With `per_line`, every non-empty line is a paragraph, whether or not the text has blank lines.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if per_line or (single_newline_fallback and not _BLANK_LINE.search(text)):
        blocks = text.split("\n")
    else:
        blocks = _BLANK_LINE.split(text)
    paragraphs = []
    for block in blocks:
        if not block.strip():
            continue  # runs of blank lines are layout, not content
        sentences = paragraph_sentences(unwrap(block), splitter, report)
        if sentences:
            paragraphs.append(sentences)
    return paragraphs


def document_from_text(
    text: str, doc_id: str, *, splitter: str = "blingfire", report: SkipReport | None = None
) -> Document:
    """One document from raw text (paragraphs at blank lines), e.g. a reference for style generation.

    Raises ValueError when nothing is left after segmentation.
    """
    check_splitter(splitter)
    paragraphs = _paragraphs_from_text(
        text, splitter, report if report is not None else SkipReport(), single_newline_fallback=False
    )
    if not paragraphs:
        raise ValueError(
            f"document {doc_id!r} is empty after segmentation ({len(text)} characters); give text with at least one sentence"
        )
    return Document(id=doc_id, paragraphs=paragraphs)


class _UniqueIds:
    """Make document ids unique within one reading by appending "#2", "#3", ... (counted)."""

    def __init__(self, report: SkipReport) -> None:
        self._seen: set[str] = set()
        self._report = report

    def __call__(self, doc_id: str) -> str:
        if doc_id in self._seen:
            self._report.add("repeated document id made unique", example=doc_id)
            k = 2
            while f"{doc_id}#{k}" in self._seen:
                k += 1
            doc_id = f"{doc_id}#{k}"
        self._seen.add(doc_id)
        return doc_id


def _document(doc_id: str, paragraphs: list[list[str]], report: SkipReport, **fields: Any) -> Document | None:
    """A `Document`, or None (counted as "empty document") when it has no paragraph."""
    paragraphs = [paragraph for paragraph in paragraphs if paragraph]
    if not paragraphs:
        report.add("empty document", example=doc_id)
        return None
    return Document(id=doc_id, paragraphs=paragraphs, **fields)


def _scalar_label(value: Any, field_name: str, report: SkipReport, where: str) -> str | None:
    """A label as a string: scalars are converted, lists/dicts/None leave the label empty (counted)."""
    if value is None:
        report.add(f"field '{field_name}' is null; label left empty", example=where)
        return None
    if isinstance(value, (str, int, float, bool)):
        return str(value)
    report.add(f"field '{field_name}' is not a scalar; label left empty", example=where)
    return None
