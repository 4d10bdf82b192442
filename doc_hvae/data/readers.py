"""Corpus readers: turn a corpus on disk (or on the Hub) into a stream of `Document`s.

Every reader is a function registered in `READERS` under a short name. Each one

- takes the corpus location (`path`, except `pydoc`), a keyword-only `report: SkipReport` and
  its own keyword-only options;
- checks its options when called and returns a lazy iterator, so bad options fail at once
  but a large corpus is never read into memory before the first document is needed;
- yields documents whose paragraphs and sentences are never empty, and counts in `report`
  every line, field, heading or file it skipped or changed, with a first example.

Use `read_corpus(name, path, report=..., **options)`: it also checks the reader name, the
path and the option names, and gives errors that say what was expected.

Readers and their corpora:

| reader     | corpus                                                       | document          |
| ---        | ---                                                          | ---               |
| `wikitext` | WikiText `wiki.*.tokens` / `wiki.*.raw`                       | an article        |
| `lines`    | one document per line (PTB, Yahoo Answers of Yang et al.)    | a line            |
| `text`     | a plain-text file or a folder of `.txt` files (Gutenberg)    | a file or chapter |
| `jsonl`    | JSON lines, optional split TSV (arXiv abstracts)             | a record          |
| `hf`       | any `datasets` dataset: Hub name, `save_to_disk` folder, data file | a row       |
| `pydoc`    | CPython's own documentation topics (`pydoc_data.topics`)     | a topic           |
"""

from __future__ import annotations

import csv
import difflib
import inspect
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .document import Document, SkipReport
from .segmentation import split_sentences, unwrap

logger = logging.getLogger(__name__)

__all__ = ["READERS", "read_corpus", "register_reader", "normalise_split", "document_from_text", "read_text_file"]

# Split names as the corpora spell them -> the names `Document.split` uses everywhere else.
_SPLIT_NAMES = {"train": "train", "training": "train", "valid": "validation", "validation": "validation",
                "val": "validation", "dev": "validation", "test": "test"}

# A blank line (possibly holding spaces or tabs): the paragraph boundary of plain text.
_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n")


def normalise_split(name: str) -> str:
    """Map a corpus' split name to the toolkit's ("valid"/"dev" -> "validation"); keep others as is."""
    return _SPLIT_NAMES.get(name.strip().lower(), name.strip())


# --------------------------------------------------------------------------------------------
# Registry and entry point
# --------------------------------------------------------------------------------------------

PathKind = Literal["file", "file_or_folder", "dataset", "none"]


@dataclass(frozen=True)
class _ReaderSpec:
    """How `read_corpus` checks the path of one reader before delegating to it."""

    path_kind: PathKind
    expects: str  # what the path should be, for error messages


READERS: dict[str, Callable[..., Iterator[Document]]] = {}
_SPECS: dict[str, _ReaderSpec] = {}


def register_reader(name: str, *, path_kind: PathKind, expects: str) -> Callable[[Callable[..., Iterator[Document]]], Callable[..., Iterator[Document]]]:
    """Register a reader under `name`.

    `path_kind` says what `read_corpus` checks before calling it: "file" and "file_or_folder"
    must exist on disk, "none" takes no path, "dataset" is a local path or a Hub name.
    `expects` describes the path for error messages ("a WikiText file such as ...").
    The reader's keyword-only parameters (other than `report`) are its options.
    """

    def decorate(function: Callable[..., Iterator[Document]]) -> Callable[..., Iterator[Document]]:
        READERS[name] = function
        _SPECS[name] = _ReaderSpec(path_kind=path_kind, expects=expects)
        return function

    return decorate


