"""Corpus -> tokenized document windows in a `datasets.DatasetDict`, with a statistics report.

A prepared corpus is a folder:

    dataset/           DatasetDict.save_to_disk (train / validation / test)
    tokenizer/         AutoTokenizer-loadable, with the document special tokens
    encoder_tokenizer/ the sentence encoder's own tokenizer, when `encoder_tokenizer` is set
    statistics.json    counts, length percentiles and every limit's cuts, per split
    statistics.md      the same, for people
    prepare_config.yaml

Each row is one window of a document: whole paragraphs, each a list of sentences, each a list
of token ids without special tokens (the collator adds them); with an encoder tokenizer, also
`encoder_paragraphs`: the same sentence units in the encoder's ids. Long documents are cut into
windows of whole paragraphs, never truncated away.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, Features, List, Value, load_from_disk
from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
from pydantic import Field, model_validator
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerFast

from ..config_loading import StrictModel, dump_config
from .document import Document, SkipReport
from .readers import paragraph_sentences, read_corpus, reader_splitter
from .tokenizer import (
    ENCODER_TOKENIZER,
    EncoderTokenIds,
    SpecialTokenIds,
    load_encoder_tokenizer,
    load_tokenizer,
    train_bpe_tokenizer,
    train_unigram_tokenizer,
)

SPLITS = ("train", "validation", "test")
_SPLIT_ALIASES = {
    "train": "train",
    "valid": "validation",
    "validation": "validation",
    "dev": "validation",
    "test": "test",
}

FEATURES = Features(
    {
        "id": Value("string"),
        "source_id": Value("string"),
        "window": Value("int32"),
        "label": Value("string"),
        "title": Value("string"),
        "paragraphs": List(List(List(Value("int32")))),
        "num_tokens": Value("int32"),
        "num_words": Value("int32"),
        "num_sentences": Value("int32"),
        "num_paragraphs": Value("int32"),
    }
)
# With an encoder tokenizer of its own, each sentence unit also in the encoder's ids (aligned unit for unit).
FEATURES_WITH_ENCODER = Features({**FEATURES, "encoder_paragraphs": List(List(List(Value("int32"))))})


class SourceConfig(StrictModel):
    """Where the documents come from (see `doc_hvae.data.readers.READERS`)."""

    reader: str = Field(description="reader name: wikitext, lines, text, jsonl, hf, pydoc")
    path: str | None = Field(
        None, description="one source for all splits (split by `split_fractions` unless the reader sets splits)"
    )
    paths: dict[str, str] | None = Field(
        None, description="one source per split, e.g. {train: a, validation: b, test: c}"
    )
    options: dict = Field(default_factory=dict, description="reader options, e.g. {splitter: punctuation}")
    split_fractions: dict[str, float] = Field(
        default_factory=lambda: {"validation": 0.05, "test": 0.05},
        description="seeded split by document, used when the source has no splits of its own",
    )
    split_seed: int = 0
    split_by: Literal["document", "chunk"] = Field(
        "document",
        description="unit of the seeded split: whole documents, or chunks of `chunk_paragraphs` paragraphs "
        "(for corpora of a few long documents, e.g. books, so every book reaches every split)",
    )
    chunk_paragraphs: int = Field(64, ge=1)
    max_documents: int | None = Field(None, ge=1, description="read at most this many documents per split (quick runs)")

    @model_validator(mode="after")
    def _check(self) -> SourceConfig:
        if self.path is not None and self.paths is not None:
            raise ValueError("give either source.path or source.paths, not both")
        for name in self.paths or {}:
            if name not in _SPLIT_ALIASES:
                raise ValueError(f"source.paths has unknown split {name!r}; use train, validation, test")
        for name, fraction in self.split_fractions.items():
            if name not in ("validation", "test") or not 0 <= fraction < 1:
                raise ValueError(f"source.split_fractions.{name}={fraction}: use validation/test fractions in [0, 1)")
        if sum(self.split_fractions.values()) >= 1:
            raise ValueError(
                f"source.split_fractions={self.split_fractions} leave no training documents; make them sum to less than 1"
            )
        return self


class TokenizerConfig(StrictModel):
    """Train a tokenizer on the training split (byte-level BPE or a sentencepiece Unigram LM), or use an existing one."""

    pretrained: str | None = Field(None, description="tokenizer folder or Hub name; None trains a new one")
    kind: Literal["bpe", "unigram"] = Field(
        "bpe",
        description="what to train: bpe (byte-level BPE, tokenizers) or unigram (Unigram LM with byte fallback, sentencepiece)",
    )
    vocab_size: int = Field(8000, ge=300)
    min_frequency: int = Field(2, ge=1, description="bpe only: the fewest occurrences of a merged pair")

    def train(self, sentences: Iterable[str]) -> PreTrainedTokenizerFast:
        """A new tokenizer of this kind, trained on `sentences`."""
        if self.kind == "unigram":
            return train_unigram_tokenizer(sentences, self.vocab_size)
        return train_bpe_tokenizer(sentences, self.vocab_size, self.min_frequency)


class LimitsConfig(StrictModel):
    """Size limits. Nothing is truncated away: longer items are split, and every split is counted."""

    max_sentence_tokens: int = Field(64, ge=4, description="longer sentences are cut into consecutive chunks")
    max_paragraph_sentences: int = Field(32, ge=1, description="longer paragraphs are cut into consecutive paragraphs")
    max_paragraph_tokens: int = Field(
        512,
        ge=8,
        description="... and so are paragraphs with more tokens (at sentence boundaries): "
        "a paragraph is one decoder stream, so this bounds the decoder's positions",
    )
    max_window_paragraphs: int = Field(
        16, ge=1, description="documents are cut into windows of at most this many paragraphs"
    )
    max_window_tokens: int = Field(
        2048, ge=8, description="... and at most this many tokens (a paragraph is never split)"
    )

    @model_validator(mode="after")
    def _check(self) -> LimitsConfig:
        if self.max_paragraph_tokens < self.max_sentence_tokens + 1:
            raise ValueError(
                f"limits.max_paragraph_tokens={self.max_paragraph_tokens} cannot hold one sentence of max_sentence_tokens="
                f"{self.max_sentence_tokens} plus its boundary token; raise it to at least {self.max_sentence_tokens + 1}"
            )
        if self.max_window_tokens < self.max_paragraph_tokens:
            raise ValueError(
                f"limits.max_window_tokens={self.max_window_tokens} is below limits.max_paragraph_tokens={self.max_paragraph_tokens}: "
                "a window must hold the longest paragraph"
            )
        return self


class PrepareConfig(StrictModel):
    source: SourceConfig
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    encoder_tokenizer: TokenizerConfig | None = Field(
        None,
        description="the sentence encoder's own tokenizer (e.g. {pretrained: <a BERT folder>}); None = the encoder reads the decoder's ids",
    )
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    output_dir: str


# ---------------------------------------------------------------------------------------------
# Reading and splitting: documents stream from the reader into Arrow files, never all in memory


DOCUMENT_FEATURES = Features(
    {
        "id": Value("string"),
        "label": Value("string"),
        "title": Value("string"),
        "split": Value("string"),
        "paragraphs": List(List(Value("string"))),
    }
)


def write_arrow(rows: Iterable[dict], features: Features, path: str | os.PathLike, batch_rows: int = 1000) -> Dataset:
    """Write rows to an Arrow file batch by batch and return it as a memory-mapped `Dataset`
    (what `Dataset.from_generator` does, but an empty stream is an empty dataset, not an error)."""
    schema = features.arrow_schema
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == batch_rows:
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
    return Dataset.from_file(str(path))


# `datasets` memory-maps every Arrow file, and each page read through a mapping stays in the
# process's resident set until the file is unmapped: reading the corpus once would make peak RSS
# grow with the corpus. madvise(MADV_DONTNEED) on a read-only file mapping only forgets the pages
# (the next read faults them in again from the page cache, the same bytes), so preparation calls
# it on its own Arrow files once it has read them. Linux only; elsewhere a no-op.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_MADV_DONTNEED = 4


def release_mapped_pages(prefix: str | os.PathLike) -> None:
    """Drop from this process's resident set the pages of its read-only mappings of files whose
    path starts with `prefix` (a file or a folder)."""
    if _LIBC is None:
        return
    prefix = str(prefix)
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)  # address perms offset dev inode [path]
            if len(fields) == 6 and "w" not in fields[1] and fields[5].rstrip("\n").startswith(prefix):
                start, end = (int(address, 16) for address in fields[0].split("-"))
                _LIBC.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), _MADV_DONTNEED)


def release_dataset_pages(dataset: Dataset) -> None:
    """`release_mapped_pages` for every Arrow file behind `dataset`."""
    for file in dataset.cache_files:
        release_mapped_pages(file["filename"])


@contextmanager
def releasing_mapped_pages(prefix: str | os.PathLike, every_seconds: float = 0.1):
    """Release the pages of mappings under `prefix` every `every_seconds` while the block runs: for
    library calls that read a whole memory-mapped dataset in one go (`save_to_disk`)."""
    done = threading.Event()

    def release_until_done():
        while not done.wait(every_seconds):
            release_mapped_pages(prefix)

    thread = threading.Thread(target=release_until_done, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        release_mapped_pages(prefix)


def _empty(features: Features) -> Dataset:
    return Dataset.from_dict({key: [] for key in features}, features=features)


def _read_to_arrow(
    source: SourceConfig,
    path: str | None,
    report: SkipReport,
    arrow_path: Path,
    show_progress: bool,
    num_proc: int | None,
) -> Dataset:
    """Read one source into an Arrow file of documents, then split their sentences in `num_proc` processes.

    A reader is one sequential stream, so it runs with `splitter: none` (each paragraph one unit,
    whitespace-normalised) and the configured splitter runs afterwards over the Arrow file: the
    same sentences, counts and skips as the reader's own splitting, in parallel."""
    splitter = reader_splitter(source.reader, source.options)
    options = source.options if splitter in (None, "none") else {**source.options, "splitter": "none"}
    documents = read_corpus(source.reader, path, report=report, **options)
    rows = (
        {"id": doc.id, "label": doc.label, "title": doc.title, "split": doc.split, "paragraphs": doc.paragraphs}
        for doc in tqdm(
            documents, desc=f"reading {path or source.reader}", unit=" documents", disable=not show_progress
        )
    )
    read = write_arrow(rows, DOCUMENT_FEATURES, arrow_path)
    if splitter in (None, "none") or not len(read):
        return read
    segmented, _ = _map_documents(
        read,
        _segment_batch,
        DOCUMENT_FEATURES,
        {"splitter": splitter},
        arrow_path.parent,
        report,
        num_proc,
        f"splitting sentences ({splitter})",
    )
    return segmented


