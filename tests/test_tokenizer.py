"""Tests of `doc_hvae.data.tokenizer`: training, saving, loading, special tokens.

Everything runs on sentences the tests write; no shared corpus and no Hub access is needed.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from doc_hvae.data.tokenizer import (
    PARAGRAPH_END,
    SPECIAL_TOKENS,
    SpecialTokenIds,
    load_tokenizer,
    train_bpe_tokenizer,
    train_unigram_tokenizer,
)

ALL_SPECIALS = [*SPECIAL_TOKENS.values(), PARAGRAPH_END]

# Texts that a byte-level BPE must round-trip exactly: pre-tokenized punctuation (WikiText
# style, which a "clean up tokenization spaces" decode would damage), runs of spaces, tabs,
# non-ASCII letters, symbols outside the training data, and literal special-token strings.
TEXTS = [
    "The cat sat on the mat .",
    "Hello , world ! It 's a test , is n't it ?",
    "Robert Boulter is an English film and television actor @-@ born 1 @,@ 000 km away .",
    "don't   stop  ,  now\tplease",
    "Ünïcode façade naïve ☃ 漢字 — “quotes” …",
    "a literal </s> and <s> and </p> and <pad> in text",
    "x",
]


def training_sentences() -> list[str]:
    words = "the a cat dog sat ran on under mat rug , . and then it was very big small red".split()
    sentences = []
    for i in range(300):
        sentences.append(" ".join(words[(i * 7 + k * 3) % len(words)] for k in range(4 + i % 9)))
    return sentences + TEXTS


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small trained tokenizer, saved once; (in-memory tokenizer, folder)."""
    tokenizer = train_bpe_tokenizer(training_sentences(), vocab_size=400, min_frequency=1)
    folder = tmp_path_factory.mktemp("tokenizer")
    tokenizer.save_pretrained(str(folder))
    return tokenizer, folder


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_trained_vocabulary_has_specials_first(trained):
    tokenizer, _ = trained
    assert 300 <= len(tokenizer) <= 400
    vocab = tokenizer.get_vocab()
    # Special tokens take the first ids, in the order of SPECIAL_TOKENS then </p>.
    assert [vocab[token] for token in ALL_SPECIALS] == list(range(len(ALL_SPECIALS)))
    assert tokenizer.pad_token == "<pad>" and tokenizer.bos_token == "<s>"
    assert tokenizer.eos_token == "</s>" and tokenizer.unk_token == "<unk>"


@pytest.mark.parametrize("loader", ["auto", "load_tokenizer"])
def test_save_load_round_trip(trained, loader):
    tokenizer, folder = trained
    loaded = AutoTokenizer.from_pretrained(str(folder)) if loader == "auto" else load_tokenizer(folder)
    assert len(loaded) == len(tokenizer)
    assert loaded.get_vocab() == tokenizer.get_vocab()
    for text in TEXTS:
        ids = encode(tokenizer, text)
        assert encode(loaded, text) == ids, text
        assert len(ids) > 0
        # The byte-level pre-tokenizer adds a prefix space; otherwise decoding is exact.
        assert loaded.decode(ids) == " " + text, text
        assert tokenizer.decode(ids) == " " + text, text
    assert SpecialTokenIds.from_tokenizer(loaded) == SpecialTokenIds.from_tokenizer(tokenizer)