def _did_you_mean(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def reader_options(reader: str) -> list[str]:
    """The option names `reader` accepts (its keyword-only parameters other than `report`)."""
    signature = inspect.signature(READERS[reader])
    return [name for name, parameter in signature.parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "report"]


def read_corpus(reader: str, path: str | os.PathLike | None = None, *, report: SkipReport, **options: Any) -> Iterator[Document]:
    """Read a corpus with the reader registered as `reader`.

    Args:
        reader: a key of `READERS` (wikitext, lines, text, jsonl, hf, pydoc).
        path: the corpus file or folder; a Hub dataset name for `hf`; None for `pydoc`.
        report: receives a count (and a first example) of everything skipped or changed.
        **options: the reader's own options, e.g. `splitter="punctuation"` for `lines`.

    Returns:
        A lazy iterator of documents. Everything that can be checked without reading the
        corpus (reader name, path, option names and values) is checked here, at call time.

    Raises:
        ValueError: unknown reader name, or a bad option value.
        FileNotFoundError: the path does not exist (or is missing for a reader that needs one).
        TypeError: an option the reader does not accept.
    """
    if reader not in READERS:
        raise ValueError(f"unknown corpus reader {reader!r}; available readers: {', '.join(sorted(READERS))}."
                         + _did_you_mean(reader, READERS))
    spec = _SPECS[reader]
    allowed = reader_options(reader)
    unknown = [name for name in options if name not in allowed]
    if unknown:
        hints = "".join(_did_you_mean(name, allowed) for name in unknown)
        raise TypeError(f"reader {reader!r} got unknown option(s) {', '.join(map(repr, unknown))}; "
                        f"its options are: {', '.join(allowed) or '(none)'}.{hints}")
    if spec.path_kind == "none":
        if path is not None:
            raise ValueError(f"reader {reader!r} reads {spec.expects} and takes no path, but got path={str(path)!r}.")
        return READERS[reader](report=report, **options)
    if path is None:
        raise FileNotFoundError(f"reader {reader!r} needs a path: {spec.expects}.")
    if spec.path_kind in ("file", "file_or_folder"):
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"corpus path {str(path)!r} does not exist; reader {reader!r} expects {spec.expects}.")
        if spec.path_kind == "file" and path.is_dir():
            raise IsADirectoryError(f"corpus path {str(path)!r} is a folder; reader {reader!r} expects {spec.expects}.")
    # "dataset" paths are checked by the hf reader itself: a missing local path is an error,
    # anything else is a Hub name.
    return READERS[reader](path, report=report, **options)


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _check_splitter(splitter: str) -> None:
    """Fail at call time, not at the first document, on an unknown sentence splitter.

    `split_sentences` owns the list of splitters; asking it to split a tiny text is the one
    check that stays right when that list changes.
    """
    if not isinstance(splitter, str):
        raise ValueError(f"splitter must be a splitter name (e.g. 'blingfire', 'punctuation', 'none'), got {splitter!r}.")
    split_sentences("Check.", splitter)


def _check_encoding(encoding: str) -> None:
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError as error:
        raise ValueError(f"unknown fallback_encoding {encoding!r}; use a Python codec name such as 'latin-1' or 'cp1252'.") from error


def _decode(data: bytes, fallback_encoding: str, report: SkipReport, where: str) -> str:
    """UTF-8 first; otherwise the fallback encoding, counted, so that no text is lost."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        report.add(f"invalid UTF-8 decoded as {fallback_encoding}", example=where)
        logger.warning("%s is not valid UTF-8 (byte %d: %r); decoded as %s", where, error.start,
                       data[error.start:error.start + 1], fallback_encoding)
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


def _sentences(text: str, splitter: str, report: SkipReport) -> list[str]:
    """Sentences of one paragraph, stripped, never empty."""
    sentences = [sentence.strip() for sentence in split_sentences(text, splitter)]
    kept = [sentence for sentence in sentences if sentence]
    if len(kept) < len(sentences):
        report.add("empty sentence dropped", len(sentences) - len(kept), example=text)
    return kept


def _paragraphs_from_text(text: str, splitter: str, report: SkipReport, *, single_newline_fallback: bool) -> list[list[str]]:
    """Paragraphs at blank lines, each unwrapped (hard line breaks joined) and split into sentences.

    With `single_newline_fallback`, a text that has no blank line at all is split at single
    newlines instead: records that store one paragraph per line (common in JSON corpora).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if single_newline_fallback and not _BLANK_LINE.search(text):
        blocks = text.split("\n")
    else:
        blocks = _BLANK_LINE.split(text)
    paragraphs = []
    for block in blocks:
        if not block.strip():
            continue  # runs of blank lines are layout, not content
        sentences = _sentences(unwrap(block), splitter, report)
        if sentences:
            paragraphs.append(sentences)
    return paragraphs


