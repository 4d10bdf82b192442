"""Documents -> one `DocBatch`: the flattened hierarchy, with token streams packed into rows.

Units are numbered across the batch: documents 0..B-1, paragraphs 0..N_par-1 in document order,
sentences 0..N_sen-1 in paragraph order. Index tensors map each unit to its parent.

Token streams (one per sentence for the encoder; one per paragraph or per sentence for the
decoder) are packed first-fit into rows of equal length, and the model attends only within a
stream (block-diagonal masks built from `*_segment`). Packing instead of padding every stream
to the longest keeps real tokens / token slots high even when paragraph lengths vary 100x.

A decoder stream is
    [m memory slots] <s> w w </s> w w w </p>          (decoder_context="paragraph")
    [m memory slots] <s> w w </s>                      (decoder_context="sentence")
    <s> w w </s> w </p> w w </p> ...                   (decoder_context="document": the flat LM over whole windows)
where the memory slots are filled by the model with projections of the upper latents, and
`decoder_labels` holds the next token of the same stream (-100 where there is none).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch.utils.data import Sampler

from ..config import DECODER_CONTEXTS
from .tokenizer import EncoderTokenIds, SpecialTokenIds

IGNORE_INDEX = -100


@dataclass
class Siblings:
    """Units grouped by parent: `children[g, k]` is the k-th unit of group g (valid where `mask`)."""

    children: torch.Tensor  # [G, L]
    mask: torch.Tensor  # [G, L]

    @classmethod
    def full(cls, groups: int, length: int, device=None) -> Siblings:
        """G groups of L units each, numbered in order (unit g * L + k is the k-th of group g)."""
        children = torch.arange(groups * length, device=device).view(groups, length)
        return cls(children, torch.ones_like(children, dtype=torch.bool))

    def group(self, values: torch.Tensor) -> torch.Tensor:
        """[U, ...] per unit -> [G, L, ...] per group position (zeros where masked)."""
        grouped = values[self.children]
        return grouped * self.mask.reshape(*self.mask.shape, *([1] * (values.dim() - 1))).to(values.dtype)

    def previous(self, values: torch.Tensor) -> torch.Tensor:
        """[U, D] -> [G, L, D] where position k holds unit k-1's value (zeros at k = 0)."""
        grouped = self.group(values)
        return torch.cat([torch.zeros_like(grouped[:, :1]), grouped[:, :-1]], dim=1)


