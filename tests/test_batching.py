"""Tests of `doc_hvae.data.batching`: the collator's flattened hierarchy and packed rows, the
first-fit packer and the token-budget batch sampler.

Expected token streams are rebuilt by hand from the rows and compared position by position
with what the collator packed, so the tests do not depend on how the collator computes them.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from doc_hvae.data.batching import IGNORE_INDEX, DocBatch, DocCollator, TokenBudgetBatchSampler, pack_first_fit
from doc_hvae.data.tokenizer import SpecialTokenIds

SPECIAL = SpecialTokenIds(pad=0, bos=1, sentence_end=2, paragraph_end=4, unk=3)
PAD, BOS, SEP, PEND = SPECIAL.pad, SPECIAL.bos, SPECIAL.sentence_end, SPECIAL.paragraph_end

# Content ids of document d are 10 * (d + 1) + k, so a token tells its document (id // 10 - 1).
ROWS = [
    {"id": "a", "label": "x", "num_words": 5, "paragraphs": [[[10, 11, 12], [13]], [[14, 15]]]},
    {"id": "b", "label": None, "num_words": 7, "paragraphs": [[[20], [21, 22], [23, 24, 25, 26]]]},
    {"id": "c", "label": "y", "num_words": 3, "paragraphs": [[[30, 31]], [[32]], [[33, 34, 35], [36], [37, 38]]]},
]
CONFIGS = [("paragraph", 0), ("paragraph", 2), ("sentence", 0), ("sentence", 2)]


def hierarchy(rows):
    """Hand-flattened tables: per paragraph (document, position, sentence ids), per sentence (paragraph, position, ids)."""
    paragraphs, sentences = [], []
    for d, row in enumerate(rows):
        for j, paragraph in enumerate(row["paragraphs"]):
            sentence_ids = []
            for i, ids in enumerate(paragraph):
                sentence_ids.append(len(sentences))
                sentences.append(
                    {
                        "paragraph": len(paragraphs),
                        "position": i,
                        "ids": list(ids),
                        "document": d,
                        "last": i == len(paragraph) - 1,
                    }
                )
            paragraphs.append(
                {"document": d, "position": j, "sentences": sentence_ids, "last": j == len(row["paragraphs"]) - 1}
            )
    return paragraphs, sentences


def expected_streams(rows, context):
    """Per decoder stream: tokens after <s> as (token, sentence id), built from the rows."""
    paragraphs, sentences = hierarchy(rows)
    streams = []
    if context == "paragraph":
        for paragraph in paragraphs:
            tokens = []
            for s in paragraph["sentences"]:
                boundary = PEND if sentences[s]["last"] else SEP
                tokens += [(t, s) for t in sentences[s]["ids"]] + [(boundary, s)]
            streams.append(tokens)
    else:
        for s, sentence in enumerate(sentences):
            boundary = PEND if sentence["last"] else SEP
            streams.append([(t, s) for t in sentence["ids"]] + [(boundary, s)])
    return streams


def stream_slots(segment: torch.Tensor, position: torch.Tensor, k: int) -> tuple[int, np.ndarray]:
    """(row, columns in stream order) of stream k; asserts it sits in one row, contiguously, positions 0..n-1."""
    rows, cols = torch.nonzero(segment == k, as_tuple=True)
    assert rows.numel() > 0, f"stream {k} is missing"
    assert (rows == rows[0]).all(), f"stream {k} spans several rows"
    cols = cols.numpy()
    order = np.argsort(position[rows[0], cols].numpy())
    cols = cols[order]
    assert (np.diff(cols) == 1).all(), f"stream {k} is not contiguous"
    assert position[rows[0], cols].tolist() == list(range(len(cols)))
    return int(rows[0]), cols


def collate(context="paragraph", memory=0, rows=ROWS, **kwargs) -> DocBatch:
    return DocCollator(SPECIAL, decoder_context=context, num_memory_slots=memory, **kwargs)(rows)


@pytest.mark.parametrize("context, memory", CONFIGS)
def test_shapes_and_counts(context, memory):
    batch = collate(context, memory)
    paragraphs, sentences = hierarchy(ROWS)
    assert (
        (batch.num_documents, batch.num_paragraphs, batch.num_sentences)
        == (3, len(paragraphs), len(sentences))
        == (3, 6, 11)
    )
    assert batch.num_memory_slots == memory and batch.decoder_context == context
    for name in ("decoder_input_ids", "decoder_segment", "decoder_position", "decoder_labels", "decoder_sentence"):
        tensor = getattr(batch, name)
        assert tensor.shape == batch.decoder_input_ids.shape and tensor.dtype == torch.int64, name
    for name in ("encoder_segment", "encoder_position"):
        assert getattr(batch, name).shape == batch.encoder_input_ids.shape
    # Rows are at least min_row_length (64) long and a multiple of row_multiple (16).
    assert batch.decoder_input_ids.shape[1] >= 64 and batch.decoder_input_ids.shape[1] % 16 == 0
    assert batch.document_paragraphs.shape == (3, 3) and batch.paragraph_sentences.shape == (6, 3)
    # Tokens: every predicted position, one boundary per sentence, never <s> or padding.
    expected_tokens = [sum(len(s) + 1 for p in row["paragraphs"] for s in p) for row in ROWS]
    assert batch.document_tokens.tolist() == expected_tokens == [9, 10, 14]
    assert batch.num_tokens == 33 == int((batch.decoder_labels != IGNORE_INDEX).sum())
    assert batch.document_words.tolist() == [5, 7, 3]
    assert batch.document_ids == ["a", "b", "c"] and batch.labels == ["x", None, "y"]
    assert batch.is_last_paragraph.tolist() == [p["last"] for p in paragraphs]


def test_row_length_options():
    batch = collate("paragraph", 0, min_row_length=1, row_multiple=1)
    assert batch.decoder_input_ids.shape[1] == 1 + (1 + 1) + (2 + 1) + (
        4 + 1
    )  # the longest stream: document b's paragraph
    batch = collate("paragraph", 0, min_row_length=8, row_multiple=8)
    assert batch.decoder_input_ids.shape[1] == 16


@pytest.mark.parametrize("context, memory", CONFIGS)
def test_decoder_streams_match_hand_built(context, memory):
    batch = collate(context, memory)
    streams = expected_streams(ROWS, context)
    assert int(batch.decoder_segment.max()) == len(streams) - 1
    assert int((batch.decoder_segment >= 0).sum()) == sum(memory + 1 + len(s) for s in streams), (
        "streams overlap or are cut"
    )
    for k, tokens in enumerate(streams):
        row, cols = stream_slots(batch.decoder_segment, batch.decoder_position, k)
        assert len(cols) == memory + 1 + len(tokens)
        inputs = [PAD] * memory + [BOS] + [t for t, _ in tokens]
        labels = [IGNORE_INDEX] * memory + [t for t, _ in tokens] + [IGNORE_INDEX]
        sentence = [-1] * memory + [s for _, s in tokens] + [-1]
        assert batch.decoder_input_ids[row, cols].tolist() == inputs
        assert batch.decoder_labels[row, cols].tolist() == labels
        assert batch.decoder_sentence[row, cols].tolist() == sentence
    # Everything else is padding.
    padding = batch.decoder_segment < 0
    assert (batch.decoder_input_ids[padding] == PAD).all()
    assert (batch.decoder_labels[padding] == IGNORE_INDEX).all() and (batch.decoder_sentence[padding] == -1).all()
    assert (batch.decoder_position[padding] == 0).all()


@pytest.mark.parametrize("context, memory", CONFIGS)
def test_every_label_maps_to_its_document(context, memory):
    """decoder_sentence -> sentence_paragraph -> paragraph_document gives the label's document."""
    batch = collate(context, memory)
    labelled = batch.decoder_labels != IGNORE_INDEX
    assert (batch.decoder_sentence[labelled] >= 0).all()
    assert (batch.decoder_sentence[~labelled] == -1).all()
    labels = batch.decoder_labels[labelled]
    sentence = batch.decoder_sentence[labelled]
    document = batch.paragraph_document[batch.sentence_paragraph[sentence]]
    assert torch.equal(document, batch.sentence_document[sentence])
    content = labels >= 10
    assert torch.equal(labels[content] // 10 - 1, document[content])
    # The labelled tokens of each sentence, in order, are exactly that sentence and its boundary.
    _, sentences = hierarchy(ROWS)
    for s, expected in enumerate(sentences):
        mask = labelled & (batch.decoder_sentence == s)
        rows, cols = torch.nonzero(mask, as_tuple=True)
        order = np.lexsort((cols.numpy(), rows.numpy()))
        got = batch.decoder_labels[rows[order], cols[order]].tolist()
        assert got == expected["ids"] + [PEND if expected["last"] else SEP]
    # Each stream predicts only tokens of its own paragraph.
    stream_paragraph = batch.stream_paragraph[batch.decoder_segment[labelled]]
    assert torch.equal(batch.sentence_paragraph[sentence], stream_paragraph)


def test_paragraph_stream_layout():
    """<s> s1 </s> s2 </s> ... sN </p>: one boundary per sentence, the last one </p>."""
    batch = collate("paragraph", 0)
    for k, paragraph in enumerate(p for row in ROWS for p in row["paragraphs"]):
        r, cols = stream_slots(batch.decoder_segment, batch.decoder_position, k)
        stream = batch.decoder_input_ids[r, cols].tolist()
        expected = [BOS]
        for i, sentence in enumerate(paragraph):
            expected += sentence + [PEND if i == len(paragraph) - 1 else SEP]
        assert stream == expected
        assert stream.count(SEP) == len(paragraph) - 1 and stream.count(PEND) == 1 and stream[-1] == PEND


def test_sentence_end_position_predicts_next_sentence():
    """At the </s> input, the label is the next sentence's first token and decoder_sentence is that sentence."""
    batch = collate("paragraph", 2)
    _, sentences = hierarchy(ROWS)
    at_boundary = batch.decoder_input_ids == SEP
    assert int(at_boundary.sum()) == sum(not s["last"] for s in sentences)
    for r, c in torch.nonzero(at_boundary).tolist():
        nxt = int(batch.decoder_sentence[r, c])
        assert nxt > 0 and sentences[nxt]["paragraph"] == sentences[nxt - 1]["paragraph"]
        assert sentences[nxt]["position"] == sentences[nxt - 1]["position"] + 1
        assert int(batch.decoder_labels[r, c]) == sentences[nxt]["ids"][0]
        # The </s> itself was the label of the previous position, of the previous sentence.
        assert int(batch.decoder_sentence[r, c - 1]) == nxt - 1 and int(batch.decoder_labels[r, c - 1]) == SEP
    # And <s> predicts the first token of the stream's first sentence.
    for r, c in torch.nonzero(batch.decoder_input_ids == BOS).tolist():
        s = int(batch.decoder_sentence[r, c])
        assert sentences[s]["position"] == 0 and int(batch.decoder_labels[r, c]) == sentences[s]["ids"][0]


def test_sentence_streams_layout():
    batch = collate("sentence", 0)
    _, sentences = hierarchy(ROWS)
    assert torch.equal(batch.stream_paragraph, batch.sentence_paragraph)
    for k, sentence in enumerate(sentences):
        r, cols = stream_slots(batch.decoder_segment, batch.decoder_position, k)
        assert batch.decoder_input_ids[r, cols].tolist() == [BOS] + sentence["ids"] + [
            PEND if sentence["last"] else SEP
        ]
        assert set(batch.decoder_sentence[r, cols[:-1]].tolist()) == {k}


@pytest.mark.parametrize("memory", [1, 2, 5])
def test_memory_slots(memory):
    for context in ("paragraph", "sentence"):
        batch = collate(context, memory)
        slots = (batch.decoder_segment >= 0) & (batch.decoder_position < memory)
        streams = len(expected_streams(ROWS, context))
        assert int(slots.sum()) == memory * streams
        assert (batch.decoder_labels[slots] == IGNORE_INDEX).all()
        assert (batch.decoder_sentence[slots] == -1).all()
        assert (batch.decoder_input_ids[slots] == PAD).all()
        # Each stream starts with positions 0..m-1, then <s> at position m.
        for k in range(streams):
            r, cols = stream_slots(batch.decoder_segment, batch.decoder_position, k)
            assert batch.decoder_position[r, cols[:memory]].tolist() == list(range(memory))
            assert int(batch.decoder_input_ids[r, cols[memory]]) == BOS


@pytest.mark.parametrize("context, memory", CONFIGS)
def test_encoder_rows_one_stream_per_sentence(context, memory):
    batch = collate(context, memory)
    _, sentences = hierarchy(ROWS)
    assert int(batch.encoder_segment.max()) == len(sentences) - 1
    assert int((batch.encoder_segment >= 0).sum()) == sum(len(s["ids"]) + 2 for s in sentences)
    for k, sentence in enumerate(sentences):
        r, cols = stream_slots(batch.encoder_segment, batch.encoder_position, k)
        assert batch.encoder_input_ids[r, cols].tolist() == [BOS] + sentence["ids"] + [
            PEND if sentence["last"] else SEP
        ]
    assert (batch.encoder_input_ids[batch.encoder_segment < 0] == PAD).all()


def test_no_encoder_rows_for_a_flat_model():
    batch = collate("paragraph", 0, build_encoder_rows=False)
    assert batch.encoder_input_ids.numel() == 0 and batch.encoder_segment.numel() == 0
    assert batch.padding_efficiency()["encoder"] == 1.0
    assert batch.num_tokens == 33


@pytest.mark.parametrize("context", ["paragraph", "sentence"])
def test_hierarchy_tables_agree(context):
    batch = collate(context, 0)
    paragraphs, sentences = hierarchy(ROWS)
    assert batch.paragraph_document.tolist() == [p["document"] for p in paragraphs]
    assert batch.paragraph_position.tolist() == [p["position"] for p in paragraphs]
    assert batch.sentence_paragraph.tolist() == [s["paragraph"] for s in sentences]
    assert batch.sentence_position.tolist() == [s["position"] for s in sentences]
    assert batch.sentence_document.tolist() == [s["document"] for s in sentences]
    # Child lists: masked entries point back to their parent at their position; counts agree.
    for parent_ids, children, mask, child_parent, child_position, n_parents in [
        (
            batch.paragraph_document,
            batch.document_paragraphs,
            batch.document_paragraphs_mask,
            batch.paragraph_document,
            batch.paragraph_position,
            3,
        ),
        (
            batch.sentence_paragraph,
            batch.paragraph_sentences,
            batch.paragraph_sentences_mask,
            batch.sentence_paragraph,
            batch.sentence_position,
            6,
        ),
    ]:
        assert children.shape == mask.shape and children.shape[0] == n_parents
        for parent in range(n_parents):
            kids = children[parent][mask[parent]]
            assert kids.tolist() == torch.nonzero(parent_ids == parent).flatten().tolist()
            assert (child_parent[kids] == parent).all()
            assert child_position[kids].tolist() == list(range(len(kids)))
            assert mask[parent].tolist() == [True] * len(kids) + [False] * (mask.shape[1] - len(kids))
        assert (children[~mask] == 0).all()
    assert batch.document_paragraphs_mask.sum(1).tolist() == [2, 1, 3]
    assert batch.paragraph_sentences_mask.sum(1).tolist() == [2, 1, 3, 1, 1, 3]


def test_hierarchy_indexing_on_the_batch():
    """What the model and the metrics ask of a batch: each unit's document, its parent-level unit, its siblings."""
    batch = collate("sentence", 0)
    paragraphs, sentences = hierarchy(ROWS)
    assert batch.unit_document("document").tolist() == [0, 1, 2]
    assert batch.unit_document("paragraph").tolist() == [p["document"] for p in paragraphs]
    assert batch.unit_document("sentence").tolist() == [s["document"] for s in sentences]
    assert batch.parent_index("document", None) is None
    assert batch.parent_index("paragraph", "document").tolist() == [p["document"] for p in paragraphs]
    assert batch.parent_index("sentence", "paragraph").tolist() == [s["paragraph"] for s in sentences]
    assert batch.parent_index("sentence", "document").tolist() == [
        s["document"] for s in sentences
    ]  # no paragraph level
    assert batch.siblings("document") is None
    grouped = batch.siblings("paragraph").group(torch.arange(len(paragraphs)))
    assert grouped.tolist() == [[0, 1, 0], [2, 0, 0], [3, 4, 5]]  # each document's paragraphs, zeros where masked
    last_paragraph = batch.siblings("sentence").group(torch.arange(len(sentences)))[5]  # three sentences: no padding
    assert last_paragraph.tolist() == paragraphs[5]["sentences"]


def test_padding_efficiency_and_to():
    batch = collate("paragraph", 2)
    efficiency = batch.padding_efficiency()
    filled = int((batch.decoder_segment >= 0).sum())
    assert efficiency["decoder"] == pytest.approx(filled / batch.decoder_segment.numel())
    assert 0 < efficiency["decoder"] <= 1 and 0 < efficiency["encoder"] <= 1
    moved = batch.to("cpu")
    assert isinstance(moved, DocBatch) and torch.equal(moved.decoder_labels, batch.decoder_labels)
    assert moved.document_ids == batch.document_ids


def test_single_document_single_sentence():
    batch = collate("paragraph", 0, rows=[{"paragraphs": [[[5]]]}])
    assert batch.num_tokens == 2 and batch.document_ids == ["0"] and batch.labels == [None]
    r, cols = stream_slots(batch.decoder_segment, batch.decoder_position, 0)
    assert batch.decoder_input_ids[r, cols].tolist() == [BOS, 5, PEND]
    assert batch.decoder_labels[r, cols].tolist() == [5, PEND, IGNORE_INDEX]
    assert batch.document_words.tolist() == [0]


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [{"id": "e", "paragraphs": []}],
        [{"id": "e", "paragraphs": [[[1, 2]], []]}],
        [ROWS[0], {"id": "e", "paragraphs": [[]]}],
    ],
)
def test_bad_rows_raise(rows):
    with pytest.raises(ValueError):
        collate("paragraph", 0, rows=rows)