def document_from_text(text: str, doc_id: str, *, splitter: str = "blingfire", report: SkipReport | None = None) -> Document:
    """One document from raw text (paragraphs at blank lines), e.g. a reference for style generation.

    Raises ValueError when nothing is left after segmentation.
    """
    _check_splitter(splitter)
    paragraphs = _paragraphs_from_text(text, splitter, report if report is not None else SkipReport(), single_newline_fallback=False)
    if not paragraphs:
        raise ValueError(f"document {doc_id!r} is empty after segmentation ({len(text)} characters); give text with at least one sentence")
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


# --------------------------------------------------------------------------------------------
# wikitext
# --------------------------------------------------------------------------------------------

# " = Title = ", " = = Section = = ", ...: the same run of "=" (space separated) on both sides.
_WIKI_HEADING = re.compile(r"^\s*(?P<open>=(?: =)*) (?P<text>\S.*?) (?P<close>=(?: =)*)\s*$")


@register_reader("wikitext", path_kind="file", expects="a WikiText file such as wiki.train.tokens or wiki.test.raw")
def read_wikitext(path: str | os.PathLike, *, report: SkipReport, splitter: str = "blingfire",
                  fallback_encoding: str = "latin-1") -> Iterator[Document]:
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
    _check_splitter(splitter)
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
                report.add("heading-like line without blank lines around it kept as text", example=f"{path.name}:{number}: {stripped}")
        if heading_level == 1:
            document = finish()
            if document is not None:
                yield document
            title, paragraphs = match["text"].strip(), []
        elif heading_level > 1:
            report.add("section heading used as paragraph boundary", example=stripped)
        else:
            sentences = _sentences(stripped, splitter, report)
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


# --------------------------------------------------------------------------------------------
# lines
# --------------------------------------------------------------------------------------------


@register_reader("lines", path_kind="file", expects="a text file with one document per line (e.g. ptb.valid.txt, yahoo valid.txt)")
def read_lines(path: str | os.PathLike, *, report: SkipReport, splitter: str = "blingfire",
               fallback_encoding: str = "latin-1") -> Iterator[Document]:
    """One document of one paragraph per non-empty line; `id` is `"{file stem}:{line number}"`.

    Use `splitter="punctuation"` for lowercased pre-tokenized documents (Yahoo Answers of
    Yang et al. 2017) and `splitter="none"` for one-sentence-per-line corpora (PTB).
    Empty lines are counted as "empty line skipped".
    """
    _check_splitter(splitter)
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
        document = _document(f"{stem}:{number}", [_sentences(text, splitter, report)], report)
        if document is not None:
            yield document
    if not any_line:
        report.add("empty file", example=str(path))


# --------------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------------

LabelFrom = Literal["filename_prefix", "parent_folder"]


@register_reader("text", path_kind="file_or_folder", expects="a plain-text file or a folder of .txt files")
def read_text(path: str | os.PathLike, *, report: SkipReport, splitter: str = "blingfire",
              separator: str | None = None, label_from: LabelFrom | None = None,
              fallback_encoding: str = "latin-1") -> Iterator[Document]:
    """Plain-text books or articles: a file, or every `*.txt` in a folder (sorted, not recursive).

    - Paragraphs are separated by blank lines; hard-wrapped lines are joined (`unwrap`).
    - One document per file (`id` = file stem), or, with `separator` (a regular expression,
      matched with `re.match` at the start of each stripped line), a new document at each
      matching line: the line becomes the `title`, not text, and `id` is
      `"{stem}:{k}"` (k = 1, 2, ...). Text before the first match is `"{stem}:0"` (counted).
    - Files that are not UTF-8 are decoded with `fallback_encoding` (counted once per file and
      logged with the file name).
    - `label_from`: "filename_prefix" (the stem before its first "-": `austen-emma.txt` ->
      "austen"), "parent_folder" (the folder's name), or None.
    - Empty files are counted and skipped; files in the folder without `.txt` are counted.
    """
    _check_splitter(splitter)
    _check_encoding(fallback_encoding)
    if label_from not in (None, "filename_prefix", "parent_folder"):
        raise ValueError(f"label_from must be None, 'filename_prefix' or 'parent_folder', got {label_from!r}."
                         + _did_you_mean(str(label_from), ["filename_prefix", "parent_folder"]))
    pattern = None
    if separator is not None:
        try:
            pattern = re.compile(separator)
        except re.error as error:
            raise ValueError(f"separator {separator!r} is not a valid regular expression: {error}") from error
    path = Path(path)
    files, ignored = [path], []
    if path.is_dir():
        entries = sorted(p for p in path.iterdir() if p.is_file())
        files = [p for p in entries if p.suffix == ".txt"]
        ignored = [p.name for p in entries if p.suffix != ".txt"]  # counted when reading starts
        if not files:
            raise FileNotFoundError(f"folder {str(path)!r} has no .txt files; reader 'text' expects a plain-text file or a folder of .txt files.")
    return _iter_text(files, ignored, report, splitter, pattern, label_from, fallback_encoding)