@dataclass
class DocBatch:
    """A batch of documents as flat unit tables plus packed token rows (all tensors int64/bool)."""

    # Hierarchy: parent index and position among siblings, per unit.
    paragraph_document: torch.Tensor  # [N_par] document of each paragraph
    paragraph_position: torch.Tensor  # [N_par] index of the paragraph inside its document
    sentence_paragraph: torch.Tensor  # [N_sen] paragraph of each sentence
    sentence_position: torch.Tensor  # [N_sen] index of the sentence inside its paragraph
    # The same, as padded child lists (for sibling-wise attention and causal priors).
    document_paragraphs: torch.Tensor  # [B, P_max] paragraph ids, 0 where masked
    document_paragraphs_mask: torch.Tensor  # [B, P_max] bool
    paragraph_sentences: torch.Tensor  # [N_par, S_max] sentence ids, 0 where masked
    paragraph_sentences_mask: torch.Tensor  # [N_par, S_max] bool
    is_last_paragraph: torch.Tensor  # [N_par] bool: the stop head's target
    # Encoder rows: one stream per sentence, "<s> w w w </s>" (or "</p>" for a paragraph's last).
    encoder_input_ids: torch.Tensor  # [R_enc, C_enc]
    encoder_segment: torch.Tensor  # [R_enc, C_enc] sentence id, -1 = padding
    encoder_position: torch.Tensor  # [R_enc, C_enc] position inside the stream
    # Decoder rows.
    decoder_input_ids: torch.Tensor  # [R_dec, C_dec] (memory slots hold the pad id)
    decoder_segment: torch.Tensor  # [R_dec, C_dec] stream id, -1 = padding
    decoder_position: torch.Tensor  # [R_dec, C_dec] position inside the stream; < m = memory slot
    decoder_labels: torch.Tensor  # [R_dec, C_dec] next token, IGNORE_INDEX where none
    decoder_sentence: torch.Tensor  # [R_dec, C_dec] sentence of the predicted token, -1 where none
    # Counts.
    document_tokens: torch.Tensor  # [B] predicted positions per document
    document_words: torch.Tensor  # [B] whitespace words of the source text
    num_memory_slots: int
    decoder_context: str
    num_tokens: int  # predicted positions in the batch (a plain int: reading it never waits on a device)
    longest_decoder_stream: int  # positions of the longest decoder stream, memory slots included
    document_ids: list[str]
    labels: list[str | None]

    @property
    def num_documents(self) -> int:
        return self.document_tokens.shape[0]

    @property
    def num_paragraphs(self) -> int:
        return self.paragraph_document.shape[0]

    @property
    def num_sentences(self) -> int:
        return self.sentence_paragraph.shape[0]

    @property
    def sentence_document(self) -> torch.Tensor:
        return self.paragraph_document[self.sentence_paragraph]

    @property
    def stream_paragraph(self) -> torch.Tensor:
        """Paragraph of each decoder stream (paragraph and sentence contexts)."""
        if self.decoder_context == "document":
            raise ValueError("a document-context stream spans several paragraphs")
        if self.decoder_context == "sentence":
            return self.sentence_paragraph
        return torch.arange(self.num_paragraphs, device=self.paragraph_document.device)

    @property
    def stream_document(self) -> torch.Tensor:
        """Document of each decoder stream."""
        if self.decoder_context == "document":
            return torch.arange(self.num_documents, device=self.paragraph_document.device)
        return self.paragraph_document[self.stream_paragraph]

    def padding_efficiency(self) -> dict[str, float]:
        """Filled slots / all slots of the packed rows, for the decoder and the encoder."""
        return {
            "decoder": float((self.decoder_segment >= 0).float().mean()) if self.decoder_segment.numel() else 1.0,
            "encoder": float((self.encoder_segment >= 0).float().mean()) if self.encoder_segment.numel() else 1.0,
        }

    def to(self, device: torch.device | str, non_blocking: bool = False) -> DocBatch:
        """Move every tensor (Accelerate calls this through `send_to_device`)."""
        moved = {}
        for field in fields(self):
            value = getattr(self, field.name)
            moved[field.name] = (
                value.to(device, non_blocking=non_blocking) if isinstance(value, torch.Tensor) else value
            )
        return DocBatch(**moved)

    # ------------------------------------------------------------------ hierarchy indexing
    def unit_document(self, level: str) -> torch.Tensor:
        """[U] the document index of each unit of `level`."""
        if level == "document":
            return torch.arange(self.num_documents, device=self.document_tokens.device)
        return self.paragraph_document if level == "paragraph" else self.sentence_document

    def siblings(self, level: str) -> Siblings | None:
        """The units of `level` grouped by their parent (None for documents, which have none)."""
        if level == "document":
            return None
        if level == "paragraph":
            return Siblings(self.document_paragraphs, self.document_paragraphs_mask)
        return Siblings(self.paragraph_sentences, self.paragraph_sentences_mask)

    def parent_index(self, level: str, parent: str | None) -> torch.Tensor | None:
        """[U] for each unit of `level`, the index of its unit at the `parent` level (None without a parent)."""
        if parent is None:
            return None
        if level == "paragraph":
            return self.paragraph_document
        return self.sentence_paragraph if parent == "paragraph" else self.sentence_document


