"""Tokenizers: train a byte-level BPE or a Unigram LM (sentencepiece) on a corpus, or adapt any
pretrained tokenizer.

Each way, the result is a `PreTrainedTokenizerFast` that `AutoTokenizer.from_pretrained(dir)`
loads, with the five special tokens the document model needs (see `SPECIAL_TOKENS`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass

import sentencepiece
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

# The decoder's token stream of a paragraph is
#   <s> w w w </s> w w </s> w w w </p>
# one boundary token per sentence: </s> when another sentence of the paragraph follows,
# </p> for the last one (it closes the sentence and the paragraph). `<unk>` is what word
# dropout puts in place of a dropped input token.
SPECIAL_TOKENS = {
    "pad_token": "<pad>",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
}
PARAGRAPH_END = "</p>"


@dataclass(frozen=True)
class SpecialTokenIds:
    """Ids of the special tokens, as the model config and the collator use them."""

    pad: int
    bos: int
    sentence_end: int
    paragraph_end: int
    unk: int

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase) -> SpecialTokenIds:
        missing = [t for t in (*SPECIAL_TOKENS.values(), PARAGRAPH_END) if t not in tokenizer.get_vocab()]
        if missing:
            raise ValueError(
                f"tokenizer lacks the special tokens {missing}; load it with "
                "doc_hvae.data.tokenizer.load_tokenizer(path), which adds them."
            )
        ids = tokenizer.convert_tokens_to_ids
        return cls(
            pad=ids(SPECIAL_TOKENS["pad_token"]),
            bos=ids(SPECIAL_TOKENS["bos_token"]),
            sentence_end=ids(SPECIAL_TOKENS["eos_token"]),
            paragraph_end=ids(PARAGRAPH_END),
            unk=ids(SPECIAL_TOKENS["unk_token"]),
        )


@dataclass(frozen=True)
class EncoderTokenIds:
    """Ids a sentence encoder with a tokenizer of its own needs: padding, and the ids put before and
    after each sentence (BERT's [CLS] and [SEP]; <s> and </s> for a tokenizer trained here)."""

    pad: int
    start: int
    end: int

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase) -> EncoderTokenIds:
        start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        end = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        missing = [
            name
            for name, value in (
                ("pad_token", tokenizer.pad_token_id),
                ("cls_token or bos_token", start),
                ("sep_token or eos_token", end),
            )
            if value is None
        ]
        if missing:
            raise ValueError(
                f"the encoder tokenizer {tokenizer.name_or_path!r} has no {', '.join(missing)}; "
                "give one with padding and sentence-start/end tokens (a BERT or RoBERTa tokenizer, say)"
            )
        return cls(pad=tokenizer.pad_token_id, start=start, end=end)