def _iter_text(files: list[Path], ignored: list[str], report: SkipReport, splitter: str, pattern: re.Pattern | None,
               label_from: str | None, fallback_encoding: str) -> Iterator[Document]:
    for name in ignored:
        report.add("file without .txt suffix ignored", example=name)
    for file in files:
        text = _strip_bom(_decode(file.read_bytes(), fallback_encoding, report, file.name), report, file.name)
        if not text.strip():
            report.add("empty file skipped", example=file.name)
            continue
        label = _text_label(file, label_from, report)
        if pattern is None:
            document = _document(file.stem, _paragraphs_from_text(text, splitter, report, single_newline_fallback=False),
                                 report, label=label)
            if document is not None:
                yield document
            continue
        yield from _split_at_separator(file, text, pattern, report, splitter, label)


def _text_label(file: Path, label_from: str | None, report: SkipReport) -> str | None:
    if label_from == "parent_folder":
        return file.resolve().parent.name
    if label_from == "filename_prefix":
        if "-" not in file.stem:
            report.add("file name has no '-'; whole stem used as label", example=file.name)
        return file.stem.split("-", 1)[0]
    return None


def _split_at_separator(file: Path, text: str, pattern: re.Pattern, report: SkipReport, splitter: str,
                        label: str | None) -> Iterator[Document]:
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
            report.add("text before the first separator read as its own document", example=f"{file.name}: {body.strip()[:150]}")
        document = _document(f"{file.stem}:{k}", _paragraphs_from_text(body, splitter, report, single_newline_fallback=False),
                             report, label=label, title=title)
        if document is not None:
            yield document
    if len(sections) == 1:
        report.add("file without a separator line read as one document", example=file.name)


# --------------------------------------------------------------------------------------------
# jsonl
# --------------------------------------------------------------------------------------------


@register_reader("jsonl", path_kind="file", expects="a JSON-lines file (one JSON object per line)")
def read_jsonl(path: str | os.PathLike, *, report: SkipReport, text_field: str = "text", label_field: str | None = None,
               id_field: str | None = None, title_field: str | None = None, split_file: str | os.PathLike | None = None,
               splitter: str = "blingfire", fallback_encoding: str = "latin-1") -> Iterator[Document]:
    """One document per JSON object.

    - Paragraphs: the text split at blank lines, or at single newlines when it has no blank
      line; each paragraph unwrapped and split into sentences.
    - `id_field` (default: `"{file stem}:{line number}"`), `label_field`, `title_field` are
      optional; a record that lacks one of them is counted and gets the default.
    - `split_file`: a TSV with header `doc_id<TAB>split[<TAB>label]` that sets `Document.split`
      ("valid"/"dev" become "validation") and, when `label_field` is not given, the label.
      Documents absent from it are yielded with `split=None` and counted; its ids that no
      document had are counted at the end.
    - Lines that are not JSON, not an object, lack `text_field`, or whose text is empty or not
      a string are counted (first line number as example) and skipped.
    """
    _check_splitter(splitter)
    _check_encoding(fallback_encoding)
    if not isinstance(text_field, str) or not text_field:
        raise ValueError(f"text_field must be a field name, got {text_field!r}.")
    splits = _read_split_file(Path(split_file)) if split_file is not None else None
    return _iter_jsonl(Path(path), report, text_field, label_field, id_field, title_field, splits, splitter, fallback_encoding)