def _segment_batch(batch: dict, indices: list[int], splitter: str, report_dir: str, source_files: list[str]) -> dict:
    """Batched map over documents read with `splitter: none`: split each paragraph (one unit) into
    sentences; a document left without a sentence is skipped and counted, as a reader would."""
    report, kept = SkipReport(), {key: [] for key in DOCUMENT_FEATURES}
    for row, paragraphs in enumerate(batch["paragraphs"]):
        try:
            sentences = [paragraph_sentences(" ".join(units), splitter, report) for units in paragraphs]
        except Exception as error:
            raise RuntimeError(f"splitting the sentences of document {batch['id'][row]!r} failed: {error}") from error
        sentences = [paragraph for paragraph in sentences if paragraph]
        if not sentences:
            report.add("empty document", example=batch["id"][row])
            continue
        for key in DOCUMENT_FEATURES:
            kept[key].append(sentences if key == "paragraphs" else batch[key][row])
    _finish_batch(report_dir, indices, report, {}, source_files)
    return kept


def read_documents(
    source: SourceConfig,
    report: SkipReport,
    work_dir: str | os.PathLike,
    show_progress: bool = False,
    num_proc: int | None = None,
) -> dict[str, Dataset]:
    """Read every document of the source into Arrow files under `work_dir` and assign it to a split.

    Splits come from the source (one path per split, or the documents' own split, e.g. from a
    split file); the validation and test splits it does not provide are carved out of the
    training documents by a seeded split with `split_fractions`. Returns memory-mapped datasets
    of `DOCUMENT_FEATURES` rows, in source order within each split.
    """
    work_dir = Path(work_dir)
    if source.paths is not None:
        by_split = {
            _SPLIT_ALIASES[name]: _read_to_arrow(
                source, path, report, work_dir / f"documents-{name}.arrow", show_progress, num_proc
            )
            for name, path in source.paths.items()
        }
    else:
        documents = _read_to_arrow(source, source.path, report, work_dir / "documents.arrow", show_progress, num_proc)
        indices = defaultdict(list)
        index = 0
        for batch in documents.select_columns(["split"]).iter(batch_size=10_000):
            for split in batch["split"]:
                indices[split].append(index)
                index += 1
        if set(indices) == {None}:
            by_split = {"train": documents}
        else:
            by_split = {}
            for split, rows in indices.items():
                if split not in _SPLIT_ALIASES:
                    report.add(
                        "document without a known split skipped",
                        len(rows),
                        example=f"{documents[rows[0]]['id']} (split={split!r})",
                    )
                else:
                    by_split[_SPLIT_ALIASES[split]] = documents.select(rows)
    missing = {
        name: fraction
        for name, fraction in source.split_fractions.items()
        if fraction > 0 and not len(by_split.get(name, []))
    }
    if missing:
        by_split.update(_carve(by_split.get("train", _empty(DOCUMENT_FEATURES)), missing, source))
    return {name: _take(docs, source.max_documents, report) for name, docs in by_split.items()}


