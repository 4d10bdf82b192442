"""Reader `lines`: One document per line (PTB, Yahoo Answers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..document import Document, SkipReport
from .common import (
    _check_encoding,
    _document,
    _iter_lines,
    check_splitter,
    paragraph_sentences,
)
from .registry import register_reader


@register_reader(
    "lines", path_kind="file", expects="a text file with one document per line (e.g. ptb.valid.txt, yahoo valid.txt)"
)
def read_lines(
    path: str | os.PathLike, *, report: SkipReport, splitter: str = "blingfire", fallback_encoding: str = "latin-1"
) -> Iterator[Document]:
    """One document of one paragraph per non-empty line; `id` is `"{file stem}:{line number}"`.

    Use `splitter="punctuation"` for lowercased pre-tokenized documents (Yahoo Answers of
    Yang et al. 2017) and `splitter="none"` for one-sentence-per-line corpora (PTB).
    Empty lines are counted as "empty line skipped".
    """
    check_splitter(splitter)
    _check_encoding(fallback_encoding)
    return _iter_lines_reader(Path(path), report, splitter, fallback_encoding)


def _iter_lines_reader(path: Path, report: SkipReport, splitter: str, fallback_encoding: str) -> Iterator[Document]:
    stem = path.stem
    any_line = False
    for number, line in _iter_lines(path, report, fallback_encoding):
        any_line = True
        text = line.strip()
        if not text:
            report.add("empty line skipped", example=f"{path.name}:{number}")
            continue
        document = _document(f"{stem}:{number}", [paragraph_sentences(text, splitter, report)], report)
        if document is not None:
            yield document
    if not any_line:
        report.add("empty file", example=str(path))