def test_bad_decoder_context():
    with pytest.raises(ValueError, match="decoder_context"):
        DocCollator(SPECIAL, decoder_context="window")


def test_random_documents_pack_consistently():
    """Many random documents: every stream intact, no overlap, all tokens accounted for."""
    rng = random.Random(0)
    rows = []
    for d in range(12):
        paragraphs = [
            [[100 + rng.randrange(50) for _ in range(rng.randint(1, 30))] for _ in range(rng.randint(1, 6))]
            for _ in range(rng.randint(1, 5))
        ]
        rows.append({"id": str(d), "paragraphs": paragraphs})
    for context, memory in CONFIGS:
        batch = collate(context, memory, rows=rows, min_row_length=16)
        streams = expected_streams(rows, context)
        for k, tokens in enumerate(streams):
            r, cols = stream_slots(batch.decoder_segment, batch.decoder_position, k)
            assert batch.decoder_labels[r, cols].tolist() == [IGNORE_INDEX] * memory + [t for t, _ in tokens] + [
                IGNORE_INDEX
            ]
            assert batch.decoder_sentence[r, cols].tolist() == [-1] * memory + [s for _, s in tokens] + [-1]
        assert int((batch.decoder_segment >= 0).sum()) == sum(memory + 1 + len(t) for t in streams)
        assert batch.num_tokens == int((batch.decoder_labels != IGNORE_INDEX).sum())
        assert batch.decoder_input_ids.shape[0] < len(streams), "short streams share rows"


