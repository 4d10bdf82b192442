"""Reader `hf`: Any `datasets` dataset: a Hub name, a `save_to_disk` folder or a data file."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..document import Document, SkipReport
from ..segmentation import unwrap
from .common import (
    _document,
    _scalar_label,
    _UniqueIds,
    check_splitter,
    paragraph_sentences,
)
from .registry import _did_you_mean, normalise_split, register_reader

# Local data files load with the `datasets` builder of their extension.
_HF_BUILDERS = {
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
    ".arrow": "arrow",
}


@register_reader(
    "hf",
    path_kind="dataset",
    expects="a Hugging Face dataset: a Hub name (e.g. 'wikitext'), a save_to_disk folder, or a .jsonl/.json/.csv/.tsv/.parquet/.txt/.arrow file",
)
def read_hf(
    path: str | os.PathLike,
    *,
    report: SkipReport,
    text_field: str = "text",
    label_field: str | None = None,
    id_field: str | None = None,
    title_field: str | None = None,
    split: str | None = None,
    config_name: str | None = None,
    paragraph_separator: str = r"\n[ \t]*\n",
    splitter: str = "blingfire",
    cache_dir: str | os.PathLike | None = None,
    streaming: bool = False,
) -> Iterator[Document]:
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
    `cache_dir` is passed to `load_dataset`. `streaming=True` reads Hub datasets and data files
    row by row without downloading or converting them first (`load_dataset(..., streaming=True)`);
    a `save_to_disk` folder is memory-mapped either way.
    """
    check_splitter(splitter)
    separator = _compile_paragraph_separator(paragraph_separator)
    datasets_by_split = _load_hf(str(path), split, config_name, cache_dir, streaming)
    fields = {"text_field": text_field, "label_field": label_field, "id_field": id_field, "title_field": title_field}
    for split_name, dataset in datasets_by_split:
        _check_columns(dataset, fields, str(path), split_name)
    return _iter_hf(datasets_by_split, report, text_field, label_field, id_field, title_field, separator, splitter)


def _compile_paragraph_separator(paragraph_separator: str) -> re.Pattern:
    try:
        return re.compile(paragraph_separator)
    except re.error as error:
        raise ValueError(
            f"paragraph_separator {paragraph_separator!r} is not a valid regular expression: {error}"
        ) from error


def _check_columns(dataset: Any, fields: dict[str, str | None], path: str, split_name: str | None) -> None:
    """Every field option that names a column (`fields`: option -> column or None) names one of the dataset's."""
    columns = dataset.column_names
    if columns is None:  # a streamed data file: its columns are those of its first row
        columns = list(next(iter(dataset.take(1)), {}))
    for option, column in fields.items():
        if column is not None and column not in columns:
            raise ValueError(
                f"{option}={column!r} is not a column of dataset {path!r}"
                f"{f' (split {split_name!r})' if split_name else ''}; its columns are: {', '.join(columns)}."
                + _did_you_mean(column, columns)
            )


def _load_hf(
    path: str, split: str | None, config_name: str | None, cache_dir: str | os.PathLike | None, streaming: bool = False
) -> list[tuple[str | None, Any]]:
    """[(split name or None, datasets.Dataset)] for the requested split, or every split."""
    import datasets

    local = Path(path).expanduser()
    cache = str(cache_dir) if cache_dir is not None else None
    looks_local = local.suffix.lower() in _HF_BUILDERS or path.startswith((".", "/", "~")) or os.path.isabs(path)
    if not local.exists():
        if looks_local:
            raise FileNotFoundError(
                f"dataset path {path!r} does not exist; reader 'hf' expects a save_to_disk folder, "
                "a local data file, or a Hub dataset name."
            )
        loaded = datasets.load_dataset(
            path, name=config_name, split=split, cache_dir=cache, streaming=streaming
        )  # a Hub name, as is
        return _named_splits(loaded, split)
    if local.is_dir() and ((local / "dataset_dict.json").exists() or (local / "state.json").exists()):
        loaded = datasets.load_from_disk(str(local))
        if isinstance(loaded, datasets.DatasetDict) and split is not None:
            if split not in loaded:
                raise ValueError(f"split {split!r} is not in {path!r}; its splits are: {', '.join(loaded)}.")
            return [(normalise_split(split), loaded[split])]
        return _named_splits(loaded, split)
    if local.is_dir():
        loaded = datasets.load_dataset(str(local), name=config_name, split=split, cache_dir=cache, streaming=streaming)
        return _named_splits(loaded, split)
    builder = _HF_BUILDERS.get(local.suffix.lower())
    if builder is None:
        raise ValueError(
            f"cannot load {path!r} with `datasets`: unknown extension {local.suffix!r}; "
            f"use one of {', '.join(sorted(_HF_BUILDERS))} or a save_to_disk folder."
        )
    kwargs = {"delimiter": "\t"} if local.suffix.lower() == ".tsv" else {}
    # A single file is the "train" split to `datasets`; that name says nothing about the
    # corpus, so the documents only carry a split when the caller named one.
    loaded = datasets.load_dataset(
        builder,
        data_files={split or "train": str(local)},
        split=split or "train",
        cache_dir=cache,
        streaming=streaming,
        **kwargs,
    )
    return [(normalise_split(split) if split else None, loaded)]


def _named_splits(loaded: Any, split: str | None) -> list[tuple[str | None, Any]]:
    import datasets

    if isinstance(loaded, (datasets.DatasetDict, datasets.IterableDatasetDict, dict)):
        return [(normalise_split(name), dataset) for name, dataset in loaded.items()]
    return [(normalise_split(split) if split else None, loaded)]


def _iter_hf(
    datasets_by_split: list[tuple[str | None, Any]],
    report: SkipReport,
    text_field: str,
    label_field: str | None,
    id_field: str | None,
    title_field: str | None,
    separator: re.Pattern,
    splitter: str,
) -> Iterator[Document]:
    import datasets

    unique = _UniqueIds(report)
    for split_name, dataset in datasets_by_split:
        label_feature = dataset.features.get(label_field) if label_field is not None and dataset.features else None
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
                paragraphs = [
                    paragraph_sentences(unwrap(block), splitter, report)
                    for block in separator.split(text)
                    if block.strip()
                ]
                document = _document(unique(doc_id), paragraphs, report, label=label, title=title, split=split_name)
                if document is not None:
                    yield document
