"""Tokenizers: train a byte-level BPE on a corpus, or adapt any pretrained tokenizer.

Either way the result is a `PreTrainedTokenizerFast` that `AutoTokenizer.from_pretrained(dir)`
loads, with the five special tokens the document model needs (see `SPECIAL_TOKENS`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
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
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase) -> "SpecialTokenIds":
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


def train_bpe_tokenizer(sentences: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2) -> PreTrainedTokenizerFast:
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