def pack_first_fit(lengths: Sequence[int], capacity: int) -> tuple[list[tuple[int, int]], int]:
    """Assign segments to rows first-fit-decreasing; return (row, offset) per segment and the row count."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    free: list[int] = []  # remaining space per row
    placement = [(0, 0)] * len(lengths)
    for i in order:
        need = lengths[i]
        row = next((r for r, space in enumerate(free) if space >= need), None)
        if row is None:
            free.append(capacity)
            row = len(free) - 1
        placement[i] = (row, capacity - free[row])
        free[row] -= need
    return placement, len(free)


def _pack_streams(
    streams: list[np.ndarray], extra: dict[str, list[np.ndarray]], pad_id: int, min_length: int, multiple: int
) -> dict[str, torch.Tensor]:
    """Pack token streams into [rows, capacity] tensors with their segment id and position."""
    lengths = [len(s) for s in streams]
    longest = max(lengths, default=1)
    capacity = max(min_length, math.ceil(longest / multiple) * multiple)
    placement, num_rows = pack_first_fit(lengths, capacity)
    shape = (max(num_rows, 1), capacity)
    out = {
        "input_ids": np.full(shape, pad_id, np.int64),
        "segment": np.full(shape, -1, np.int64),
        "position": np.zeros(shape, np.int64),
    }
    out.update({name: np.full(shape, -100 if name == "labels" else -1, np.int64) for name in extra})
    for segment, ((row, offset), stream) in enumerate(zip(placement, streams)):
        span = slice(offset, offset + len(stream))
        out["input_ids"][row, span] = stream
        out["segment"][row, span] = segment
        out["position"][row, span] = np.arange(len(stream))
        for name, values in extra.items():
            out[name][row, span] = values[segment]
    return {name: torch.from_numpy(array) for name, array in out.items()}


class DocCollator:
    """Collate prepared-corpus rows (with a `paragraphs` field of token ids) into a `DocBatch`.

    Args:
        special: ids of the special tokens (`SpecialTokenIds.from_tokenizer(tokenizer)`).
        decoder_context: "paragraph" (one decoder stream per paragraph), "sentence", or "document"
            (one per document: paragraphs follow each other after their </p>, predicting the same tokens).
        num_memory_slots: memory positions reserved at the start of each decoder stream.
        build_encoder_rows: False for models without latents (a flat LM needs no encoder).
        encoder_special: for an encoder with a tokenizer of its own, its ids; the encoder rows are
            then built from the rows' `encoder_paragraphs` ([start] sentence [end] each) instead
            of the decoder's ids.
        min_row_length / row_multiple: packed rows are at least this long and a multiple of this.
    """

    def __init__(
        self,
        special: SpecialTokenIds,
        decoder_context: str = "paragraph",
        num_memory_slots: int = 0,
        build_encoder_rows: bool = True,
        min_row_length: int = 64,
        row_multiple: int = 16,
        encoder_special: EncoderTokenIds | None = None,
    ):
        if decoder_context not in DECODER_CONTEXTS:
            raise ValueError(f"decoder_context={decoder_context!r}; use one of {list(DECODER_CONTEXTS)}")
        self.special = special
        self.decoder_context = decoder_context
        self.num_memory_slots = num_memory_slots
        self.build_encoder_rows = build_encoder_rows
        self.encoder_special = encoder_special
        self.min_row_length = min_row_length
        self.row_multiple = row_multiple

    @classmethod
    def for_model(cls, config, **kwargs) -> DocCollator:
        """The collator a `DocHVAEConfig` needs (special ids, context, memory slots)."""
        special = SpecialTokenIds(
            pad=config.pad_token_id,
            bos=config.bos_token_id,
            sentence_end=config.sentence_end_token_id,
            paragraph_end=config.paragraph_end_token_id,
            unk=config.unk_token_id,
        )
        encoder_special = None
        if config.own_encoder_tokenizer:
            encoder_special = EncoderTokenIds(
                pad=config.encoder_pad_token_id, start=config.encoder_start_token_id, end=config.encoder_end_token_id
            )
        return cls(
            special,
            config.decoder_context,
            config.num_memory_slots,
            build_encoder_rows=bool(config.levels),
            encoder_special=encoder_special,
            **kwargs,
        )

    def __call__(self, rows: Sequence[dict]) -> DocBatch:
        if not rows:
            raise ValueError("cannot collate zero documents")
        units = _flatten_documents(rows, self.special)
        encoder_streams: list[np.ndarray] = []
        if self.build_encoder_rows:
            encoder_streams = units.sentence_streams if self.encoder_special is None else self._encoder_streams(rows)
        decoder_streams, labels, target_sentence = self._decoder_streams(units)
        decoder = _pack_streams(
            decoder_streams,
            {"labels": labels, "sentence": target_sentence},
            self.special.pad,
            self.min_row_length,
            self.row_multiple,
        )
        encoder_pad = self.special.pad if self.encoder_special is None else self.encoder_special.pad
        encoder = (
            _pack_streams(encoder_streams, {}, encoder_pad, self.min_row_length, self.row_multiple)
            if encoder_streams
            else None
        )
        return self._assemble(
            rows, units, encoder, decoder, longest_decoder_stream=max(len(s) for s in decoder_streams)
        )

    def _context_streams(self, units: _DocumentUnits) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The decoder streams of `decoder_context` (before memory slots), with the sentence of each of their tokens."""
        if self.decoder_context == "paragraph":
            return units.paragraph_streams, units.paragraph_stream_sentences
        if self.decoder_context == "document":
            # A document's paragraphs as one stream: each later paragraph starts after the previous
            # </p> instead of its own <s>, so the same tokens are predicted.
            paragraph_document = units.paragraph_document
            firsts = [p for p, d in enumerate(paragraph_document) if p == 0 or paragraph_document[p - 1] != d] + [
                len(paragraph_document)
            ]
            spans = list(zip(firsts[:-1], firsts[1:]))
            return _join_paragraphs(units.paragraph_streams, spans), _join_paragraphs(
                units.paragraph_stream_sentences, spans
            )
        return units.sentence_streams, [np.full(len(s), k, np.int64) for k, s in enumerate(units.sentence_streams)]

    def _decoder_streams(self, units: _DocumentUnits) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """The decoder streams behind their memory slots, with the next-token labels and the sentence of each label."""
        m = self.num_memory_slots
        decoder_streams, labels, target_sentence = [], [], []
        for stream, sentences in zip(*self._context_streams(units)):
            memory = np.full(m, self.special.pad, np.int64)
            decoder_streams.append(np.concatenate([memory, stream]))
            # Position t predicts token t+1 of the same stream; memory slots and the last token predict nothing.
            labels.append(np.concatenate([np.full(m, IGNORE_INDEX), stream[1:], [IGNORE_INDEX]]))
            target_sentence.append(np.concatenate([np.full(m, -1), sentences[1:], [-1]]))
        return decoder_streams, labels, target_sentence

    def _assemble(
        self,
        rows: Sequence[dict],
        units: _DocumentUnits,
        encoder: dict[str, torch.Tensor] | None,
        decoder: dict[str, torch.Tensor],
        longest_decoder_stream: int,
    ) -> DocBatch:
        """The `DocBatch` of the unit tables and the packed encoder and decoder rows."""
        paragraph_document_t = torch.tensor(units.paragraph_document)
        sentence_paragraph_t = torch.tensor(units.sentence_paragraph)
        document_paragraphs, document_paragraphs_mask = _child_lists(
            paragraph_document_t, torch.tensor(units.paragraph_position), len(rows)
        )
        paragraph_sentences, paragraph_sentences_mask = _child_lists(
            sentence_paragraph_t, torch.tensor(units.sentence_position), len(units.paragraph_document)
        )
        empty = torch.zeros(1, 0, dtype=torch.long)
        return DocBatch(
            paragraph_document=paragraph_document_t,
            paragraph_position=torch.tensor(units.paragraph_position),
            sentence_paragraph=sentence_paragraph_t,
            sentence_position=torch.tensor(units.sentence_position),
            document_paragraphs=document_paragraphs,
            document_paragraphs_mask=document_paragraphs_mask,
            paragraph_sentences=paragraph_sentences,
            paragraph_sentences_mask=paragraph_sentences_mask,
            is_last_paragraph=torch.tensor(units.is_last_paragraph),
            encoder_input_ids=encoder["input_ids"] if encoder else empty,
            encoder_segment=encoder["segment"] if encoder else empty,
            encoder_position=encoder["position"] if encoder else empty,
            decoder_input_ids=decoder["input_ids"],
            decoder_segment=decoder["segment"],
            decoder_position=decoder["position"],
            decoder_labels=decoder["labels"],
            decoder_sentence=decoder["sentence"],
            document_tokens=torch.tensor(units.document_tokens),
            document_words=torch.tensor(units.document_words),
            num_memory_slots=self.num_memory_slots,
            decoder_context=self.decoder_context,
            num_tokens=sum(units.document_tokens),
            longest_decoder_stream=longest_decoder_stream,
            document_ids=[str(row.get("id", i)) for i, row in enumerate(rows)],
            labels=[row.get("label") for row in rows],
        )

    def _encoder_streams(self, rows: Sequence[dict]) -> list[np.ndarray]:
        """[start] ids [end] per sentence unit, from the rows' encoder tokenization."""
        start, end = self.encoder_special.start, self.encoder_special.end
        streams = []
        for row in rows:
            if "encoder_paragraphs" not in row:
                raise ValueError(
                    f"document {row.get('id')!r} has no encoder_paragraphs, but the model's sentence encoder has its own "
                    "tokenizer; prepare the corpus with encoder_tokenizer set (the model's training corpus settings)"
                )
            if [len(p) for p in row["encoder_paragraphs"]] != [len(p) for p in row["paragraphs"]]:
                raise ValueError(
                    f"document {row.get('id')!r}: encoder_paragraphs and paragraphs hold different sentences; prepare it again"
                )
            streams += [
                np.concatenate([[start], np.asarray(ids, np.int64), [end]])
                for p in row["encoder_paragraphs"]
                for ids in p
            ]
        return streams