def test_batch_encoding_matches_single(trained):
    """prepare_corpus tokenizes sentences in batches: a batch must equal one call per text."""
    tokenizer, folder = trained
    loaded = load_tokenizer(folder)
    batch = loaded(TEXTS, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    single = [loaded(text, add_special_tokens=False, split_special_tokens=True)["input_ids"] for text in TEXTS]
    assert batch == single


def test_special_token_ids_distinct_and_atomic(trained):
    _, folder = trained
    tokenizer = load_tokenizer(folder)
    special = SpecialTokenIds.from_tokenizer(tokenizer)
    ids = [special.pad, special.bos, special.sentence_end, special.paragraph_end, special.unk]
    assert len(set(ids)) == 5
    assert all(0 <= i < len(tokenizer) for i in ids)
    assert tokenizer.convert_ids_to_tokens(ids) == ["<pad>", "<s>", "</s>", "</p>", "<unk>"]
    # Atomic: a literal special token in text is one id when special tokens are not split ...
    for token, token_id in zip(["<pad>", "<s>", "</s>", "</p>", "<unk>"], ids):
        encoded = tokenizer(f"end {token} start", add_special_tokens=False, split_special_tokens=False)["input_ids"]
        assert token_id in encoded, token
        assert tokenizer.decode(encoded) == f" end {token} start"
    # ... and is text (several ordinary ids, none special) when they are split, as prepare_corpus does.
    encoded = tokenizer("end </p> start", add_special_tokens=False, split_special_tokens=True)["input_ids"]
    assert not set(encoded) & set(ids)
    assert tokenizer.decode(encoded) == " end </p> start"


def test_special_token_ids_error_names_missing_tokens():
    vocab = {"the": 0, "cat": 1, "[UNK]": 2}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    plain = PreTrainedTokenizerFast(tokenizer_object=backend)
    with pytest.raises(ValueError, match="load_tokenizer") as error:
        SpecialTokenIds.from_tokenizer(plain)
    for token in ALL_SPECIALS:
        assert token in str(error.value)


def _plain_tokenizer_folder(folder, kind: str) -> str:
    """A tokenizer saved without any of our special tokens (WordLevel or a tiny BPE)."""
    if kind == "wordlevel":
        vocab = {w: i for i, w in enumerate(["the", "cat", "sat", "on", "mat", "[UNK]"])}
        backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    else:
        from tokenizers import trainers

        backend = Tokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        backend.train_from_iterator(
            ["the cat sat on the mat"] * 5, trainer=trainers.BpeTrainer(vocab_size=60, show_progress=False)
        )
    plain = PreTrainedTokenizerFast(tokenizer_object=backend)
    assert plain.all_special_tokens == []
    plain.save_pretrained(str(folder))
    return len(plain)


@pytest.mark.parametrize("kind", ["wordlevel", "bpe"])
def test_load_tokenizer_adds_missing_specials(tmp_path, kind):
    size = _plain_tokenizer_folder(tmp_path, kind)
    tokenizer = load_tokenizer(tmp_path)
    assert len(tokenizer) == size + 5
    special = SpecialTokenIds.from_tokenizer(tokenizer)
    ids = [special.pad, special.bos, special.sentence_end, special.paragraph_end, special.unk]
    assert len(set(ids)) == 5
    assert all(size <= i < size + 5 for i in ids), "new tokens get new ids, existing ids are kept"
    assert tokenizer.pad_token == "<pad>" and tokenizer.bos_token == "<s>" and tokenizer.eos_token == "</s>"
    encoded = tokenizer("the cat </p> sat", add_special_tokens=False, split_special_tokens=False)["input_ids"]
    assert special.paragraph_end in encoded
    # Saved again, the specials survive a plain AutoTokenizer load.
    tokenizer.save_pretrained(str(tmp_path / "again"))
    reloaded = AutoTokenizer.from_pretrained(str(tmp_path / "again"))
    assert len(reloaded) == size + 5
    assert SpecialTokenIds.from_tokenizer(reloaded) == special


def test_load_tokenizer_is_idempotent(trained):
    """Loading our own tokenizer adds nothing."""
    tokenizer, folder = trained
    assert len(load_tokenizer(folder)) == len(tokenizer)


def test_load_tokenizer_missing_folder(tmp_path):
    missing = tmp_path / "no_such_tokenizer"
    with pytest.raises(OSError) as error:
        load_tokenizer(missing)
    assert str(missing) in str(error.value)


def test_load_tokenizer_empty_folder(tmp_path):
    with pytest.raises(OSError) as error:
        load_tokenizer(tmp_path)
    assert str(tmp_path) in str(error.value)


@pytest.mark.parametrize("vocab_size", [0, 100, 299])
def test_vocab_size_too_small(vocab_size):
    with pytest.raises(ValueError, match=f"vocab_size={vocab_size}"):
        train_bpe_tokenizer(["a b c"], vocab_size=vocab_size)


def test_vocab_size_is_respected():
    tokenizer = train_bpe_tokenizer(training_sentences() * 3, vocab_size=320, min_frequency=1)
    assert len(tokenizer) <= 320
    assert len(tokenizer) > 256 + 5 - 1, "the byte alphabet and the specials are always there"


# ---------------------------------------------------------------------------------------------
# The Unigram LM tokenizer (sentencepiece)


@pytest.fixture(scope="module")
def unigram(tmp_path_factory):
    tokenizer = train_unigram_tokenizer(training_sentences(), vocab_size=400)
    folder = tmp_path_factory.mktemp("unigram")
    tokenizer.save_pretrained(str(folder))
    return tokenizer, folder


def test_unigram_has_the_same_special_ids_as_the_bpe(unigram, trained):
    tokenizer, folder = unigram
    assert 300 <= len(tokenizer) <= 400
    assert [tokenizer.get_vocab()[token] for token in ALL_SPECIALS] == list(range(len(ALL_SPECIALS)))
    assert SpecialTokenIds.from_tokenizer(load_tokenizer(folder)) == SpecialTokenIds.from_tokenizer(trained[0])


def test_unigram_round_trips_exactly_and_reloads(unigram):
    tokenizer, folder = unigram
    loaded = load_tokenizer(folder)
    specials = set(range(len(ALL_SPECIALS)))
    for text in [*TEXTS, "  two leading spaces", "tab\tand  runs   of spaces", "a byte piece name <0x41> <unk>"]:
        ids = tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        assert tokenizer.decode(ids) == text, text  # no prefix space to strip, unlike byte-level BPE
        assert loaded(text, add_special_tokens=False, split_special_tokens=True)["input_ids"] == ids, text
        # Literal special-token strings ("<s>", "</p>", "<unk>" in WikiText-2) are text, not specials.
        assert not set(ids) & specials, text
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("☃ 漢", add_special_tokens=False)["input_ids"])
    assert "<0xE2>" in pieces, "characters outside the vocabulary fall back to UTF-8 byte pieces, not <unk>"


def test_tokenizer_config_trains_the_kind_it_names():
    from doc_hvae.data.prepare import TokenizerConfig

    sentences = training_sentences()
    unigram = TokenizerConfig(kind="unigram", vocab_size=400).train(sentences)
    bpe = TokenizerConfig(kind="bpe", vocab_size=400, min_frequency=1).train(sentences)
    assert type(unigram.backend_tokenizer.model).__name__ == "Unigram"
    assert type(bpe.backend_tokenizer.model).__name__ == "BPE"
    with pytest.raises(ValueError, match="kind"):
        TokenizerConfig(kind="wordpiece")
    with pytest.raises(ValueError, match="vocab_size=100"):
        train_unigram_tokenizer(sentences, vocab_size=100)