def _read_split_file(path: Path) -> dict[str, tuple[str, str | None]]:
    """doc_id -> (split, label or None) from a TSV with a header naming `doc_id` and `split`."""
    if not path.is_file():
        raise FileNotFoundError(f"split_file {str(path)!r} does not exist; expected a TSV with header 'doc_id<TAB>split[<TAB>label]'.")
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        missing = [column for column in ("doc_id", "split") if column not in (rows.fieldnames or [])]
        if missing:
            raise ValueError(f"split_file {str(path)!r} lacks column(s) {', '.join(missing)}; its header is {rows.fieldnames!r}, "
                             "expected 'doc_id<TAB>split[<TAB>label]'.")
        table: dict[str, tuple[str, str | None]] = {}
        for number, row in enumerate(rows, start=2):
            doc_id, split = (row.get("doc_id") or "").strip(), (row.get("split") or "").strip()
            if not doc_id or not split:
                raise ValueError(f"split_file {str(path)!r} line {number} has an empty doc_id or split: {row!r}.")
            if doc_id in table:
                raise ValueError(f"split_file {str(path)!r} lists doc_id {doc_id!r} twice (again on line {number}).")
            table[doc_id] = (normalise_split(split), (row.get("label") or "").strip() or None)
    return table


def _iter_jsonl(path: Path, report: SkipReport, text_field: str, label_field: str | None, id_field: str | None,
                title_field: str | None, splits: dict[str, tuple[str, str | None]] | None, splitter: str,
                fallback_encoding: str) -> Iterator[Document]:
    unique = _UniqueIds(report)
    seen_split_ids: set[str] = set()
    any_line = False
    for number, line in _iter_lines(path, report, fallback_encoding):
        any_line = True
        where = f"{path.name}:{number}"
        if not line.strip():
            report.add("empty line skipped", example=where)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            report.add("line is not JSON", example=where)
            continue
        if not isinstance(record, dict):
            report.add("line is not a JSON object", example=where)
            continue
        if text_field not in record:
            report.add(f"missing field '{text_field}'", example=where)
            continue
        text = record[text_field]
        if not isinstance(text, str) or not text.strip():
            report.add(f"field '{text_field}' is empty or not a string", example=where)
            continue

        doc_id = f"{path.stem}:{number}"
        if id_field is not None:
            if record.get(id_field) is None:
                report.add(f"missing field '{id_field}'; line number used as id", example=where)
            else:
                doc_id = str(record[id_field])
        label = None
        if label_field is not None:
            if label_field in record:
                label = _scalar_label(record[label_field], label_field, report, where)
            else:
                report.add(f"missing field '{label_field}'", example=where)
        title = None
        if title_field is not None:
            value = record.get(title_field)
            if isinstance(value, str) and value.strip():
                title = unwrap(value)
            else:
                report.add(f"missing or empty field '{title_field}'", example=where)
        split = None
        if splits is not None:
            if doc_id in splits:
                seen_split_ids.add(doc_id)
                split, split_label = splits[doc_id]
                if label_field is None:
                    label = split_label
                elif split_label is not None and label is not None and split_label != label:
                    report.add(f"label differs from split file; field '{label_field}' kept", example=f"{doc_id}: {label} vs {split_label}")
            else:
                report.add("document not in split file", example=doc_id)

        paragraphs = _paragraphs_from_text(text, splitter, report, single_newline_fallback=True)
        document = _document(unique(doc_id), paragraphs, report, label=label, title=title, split=split)
        if document is not None:
            yield document
    if not any_line:
        report.add("empty file", example=str(path))
    if splits is not None and len(seen_split_ids) < len(splits):
        missing = [doc_id for doc_id in splits if doc_id not in seen_split_ids]
        report.add("split-file id without a document", len(missing), example=missing[0])


# --------------------------------------------------------------------------------------------
# hf (Hugging Face datasets)
# --------------------------------------------------------------------------------------------

# Local data files load with the `datasets` builder of their extension.
_HF_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet",
                ".txt": "text", ".arrow": "arrow"}


@register_reader("hf", path_kind="dataset",
                 expects="a Hugging Face dataset: a Hub name (e.g. 'wikitext'), a save_to_disk folder, or a .jsonl/.json/.csv/.tsv/.parquet/.txt/.arrow file")