def test_dataloader_with_sampler_and_collator():
    rng = random.Random(1)
    rows = [
        {
            "id": str(d),
            "paragraphs": [
                [[10 + rng.randrange(9) for _ in range(rng.randint(1, 9))] for _ in range(rng.randint(1, 4))]
            ],
        }
        for d in range(30)
    ]
    lengths = [sum(len(s) + 1 for p in row["paragraphs"] for s in p) for row in rows]
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=40, seed=3)
    loader = DataLoader(rows, batch_sampler=sampler, collate_fn=DocCollator(SPECIAL))
    seen = []
    for batch in loader:
        assert isinstance(batch, DocBatch)
        assert batch.num_tokens == sum(lengths[int(i)] for i in batch.document_ids)
        seen += batch.document_ids
    assert sorted(seen, key=int) == [str(d) for d in range(30)]


# ---------------------------------------------------------------------------------------------
# pack_first_fit


def check_packing(lengths, capacity):
    placement, num_rows = pack_first_fit(lengths, capacity)
    assert len(placement) == len(lengths)
    loads = [0] * num_rows
    intervals = [[] for _ in range(num_rows)]
    for (row, offset), length in zip(placement, lengths):
        assert 0 <= row < num_rows
        assert 0 <= offset and offset + length <= capacity, "segment does not fit its row"
        intervals[row].append((offset, offset + length))
        loads[row] += length
    for spans in intervals:
        spans.sort()
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])), "segments overlap"
    assert all(load > 0 for load in loads), "no empty row"
    assert num_rows >= -(-sum(lengths) // capacity)
    # First fit: a segment went to a later row only because it did not fit any earlier one.
    for (row, _), length in zip(placement, lengths):
        for earlier in range(row):
            assert length > capacity - loads[earlier]
    return num_rows


def test_pack_first_fit_random_lengths():
    rng = random.Random(0)
    for _ in range(200):
        capacity = rng.choice([8, 16, 64, 100])
        lengths = [rng.randint(1, capacity) for _ in range(rng.randint(1, 60))]
        check_packing(lengths, capacity)


def test_pack_first_fit_exact_cases():
    assert check_packing([4, 4, 4, 4], 8) == 2
    assert check_packing([5, 3, 5, 3], 8) == 2  # decreasing order pairs 5 with 3
    assert check_packing([8], 8) == 1
    assert pack_first_fit([], 8) == ([], 0)


# ---------------------------------------------------------------------------------------------
# TokenBudgetBatchSampler


def random_lengths(n=600, seed=0, oversized=5, budget=1000):
    rng = random.Random(seed)
    lengths = [rng.randint(1, 300) for _ in range(n)]
    for k in range(oversized):
        lengths[rng.randrange(n)] = budget + 1 + k * 50
    return lengths


def test_sampler_covers_every_index_once_within_budget():
    lengths = random_lengths()
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=1000, seed=0, pool_size=128)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    oversized = 0
    for batch in batches:
        tokens = sum(lengths[i] for i in batch)
        if tokens > 1000:
            assert len(batch) == 1, "only a single oversized document may exceed the budget"
            oversized += 1
        assert all(lengths[i] <= 1000 for i in batch) or len(batch) == 1
    assert sampler.oversized == oversized == sum(length > 1000 for length in lengths) > 0
    # Batches are not wastefully small: two consecutive batches of one pool could not be merged.
    assert len(batches) < 2 * sum(lengths) / 1000 + 600 / 128 + 5


