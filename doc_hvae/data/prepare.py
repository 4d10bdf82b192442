"""Corpus -> tokenized document windows in a `datasets.DatasetDict`, with a statistics report.

A prepared corpus is a folder:

    dataset/           DatasetDict.save_to_disk (train / validation / test)
    tokenizer/         AutoTokenizer-loadable, with the document special tokens
    statistics.json    counts, length percentiles and every limit's cuts, per split
    statistics.md      the same, for people
    prepare_config.yaml

Each row is one window of a document: whole paragraphs, each a list of sentences, each a list
of token ids without special tokens (the collator adds them). Long documents are cut into
windows of whole paragraphs, never truncated away.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from datasets import Dataset, DatasetDict, Features, List, Value, load_from_disk
from pydantic import Field, model_validator
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerFast

from ..config_loading import StrictModel, dump_config
from .document import Document, SkipReport
from .readers import read_corpus
from .tokenizer import SpecialTokenIds, load_tokenizer, train_bpe_tokenizer, train_unigram_tokenizer

SPLITS = ("train", "validation", "test")
_SPLIT_ALIASES = {"train": "train", "valid": "validation", "validation": "validation", "dev": "validation", "test": "test"}

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


class SourceConfig(StrictModel):
    """Where the documents come from (see `doc_hvae.data.readers.READERS`)."""

    reader: str = Field(description="reader name: wikitext, lines, text, jsonl, hf, pydoc")
    path: str | None = Field(None, description="one source for all splits (split by `split_fractions` unless the reader sets splits)")
    paths: dict[str, str] | None = Field(None, description="one source per split, e.g. {train: a, validation: b, test: c}")
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
    def _check(self) -> "SourceConfig":
        if self.path is not None and self.paths is not None:
            raise ValueError("give either source.path or source.paths, not both")
        for name in self.paths or {}:
            if name not in _SPLIT_ALIASES:
                raise ValueError(f"source.paths has unknown split {name!r}; use train, validation, test")
        for name, fraction in self.split_fractions.items():
            if name not in ("validation", "test") or not 0 <= fraction < 1:
                raise ValueError(f"source.split_fractions.{name}={fraction}: use validation/test fractions in [0, 1)")
        if sum(self.split_fractions.values()) >= 1:
            raise ValueError(f"source.split_fractions={self.split_fractions} leave no training documents; make them sum to less than 1")
        return self


class TokenizerConfig(StrictModel):
    """Train a tokenizer on the training split (byte-level BPE or a sentencepiece Unigram LM), or use an existing one."""

    pretrained: str | None = Field(None, description="tokenizer folder or Hub name; None trains a new one")
    kind: Literal["bpe", "unigram"] = Field(
        "bpe", description="what to train: bpe (byte-level BPE, tokenizers) or unigram (Unigram LM with byte fallback, sentencepiece)"
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
    max_paragraph_tokens: int = Field(512, ge=8, description="... and so are paragraphs with more tokens (at sentence boundaries): "
                                      "a paragraph is one decoder stream, so this bounds the decoder's positions")
    max_window_paragraphs: int = Field(16, ge=1, description="documents are cut into windows of at most this many paragraphs")
    max_window_tokens: int = Field(2048, ge=8, description="... and at most this many tokens (a paragraph is never split)")

    @model_validator(mode="after")
    def _check(self) -> "LimitsConfig":
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
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    output_dir: str


# ---------------------------------------------------------------------------------------------
# Reading and splitting


def load_documents(source: SourceConfig, report: SkipReport) -> dict[str, list[Document]]:
    """Read every document of the source and assign it to a split.

    Splits come from the source (one path per split, or the documents' own split, e.g. from a
    split file); the validation and test splits it does not provide are carved out of the
    training documents by a seeded split with `split_fractions`.
    """
    if source.paths is not None:
        by_split = {_SPLIT_ALIASES[name]: list(read_corpus(source.reader, path, report=report, **source.options)) for name, path in source.paths.items()}
    else:
        documents = list(read_corpus(source.reader, source.path, report=report, **source.options))
        by_split = defaultdict(list)
        if any(doc.split is not None for doc in documents):
            for doc in documents:
                if doc.split is None or doc.split not in _SPLIT_ALIASES:
                    report.add("document without a known split skipped", example=f"{doc.id} (split={doc.split!r})")
                    continue
                by_split[_SPLIT_ALIASES[doc.split]].append(doc)
        else:
            by_split["train"] = documents
    missing = {name: fraction for name, fraction in source.split_fractions.items() if fraction > 0 and not by_split.get(name)}
    if missing:
        by_split.update(_carve(by_split.get("train", []), missing, source))
    return {name: _take(docs, source.max_documents, report) for name, docs in by_split.items()}


def _carve(pool: list[Document], fractions: dict[str, float], source: SourceConfig) -> dict[str, list[Document]]:
    """Seeded split of `pool` into train and the given splits (by document, or by chunk of paragraphs)."""
    if source.split_by == "chunk":
        pool = [
            Document(id=f"{doc.id}@{start // source.chunk_paragraphs}", paragraphs=doc.paragraphs[start : start + source.chunk_paragraphs], label=doc.label, title=doc.title)
            for doc in pool
            for start in range(0, len(doc.paragraphs), source.chunk_paragraphs)
        ]
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
    for index, doc in enumerate(pool):  # source order inside each split: the order people read them in
        name = next((n for n, (lo, hi) in bounds.items() if lo <= rank[index] < hi), "train")
        carved[name].append(doc)
    return carved


def _take(documents: Iterable[Document], limit: int | None, report: SkipReport) -> list[Document]:
    documents = list(documents)
    if limit is not None and len(documents) > limit:
        report.add(f"documents beyond source.max_documents={limit} not used", len(documents) - limit)
        documents = documents[:limit]
    return documents


# ---------------------------------------------------------------------------------------------
# Tokenizing and windowing


def _tokenize_documents(documents: list[Document], tokenizer, batch_sentences: int = 20000) -> Iterator[list[list[list[int]]]]:
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


def _consecutive_groups(items: list, sizes: list[int], max_items: int, max_tokens: int) -> tuple[list[list], list[bool]]:
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


def window_document(
    doc: Document, paragraphs: list[list[list[int]]], limits: LimitsConfig, report: SkipReport
) -> list[dict]:
    """Apply the limits to one tokenized document and cut it into windows of whole paragraphs."""
    words = [[len(sentence.split()) for sentence in paragraph] for paragraph in doc.paragraphs]
    # 1. Sentences longer than the limit become consecutive chunks; the words count with the first.
    limited: list[list[tuple[list[int], int]]] = []
    for paragraph, paragraph_words in zip(paragraphs, words):
        sentences = []
        for ids, n_words in zip(paragraph, paragraph_words):
            if not ids:
                report.add("sentence with no tokens skipped", example=doc.id)
                continue
            if len(ids) > limits.max_sentence_tokens:
                report.add(f"sentences over max_sentence_tokens={limits.max_sentence_tokens}, cut into chunks", example=doc.id)
            for start in range(0, len(ids), limits.max_sentence_tokens):
                sentences.append((ids[start : start + limits.max_sentence_tokens], n_words if start == 0 else 0))
        # 2. Paragraphs with too many sentences or tokens become consecutive paragraphs.
        pieces, cuts = _consecutive_groups(
            sentences, [len(ids) + 1 for ids, _ in sentences], limits.max_paragraph_sentences, limits.max_paragraph_tokens
        )  # + one boundary token per sentence
        for by_count in cuts:
            reason = f"max_paragraph_sentences={limits.max_paragraph_sentences}" if by_count else f"max_paragraph_tokens={limits.max_paragraph_tokens}"
            report.add(f"paragraphs cut at {reason}", example=doc.id)
        limited.extend(pieces)

    # 3. Windows of whole paragraphs under both window limits.
    windows, _ = _consecutive_groups(
        limited, [sum(len(ids) + 1 for ids, _ in paragraph) for paragraph in limited], limits.max_window_paragraphs, limits.max_window_tokens
    )
    if not windows:
        report.add("document with no tokens skipped", example=doc.id)
    if len(windows) > 1:
        report.add("documents cut into windows", example=doc.id)
        report.add("extra windows made by cutting documents", len(windows) - 1)

    rows = []
    for index, window in enumerate(windows):
        rows.append(
            {
                "id": doc.id if len(windows) == 1 else f"{doc.id}#{index}",
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
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Statistics


def _percentiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values)
    return {
        "mean": round(float(array.mean()), 1),
        **{f"p{q}": float(np.percentile(array, q)) for q in (5, 50, 95, 99)},
        "max": int(array.max()),
    }


def split_statistics(documents: list[Document], rows: list[dict]) -> dict:
    sentence_lengths = [len(s) for row in rows for p in row["paragraphs"] for s in p]
    return {
        "source_documents": len(documents),
        "source_paragraphs": sum(len(doc.paragraphs) for doc in documents),
        "source_sentences": sum(doc.num_sentences for doc in documents),
        "windows": len(rows),
        "paragraphs": sum(row["num_paragraphs"] for row in rows),
        "sentences": sum(row["num_sentences"] for row in rows),
        "tokens": sum(row["num_tokens"] for row in rows),
        "content_tokens": sum(sentence_lengths),
        "words": sum(row["num_words"] for row in rows),
        "labels": len({row["label"] for row in rows if row["label"] is not None}),
        "tokens_per_window": _percentiles([row["num_tokens"] for row in rows]),
        "paragraphs_per_window": _percentiles([row["num_paragraphs"] for row in rows]),
        "sentences_per_paragraph": _percentiles([len(p) for row in rows for p in row["paragraphs"]]),
        "tokens_per_sentence": _percentiles(sentence_lengths),
    }


def format_statistics(statistics: dict) -> str:
    """A Markdown report: one table of counts per split, one of percentiles, then the skips."""
    splits = [s for s in SPLITS if s in statistics["splits"]]
    counts = ["source_documents", "source_paragraphs", "source_sentences", "windows", "paragraphs", "sentences", "tokens", "words", "labels"]
    lines = ["| | " + " | ".join(splits) + " |", "|---" * (len(splits) + 1) + "|"]
    for key in counts:
        lines.append(f"| {key} | " + " | ".join(f"{statistics['splits'][s][key]:,}" for s in splits) + " |")
    lines += ["", "| length (train) | mean | p5 | p50 | p95 | p99 | max |", "|---|---|---|---|---|---|---|"]
    train = statistics["splits"].get("train") or statistics["splits"][splits[0]]
    for key in ("tokens_per_window", "paragraphs_per_window", "sentences_per_paragraph", "tokens_per_sentence"):
        p = train[key]
        if p:
            lines.append(f"| {key} | {p['mean']} | {p['p5']:g} | {p['p50']:g} | {p['p95']:g} | {p['p99']:g} | {p['max']} |")
    lines += ["", "Skipped or changed, and why:", ""]
    skipped = statistics["skipped"]["counts"]
    lines += [f"- {reason}: {n:,}" for reason, n in skipped.items()] or ["- nothing"]
    lines += ["", f"Tokens count every predicted position: content tokens plus one boundary token per sentence. "
              f"Prepared in {statistics['seconds']:.1f} s."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Entry points


def prepare_corpus(config: PrepareConfig, show_progress: bool = True) -> dict:
    """Build and save the prepared corpus; return its statistics."""
    started = time.perf_counter()
    output_dir = Path(config.output_dir)
    report = SkipReport()

    documents = load_documents(config.source, report)
    if not documents.get("train"):
        raise ValueError(
            f"source {config.source.reader!r} gave no training documents (splits: "
            f"{ {k: len(v) for k, v in documents.items()} }); check source.path/paths and the reader options."
        )

    if config.tokenizer.pretrained:
        tokenizer = load_tokenizer(config.tokenizer.pretrained)
    else:
        sentences = (s for doc in documents["train"] for p in doc.paragraphs for s in p)
        tokenizer = config.tokenizer.train(sentences)
    SpecialTokenIds.from_tokenizer(tokenizer)  # fails early if a special token is missing

    splits, statistics = {}, {"splits": {}}
    for name in SPLITS:
        docs = documents.get(name, [])
        rows = []
        tokenized = _tokenize_documents(docs, tokenizer)
        for doc, paragraphs in tqdm(zip(docs, tokenized), total=len(docs), desc=f"windowing {name}", disable=not show_progress):
            rows.extend(window_document(doc, paragraphs, config.limits, report))
        splits[name] = Dataset.from_list(rows, features=FEATURES) if rows else Dataset.from_dict({k: [] for k in FEATURES}, features=FEATURES)
        statistics["splits"][name] = split_statistics(docs, rows)
    statistics["skipped"] = report.as_dict()
    statistics["vocab_size"] = len(tokenizer)
    statistics["limits"] = config.limits.model_dump()
    statistics["seconds"] = round(time.perf_counter() - started, 2)

    output_dir.mkdir(parents=True, exist_ok=True)
    DatasetDict(splits).save_to_disk(str(output_dir / "dataset"))
    tokenizer.save_pretrained(str(output_dir / "tokenizer"))
    (output_dir / "statistics.json").write_text(json.dumps(statistics, indent=2))
    (output_dir / "statistics.md").write_text(format_statistics(statistics) + "\n")
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
        stats = path / "statistics.json"
        self.statistics = json.loads(stats.read_text()) if stats.exists() else {}

    def __repr__(self) -> str:
        sizes = {name: len(split) for name, split in self.dataset.items()}
        return f"PreparedCorpus({str(self.path)!r}, windows={sizes}, vocab={len(self.tokenizer)})"


def rows_from_documents(documents: list[Document], tokenizer, limits: LimitsConfig, report: SkipReport | None = None) -> list[dict]:
    """Tokenize and window documents outside a prepared corpus (references given as text); first window of each."""
    report = report if report is not None else SkipReport()
    rows = []
    for doc, paragraphs in zip(documents, _tokenize_documents(documents, tokenizer)):
        windows = window_document(doc, paragraphs, limits, report)
        if not windows:
            raise ValueError(f"document {doc.id!r} has no tokens after tokenization")
        rows.append(windows[0])
    return rows


def is_prepared(path: str | os.PathLike) -> bool:
    path = Path(path)
    return (path / "dataset").is_dir() and (path / "tokenizer").is_dir() and (path / "statistics.json").is_file()