def read_hf(path: str | os.PathLike, *, report: SkipReport, text_field: str = "text", label_field: str | None = None,
            id_field: str | None = None, title_field: str | None = None, split: str | None = None,
            config_name: str | None = None, paragraph_separator: str = r"\n[ \t]*\n", splitter: str = "blingfire",
            cache_dir: str | os.PathLike | None = None) -> Iterator[Document]:
    """Rows of a `datasets` dataset, one document per row.

    Where the data comes from:
    - a folder written by `save_to_disk` -> `datasets.load_from_disk`;
    - a local data file -> `load_dataset(<builder of its extension>, data_files=...)`
      (a `.tsv` is read as CSV with a tab delimiter); another local folder ->
      `load_dataset(folder)`;
    - anything else is a Hub name, passed to `load_dataset(path, name=config_name, split=split)`
      as is (offline mode and caching behave as in `datasets`).

    With `split=None` every split of the dataset is read in turn and `Document.split` is the
    split's name ("valid"/"dev" become "validation"); a single local data file has no split
    of its own, so its documents get `split=None` unless `split` is given.

    `paragraph_separator` is a regular expression (default: a blank line); each paragraph
    is unwrapped and split into sentences. `label_field` may be a `ClassLabel`, whose
    string name becomes the label. `id_field` defaults to `"{split}:{row index}"`.
    Rows whose text is missing, empty or not a string are counted and skipped.
    `cache_dir` is passed to `load_dataset`.
    """
    _check_splitter(splitter)
    try:
        separator = re.compile(paragraph_separator)
    except re.error as error:
        raise ValueError(f"paragraph_separator {paragraph_separator!r} is not a valid regular expression: {error}") from error
    datasets_by_split = _load_hf(str(path), split, config_name, cache_dir)
    for split_name, dataset in datasets_by_split:
        columns = list(dataset.column_names)
        for option, column in (("text_field", text_field), ("label_field", label_field), ("id_field", id_field),
                               ("title_field", title_field)):
            if column is not None and column not in columns:
                raise ValueError(f"{option}={column!r} is not a column of dataset {str(path)!r}"
                                 f"{f' (split {split_name!r})' if split_name else ''}; its columns are: {', '.join(columns)}."
                                 + _did_you_mean(column, columns))
    return _iter_hf(datasets_by_split, report, text_field, label_field, id_field, title_field, separator, splitter)


def _load_hf(path: str, split: str | None, config_name: str | None, cache_dir: str | os.PathLike | None) -> list[tuple[str | None, Any]]:
    """[(split name or None, datasets.Dataset)] for the requested split, or every split."""
    import datasets

    local = Path(path).expanduser()
    cache = str(cache_dir) if cache_dir is not None else None
    looks_local = local.suffix.lower() in _HF_BUILDERS or path.startswith((".", "/", "~")) or os.path.isabs(path)
    if not local.exists():
        if looks_local:
            raise FileNotFoundError(f"dataset path {path!r} does not exist; reader 'hf' expects a save_to_disk folder, "
                                    "a local data file, or a Hub dataset name.")
        loaded = datasets.load_dataset(path, name=config_name, split=split, cache_dir=cache)  # a Hub name, as is
        return _named_splits(loaded, split)
    if local.is_dir() and ((local / "dataset_dict.json").exists() or (local / "state.json").exists()):
        loaded = datasets.load_from_disk(str(local))
        if isinstance(loaded, datasets.DatasetDict) and split is not None:
            if split not in loaded:
                raise ValueError(f"split {split!r} is not in {path!r}; its splits are: {', '.join(loaded)}.")
            return [(normalise_split(split), loaded[split])]
        return _named_splits(loaded, split)
    if local.is_dir():
        loaded = datasets.load_dataset(str(local), name=config_name, split=split, cache_dir=cache)
        return _named_splits(loaded, split)
    builder = _HF_BUILDERS.get(local.suffix.lower())
    if builder is None:
        raise ValueError(f"cannot load {path!r} with `datasets`: unknown extension {local.suffix!r}; "
                         f"use one of {', '.join(sorted(_HF_BUILDERS))} or a save_to_disk folder.")
    kwargs = {"delimiter": "\t"} if local.suffix.lower() == ".tsv" else {}
    # A single file is the "train" split to `datasets`; that name says nothing about the
    # corpus, so the documents only carry a split when the caller named one.
    loaded = datasets.load_dataset(builder, data_files={split or "train": str(local)}, split=split or "train",
                                   cache_dir=cache, **kwargs)
    return [(normalise_split(split) if split else None, loaded)]