def train_bpe_tokenizer(
    sentences: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on an iterable of sentences.

    Byte-level BPE round-trips any text exactly (no normalisation, no unknown characters), which
    keeps reconstructions and word counts honest. Special tokens take the first ids.
    """
    if vocab_size < 300:
        raise ValueError(f"vocab_size={vocab_size} is too small for byte-level BPE (256 bytes + specials); use >= 300.")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[*SPECIAL_TOKENS.values(), PARAGRAPH_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(sentences, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)
    fast.add_special_tokens({"additional_special_tokens": [PARAGRAPH_END]})
    return fast


def train_unigram_tokenizer(
    sentences: Iterable[str], vocab_size: int = 8000, max_sentences: int = 2_000_000
) -> PreTrainedTokenizerFast:
    """Train a Unigram LM tokenizer (Kudo 2018) with sentencepiece on an iterable of sentences.

    Set up to round-trip like the byte-level BPE: no normalisation, whitespace kept as it is, and
    characters outside the vocabulary spelled as UTF-8 byte pieces (byte fallback) instead of
    <unk>. The trained pieces and scores are moved into a `tokenizers` Unigram model (what
    transformers' SpmConverter does, without the protobuf dependency), so the result is a fast
    tokenizer that saves and loads like any other. Special tokens take the first ids, in the same
    order as the BPE's. sentencepiece samples at most `max_sentences` sentences for training.
    """
    if vocab_size < 300:
        raise ValueError(
            f"vocab_size={vocab_size} is too small for a byte-fallback Unigram (256 bytes + specials); use >= 300."
        )
    tokenizer = _unigram_from_sentencepiece(_train_sentencepiece_unigram(sentences, vocab_size, max_sentences))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)
    fast.add_special_tokens({"additional_special_tokens": [PARAGRAPH_END]})
    return fast


def _train_sentencepiece_unigram(sentences: Iterable[str], vocab_size: int, max_sentences: int) -> bytes:
    """The serialized sentencepiece Unigram model trained on `sentences` (no normalisation, byte fallback)."""
    model = io.BytesIO()
    pad, bos, eos, unk = (SPECIAL_TOKENS[key] for key in ("pad_token", "bos_token", "eos_token", "unk_token"))
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        model_type="unigram",
        vocab_size=vocab_size,
        pad_id=0,
        bos_id=1,
        eos_id=2,
        unk_id=3,
        pad_piece=pad,
        bos_piece=bos,
        eos_piece=eos,
        unk_piece=unk,
        user_defined_symbols=[PARAGRAPH_END],
        byte_fallback=True,
        character_coverage=0.9995,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        input_sentence_size=max_sentences,
        shuffle_input_sentence=True,
        hard_vocab_limit=False,
        minloglevel=2,
        num_threads=os.cpu_count() or 1,
    )
    return model.getvalue()


def _unigram_from_sentencepiece(model_proto: bytes) -> Tokenizer:
    """A `tokenizers` Unigram model with the pieces and scores of a sentencepiece model, and its
    whitespace handling and byte fallback spelled out."""
    processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
    vocab = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=processor.unk_id(), byte_fallback=True))
    # sentencepiece's own whitespace handling, spelled out: one "\u2581" before the text and for every space.
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    # "<" stands alone, so that no piece spanning it matches: a literal "<s>", "</p>" or "<unk>" (WikiText-2
    # has thousands) is spelled out like other text, and so is a literal byte-piece name such as "<0x41>".
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="never", split=True),
            pre_tokenizers.Split("<", behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Sequence(
        [
            decoders.Replace("\u2581", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(content=" ", left=1, right=0),
        ]
    )
    return tokenizer


ENCODER_TOKENIZER = "encoder_tokenizer"  # its folder inside a prepared corpus and an export


def load_encoder_tokenizer(name_or_path: str | os.PathLike) -> PreTrainedTokenizerBase:
    """Load a sentence encoder's own tokenizer as it is (no document tokens: the encoder reads
    sentences between its own start and end ids)."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as error:
        raise OSError(
            f"could not load the encoder tokenizer from {str(name_or_path)!r}: {error}\n"
            "Give the folder of the encoder checkpoint's tokenizer (e.g. a saved BERT), or a Hub name when online."
        ) from error
    EncoderTokenIds.from_tokenizer(tokenizer)
    return tokenizer


def load_tokenizer(name_or_path: str | os.PathLike) -> PreTrainedTokenizerBase:
    """Load any tokenizer with `AutoTokenizer` and make sure it has the document special tokens.

    A pretrained tokenizer (GPT-2's, say) gets the missing tokens added; a model built on it must
    then have `len(tokenizer)` embeddings (the model config records the size).
    """
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as error:
        raise OSError(
            f"could not load a tokenizer from {str(name_or_path)!r}: {error}\n"
            "Give a folder written by data_scripts/train_tokenizer.py or tokenizer.save_pretrained(), "
            "or a Hub name when online."
        ) from error
    vocab = tokenizer.get_vocab()
    missing = {key: token for key, token in SPECIAL_TOKENS.items() if token not in vocab}
    # Only override a role when our token is absent: a pretrained tokenizer keeps its own
    # tokens as plain text, ours become atomic special tokens.
    if missing:
        tokenizer.add_special_tokens(missing)
    if PARAGRAPH_END not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [PARAGRAPH_END]})
    for key, token in SPECIAL_TOKENS.items():
        setattr(tokenizer, key, token)
    return tokenizer
