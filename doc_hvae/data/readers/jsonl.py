"""Reader `jsonl`: JSON lines with an optional split TSV (arXiv abstracts)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

from ..document import Document, SkipReport
from ..segmentation import unwrap
from .common import (
    _check_encoding,
    _document,
    _iter_lines,
    _paragraphs_from_text,
    _scalar_label,
    _UniqueIds,
    check_splitter,
)
from .registry import normalise_split, register_reader


@register_reader("jsonl", path_kind="file", expects="a JSON-lines file (one JSON object per line)")
def read_jsonl(
    path: str | os.PathLike,
    *,
    report: SkipReport,
    text_field: str = "text",
    label_field: str | None = None,
    id_field: str | None = None,
    title_field: str | None = None,
    split_file: str | os.PathLike | None = None,
    splitter: str = "blingfire",
    fallback_encoding: str = "latin-1",
) -> Iterator[Document]:
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
    check_splitter(splitter)
    _check_encoding(fallback_encoding)
    if not isinstance(text_field, str) or not text_field:
        raise ValueError(f"text_field must be a field name, got {text_field!r}.")
    splits = _read_split_file(Path(split_file)) if split_file is not None else None
    return _iter_jsonl(
        Path(path), report, text_field, label_field, id_field, title_field, splits, splitter, fallback_encoding
    )


def _read_split_file(path: Path) -> dict[str, tuple[str, str | None]]:
    """doc_id -> (split, label or None) from a TSV with a header naming `doc_id` and `split`."""
    if not path.is_file():
        raise FileNotFoundError(
            f"split_file {str(path)!r} does not exist; expected a TSV with header 'doc_id<TAB>split[<TAB>label]'."
        )
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        missing = [column for column in ("doc_id", "split") if column not in (rows.fieldnames or [])]
        if missing:
            raise ValueError(
                f"split_file {str(path)!r} lacks column(s) {', '.join(missing)}; its header is {rows.fieldnames!r}, "
                "expected 'doc_id<TAB>split[<TAB>label]'."
            )
        table: dict[str, tuple[str, str | None]] = {}
        for number, row in enumerate(rows, start=2):
            doc_id, split = (row.get("doc_id") or "").strip(), (row.get("split") or "").strip()
            if not doc_id or not split:
                raise ValueError(f"split_file {str(path)!r} line {number} has an empty doc_id or split: {row!r}.")
            if doc_id in table:
                raise ValueError(f"split_file {str(path)!r} lists doc_id {doc_id!r} twice (again on line {number}).")
            table[doc_id] = (normalise_split(split), (row.get("label") or "").strip() or None)
    return table


def _iter_jsonl(
    path: Path,
    report: SkipReport,
    text_field: str,
    label_field: str | None,
    id_field: str | None,
    title_field: str | None,
    splits: dict[str, tuple[str, str | None]] | None,
    splitter: str,
    fallback_encoding: str,
) -> Iterator[Document]:
    unique = _UniqueIds(report)
    seen_split_ids: set[str] = set()
    any_line = False
    for number, line in _iter_lines(path, report, fallback_encoding):
        any_line = True
        where = f"{path.name}:{number}"
        record = _parse_record(line, text_field, report, where)
        if record is None:
            continue
        doc_id = _record_id(record, id_field, f"{path.stem}:{number}", report, where)
        label = _record_label(record, label_field, report, where)
        title = _record_title(record, title_field, report, where)
        split = None
        if splits is not None:
            split, label = _split_and_label(doc_id, label, label_field, splits, seen_split_ids, report)
        paragraphs = _paragraphs_from_text(record[text_field], splitter, report, single_newline_fallback=True)
        document = _document(unique(doc_id), paragraphs, report, label=label, title=title, split=split)
        if document is not None:
            yield document
    if not any_line:
        report.add("empty file", example=str(path))
    if splits is not None and len(seen_split_ids) < len(splits):
        missing = [doc_id for doc_id in splits if doc_id not in seen_split_ids]
        report.add("split-file id without a document", len(missing), example=missing[0])


def _parse_record(line: str, text_field: str, report: SkipReport, where: str) -> dict | None:
    """The line's JSON object, or None (counted in `report`) when it is not one or has no text."""
    if not line.strip():
        report.add("empty line skipped", example=where)
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        report.add("line is not JSON", example=where)
        return None
    if not isinstance(record, dict):
        report.add("line is not a JSON object", example=where)
        return None
    if text_field not in record:
        report.add(f"missing field '{text_field}'", example=where)
        return None
    text = record[text_field]
    if not isinstance(text, str) or not text.strip():
        report.add(f"field '{text_field}' is empty or not a string", example=where)
        return None
    return record


def _record_id(record: dict, id_field: str | None, default: str, report: SkipReport, where: str) -> str:
    """The record's `id_field` as a string, or `default` (the line's, counted when the field is missing)."""
    if id_field is None:
        return default
    if record.get(id_field) is None:
        report.add(f"missing field '{id_field}'; line number used as id", example=where)
        return default
    return str(record[id_field])


def _record_label(record: dict, label_field: str | None, report: SkipReport, where: str) -> str | None:
    """The record's `label_field`, or None (counted when the field is missing)."""
    if label_field is None:
        return None
    if label_field not in record:
        report.add(f"missing field '{label_field}'", example=where)
        return None
    return _scalar_label(record[label_field], label_field, report, where)


def _record_title(record: dict, title_field: str | None, report: SkipReport, where: str) -> str | None:
    """The record's `title_field`, unwrapped, or None (counted when it is missing or empty)."""
    if title_field is None:
        return None
    value = record.get(title_field)
    if isinstance(value, str) and value.strip():
        return unwrap(value)
    report.add(f"missing or empty field '{title_field}'", example=where)
    return None


def _split_and_label(
    doc_id: str,
    label: str | None,
    label_field: str | None,
    splits: dict[str, tuple[str, str | None]],
    seen_split_ids: set[str],
    report: SkipReport,
) -> tuple[str | None, str | None]:
    """The document's split from the split file, and its label: the split file's unless `label_field` gives one.

    Adds `doc_id` to `seen_split_ids` when the split file lists it; counts it when not.
    """
    if doc_id not in splits:
        report.add("document not in split file", example=doc_id)
        return None, label
    seen_split_ids.add(doc_id)
    split, split_label = splits[doc_id]
    if label_field is None:
        return split, split_label
    if split_label is not None and label is not None and split_label != label:
        report.add(
            f"label differs from split file; field '{label_field}' kept", example=f"{doc_id}: {label} vs {split_label}"
        )
    return split, label