class _DocumentUnits:
    """The rows' hierarchy as flat unit tables (see `DocBatch`), with the token streams of every sentence and paragraph."""

    def __init__(self):
        self.paragraph_document: list[int] = []
        self.paragraph_position: list[int] = []
        self.sentence_paragraph: list[int] = []
        self.sentence_position: list[int] = []
        self.is_last_paragraph: list[bool] = []
        self.document_tokens: list[int] = []
        self.document_words: list[int] = []
        self.sentence_streams: list[np.ndarray] = []  # sentence streams: boundary included
        self.paragraph_streams: list[np.ndarray] = []
        self.paragraph_stream_sentences: list[np.ndarray] = []  # sentence of every paragraph-stream token


def _flatten_documents(rows: Sequence[dict], sp: SpecialTokenIds) -> _DocumentUnits:
    """Number the rows' paragraphs and sentences across the batch and build their token streams."""
    units = _DocumentUnits()
    for d, row in enumerate(rows):
        paragraphs = row["paragraphs"]
        if not paragraphs or not all(paragraphs):
            raise ValueError(
                f"document {row.get('id')!r} has an empty paragraph list or an empty paragraph; prepare it with prepare_corpus"
            )
        n_tokens = 0
        for j, paragraph in enumerate(paragraphs):
            p = len(units.paragraph_document)
            units.paragraph_document.append(d)
            units.paragraph_position.append(j)
            units.is_last_paragraph.append(j == len(paragraphs) - 1)
            n_tokens += _add_paragraph_streams(units, paragraph, p, sp)
        units.document_tokens.append(n_tokens)
        units.document_words.append(int(row.get("num_words", 0)))
    return units