def load_documents(source: SourceConfig, report: SkipReport) -> dict[str, list[Document]]:
    """`read_documents` as lists of `Document` in memory: for small corpora, scripts and tests."""
    with tempfile.TemporaryDirectory(prefix="doc_hvae-read-") as work_dir:
        return {
            name: [Document(**row) for row in docs] for name, docs in read_documents(source, report, work_dir).items()
        }


def _chunk_rows(batch: dict, chunk_paragraphs: int) -> dict:
    """Batched map: each document becomes its chunks of `chunk_paragraphs` paragraphs ("{id}@{k}")."""
    chunks = {key: [] for key in DOCUMENT_FEATURES}
    for doc_id, label, title, paragraphs in zip(batch["id"], batch["label"], batch["title"], batch["paragraphs"]):
        for start in range(0, len(paragraphs), chunk_paragraphs):
            for key, value in (
                ("id", f"{doc_id}@{start // chunk_paragraphs}"),
                ("label", label),
                ("title", title),
                ("split", None),
                ("paragraphs", paragraphs[start : start + chunk_paragraphs]),
            ):
                chunks[key].append(value)
    return chunks


def _carve(pool: Dataset, fractions: dict[str, float], source: SourceConfig) -> dict[str, Dataset]:
    """Seeded split of `pool` into train and the given splits (by document, or by chunk of paragraphs)."""
    if source.split_by == "chunk" and len(pool):
        pool = pool.map(
            _chunk_rows,
            batched=True,
            fn_kwargs={"chunk_paragraphs": source.chunk_paragraphs},
            features=DOCUMENT_FEATURES,
            load_from_cache_file=False,
            new_fingerprint="chunks",
        )
    # By document (or chunk), so the windows of one never straddle two splits.
    order = list(range(len(pool)))
    random.Random(source.split_seed).shuffle(order)
    bounds, start = {}, 0
    for name in ("validation", "test"):
        count = round(len(pool) * fractions.get(name, 0.0))
        bounds[name] = (start, start + count)
        start += count
    rank = {index: r for r, index in enumerate(order)}
    carved = {"train": [], **{name: [] for name in fractions}}
    for index in range(len(pool)):  # source order inside each split: the order people read them in
        name = next((n for n, (lo, hi) in bounds.items() if lo <= rank[index] < hi), "train")
        carved[name].append(index)
    return {name: pool.select(indices) for name, indices in carved.items()}