def _named_splits(loaded: Any, split: str | None) -> list[tuple[str | None, Any]]:
    import datasets

    if isinstance(loaded, (datasets.DatasetDict, dict)):
        return [(normalise_split(name), dataset) for name, dataset in loaded.items()]
    return [(normalise_split(split) if split else None, loaded)]


def _iter_hf(datasets_by_split: list[tuple[str | None, Any]], report: SkipReport, text_field: str, label_field: str | None,
             id_field: str | None, title_field: str | None, separator: re.Pattern, splitter: str) -> Iterator[Document]:
    import datasets

    unique = _UniqueIds(report)
    for split_name, dataset in datasets_by_split:
        label_feature = dataset.features.get(label_field) if label_field is not None else None
        class_label = label_feature if isinstance(label_feature, datasets.ClassLabel) else None
        columns = [c for c in dict.fromkeys([text_field, label_field, id_field, title_field]) if c is not None]
        prefix = f"{split_name}:" if split_name else ""
        index = 0
        # Batched iteration over only the needed columns: much faster than row dicts of everything.
        for batch in dataset.select_columns(columns).iter(batch_size=1000):
            for row in range(len(batch[text_field])):
                where = f"{prefix}{index}"
                index += 1
                text = batch[text_field][row]
                if not isinstance(text, str) or not text.strip():
                    report.add(f"field '{text_field}' is empty or not a string", example=where)
                    continue
                doc_id = where
                if id_field is not None:
                    value = batch[id_field][row]
                    if value is None:
                        report.add(f"field '{id_field}' is null; row index used as id", example=where)
                    else:
                        doc_id = str(value)
                label = None
                if label_field is not None:
                    value = batch[label_field][row]
                    if class_label is not None and isinstance(value, int) and value >= 0:
                        label = class_label.int2str(value)
                    elif class_label is not None and value == -1:
                        report.add(f"field '{label_field}' is -1 (no label)", example=where)
                    else:
                        label = _scalar_label(value, label_field, report, where)
                title = None
                if title_field is not None:
                    value = batch[title_field][row]
                    title = unwrap(value) if isinstance(value, str) and value.strip() else None
                text = text.replace("\r\n", "\n").replace("\r", "\n")
                paragraphs = [_sentences(unwrap(block), splitter, report) for block in separator.split(text) if block.strip()]
                document = _document(unique(doc_id), paragraphs, report, label=label, title=title, split=split_name)
                if document is not None:
                    yield document


# --------------------------------------------------------------------------------------------
# pydoc
# --------------------------------------------------------------------------------------------

# reST-style heading underline, as pydoc's text rendering keeps it.
_UNDERLINE = re.compile(r"^\s*([*=\-~^])\1{2,}\s*$")
# Sphinx "rubric" lines such as "-[ Footnotes ]-".
_RUBRIC = re.compile(r"^\s*-\[ .* \]-\s*$")
# Admonition labels rendered on a line of their own; their body (indented) is prose.
_ADMONITIONS = frozenset({"Note:", "See also:", "Warning:", "Important:", "Tip:", "Hint:", "Caution:", "Attention:",
                          "Danger:", "Error:"})
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
    ends = text[-1] in ".!?:\"”" or text.endswith((".)", "?)", "!)"))
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
    _check_splitter(splitter)
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
    title = None
    # Rule 1: blank out headings and rubrics so that they become block boundaries.
    for i in range(len(lines) - 1):
        heading = lines[i].strip()
        if heading and _UNDERLINE.match(lines[i + 1]) and len(lines[i + 1].strip()) >= len(heading) and not _UNDERLINE.match(lines[i]):
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

    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines + [""]:
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []

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
        if (indent > previous_indent or any(_GRAMMAR.search(line) for line in block)) and not _reads_as_prose(block):  # rule 4
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
        prose = unwrap("\n".join(line.strip() for line in block))  # rule 6
        if _LIST_MARKER.match(prose):
            report.add("list marker removed", example=prose)
            prose = _LIST_MARKER.sub("", prose, count=1)
        sentences = _sentences(prose, splitter, report)
        if sentences:
            paragraphs.append(sentences)
    return title, paragraphs