def _add_paragraph_streams(
    units: _DocumentUnits, paragraph: Sequence[Sequence[int]], p: int, sp: SpecialTokenIds
) -> int:
    """Add paragraph `p`'s sentences, their streams and its own stream to `units`; return its predicted tokens."""
    n_tokens = 0
    pieces, piece_sentences = [np.array([sp.bos], np.int64)], [None]
    for i, sentence in enumerate(paragraph):
        s = len(units.sentence_paragraph)
        units.sentence_paragraph.append(p)
        units.sentence_position.append(i)
        boundary = sp.paragraph_end if i == len(paragraph) - 1 else sp.sentence_end
        body = np.asarray(sentence, np.int64)
        stream = np.concatenate([[sp.bos], body, [boundary]])
        units.sentence_streams.append(stream)
        pieces.append(np.concatenate([body, [boundary]]))
        piece_sentences.append(s)
        n_tokens += len(body) + 1
    # Sentence of every token of the paragraph stream (<s> belongs to the first sentence).
    first = piece_sentences[1]
    token_sentence = np.concatenate(
        [np.full(len(piece), first if s is None else s, np.int64) for piece, s in zip(pieces, piece_sentences)]
    )
    units.paragraph_streams.append(np.concatenate(pieces))
    units.paragraph_stream_sentences.append(token_sentence)
    return n_tokens