def _take(documents: Dataset, limit: int | None, report: SkipReport) -> Dataset:
    if limit is not None and len(documents) > limit:
        report.add(f"documents beyond source.max_documents={limit} not used", len(documents) - limit)
        documents = documents.select(range(limit))
    return documents


def sentences_of(documents: Dataset) -> Iterator[str]:
    """Every sentence of a documents dataset, in order, read batch by batch (tokenizer training)."""
    for batch in documents.select_columns(["paragraphs"]).iter(batch_size=1000):
        for paragraphs in batch["paragraphs"]:
            for paragraph in paragraphs:
                yield from paragraph
        release_dataset_pages(documents)


# ---------------------------------------------------------------------------------------------
# Tokenizing and windowing


def _tokenize_documents(
    documents: list[Document], tokenizer, batch_sentences: int = 20000
) -> Iterator[list[list[list[int]]]]:
    """Yield each document's paragraphs as token ids, tokenizing sentences in large batches."""
    pending: list[Document] = []
    pending_sentences: list[str] = []

    def flush():
        # split_special_tokens: a literal "</s>" in the text is text, not a boundary.
        encoded = tokenizer(pending_sentences, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        cursor = 0
        for doc in pending:
            paragraphs = []
            for paragraph in doc.paragraphs:
                paragraphs.append(encoded[cursor : cursor + len(paragraph)])
                cursor += len(paragraph)
            yield paragraphs

    for doc in documents:
        pending.append(doc)
        pending_sentences.extend(s for p in doc.paragraphs for s in p)
        if len(pending_sentences) >= batch_sentences:
            yield from flush()
            pending, pending_sentences = [], []
    if pending:
        yield from flush()


def _consecutive_groups(
    items: list, sizes: list[int], max_items: int, max_tokens: int
) -> tuple[list[list], list[bool]]:
    """Cut items, in order, into consecutive groups of at most `max_items` items and `max_tokens`
    tokens (an item over `max_tokens` makes a group of its own). Also returns, per cut, whether
    the item count (True) or the token count (False) made it."""
    groups, cuts, current, tokens = [], [], [], 0
    for item, size in zip(items, sizes):
        too_many, too_long = len(current) >= max_items, tokens + size > max_tokens
        if current and (too_many or too_long):
            groups.append(current)
            cuts.append(too_many)
            current, tokens = [], 0
        current.append(item)
        tokens += size
    if current:
        groups.append(current)
    return groups, cuts


EXTRA_WINDOWS = "extra windows made by cutting documents"
DISCARDED_WINDOWS = "windows past a text's first discarded (only the first window of a text is used)"


def window_document(
    doc: Document, paragraphs: list[list[list[int]]], limits: LimitsConfig, report: SkipReport
) -> list[dict]:
    """Apply the limits to one tokenized document and cut it into windows of whole paragraphs."""
    words = [[len(sentence.split()) for sentence in paragraph] for paragraph in doc.paragraphs]
    limited: list[list[tuple[list[int], int]]] = []
    for paragraph, paragraph_words in zip(paragraphs, words):
        sentences = _chunk_long_sentences(doc, paragraph, paragraph_words, limits, report)
        limited.extend(_cut_long_paragraph(doc, sentences, limits, report))

    # 3. Windows of whole paragraphs under both window limits.
    windows, _ = _consecutive_groups(
        limited,
        [sum(len(ids) + 1 for ids, _ in paragraph) for paragraph in limited],
        limits.max_window_paragraphs,
        limits.max_window_tokens,
    )
    if not windows:
        report.add("document with no tokens skipped", example=doc.id)
    if len(windows) > 1:
        report.add("documents cut into windows", example=doc.id)
        report.add(EXTRA_WINDOWS, len(windows) - 1)
    return [_window_row(doc, window, index, len(windows)) for index, window in enumerate(windows)]


def _chunk_long_sentences(
    doc: Document, paragraph: list[list[int]], paragraph_words: list[int], limits: LimitsConfig, report: SkipReport
) -> list[tuple[list[int], int]]:
    """1. A paragraph's sentences as (ids, words), those longer than the limit as consecutive chunks
    (the words count with the first); sentences with no tokens are left out."""
    sentences = []
    for ids, n_words in zip(paragraph, paragraph_words):
        if not ids:
            report.add("sentence with no tokens skipped", example=doc.id)
            continue
        if len(ids) > limits.max_sentence_tokens:
            report.add(
                f"sentences over max_sentence_tokens={limits.max_sentence_tokens}, cut into chunks", example=doc.id
            )
        for start in range(0, len(ids), limits.max_sentence_tokens):
            sentences.append((ids[start : start + limits.max_sentence_tokens], n_words if start == 0 else 0))
    return sentences


def _cut_long_paragraph(
    doc: Document, sentences: list[tuple[list[int], int]], limits: LimitsConfig, report: SkipReport
) -> list[list[tuple[list[int], int]]]:
    """2. A paragraph with too many sentences or tokens as consecutive paragraphs."""
    pieces, cuts = _consecutive_groups(
        sentences,
        [len(ids) + 1 for ids, _ in sentences],
        limits.max_paragraph_sentences,
        limits.max_paragraph_tokens,
    )  # + one boundary token per sentence
    for by_count in cuts:
        reason = (
            f"max_paragraph_sentences={limits.max_paragraph_sentences}"
            if by_count
            else f"max_paragraph_tokens={limits.max_paragraph_tokens}"
        )
        report.add(f"paragraphs cut at {reason}", example=doc.id)
    return pieces


def _window_row(doc: Document, window: list[list[tuple[list[int], int]]], index: int, num_windows: int) -> dict:
    """The prepared row of window `index` of a document cut into `num_windows` windows."""
    return {
        "id": doc.id if num_windows == 1 else f"{doc.id}#{index}",
        "source_id": doc.id,
        "window": index,
        "label": doc.label,
        "title": doc.title,
        "paragraphs": [[ids for ids, _ in paragraph] for paragraph in window],
        "num_tokens": sum(len(ids) + 1 for paragraph in window for ids, _ in paragraph),
        "num_words": sum(n for paragraph in window for _, n in paragraph),
        "num_sentences": sum(len(paragraph) for paragraph in window),
        "num_paragraphs": len(window),
    }


def add_encoder_ids(rows: list[dict], tokenizer, encoder_tokenizer, report: SkipReport) -> None:
    """Give each window row `encoder_paragraphs`: its sentence units in the encoder tokenizer's ids.

    Each unit (a chunk of a long sentence included) is decoded from the decoder's ids and tokenized
    again, so the two tokenizations stay aligned unit for unit whatever the limits cut.
    """
    units = [ids for row in rows for paragraph in row["paragraphs"] for ids in paragraph]
    # Stripped: byte-level BPE decodes a unit with the space it prepended (sentences are stripped text).
    texts = (
        [text.strip() for text in tokenizer.batch_decode(units, clean_up_tokenization_spaces=False)] if units else []
    )
    encoded = iter(
        encoder_tokenizer(texts, add_special_tokens=False, split_special_tokens=True)["input_ids"] if texts else []
    )
    longest = (
        encoder_tokenizer.model_max_length - 2 if encoder_tokenizer.model_max_length < 1_000_000 else None
    )  # room for start and end
    for row in rows:
        row["encoder_paragraphs"] = []
        for paragraph in row["paragraphs"]:
            sentences = []
            for _ in paragraph:
                ids = next(encoded)
                if not ids:
                    report.add(
                        "sentences with no encoder tokens (the encoder reads only its start and end ids)",
                        example=row["id"],
                    )
                if longest is not None and len(ids) > longest:
                    report.add(
                        f"encoder sentences cut at the encoder tokenizer's model_max_length={encoder_tokenizer.model_max_length}",
                        example=row["id"],
                    )
                    ids = ids[:longest]
                sentences.append(ids)
            row["encoder_paragraphs"].append(sentences)


# ---------------------------------------------------------------------------------------------
# Statistics


def _percentiles(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {}
    array = np.asarray(values)
    return {
        "mean": round(float(array.mean()), 1),
        **{f"p{q}": float(np.percentile(array, q)) for q in (5, 50, 95, 99)},
        "max": int(array.max()),
    }


def split_statistics(source: dict[str, int], windows: Dataset) -> dict:
    """Counts and length percentiles of one prepared split, computed with Arrow over its columns.

    `source` holds the counts of the documents that went in (source_documents, source_paragraphs,
    source_sentences)."""
    table = windows.with_format("arrow")[:] if len(windows) else None

    def column(name: str) -> np.ndarray:
        return table.column(name).to_numpy().astype(np.int64) if table is not None else np.zeros(0, np.int64)

    if table is not None:
        paragraphs = pc.list_flatten(table.column("paragraphs"))
        sentences_per_paragraph = pc.list_value_length(paragraphs).to_numpy(zero_copy_only=False).astype(np.int64)
        sentence_lengths = (
            pc.list_value_length(pc.list_flatten(paragraphs)).to_numpy(zero_copy_only=False).astype(np.int64)
        )
        labels = len(pc.unique(pc.drop_null(table.column("label"))))
    else:
        sentences_per_paragraph = sentence_lengths = np.zeros(0, np.int64)
        labels = 0
    return {
        **source,
        "windows": len(windows),
        "paragraphs": int(column("num_paragraphs").sum()),
        "sentences": int(column("num_sentences").sum()),
        "tokens": int(column("num_tokens").sum()),
        "content_tokens": int(sentence_lengths.sum()),
        "words": int(column("num_words").sum()),
        "labels": labels,
        "tokens_per_window": _percentiles(column("num_tokens")),
        "paragraphs_per_window": _percentiles(column("num_paragraphs")),
        "sentences_per_paragraph": _percentiles(sentences_per_paragraph),
        "tokens_per_sentence": _percentiles(sentence_lengths),
    }


def format_statistics(statistics: dict) -> str:
    """A Markdown report: one table of counts per split, one of percentiles, then the skips."""
    splits = [s for s in SPLITS if s in statistics["splits"]]
    counts = [
        "source_documents",
        "source_paragraphs",
        "source_sentences",
        "windows",
        "paragraphs",
        "sentences",
        "tokens",
        "words",
        "labels",
    ]
    lines = ["| | " + " | ".join(splits) + " |", "|---" * (len(splits) + 1) + "|"]
    for key in counts:
        lines.append(f"| {key} | " + " | ".join(f"{statistics['splits'][s][key]:,}" for s in splits) + " |")
    lines += ["", "| length (train) | mean | p5 | p50 | p95 | p99 | max |", "|---|---|---|---|---|---|---|"]
    train = statistics["splits"].get("train") or statistics["splits"][splits[0]]
    for key in ("tokens_per_window", "paragraphs_per_window", "sentences_per_paragraph", "tokens_per_sentence"):
        p = train[key]
        if p:
            lines.append(
                f"| {key} | {p['mean']} | {p['p5']:g} | {p['p50']:g} | {p['p95']:g} | {p['p99']:g} | {p['max']} |"
            )
    lines += ["", "Skipped or changed, and why:", ""]
    skipped = statistics["skipped"]["counts"]
    lines += [f"- {reason}: {n:,}" for reason, n in skipped.items()] or ["- nothing"]
    lines += [
        "",
        f"Tokens count every predicted position: content tokens plus one boundary token per sentence. "
        f"Prepared in {statistics['seconds']:.1f} s.",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Entry points


BATCH_DOCUMENTS = 256  # documents per batch of segmentation and windowing
SOURCE_COUNTS = ("source_documents", "source_paragraphs", "source_sentences")  # what went into a split, per split


def _window_batch(
    batch: dict,
    indices: list[int],
    tokenizer,
    encoder_tokenizer,
    limits: LimitsConfig,
    report_dir: str,
    source_files: list[str],
) -> dict:
    """Batched map over documents: tokenize, apply the limits, cut into windows."""
    documents = [
        Document(id=doc_id, paragraphs=paragraphs, label=label, title=title)
        for doc_id, paragraphs, label, title in zip(batch["id"], batch["paragraphs"], batch["label"], batch["title"])
    ]
    report, rows = SkipReport(), []
    for doc, paragraphs in zip(documents, _tokenize_documents(documents, tokenizer)):
        try:
            rows.extend(window_document(doc, paragraphs, limits, report))
        except Exception as error:
            raise RuntimeError(f"preparing document {doc.id!r} failed: {error}") from error
    if encoder_tokenizer is not None:
        add_encoder_ids(rows, tokenizer, encoder_tokenizer, report)
    counts = {
        "source_documents": len(documents),
        "source_paragraphs": sum(len(doc.paragraphs) for doc in documents),
        "source_sentences": sum(doc.num_sentences for doc in documents),
    }
    _finish_batch(report_dir, indices, report, counts, source_files)
    return {
        key: [row[key] for row in rows] for key in (FEATURES if encoder_tokenizer is None else FEATURES_WITH_ENCODER)
    }


def _finish_batch(
    report_dir: str, indices: list[int], report: SkipReport, counts: dict[str, int], source_files: list[str]
) -> None:
    """End of one batch of `_map_documents`, in whichever worker ran it. What it skipped cannot go
    to the caller's report, so it goes to a file of its own in `report_dir`, named by the batch's
    first index (merging the files in name order is merging in source order); and the pages of the
    documents it read can leave the resident set."""
    (Path(report_dir) / f"{indices[0]:012d}.json").write_text(
        json.dumps({"counts": counts, "skipped": report.as_dict()})
    )
    for file in source_files:
        release_mapped_pages(file)


def _map_documents(
    documents: Dataset,
    function,
    features: Features,
    fn_kwargs: dict,
    work_dir: Path,
    report: SkipReport,
    num_proc: int | None,
    desc: str,
) -> tuple[Dataset, Counter]:
    """`documents.map(function)` in batches, in `num_proc` processes, into an Arrow file under
    `work_dir`; the batches' reports are merged into `report`; returns the result and the batches'
    summed counts."""
    report_dir = Path(tempfile.mkdtemp(prefix="reports-", dir=work_dir))
    # A pool of workers takes about a second to start: a dataset of less than a batch per worker
    # (a small validation split) is mapped in this process. num_proc=1 would start a pool of one.
    parallel = num_proc is not None and num_proc > 1 and len(documents) >= num_proc * BATCH_DOCUMENTS
    mapped = documents.map(
        function,
        batched=True,
        batch_size=BATCH_DOCUMENTS,
        with_indices=True,
        num_proc=num_proc if parallel else None,
        remove_columns=documents.column_names,
        features=features,
        fn_kwargs={
            **fn_kwargs,
            "report_dir": str(report_dir),
            "source_files": [file["filename"] for file in documents.cache_files],
        },
        cache_file_name=str(work_dir / f"{report_dir.name}.arrow"),
        load_from_cache_file=False,
        new_fingerprint=report_dir.name,
        desc=desc,
    )
    counts = Counter()
    for file in sorted(report_dir.glob("*.json")):
        batch = json.loads(file.read_text())
        counts.update(batch["counts"])
        report.merge(SkipReport(counts=Counter(batch["skipped"]["counts"]), examples=batch["skipped"]["examples"]))
    return mapped, counts


def window_documents(
    documents: Dataset,
    tokenizer,
    limits: LimitsConfig,
    work_dir: Path,
    report: SkipReport,
    num_proc: int | None = None,
    desc: str = "windowing",
    encoder_tokenizer=None,
) -> tuple[Dataset, dict[str, int]]:
    """Tokenize and window a documents dataset in `num_proc` processes; returns the windows
    (`FEATURES` rows, on disk under `work_dir`; `FEATURES_WITH_ENCODER` with an encoder tokenizer)
    and the source counts."""
    features = FEATURES if encoder_tokenizer is None else FEATURES_WITH_ENCODER
    if not len(documents):
        return _empty(features), dict.fromkeys(SOURCE_COUNTS, 0)
    windows, counts = _map_documents(
        documents,
        _window_batch,
        features,
        {"tokenizer": tokenizer, "encoder_tokenizer": encoder_tokenizer, "limits": limits},
        work_dir,
        report,
        num_proc,
        desc,
    )
    return windows, {key: counts[key] for key in SOURCE_COUNTS}


def prepare_corpus(config: PrepareConfig, show_progress: bool = True, num_proc: int | None = None) -> dict:
    """Build and save the prepared corpus; return its statistics.

    Documents stream from the reader (which cuts paragraphs) into Arrow files in a temporary
    folder, and from there through sentence splitting, then tokenization and windowing (each in
    `num_proc` processes) into the saved dataset: the corpus is never held in memory as Python
    objects, and the pages read from the Arrow files leave the resident set once read.
    """
    started = time.perf_counter()
    output_dir = Path(config.output_dir)
    report = SkipReport()
    bars_were_on = not are_progress_bars_disabled()
    if not show_progress:
        disable_progress_bars()
    try:
        with tempfile.TemporaryDirectory(prefix="doc_hvae-prepare-") as work_dir:
            statistics = _prepare(config, Path(work_dir), report, show_progress, num_proc)
    finally:
        if bars_were_on:
            enable_progress_bars()
    statistics["seconds"] = round(time.perf_counter() - started, 2)
    (output_dir / "statistics.json").write_text(json.dumps(statistics, indent=2))
    (output_dir / "statistics.md").write_text(format_statistics(statistics) + "\n")
    return statistics


def _prepare(
    config: PrepareConfig, work_dir: Path, report: SkipReport, show_progress: bool, num_proc: int | None
) -> dict:
    documents = read_documents(config.source, report, work_dir, show_progress, num_proc)
    if not len(documents.get("train", [])):
        raise ValueError(
            f"source {config.source.reader!r} gave no training documents (splits: "
            f"{ {k: len(v) for k, v in documents.items()} }); check source.path/paths and the reader options."
        )

    if config.tokenizer.pretrained:
        tokenizer = load_tokenizer(config.tokenizer.pretrained)
    else:
        tokenizer = config.tokenizer.train(sentences_of(documents["train"]))
    SpecialTokenIds.from_tokenizer(tokenizer)  # fails early if a special token is missing
    encoder_tokenizer = None
    if config.encoder_tokenizer is not None:
        encoder_tokenizer = (
            load_encoder_tokenizer(config.encoder_tokenizer.pretrained)
            if config.encoder_tokenizer.pretrained
            else config.encoder_tokenizer.train(sentences_of(documents["train"]))
        )
        EncoderTokenIds.from_tokenizer(encoder_tokenizer)

    splits, statistics = {}, {"splits": {}}
    for name in SPLITS:
        docs = documents.get(name, _empty(DOCUMENT_FEATURES))
        splits[name], source_counts = window_documents(
            docs, tokenizer, config.limits, work_dir, report, num_proc, f"windowing {name}", encoder_tokenizer
        )
        statistics["splits"][name] = split_statistics(source_counts, splits[name])
        release_dataset_pages(splits[name])
    statistics["skipped"] = report.as_dict()
    statistics["vocab_size"] = len(tokenizer)
    if encoder_tokenizer is not None:
        statistics["encoder_vocab_size"] = len(encoder_tokenizer)
    statistics["limits"] = config.limits.model_dump()

    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with releasing_mapped_pages(work_dir):  # it reads every window once
        DatasetDict(splits).save_to_disk(str(output_dir / "dataset"))
    tokenizer.save_pretrained(str(output_dir / "tokenizer"))
    if encoder_tokenizer is not None:
        encoder_tokenizer.save_pretrained(str(output_dir / ENCODER_TOKENIZER))
    (output_dir / "prepare_config.yaml").write_text(dump_config(config))
    return statistics


class PreparedCorpus:
    """A prepared corpus folder, loaded: `.dataset` (DatasetDict), `.tokenizer`, `.statistics`."""

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        if not (path / "dataset").is_dir() or not (path / "tokenizer").is_dir():
            raise FileNotFoundError(
                f"{str(path)!r} is not a prepared corpus (no dataset/ and tokenizer/ inside); "
                "make one with: python data_scripts/prepare_corpus.py --config <yaml> output_dir=" + str(path)
            )
        self.path = path
        self.dataset: DatasetDict = load_from_disk(str(path / "dataset"))
        self.tokenizer = load_tokenizer(path / "tokenizer")
        # The sentence encoder's own tokenizer, when the corpus was prepared with one.
        self.encoder_tokenizer = (
            load_encoder_tokenizer(path / ENCODER_TOKENIZER) if (path / ENCODER_TOKENIZER).is_dir() else None
        )
        stats = path / "statistics.json"
        self.statistics = json.loads(stats.read_text()) if stats.exists() else {}

    def __repr__(self) -> str:
        sizes = {name: len(split) for name, split in self.dataset.items()}
        return f"PreparedCorpus({str(self.path)!r}, windows={sizes}, vocab={len(self.tokenizer)})"


def windows_from_documents(
    documents: list[Document], tokenizer, limits: LimitsConfig, report: SkipReport | None = None, encoder_tokenizer=None
) -> list[list[dict]]:
    """Tokenize and window documents outside a prepared corpus (texts given directly): every window of
    each document, in order, cut as a prepared corpus is. The windows past a document's first are not
    counted in `report` as made: whether they are used or discarded is the caller's to count. With
    `encoder_tokenizer` (a model whose encoder has its own), the rows carry `encoder_paragraphs` too."""
    report = report if report is not None else SkipReport()
    cutting = SkipReport()
    grouped = []
    for doc, paragraphs in zip(documents, _tokenize_documents(documents, tokenizer)):
        windows = window_document(doc, paragraphs, limits, cutting)
        if not windows:
            raise ValueError(f"document {doc.id!r} has no tokens after tokenization")
        grouped.append(windows)
    cutting.counts.pop(EXTRA_WINDOWS, None)
    report.merge(cutting)
    if encoder_tokenizer is not None:
        add_encoder_ids([row for windows in grouped for row in windows], tokenizer, encoder_tokenizer, report)
    return grouped


def rows_from_documents(
    documents: list[Document], tokenizer, limits: LimitsConfig, report: SkipReport | None = None, encoder_tokenizer=None
) -> list[dict]:
    """The first window of each document (`windows_from_documents`); the windows past it are counted in
    `report` as discarded (DISCARDED_WINDOWS)."""
    report = report if report is not None else SkipReport()
    grouped = windows_from_documents(documents, tokenizer, limits, report)
    discarded = sum(len(windows) - 1 for windows in grouped)
    if discarded:
        report.add(DISCARDED_WINDOWS, discarded)
    rows = [windows[0] for windows in grouped]
    if encoder_tokenizer is not None:  # the kept windows only
        add_encoder_ids(rows, tokenizer, encoder_tokenizer, report)
    return rows


def is_prepared(path: str | os.PathLike) -> bool:
    path = Path(path)
    return (path / "dataset").is_dir() and (path / "tokenizer").is_dir() and (path / "statistics.json").is_file()
