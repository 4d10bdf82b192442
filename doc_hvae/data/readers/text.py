"""Reader `text`: Plain-text files or folder trees of them (Gutenberg books, `corpus/<label>/*.txt`)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from ..document import Document, SkipReport
from .common import (
    _check_encoding,
    _decode,
    _document,
    _paragraphs_from_text,
    _strip_bom,
    check_splitter,
)
from .registry import _did_you_mean, register_reader

LabelFrom = Literal["filename_prefix", "parent_folder"]
ParagraphsAt = Literal["blank_lines", "lines"]


@register_reader("text", path_kind="file_or_folder", expects="a plain-text file or a folder (tree) of .txt files")
def read_text(
    path: str | os.PathLike,
    *,
    report: SkipReport,
    splitter: str = "blingfire",
    separator: str | None = None,
    label_from: LabelFrom | None = None,
    title_line: bool = False,
    paragraphs: ParagraphsAt = "blank_lines",
    fallback_encoding: str = "latin-1",
) -> Iterator[Document]:
    """Plain-text books or articles: a file, or every `*.txt` in a folder and its subfolders
    (sorted by path; `corpus/<label>/*.txt`, scikit-learn's `load_files` layout, with
    `label_from: parent_folder`). A document's `id` is its path under the folder without `.txt`
    (`sport/001`; the file stem for files at the top).

    - `paragraphs`: "blank_lines" (the default: paragraphs are separated by blank lines and
      hard-wrapped lines are joined, `unwrap`) or "lines" (every non-empty line is a paragraph:
      corpora that store one paragraph per line, with or without blank lines between them).
    - One document per file (`id` = file stem), or, with `separator` (a regular expression,
      matched with `re.match` at the start of each stripped line), a new document at each
      matching line: the line becomes the `title`, not text, and `id` is
      `"{stem}:{k}"` (k = 1, 2, ...). Text before the first match is `"{stem}:0"` (counted).
    - Files that are not UTF-8 are decoded with `fallback_encoding` (counted once per file and
      logged with the file name).
    - `label_from`: "filename_prefix" (the stem before its first "-": `austen-emma.txt` ->
      "austen"), "parent_folder" (the name of the folder holding the file), or None.
    - `title_line`: the first non-blank line of each file (each section, with `separator`) is its
      title, not text.
    - Empty files are counted and skipped; other files in the tree (no `.txt`) are counted; hidden
      files and folders (`.git`, `.DS_Store`) are passed over.
    """
    check_splitter(splitter)
    _check_encoding(fallback_encoding)
    _check_layout_options(label_from, paragraphs)
    pattern = _compile_separator(separator)
    files, ignored, root = _text_files(Path(path))
    return _iter_text(
        files,
        root,
        ignored,
        report,
        splitter,
        pattern,
        label_from,
        title_line,
        paragraphs == "lines",
        fallback_encoding,
    )


def _check_layout_options(label_from: str | None, paragraphs: str) -> None:
    """`label_from` and `paragraphs` must name one of their choices."""
    if label_from not in (None, "filename_prefix", "parent_folder"):
        raise ValueError(
            f"label_from must be None, 'filename_prefix' or 'parent_folder', got {label_from!r}."
            + _did_you_mean(str(label_from), ["filename_prefix", "parent_folder"])
        )
    if paragraphs not in ("blank_lines", "lines"):
        raise ValueError(
            f"paragraphs must be 'blank_lines' (a blank line ends a paragraph) or 'lines' (one paragraph per "
            f"non-empty line), got {paragraphs!r}." + _did_you_mean(str(paragraphs), ["blank_lines", "lines"])
        )


def _compile_separator(separator: str | None) -> re.Pattern | None:
    if separator is None:
        return None
    try:
        return re.compile(separator)
    except re.error as error:
        raise ValueError(f"separator {separator!r} is not a valid regular expression: {error}") from error


def _text_files(path: Path) -> tuple[list[Path], list[str], Path]:
    """The .txt files to read (a file alone, or a folder tree's, sorted by path), the other files of the
    tree (counted when reading starts), and the folder that document ids are relative to."""
    files, ignored, root = [path], [], path.parent
    if path.is_dir():
        root = path
        entries = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        files = [p for p in entries if p.suffix == ".txt"]
        ignored = [str(p.relative_to(path)) for p in entries if p.suffix != ".txt"]  # counted when reading starts
        if not files:
            raise FileNotFoundError(
                f"folder {str(path)!r} has no .txt files (searched its subfolders too); reader 'text' expects a plain-text "
                "file or a folder of .txt files, e.g. corpus/<label>/<name>.txt"
            )
    return files, ignored, root


def _iter_text(
    files: list[Path],
    root: Path,
    ignored: list[str],
    report: SkipReport,
    splitter: str,
    pattern: re.Pattern | None,
    label_from: str | None,
    title_line: bool,
    per_line: bool,
    fallback_encoding: str,
) -> Iterator[Document]:
    for name in ignored:
        report.add("file without .txt suffix ignored", example=name)
    for file in files:
        where = file.relative_to(root).as_posix()
        doc_id = where.removesuffix(".txt")
        text = _strip_bom(_decode(file.read_bytes(), fallback_encoding, report, where), report, where)
        if not text.strip():
            report.add("empty file skipped", example=where)
            continue
        label = _text_label(file, label_from, report)
        if pattern is None:
            title, text = _title_and_body(text) if title_line else (None, text)
            document = _document(
                doc_id,
                _paragraphs_from_text(text, splitter, report, single_newline_fallback=False, per_line=per_line),
                report,
                label=label,
                title=title,
            )
            if document is not None:
                yield document
            continue
        yield from _split_at_separator(file, doc_id, text, pattern, report, splitter, label, title_line, per_line)


def _title_and_body(text: str) -> tuple[str | None, str]:
    """The first non-blank line (the title) and the text after it."""
    lines = text.lstrip().split("\n", 1)
    return lines[0].strip() or None, lines[1] if len(lines) > 1 else ""


def _text_label(file: Path, label_from: str | None, report: SkipReport) -> str | None:
    if label_from == "parent_folder":
        return file.resolve().parent.name
    if label_from == "filename_prefix":
        if "-" not in file.stem:
            report.add("file name has no '-'; whole stem used as label", example=file.name)
        return file.stem.split("-", 1)[0]
    return None


def _split_at_separator(
    file: Path,
    doc_id: str,
    text: str,
    pattern: re.Pattern,
    report: SkipReport,
    splitter: str,
    label: str | None,
    title_line: bool = False,
    per_line: bool = False,
) -> Iterator[Document]:
    """Documents of one file cut at lines matching `pattern` (the matching line is the title)."""
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if pattern.match(line.strip()):
            sections.append((line.strip(), []))
        else:
            sections[-1][1].append(line)
    for k, (title, lines) in enumerate(sections):
        body = "\n".join(lines)
        if k == 0:
            if not body.strip():
                continue  # nothing before the first separator
            report.add(
                "text before the first separator read as its own document", example=f"{file.name}: {body.strip()[:150]}"
            )
        if title_line and title is None:
            title, body = _title_and_body(body)
        document = _document(
            f"{doc_id}:{k}",
            _paragraphs_from_text(body, splitter, report, single_newline_fallback=False, per_line=per_line),
            report,
            label=label,
            title=title,
        )
        if document is not None:
            yield document
    if len(sections) == 1:
        report.add("file without a separator line read as one document", example=file.name)
