"""The reader registry and `read_corpus`, which checks names, paths and options before a reader runs."""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..document import Document, SkipReport
from .common import check_splitter

# Split names as the corpora spell them -> the names `Document.split` uses everywhere else.
_SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "valid": "validation",
    "validation": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
}


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


def register_reader(
    name: str, *, path_kind: PathKind, expects: str
) -> Callable[[Callable[..., Iterator[Document]]], Callable[..., Iterator[Document]]]:
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
    return [
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "report"
    ]


def reader_splitter(reader: str, options: dict[str, Any]) -> str | None:
    """The sentence splitter a reading of `reader` with `options` uses (its default unless the
    options name one), checked; None for a reader that splits no sentences."""
    parameter = inspect.signature(READERS[reader]).parameters.get("splitter") if reader in READERS else None
    if parameter is None:
        return None
    splitter = options.get("splitter", parameter.default)
    check_splitter(splitter)
    return splitter


def read_corpus(
    reader: str, path: str | os.PathLike | None = None, *, report: SkipReport, **options: Any
) -> Iterator[Document]:
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
        raise ValueError(
            f"unknown corpus reader {reader!r}; available readers: {', '.join(sorted(READERS))}."
            + _did_you_mean(reader, READERS)
        )
    spec = _SPECS[reader]
    allowed = reader_options(reader)
    unknown = [name for name in options if name not in allowed]
    if unknown:
        hints = "".join(_did_you_mean(name, allowed) for name in unknown)
        raise TypeError(
            f"reader {reader!r} got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(allowed) or '(none)'}.{hints}"
        )
    if spec.path_kind == "none":
        if path is not None:
            raise ValueError(f"reader {reader!r} reads {spec.expects} and takes no path, but got path={str(path)!r}.")
        return READERS[reader](report=report, **options)
    if path is None:
        raise FileNotFoundError(f"reader {reader!r} needs a path: {spec.expects}.")
    if spec.path_kind in ("file", "file_or_folder"):
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"corpus path {str(path)!r} does not exist; reader {reader!r} expects {spec.expects}."
            )
        if spec.path_kind == "file" and path.is_dir():
            raise IsADirectoryError(f"corpus path {str(path)!r} is a folder; reader {reader!r} expects {spec.expects}.")
    # "dataset" paths are checked by the hf reader itself: a missing local path is an error,
    # anything else is a Hub name.
    return READERS[reader](path, report=report, **options)