def _join_paragraphs(per_paragraph: list[np.ndarray], spans: list[tuple[int, int]]) -> list[np.ndarray]:
    """Per span [a, b) of paragraphs, paragraph a's array followed by those of the later paragraphs without their first (<s>) position."""
    return [np.concatenate([per_paragraph[a], *(x[1:] for x in per_paragraph[a + 1 : b])]) for a, b in spans]


def _child_lists(parent: torch.Tensor, position: torch.Tensor, num_parents: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[num_parents, max_children] child ids (0 where masked) and the mask, from parent/position."""
    width = int(position.max()) + 1 if position.numel() else 1
    children = torch.zeros(num_parents, width, dtype=torch.long)
    mask = torch.zeros(num_parents, width, dtype=torch.bool)
    children[parent, position] = torch.arange(parent.numel())
    mask[parent, position] = True
    return children, mask


class TokenBudgetBatchSampler(Sampler[list[int]]):
    """Batches of documents of similar size whose tokens sum to at most `max_tokens`.

    Documents are shuffled (seeded by `seed` and the epoch), cut into pools of `pool_size`,
    sorted by length inside each pool, and cut greedily into batches; the batch order is then
    shuffled. Grouping by size keeps the number of packed rows, and so memory, steady. A
    document longer than the budget forms a batch of its own (counted in `oversized`).
    """

    def __init__(
        self, lengths: Sequence[int], max_tokens: int, shuffle: bool = True, seed: int = 0, pool_size: int = 1024
    ):
        if max_tokens <= 0:
            raise ValueError(f"max_tokens={max_tokens}; use a positive token budget")
        if len(lengths) == 0:
            raise ValueError("no documents to batch: the dataset split is empty")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.max_tokens = max_tokens
        self.shuffle = shuffle
        self.seed = seed
        self.pool_size = pool_size
        self.epoch = 0
        self.oversized = int((self.lengths > max_tokens).sum())
        self._batches = self._make_batches()

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch = epoch
            self._batches = self._make_batches()

    def _make_batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths)) if self.shuffle else np.arange(len(self.lengths))
        batches = []
        for start in range(0, len(order), self.pool_size):
            pool = order[start : start + self.pool_size]
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            batch, tokens = [], 0
            for index in pool.tolist():
                if batch and tokens + self.lengths[index] > self.max_tokens:
                    batches.append(batch)
                    batch, tokens = [], 0
                batch.append(index)
                tokens += int(self.lengths[index])
            if batch:
                batches.append(batch)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches)

    def __len__(self) -> int:
        return len(self._batches)
