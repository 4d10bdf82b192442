"""Tests of `doc_hvae.data.prepare`: splitting, tokenizing, limits, windows, statistics, loading.

Unit tests write a small JSON-lines (or plain-text) corpus to a temporary folder and check the
prepared rows against the tokenizer applied to the source sentences, independently of how
`window_document` computes them. Integration tests run the shipped WikiText-2 and PTB configs
on the shared corpora (skipped when ../shared/data is absent).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import tempfile
import time
from collections import defaultdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported

import numpy as np
import pyarrow.compute as pc
import pytest
from pydantic import ValidationError

from conftest import REPO_ROOT, shared_data
from doc_hvae.config_loading import load_config
from doc_hvae.data.document import Document, SkipReport
from doc_hvae.data.prepare import (
    LimitsConfig,
    PrepareConfig,
    PreparedCorpus,
    SourceConfig,
    TokenizerConfig,
    is_prepared,
    load_documents,
    prepare_corpus,
    read_documents,
    release_mapped_pages,
    window_document,
    write_arrow,
)
from doc_hvae.data.readers import read_corpus

# Small enough that every limit is hit by the corpus below.
LIMITS = dict(
    max_sentence_tokens=16,
    max_paragraph_sentences=4,
    max_paragraph_tokens=48,
    max_window_paragraphs=3,
    max_window_tokens=96,
)
WORDS = (
    "the a of and to in cat dog house river mountain quickly slowly extraordinary "
    "unbelievable photosynthesis ran sat jumped over under beside 1998 2,000 x-ray"
).split()


def write_jsonl_corpus(path, num_documents: int = 40, seed: int = 0) -> list[dict]:
    """Lower-cased, pre-tokenized documents (sentences end with a standalone '.'), one JSON object each.

    Some sentences are very long (cut by max_sentence_tokens), some paragraphs have many
    sentences (cut by max_paragraph_sentences / max_paragraph_tokens), some documents have many
    paragraphs (cut into windows).
    """
    rng = random.Random(seed)
    records = []
    for d in range(num_documents):
        paragraphs = []
        for _ in range(rng.choice([1, 1, 2, 3, 5, 8])):
            sentences = []
            for _ in range(rng.choice([1, 2, 3, 6, 9])):
                length = rng.choice([2, 4, 6, 9, 12]) if rng.random() > 0.08 else rng.randint(40, 70)
                sentences.append(" ".join(rng.choice(WORDS) for _ in range(length)) + " .")
            paragraphs.append(" ".join(sentences))
        records.append({"id": f"doc{d}", "text": "\n\n".join(paragraphs), "label": f"L{d % 3}"})
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def jsonl_config(corpus, output_dir, **source) -> PrepareConfig:
    return PrepareConfig(
        source=SourceConfig(
            reader="jsonl",
            path=str(corpus),
            options={"text_field": "text", "id_field": "id", "label_field": "label", "splitter": "punctuation"},
            split_fractions={"validation": 0.1, "test": 0.2},
            split_seed=source.pop("split_seed", 0),
            **source,
        ),
        tokenizer=TokenizerConfig(vocab_size=400, min_frequency=1),
        limits=LimitsConfig(**LIMITS),
        output_dir=str(output_dir),
    )


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """(config, statistics, PreparedCorpus, source documents by split) of the small jsonl corpus."""
    folder = tmp_path_factory.mktemp("prepare")
    corpus = folder / "corpus.jsonl"
    write_jsonl_corpus(corpus)
    config = jsonl_config(corpus, folder / "out")
    statistics = prepare_corpus(config, show_progress=False)
    documents = load_documents(config.source, SkipReport())
    return config, statistics, PreparedCorpus(config.output_dir), documents


@pytest.fixture
def worker_pids(monkeypatch, tmp_path):
    """Batches of 4 documents, so that the small corpora of these tests reach the workers of
    num_proc=2 (smaller datasets are mapped in the calling process); returns a function that gives
    the ids of the processes other than this one that ran a batch."""
    import doc_hvae.data.prepare as prepare_module

    monkeypatch.setattr(prepare_module, "BATCH_DOCUMENTS", 4)
    folder = tmp_path / "worker_pids"
    folder.mkdir()
    finish_batch = prepare_module._finish_batch

    def recording_finish_batch(*args, **kwargs):  # forked workers inherit the patch
        (folder / str(os.getpid())).touch()
        return finish_batch(*args, **kwargs)

    monkeypatch.setattr(prepare_module, "_finish_batch", recording_finish_batch)
    return lambda: {int(file.name) for file in folder.iterdir()} - {os.getpid()}


def rows_by_source(dataset) -> dict[str, list[dict]]:
    by_source = defaultdict(list)
    for row in dataset.to_list():
        by_source[row["source_id"]].append(row)
    return {k: sorted(v, key=lambda r: r["window"]) for k, v in by_source.items()}


def tokenize(tokenizer, sentence: str) -> list[int]:
    return tokenizer(sentence, add_special_tokens=False, split_special_tokens=True)["input_ids"]


def match_document(doc: Document, rows: list[dict], tokenizer, limits: LimitsConfig) -> dict:
    """Walk the source sentences against the rows' sentences and check the row structure.

    Returns counts of the cuts it saw. Asserts:
    - every source sentence is the concatenation of consecutive row sentences, the chunks being
      exactly `max_sentence_tokens` long except the last (so no token is lost or moved);
    - a row paragraph never mixes sentences of two source paragraphs;
    - a row's num_words counts the whitespace words of the sentences that start in it.
    """
    row_sentences = []  # (row index, row paragraph key, ids)
    for r, row in enumerate(rows):
        for j, paragraph in enumerate(row["paragraphs"]):
            for ids in paragraph:
                row_sentences.append((r, (r, j), ids))
    cursor = 0
    words_per_row = [0] * len(rows)
    source_paragraph_of = {}  # row paragraph key -> source paragraph index
    long_sentences = 0
    for p, paragraph in enumerate(doc.paragraphs):
        for sentence in paragraph:
            ids = tokenize(tokenizer, sentence)
            assert ids, sentence
            chunks = [ids[k : k + limits.max_sentence_tokens] for k in range(0, len(ids), limits.max_sentence_tokens)]
            long_sentences += len(chunks) > 1
            for c, chunk in enumerate(chunks):
                r, key, got = row_sentences[cursor]
                assert got == chunk, f"{doc.id}: sentence {sentence!r} chunk {c}"
                assert source_paragraph_of.setdefault(key, p) == p, (
                    f"{doc.id}: row paragraph {key} spans two source paragraphs"
                )
                if c == 0:
                    words_per_row[r] += len(sentence.split())
                cursor += 1
    assert cursor == len(row_sentences), f"{doc.id}: rows hold sentences the source does not have"
    assert [row["num_words"] for row in rows] == words_per_row
    row_paragraphs = len(source_paragraph_of)
    return {"long_sentences": long_sentences, "paragraph_cuts": row_paragraphs - len(doc.paragraphs)}


def test_splits_follow_seeded_fractions(prepared):
    config, statistics, corpus, documents = prepared
    assert set(corpus.dataset) == {"train", "validation", "test"}
    sizes = {name: statistics["splits"][name]["source_documents"] for name in ("train", "validation", "test")}
    assert sizes == {"train": 28, "validation": 4, "test": 8}  # 40 documents, 10% / 20%
    ids = {name: set(corpus.dataset[name]["source_id"]) for name in sizes}
    assert {name: len(v) for name, v in ids.items()} == sizes
    assert (
        not ids["train"] & ids["validation"] and not ids["train"] & ids["test"] and not ids["validation"] & ids["test"]
    )
    assert ids["train"] | ids["validation"] | ids["test"] == {f"doc{d}" for d in range(40)}
    # Inside a split, documents keep their source order.
    for docs in documents.values():
        numbers = [int(doc.id[3:]) for doc in docs]
        assert numbers == sorted(numbers)


def test_split_is_deterministic_per_seed(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl_corpus(corpus)

    def split(seed):
        docs = load_documents(jsonl_config(corpus, tmp_path, split_seed=seed).source, SkipReport())
        return {name: [doc.id for doc in v] for name, v in docs.items()}

    assert split(0) == split(0)
    assert split(0) != split(1)
    assert {name: len(v) for name, v in split(1).items()} == {name: len(v) for name, v in split(0).items()}


def test_same_seed_gives_identical_prepared_corpus(prepared, tmp_path):
    config, statistics, corpus, _ = prepared
    again = config.model_copy(update={"output_dir": str(tmp_path / "again")})
    statistics_again = prepare_corpus(again, show_progress=False)
    assert statistics_again["splits"] == statistics["splits"]
    reloaded = PreparedCorpus(tmp_path / "again")
    for name in ("train", "validation", "test"):
        assert reloaded.dataset[name].to_list() == corpus.dataset[name].to_list()


def test_rows_match_tokenized_source(prepared):
    """No token lost, moved or invented; paragraphs and sentences cut only as the limits say."""
    config, statistics, corpus, documents = prepared
    tokenizer = corpus.tokenizer
    counts = defaultdict(int)
    for name in ("train", "validation", "test"):
        by_source = rows_by_source(corpus.dataset[name])
        assert set(by_source) == {doc.id for doc in documents[name]}
        content_before = content_after = 0
        for doc in documents[name]:
            rows = by_source[doc.id]
            assert [row["window"] for row in rows] == list(range(len(rows)))
            assert [row["id"] for row in rows] == (
                [doc.id] if len(rows) == 1 else [f"{doc.id}#{k}" for k in range(len(rows))]
            )
            assert all(row["label"] == doc.label for row in rows)
            found = match_document(doc, rows, tokenizer, config.limits)
            counts["long_sentences"] += found["long_sentences"]
            counts["paragraph_cuts"] += found["paragraph_cuts"]
            counts["extra_windows"] += len(rows) - 1
            counts["documents_cut"] += len(rows) > 1
            content_before += sum(len(tokenize(tokenizer, s)) for p in doc.paragraphs for s in p)
            content_after += sum(len(s) for row in rows for p in row["paragraphs"] for s in p)
            assert sum(row["num_words"] for row in rows) == doc.num_words
        assert content_after == content_before
        assert statistics["splits"][name]["content_tokens"] == content_before
    # The corpus was written to hit every limit; every cut is counted in statistics.json.
    skipped = json.loads((corpus.path / "statistics.json").read_text())["skipped"]["counts"]
    limits = config.limits
    assert counts["long_sentences"] > 0 and counts["paragraph_cuts"] > 0 and counts["extra_windows"] > 0
    assert (
        skipped[f"sentences over max_sentence_tokens={limits.max_sentence_tokens}, cut into chunks"]
        == counts["long_sentences"]
    )
    paragraph_cuts = sum(n for reason, n in skipped.items() if reason.startswith("paragraphs cut at "))
    assert paragraph_cuts == counts["paragraph_cuts"]
    assert skipped["extra windows made by cutting documents"] == counts["extra_windows"]
    assert skipped["documents cut into windows"] == counts["documents_cut"]
    assert any(reason.startswith("paragraphs cut at max_paragraph_sentences") for reason in skipped)
    assert any(reason.startswith("paragraphs cut at max_paragraph_tokens") for reason in skipped)


def test_rows_respect_limits_and_windows_are_greedy(prepared):
    config, _, corpus, _ = prepared
    limits = config.limits
    for name in ("train", "validation", "test"):
        for rows in rows_by_source(corpus.dataset[name]).values():
            for row in rows:
                paragraphs = row["paragraphs"]
                assert 1 <= len(paragraphs) <= limits.max_window_paragraphs
                assert row["num_paragraphs"] == len(paragraphs)
                assert row["num_sentences"] == sum(len(p) for p in paragraphs)
                content = sum(len(s) for p in paragraphs for s in p)
                assert row["num_tokens"] == content + row["num_sentences"]  # one boundary token per sentence
                assert row["num_tokens"] <= limits.max_window_tokens
                for paragraph in paragraphs:
                    assert 1 <= len(paragraph) <= limits.max_paragraph_sentences
                    assert sum(len(s) + 1 for s in paragraph) <= limits.max_paragraph_tokens
                    assert all(1 <= len(s) <= limits.max_sentence_tokens for s in paragraph)
            # A window is closed only when the next paragraph would break a window limit.
            for current, following in zip(rows, rows[1:]):
                first = sum(len(s) + 1 for s in following["paragraphs"][0])
                assert (
                    current["num_paragraphs"] == limits.max_window_paragraphs
                    or current["num_tokens"] + first > limits.max_window_tokens
                )


def test_statistics_totals(prepared):
    _, statistics, corpus, documents = prepared
    for name in ("train", "validation", "test"):
        split = statistics["splits"][name]
        rows = corpus.dataset[name]
        docs = documents[name]
        assert split["windows"] == len(rows)
        assert split["source_paragraphs"] == sum(len(doc.paragraphs) for doc in docs)
        assert split["source_sentences"] == sum(doc.num_sentences for doc in docs)
        assert split["tokens"] == sum(rows["num_tokens"]) == split["content_tokens"] + split["sentences"]
        assert (
            split["words"]
            == sum(doc.num_words for doc in docs)
            == sum(len(s.split()) for doc in docs for p in doc.paragraphs for s in p)
        )
        assert split["labels"] == len({doc.label for doc in docs})
    assert statistics["vocab_size"] == len(corpus.tokenizer)
    assert corpus.statistics == json.loads(json.dumps(statistics))
    markdown = (corpus.path / "statistics.md").read_text()
    assert "source_documents" in markdown and "Skipped or changed" in markdown


def test_prepared_corpus_loads_what_was_saved(prepared):
    """The saved rows are exactly what window_document makes of the source with the saved tokenizer."""
    config, _, corpus, documents = prepared
    assert is_prepared(corpus.path)
    for name in ("train", "validation", "test"):
        expected = []
        for doc in documents[name]:
            paragraphs = [[tokenize(corpus.tokenizer, s) for s in p] for p in doc.paragraphs]
            expected += window_document(doc, paragraphs, config.limits, SkipReport())
        assert corpus.dataset[name].to_list() == expected
    # The config saved beside the corpus validates and equals the one used.
    assert load_config(PrepareConfig, corpus.path / "prepare_config.yaml") == config
    assert "PreparedCorpus(" in repr(corpus)


def test_prepared_corpus_rejects_other_folders(tmp_path):
    assert not is_prepared(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a prepared corpus"):
        PreparedCorpus(tmp_path)


def test_split_by_chunk(tmp_path):
    """A few long books: the seeded split is by chunks of paragraphs, each chunk a document."""
    books = tmp_path / "books"
    books.mkdir()
    rng = random.Random(3)
    paragraphs_per_book = {"austen-a": 25, "austen-b": 12, "melville-c": 23}
    for stem, n in paragraphs_per_book.items():
        paragraphs = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 10))) + f" p{k} ." for k in range(n)]
        (books / f"{stem}.txt").write_text("\n\n".join(paragraphs) + "\n")
    config = PrepareConfig(
        source=SourceConfig(
            reader="text",
            path=str(books),
            options={"splitter": "punctuation", "label_from": "filename_prefix"},
            split_by="chunk",
            chunk_paragraphs=5,
            split_fractions={"validation": 0.2, "test": 0.2},
        ),
        tokenizer=TokenizerConfig(vocab_size=300, min_frequency=1),
        limits=LimitsConfig(**LIMITS),
        output_dir=str(tmp_path / "out"),
    )
    documents = load_documents(config.source, SkipReport())
    chunks = {name: [doc.id for doc in docs] for name, docs in documents.items()}
    expected = {f"{stem}@{k}" for stem, n in paragraphs_per_book.items() for k in range(math.ceil(n / 5))}
    assert len(expected) == 13
    assert sorted(sum(chunks.values(), [])) == sorted(expected)  # each chunk in exactly one split
    assert {name: len(v) for name, v in chunks.items()} == {"train": 13 - 3 - 3, "validation": 3, "test": 3}
    for docs in documents.values():
        for doc in docs:
            stem, k = doc.id.split("@")
            first = int(k) * 5
            assert [p[0].split()[-2] for p in doc.paragraphs] == [
                f"p{i}" for i in range(first, min(first + 5, paragraphs_per_book[stem]))
            ]
            assert doc.label == stem.split("-")[0]
    statistics = prepare_corpus(config, show_progress=False)
    corpus = PreparedCorpus(config.output_dir)
    assert {name: set(corpus.dataset[name]["source_id"]) for name in chunks} == {
        name: set(v) for name, v in chunks.items()
    }
    assert statistics["splits"]["train"]["source_paragraphs"] == sum(len(d.paragraphs) for d in documents["train"])


def test_empty_source_is_a_clear_error(tmp_path):
    corpus = tmp_path / "empty.jsonl"
    corpus.write_text("")
    with pytest.raises(ValueError, match="no training documents"):
        prepare_corpus(jsonl_config(corpus, tmp_path / "out"), show_progress=False)
    assert not (tmp_path / "out").exists()


def test_no_training_split_is_a_clear_error(tmp_path):
    corpus = tmp_path / "valid.jsonl"
    write_jsonl_corpus(corpus, num_documents=3)
    config = PrepareConfig(
        source=SourceConfig(reader="jsonl", paths={"valid": str(corpus)}, options={"splitter": "punctuation"}),
        output_dir=str(tmp_path / "out"),
    )
    with pytest.raises(ValueError, match=r"no training documents.*'validation': 3"):
        prepare_corpus(config, show_progress=False)


def test_missing_source_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        prepare_corpus(jsonl_config(tmp_path / "nope.jsonl", tmp_path / "out"), show_progress=False)


def test_max_documents_is_counted(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl_corpus(corpus, num_documents=20)
    report = SkipReport()
    documents = load_documents(jsonl_config(corpus, tmp_path, max_documents=5).source, report)
    # 20 documents: 2 validation, 4 test, 14 train -> 5 train kept.
    assert [len(documents[name]) for name in ("train", "validation", "test")] == [5, 2, 4]
    assert report.counts["documents beyond source.max_documents=5 not used"] == 9


@pytest.mark.parametrize(
    "limits, field",
    [
        ({"max_sentence_tokens": 64, "max_paragraph_tokens": 64}, "max_paragraph_tokens"),
        ({"max_paragraph_tokens": 512, "max_window_tokens": 256}, "max_window_tokens"),
        ({"max_sentence_tokens": 2}, "max_sentence_tokens"),
        ({"max_window_paragraphs": 0}, "max_window_paragraphs"),
        ({"max_paragraph_sentences": 0}, "max_paragraph_sentences"),
    ],
)
def test_limits_config_rejects_inconsistent_limits(limits, field):
    with pytest.raises(ValidationError) as error:
        LimitsConfig(**limits)
    assert field in str(error.value)


def test_limits_config_accepts_tight_consistent_limits():
    limits = LimitsConfig(max_sentence_tokens=16, max_paragraph_tokens=17, max_window_tokens=17)
    assert (limits.max_paragraph_tokens, limits.max_window_tokens) == (17, 17)


@pytest.mark.parametrize(
    "source, match",
    [
        ({"reader": "jsonl", "path": "a", "paths": {"train": "b"}}, "not both"),
        ({"reader": "jsonl", "paths": {"training_set": "b"}}, "training_set"),
        ({"reader": "jsonl", "path": "a", "split_fractions": {"validation": 1.0}}, "split_fractions.validation"),
        ({"reader": "jsonl", "path": "a", "split_fractions": {"train": 0.5}}, "split_fractions.train"),
        ({"reader": "jsonl", "path": "a", "chunk_paragraphs": 0}, "chunk_paragraphs"),
        ({"reader": "jsonl", "path": "a", "split_by": "book"}, "split_by"),
    ],
)
def test_source_config_rejects_bad_values(source, match):
    with pytest.raises(ValidationError, match=match):
        SourceConfig(**source)


def test_source_config_rejects_fractions_that_leave_no_training_split():
    with pytest.raises(ValidationError, match="split_fractions"):
        SourceConfig(reader="jsonl", path="a", split_fractions={"validation": 0.6, "test": 0.5})


# ---------------------------------------------------------------------------------------------
# Integration: the shipped configs on the shared corpora.


def _array_limits(dataset) -> dict[str, int]:
    """Largest window / paragraph / sentence sizes of a prepared split, computed with Arrow."""
    windows = dataset.data.column("paragraphs").combine_chunks()
    paragraphs = windows.flatten()
    sentences = paragraphs.flatten()
    sentence_tokens = pc.list_value_length(sentences).to_numpy(zero_copy_only=False)
    sentences_per_paragraph = pc.list_value_length(paragraphs).to_numpy(zero_copy_only=False)
    paragraph_starts = np.concatenate([[0], np.cumsum(sentences_per_paragraph)[:-1]])
    paragraph_tokens = np.add.reduceat(sentence_tokens + 1, paragraph_starts)
    return {
        "min_sentence_tokens": int(sentence_tokens.min()),
        "max_sentence_tokens": int(sentence_tokens.max()),
        "max_paragraph_sentences": int(sentences_per_paragraph.max()),
        "min_paragraph_sentences": int(sentences_per_paragraph.min()),
        "max_paragraph_tokens": int(paragraph_tokens.max()),
        "max_window_paragraphs": int(pc.max(pc.list_value_length(windows)).as_py()),
        "max_window_tokens": int(max(dataset["num_tokens"])),
        "tokens": int(sentence_tokens.sum() + len(sentence_tokens)),
    }


def fingerprint(folder) -> dict[str, str]:
    """Short hashes of a prepared corpus: its tokenizer's vocabulary, every split's rows, its statistics."""
    corpus = PreparedCorpus(folder)
    digest = {
        "tokenizer": hashlib.sha256(json.dumps(sorted(corpus.tokenizer.get_vocab().items())).encode()).hexdigest()[:16]
    }
    for name, split in corpus.dataset.items():
        rows = hashlib.sha256()
        for batch in split.iter(batch_size=1000):
            rows.update(json.dumps(batch, sort_keys=True).encode())
        digest[name] = rows.hexdigest()[:16]
    statistics = {key: value for key, value in corpus.statistics.items() if key != "seconds"}
    digest["statistics"] = hashlib.sha256(json.dumps(statistics, sort_keys=True).encode()).hexdigest()[:16]
    return digest


# The shared corpora as the in-memory preparation (commit aa4156f, before preparation streamed) wrote
# them: the same tokenizer, windows, token ids, statistics and skip reports, byte for byte.
IN_MEMORY_FINGERPRINTS = {
    "wikitext2": {
        "tokenizer": "9a0da13da7b8756e",
        "train": "3538bbc309cc602f",
        "validation": "0bf00ac0c3917f7b",
        "test": "0d55d6ff1465b264",
        "statistics": "b825f1874cdc1505",
    },
    "ptb_500": {
        "tokenizer": "691c3cca7c073449",
        "train": "d859ee66e8f282b8",
        "validation": "5a52ec5a611828e9",
        "test": "4a27e667985761f4",
        "statistics": "c82064351242e7a6",
    },
    "gutenberg": {
        "tokenizer": "3d3267e949ffe5d9",
        "train": "dc201990aede7e66",
        "validation": "b431f5f358fae702",
        "test": "adf5a74eb080cd30",
        "statistics": "5fdc2f0a72c0d050",
    },
}


@pytest.mark.slow
def test_wikitext2_shipped_config(tmp_path, monkeypatch):
    shared_data("wikitext-2", "tokenized", "wiki.train.tokens")
    monkeypatch.chdir(REPO_ROOT)  # the YAML's paths are relative to the repository root
    config = load_config(PrepareConfig, "data_scripts/configs/wikitext2.yaml", [f"output_dir={tmp_path}"])
    started = time.perf_counter()
    statistics = prepare_corpus(config, show_progress=False)
    print(f"\nWikiText-2 prepared in {time.perf_counter() - started:.1f} s")
    splits = statistics["splits"]
    assert [splits[name]["source_documents"] for name in ("train", "validation", "test")] == [600, 60, 60]
    assert splits["train"]["source_paragraphs"] == 17_585
    corpus = PreparedCorpus(tmp_path)
    for name in ("train", "validation", "test"):
        found = _array_limits(corpus.dataset[name])
        assert found["min_sentence_tokens"] >= 1 and found["min_paragraph_sentences"] >= 1
        for limit in (
            "max_sentence_tokens",
            "max_paragraph_sentences",
            "max_paragraph_tokens",
            "max_window_paragraphs",
            "max_window_tokens",
        ):
            assert found[limit] <= getattr(config.limits, limit), (name, limit, found[limit])
        assert found["tokens"] == splits[name]["tokens"]
        assert splits[name]["windows"] == len(corpus.dataset[name]) >= splits[name]["source_documents"]
    skipped = statistics["skipped"]["counts"]
    assert skipped["extra windows made by cutting documents"] == sum(
        splits[n]["windows"] - splits[n]["source_documents"] for n in splits
    )
    assert (tmp_path / "statistics.md").read_text().startswith("| | train | validation | test |")
    assert statistics["vocab_size"] == len(corpus.tokenizer) <= 8000
    assert fingerprint(tmp_path) == IN_MEMORY_FINGERPRINTS["wikitext2"]


@pytest.mark.slow
def test_ptb_shipped_config(tmp_path, monkeypatch):
    shared_data("ptb", "ptb.valid.txt")
    monkeypatch.chdir(REPO_ROOT)
    config = load_config(
        PrepareConfig, "data_scripts/configs/ptb.yaml", [f"output_dir={tmp_path}", "source.max_documents=500"]
    )
    statistics = prepare_corpus(config, show_progress=False)
    corpus = PreparedCorpus(tmp_path)
    for name in ("train", "validation", "test"):
        split = statistics["splits"][name]
        # One sentence per line: a document is one paragraph of one sentence, cut only when too long.
        assert split["source_documents"] == split["source_paragraphs"] == split["source_sentences"] == 500
        found = _array_limits(corpus.dataset[name])
        assert found["max_paragraph_sentences"] == found["max_window_paragraphs"] == 1
        assert found["max_sentence_tokens"] <= 96 and found["max_window_tokens"] <= 128
        assert split["words"] == sum(len(line.split()) for line in _first_lines(name, 500))
    assert statistics["skipped"]["counts"]["documents beyond source.max_documents=500 not used"] > 0
    assert fingerprint(tmp_path) == IN_MEMORY_FINGERPRINTS["ptb_500"]


@pytest.mark.slow
def test_gutenberg_shipped_config_in_two_processes(tmp_path, monkeypatch, worker_pids):
    """Split by chunks of books, segmented, tokenized and windowed in 2 processes: the same corpus as in memory in one."""
    shared_data("gutenberg")
    monkeypatch.chdir(REPO_ROOT)
    config = load_config(PrepareConfig, "data_scripts/configs/gutenberg.yaml", [f"output_dir={tmp_path / 'out'}"])
    statistics = prepare_corpus(config, show_progress=False, num_proc=2)
    assert len(worker_pids()) >= 2  # each map starts its own pool
    assert [statistics["splits"][name]["labels"] for name in ("train", "validation", "test")] == [
        7,
        5,
        5,
    ]  # authors in each split
    assert fingerprint(tmp_path / "out") == IN_MEMORY_FINGERPRINTS["gutenberg"]


def _first_lines(split: str, n: int) -> list[str]:
    name = {"train": "ptb.train.txt", "validation": "ptb.valid.txt", "test": "ptb.test.txt"}[split]
    lines = [line for line in shared_data("ptb", name).read_text().splitlines() if line.strip()]
    return lines[:n]


def test_splits_the_source_lacks_are_carved_from_train(tmp_path):
    (tmp_path / "train.txt").write_text("".join(f"training document number {i} .\n" for i in range(20)))
    (tmp_path / "test.txt").write_text("".join(f"test document number {i} .\n" for i in range(5)))
    source = SourceConfig(
        reader="lines",
        paths={"train": str(tmp_path / "train.txt"), "test": str(tmp_path / "test.txt")},
        options={"splitter": "none"},
        split_fractions={"validation": 0.25, "test": 0.5},
    )
    splits = load_documents(source, SkipReport())
    assert {name: len(docs) for name, docs in splits.items()} == {
        "train": 15,
        "validation": 5,
        "test": 5,
    }  # test comes from its file
    train_ids, validation_ids = {d.id for d in splits["train"]}, {d.id for d in splits["validation"]}
    assert not train_ids & validation_ids and all(i.startswith("train:") for i in validation_ids)
    again = load_documents(source, SkipReport())
    assert [d.id for d in again["validation"]] == [d.id for d in splits["validation"]]  # seeded


def test_a_unigram_tokenizer_prepares_the_same_documents(tmp_path, prepared):
    """tokenizer.kind=unigram: the same windows' text, token for token decodable back to the source sentences."""
    config, _, bpe_corpus, documents = prepared
    unigram = config.model_copy(
        update={"tokenizer": TokenizerConfig(kind="unigram", vocab_size=400), "output_dir": str(tmp_path / "unigram")}
    )
    prepare_corpus(unigram, show_progress=False)
    corpus = PreparedCorpus(unigram.output_dir)
    assert type(corpus.tokenizer.backend_tokenizer.model).__name__ == "Unigram"
    for name in ("train", "test"):
        assert set(corpus.dataset[name]["source_id"]) == set(bpe_corpus.dataset[name]["source_id"])
    by_source = rows_by_source(corpus.dataset["test"])
    compared = 0
    limit = config.limits.max_sentence_tokens
    for document in documents["test"]:
        decoded = iter(
            [
                corpus.tokenizer.decode(ids)
                for row in by_source[document.id]
                for paragraph in row["paragraphs"]
                for ids in paragraph
            ]
        )
        for sentence in (sentence for paragraph in document.paragraphs for sentence in paragraph):
            chunks = [
                next(decoded) for _ in range(-(-len(tokenize(corpus.tokenizer, sentence)) // limit))
            ]  # a long sentence is cut into chunks
            if len(chunks) == 1:
                assert chunks[0] == sentence, document.id
                compared += 1
        assert next(decoded, None) is None, "nothing left over"
    assert compared >= 10


def test_two_processes_prepare_the_same_corpus(prepared, tmp_path, worker_pids):
    """num_proc=2 splits the documents between workers; rows, statistics and skip reports are the same."""
    config, statistics, _, _ = prepared
    parallel = config.model_copy(update={"output_dir": str(tmp_path / "parallel")})
    statistics_parallel = prepare_corpus(parallel, show_progress=False, num_proc=2)
    assert len(worker_pids()) >= 2  # each map starts its own pool
    assert statistics_parallel["skipped"]["counts"] and statistics_parallel["skipped"] == statistics["skipped"]
    assert fingerprint(parallel.output_dir) == fingerprint(config.output_dir)


def test_documents_stream_through_preparation(tmp_path, monkeypatch):
    """The reader is consumed lazily: a few of its documents are alive at once, not the corpus."""
    import gc
    import weakref

    from doc_hvae.data.readers import registry

    alive, most_alive = set(), [0]

    def counting_reader(*, report):
        for i in range(3000):
            document = Document(id=f"d{i}", paragraphs=[[f"sentence {i % 7} of document {i} ."]])
            alive.add(id(document))
            weakref.finalize(document, alive.discard, id(document))
            if i % 100 == 0:
                gc.collect()
            most_alive[0] = max(most_alive[0], len(alive))
            yield document

    monkeypatch.setitem(registry.READERS, "counting", counting_reader)
    monkeypatch.setitem(registry._SPECS, "counting", registry._ReaderSpec(path_kind="none", expects="nothing"))
    config = PrepareConfig(
        source=SourceConfig(reader="counting"),
        tokenizer=TokenizerConfig(vocab_size=300, min_frequency=1),
        limits=LimitsConfig(**LIMITS),
        output_dir=str(tmp_path / "out"),
    )
    statistics = prepare_corpus(config, show_progress=False)
    assert sum(split["source_documents"] for split in statistics["splits"].values()) == 3000
    assert most_alive[0] <= 5, most_alive[0]


def test_a_worker_error_names_the_document(prepared, tmp_path, monkeypatch, worker_pids):
    import doc_hvae.data.prepare as prepare_module

    config = prepared[0]
    real_window_document = prepare_module.window_document

    def failing_window_document(doc, *args):
        if doc.id == "doc7":
            raise ValueError("a bad paragraph")
        return real_window_document(doc, *args)

    monkeypatch.setattr(prepare_module, "window_document", failing_window_document)  # forked workers inherit it
    for num_proc in (None, 2):
        with pytest.raises(RuntimeError, match="document 'doc7' failed: a bad paragraph"):
            prepare_corpus(
                config.model_copy(update={"output_dir": str(tmp_path / f"out{num_proc}")}),
                show_progress=False,
                num_proc=num_proc,
            )


PROSE = (
    "Dr. Watson arrived at 10 a.m. on Monday. He was late!\nThe train, said the guard, had stopped twice.\n\n"
    'Was it the snow? Nobody knew.   \n\n\n  \n"It was," Mr. Holmes replied. The 3.5 km walk took an hour.\n'
)


@pytest.mark.parametrize("reader", ["jsonl", "text"])
def test_sentences_are_split_after_reading_as_the_reader_would(tmp_path, reader, worker_pids):
    """The reader runs with `splitter: none` and the sentences are split afterwards, in workers: the
    same documents, sentences and skip counts as the reader's own splitting, with 1 or 2 processes."""
    if reader == "jsonl":
        write_jsonl_corpus(tmp_path / "corpus.jsonl")
        with open(tmp_path / "corpus.jsonl", "a") as handle:  # and records a reader skips
            handle.write(
                json.dumps({"id": "blank", "text": "  \n\n "})
                + "\n"
                + json.dumps({"id": "prose", "text": PROSE})
                + "\n"
            )
        source = SourceConfig(
            reader="jsonl",
            path=str(tmp_path / "corpus.jsonl"),
            split_fractions={},
            options={"text_field": "text", "id_field": "id", "label_field": "label", "splitter": "punctuation"},
        )
    else:
        texts = {"empty.txt": "\n \n", "line.txt": "One line only", **{f"{k}.txt": PROSE[k:] for k in range(8)}}
        for name, text in texts.items():
            (tmp_path / "corpus" / name).parent.mkdir(exist_ok=True)
            (tmp_path / "corpus" / name).write_text(text)
        source = SourceConfig(
            reader="text", path=str(tmp_path / "corpus"), split_fractions={}
        )  # its default splitter: Bling Fire
    direct_report = SkipReport()
    direct = list(read_corpus(source.reader, source.path, report=direct_report, **source.options))
    assert sum(doc.num_sentences for doc in direct) > sum(len(doc.paragraphs) for doc in direct)  # sentences were split
    for num_proc in (None, 2):
        report = SkipReport()
        with tempfile.TemporaryDirectory(dir=tmp_path) as work_dir:
            documents = [
                Document(**row) for row in read_documents(source, report, work_dir, num_proc=num_proc)["train"]
            ]
        assert documents == direct
        assert report.as_dict()["counts"] == direct_report.as_dict()["counts"] and direct_report.counts
        assert len(worker_pids()) == (2 if num_proc else 0)  # one map, one pool of 2


def test_a_bad_splitter_fails_before_reading(tmp_path):
    (tmp_path / "a.txt").write_text(PROSE)
    source = SourceConfig(reader="text", path=str(tmp_path), options={"splitter": "spacy"})
    with pytest.raises(ValueError, match="unknown sentence splitter 'spacy'"):
        read_documents(source, SkipReport(), tmp_path)


def _resident_kib(path) -> int:
    """Resident KiB of this process's mappings of `path` (/proc/self/smaps)."""
    total, inside = 0, False
    for line in open("/proc/self/smaps"):
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:  # a mapping's header line
            inside = len(fields) == 6 and fields[5] == str(path)
        elif inside and fields[0] == "Rss:":
            total += int(fields[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise and /proc/self/smaps are Linux's")
def test_read_pages_of_an_arrow_file_leave_the_resident_set(tmp_path):
    """Preparation reads each Arrow file once; the pages it read then leave the process's RSS (and the
    data reads the same after), so peak RSS does not grow with the corpus."""
    from datasets import Features, Value

    path = tmp_path / "rows.arrow"
    dataset = write_arrow(
        ({"text": f"{i:08d}" * 250} for i in range(16_000)), Features({"text": Value("string")}), path
    )  # 32 MB
    assert sum(len(batch["text"]) for batch in dataset.iter(batch_size=1000)) == 16_000
    before = _resident_kib(path)
    release_mapped_pages(path)
    after = _resident_kib(path)
    assert before > 16_000 and after < 1_000, (before, after)
    assert dataset[12_345]["text"] == "00012345" * 250


def test_a_segmentation_error_names_the_document(tmp_path, monkeypatch, worker_pids):
    import doc_hvae.data.prepare as prepare_module

    (tmp_path / "corpus").mkdir()
    for k in range(10):
        (tmp_path / "corpus" / f"{k}.txt").write_text("A bad sentence here. Another one." if k == 6 else PROSE)
    real_paragraph_sentences = prepare_module.paragraph_sentences

    def failing_paragraph_sentences(text, *args):
        if "bad" in text:
            raise ValueError("the splitter broke")
        return real_paragraph_sentences(text, *args)

    monkeypatch.setattr(prepare_module, "paragraph_sentences", failing_paragraph_sentences)
    source = SourceConfig(reader="text", path=str(tmp_path / "corpus"), split_fractions={})
    for num_proc in (None, 2):
        (tmp_path / f"work{num_proc}").mkdir()
        with pytest.raises(RuntimeError, match="sentences of document '6' failed: the splitter broke"):
            read_documents(source, SkipReport(), tmp_path / f"work{num_proc}", num_proc=num_proc)