def test_sampler_is_deterministic_per_seed_and_epoch():
    lengths = random_lengths()
    a = TokenBudgetBatchSampler(lengths, max_tokens=1000, seed=7)
    b = TokenBudgetBatchSampler(lengths, max_tokens=1000, seed=7)
    first = list(a)
    assert first == list(b) and first == list(a), "same seed and epoch, same batches; iterating twice too"
    assert list(TokenBudgetBatchSampler(lengths, max_tokens=1000, seed=8)) != first
    a.set_epoch(1)
    second = list(a)
    assert second != first
    assert sorted(i for batch in second for i in batch) == list(range(len(lengths)))
    b.set_epoch(1)
    assert list(b) == second
    a.set_epoch(0)
    assert list(a) == first


def test_sampler_without_shuffle_groups_sorted_pools():
    lengths = random_lengths(oversized=0)
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=1000, shuffle=False, pool_size=100)
    flat = [i for batch in sampler for i in batch]
    for start in range(0, len(lengths), 100):
        pool = flat[start : start + 100]
        assert sorted(pool) == list(range(start, min(start + 100, len(lengths))))
        assert [lengths[i] for i in pool] == sorted(lengths[i] for i in pool)
    sampler.set_epoch(3)
    assert [i for batch in sampler for i in batch] == flat


def test_sampler_every_document_oversized():
    sampler = TokenBudgetBatchSampler([50, 60, 70], max_tokens=10)
    assert sorted(map(tuple, sampler)) == [(0,), (1,), (2,)]
    assert sampler.oversized == 3


@pytest.mark.parametrize("max_tokens", [0, -5])
def test_sampler_rejects_bad_budget(max_tokens):
    with pytest.raises(ValueError, match="max_tokens"):
        TokenBudgetBatchSampler([1, 2, 3], max_tokens=max_tokens)


def test_sampler_rejects_empty_lengths():
    with pytest.raises(ValueError, match="no documents"):
        TokenBudgetBatchSampler([], max_tokens=100)
