"""`doc_hvae.style`: retrieval accuracy (by z_doc and by TF-IDF), label agreement by word and character
classifiers, within-document consistency, diversity and fluency PPL."""

import math

import numpy as np
import pytest
import torch
from datasets import Dataset

from doc_hvae.config import DocHVAEConfig, default_decoder_config, default_encoder_config
from doc_hvae.data.batching import DocCollator
from doc_hvae.data.tokenizer import train_bpe_tokenizer
from doc_hvae.generation import GeneratedDocument, SamplingConfig, row_text, seeded_generator
from doc_hvae.modeling import DocHVAE
from doc_hvae.style import (
    DIVERSITY_TEXTS,
    LabelClassifier,
    can_halve,
    cut_to_shape,
    diversity,
    fluency_ppl,
    halves,
    judged_parts,
    label_match_rate,
    paragraph_lengths,
    retrieval_accuracy,
    same_label_rate,
    spread_references,
    style_consistency,
    tfidf_nearest,
    train_label_classifier,
    train_label_classifiers,
    within_document_consistency,
)

SPORT = [
    "the team won the match",
    "a goal in the final minute",
    "the coach praised the players",
    "fans filled the stadium",
]
MARKETS = [
    "shares fell on the market",
    "the bank raised interest rates",
    "investors sold their bonds",
    "profits rose this quarter",
]


@pytest.fixture(scope="module")
def classifier():
    return LabelClassifier(SPORT * 3 + MARKETS * 3, ["sport"] * 12 + ["markets"] * 12)


def test_cut_to_shape_gives_real_text_the_length_of_a_sample():
    paragraphs = [[[1, 2, 3], [4, 5]], [[6, 7, 8, 9]], [[10], [11]]]
    assert paragraph_lengths(GeneratedDocument(paragraphs)) == [5, 4, 2]
    # Whole sentences while they fit, then the start of the next; a paragraph per entry of the shape.
    assert cut_to_shape(paragraphs, [4, 2]) == [[[1, 2, 3], [4]], [[6, 7]]]
    assert cut_to_shape(paragraphs, [3, 9, 1, 5]) == [[[1, 2, 3]], [[6, 7, 8, 9]], [[10]]]
    # An empty generated paragraph takes no real one; nothing generated, nothing kept.
    assert cut_to_shape(paragraphs, [0, 1]) == [[[6]]]
    assert cut_to_shape(paragraphs, []) == []
    assert cut_to_shape(paragraphs, paragraph_lengths(GeneratedDocument(paragraphs))) == paragraphs  # its own shape


def test_within_document_consistency_is_the_mean_majority_share(classifier):
    pure = [SPORT[0], SPORT[1], SPORT[2]]
    mixed = [SPORT[0], MARKETS[0], MARKETS[1], SPORT[3]]
    assert classifier.predict(pure + mixed) == ["sport"] * 3 + ["sport", "markets", "markets", "sport"]
    assert within_document_consistency(classifier, [pure]) == 1.0
    assert within_document_consistency(classifier, [mixed]) == 0.5
    assert within_document_consistency(classifier, [pure, mixed, ["", "  "]]) == 0.75  # the empty document is left out
    assert math.isnan(within_document_consistency(classifier, [[]]))


def test_retrieval_accuracy_counts_nearest_references():
    references = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    generated = torch.tensor([[1.0, 0.0], [9.0, 0.0], [2.0, 0.0]])
    assert retrieval_accuracy(generated, torch.tensor([0, 1, 1]), references) == pytest.approx(2 / 3)


def test_same_label_rate_credits_a_miss_that_lands_on_the_owners_label():
    references = torch.tensor([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
    generated = torch.tensor([[1.0, 0.0], [11.0, 0.0], [19.0, 0.0]])  # nearest: 0, 1, 2
    owner = torch.tensor([0, 0, 0])
    assert retrieval_accuracy(generated, owner, references) == pytest.approx(1 / 3)
    assert same_label_rate(generated, owner, references, ["austen", "austen", "blake"]) == pytest.approx(2 / 3)


def test_halves_cut_a_row_by_paragraphs_and_keep_the_encoder_view_aligned():
    paragraphs = [[[1, 2]], [[3], [4, 5]], [[6]]]
    row = {
        "id": "w0",
        "label": "austen",
        "paragraphs": paragraphs,
        "encoder_paragraphs": [[[11]], [[13], [14]], [[16]]],
        "num_tokens": 11,
        "num_words": 6,
    }
    first, second = halves(row)
    assert (
        first["paragraphs"] == paragraphs[:2] and second["paragraphs"] == paragraphs[2:]
    )  # the first half takes the middle one
    assert first["encoder_paragraphs"] == [[[11]], [[13], [14]]] and second["encoder_paragraphs"] == [[[16]]]
    assert (first["num_tokens"], second["num_tokens"]) == (3 + 2 + 3, 2)  # one boundary per sentence
    assert first["label"] == second["label"] == "austen" and first["id"] != second["id"]


def test_a_one_paragraph_row_is_halved_by_its_sentences():
    row = {"id": "a0", "label": "cs", "paragraphs": [[[1], [2, 3], [4]]], "encoder_paragraphs": [[[11], [12], [14]]]}
    assert can_halve(row["paragraphs"]) and not can_halve([[[1, 2]]]) and not can_halve([])
    first, second = halves(row)
    assert first["paragraphs"] == [[[1], [2, 3]]] and second["paragraphs"] == [[[4]]]
    assert first["encoder_paragraphs"] == [[[11], [12]]] and second["encoder_paragraphs"] == [[[14]]]
    assert (first["num_tokens"], second["num_tokens"]) == (2 + 3, 2)


def test_within_document_consistency_judges_a_one_paragraph_document_by_its_halves():
    assert judged_parts([[[1], [2], [3]]]) == [[[1], [2]], [[3]]]
    assert judged_parts([[[1]], [[2], [3]]]) == [[[1]], [[2], [3]]]  # two paragraphs: themselves
    assert judged_parts([[[1]]]) == [[[1]]]  # one sentence: nothing to compare


TEXTS = [f"{s}." for s in SPORT + MARKETS]


@pytest.fixture(scope="module")
def tiny():
    """A tokenizer, a tiny model with a document level, a flat LM of the same vocabulary, and four references:
    one sentence per paragraph, said twice, so each half of a reference is the other; the last is too short to halve."""
    tokenizer = train_bpe_tokenizer(TEXTS * 3, vocab_size=300, min_frequency=1)
    V = len(tokenizer)
    config = DocHVAEConfig(
        latent_size=4,
        vocab_size=V,
        decoder=default_decoder_config(V, 32, 1, 2),
        encoder=default_encoder_config(V, 32, 1, 2),
    )
    flat = DocHVAEConfig(
        levels=[],
        vocab_size=V,
        decoder=default_decoder_config(V, 32, 1, 2),
        encoder=default_encoder_config(V, 32, 1, 2),
        decoder_context="document",
    )
    torch.manual_seed(0)
    model, flat_lm = DocHVAE(config).eval(), DocHVAE(flat).eval()

    def row(i, sentences, label):
        paragraphs = [[tokenizer.encode(s, add_special_tokens=False)] for s in sentences]
        return {
            "id": f"d{i}",
            "paragraphs": paragraphs,
            "label": label,
            "num_words": 0,
            "num_tokens": sum(len(s) + 1 for p in paragraphs for s in p),
        }

    references = [
        row(0, [SPORT[0]] * 2, "sport"),
        row(1, [MARKETS[0]] * 2, "markets"),
        row(2, [SPORT[2]] * 2, "sport"),
        row(3, MARKETS[2:3], "markets"),
    ]
    return {
        "tokenizer": tokenizer,
        "model": model,
        "flat_lm": flat_lm,
        "references": references,
        "collator": DocCollator.for_model(config),
        "sampling": SamplingConfig(max_tokens=8, max_paragraphs=2, max_sentences=2),
    }


def test_style_consistency_reports_every_number_with_its_baselines(tiny):
    classifier = LabelClassifier(TEXTS * 3, (["sport"] * 4 + ["markets"] * 4) * 3)
    result = style_consistency(
        tiny["model"],
        tiny["references"],
        tiny["collator"],
        tiny["tokenizer"],
        2,
        tiny["sampling"],
        seeded_generator(0),
        classifier,
    )
    assert result["references"] == 4 and result["chance"] == pytest.approx(1 / 4)
    assert result["reference_labels"] == 2
    assert (result["references_halved"], result["references_too_short_to_halve"]) == (3, 1)
    assert result["references_half_chance"] == pytest.approx(1 / 3)
    assert result["references_half_retrieval_accuracy"] == 1.0
    for name in ("style", "prior", "references_half"):
        assert (
            0.0 <= result[f"{name}_retrieval_accuracy"] <= result[f"{name}_retrieval_same_label"] <= 1.0
        )  # a hit has its own label
    for name in ("style", "prior"):
        assert 0.0 <= result[f"{name}_label_agreement"] <= 1.0
        value = result[f"{name}_within_document_consistency"]
        assert math.isnan(value) or 0.5 <= value <= 1.0  # two labels: a majority share is at least a half
    # The references are pure: each paragraph has its document's label.
    assert result["references_within_document_consistency"] == 1.0
    assert result["classifier_accuracy_on_references"] == 1.0
    # The old argument is the word classifier: its prefixed keys say the same as the unprefixed ones.
    assert result["style_word_label_agreement"] == result["style_label_agreement"]
    assert result["word_classifier_accuracy_on_references"] == result["classifier_accuracy_on_references"]
    assert not any("char" in key or "fluency" in key for key in result)


def test_style_consistency_reports_every_judge_in_range(tiny):
    classifiers = {
        kind: LabelClassifier(TEXTS * 3, (["sport"] * 4 + ["markets"] * 4) * 3, kind=kind) for kind in ("word", "char")
    }
    result = style_consistency(
        tiny["model"],
        tiny["references"],
        tiny["collator"],
        tiny["tokenizer"],
        2,
        tiny["sampling"],
        seeded_generator(0),
        classifiers=classifiers,
        fluency_model=tiny["flat_lm"],
    )
    for kind in ("word", "char"):
        assert result[f"{kind}_classifier_accuracy_on_references"] == 1.0
        assert result[f"references_{kind}_within_document_consistency"] == 1.0  # pure references
        for name in ("style", "prior"):
            assert 0.0 <= result[f"{name}_{kind}_label_agreement"] <= 1.0
            value = result[f"{name}_{kind}_within_document_consistency"]
            assert math.isnan(value) or 0.5 <= value <= 1.0
    assert result["style_label_agreement"] == result["style_word_label_agreement"]
    # TF-IDF: each reference's second half is its first half, word for word: the ceiling finds all.
    assert (
        result["references_half_tfidf_retrieval_accuracy"]
        == 1.0
        == result["references_half_tfidf_retrieval_same_label"]
    )
    for name in ("style", "prior"):
        assert 0.0 <= result[f"{name}_tfidf_retrieval_accuracy"] <= result[f"{name}_tfidf_retrieval_same_label"] <= 1.0
    assert result["diversity_texts"] == 4  # as many texts from each set as the smallest (the 4 references) has
    for name in ("style", "prior", "references"):
        assert 0.0 <= result[f"{name}_distinct_2"] <= 1.0 and 0.0 <= result[f"{name}_self_bleu"] <= 100.0
        assert 1.0 <= result[f"{name}_fluency_ppl"] < math.inf
    # An untrained flat LM is near-uniform over the vocabulary, on real and generated text alike.
    assert result["references_fluency_ppl"] == pytest.approx(len(tiny["tokenizer"]), rel=0.5)
    assert "TF-IDF retrieval" in result["definition"] and "the model's own view" in result["definition"]
    # The matched ceilings: the references cut to the style samples' lengths, judged like the samples. Cut to a
    # sample of a few tokens, a pure reference stays pure but can lose its label and its first-half match.
    for kind in ("word", "char"):
        assert 0.0 <= result[f"references_matched_{kind}_label_agreement"] <= 1.0
        value = result[f"references_matched_{kind}_within_document_consistency"]
        assert math.isnan(value) or value == 1.0
    assert 0.0 <= result["references_matched_half_tfidf_retrieval_accuracy"] <= 1.0


def test_the_matched_ceilings_judge_the_references_at_the_samples_length(tiny, monkeypatch):
    """With samples that copy their reference the matched ceilings are the whole references' values; with empty
    samples the references are cut to nothing and keep their label only by the classifier's guess on no text."""
    import doc_hvae.style as style

    classifier = LabelClassifier(TEXTS * 3, (["sport"] * 4 + ["markets"] * 4) * 3)
    references, per_reference = tiny["references"], 2

    def judged(paragraphs_of):
        samples = [GeneratedDocument(paragraphs_of(row)) for row in references for _ in range(per_reference)]
        monkeypatch.setattr(style, "_timed_generation", lambda *args: ({"style": samples, "prior": samples}, 1.0))
        return style_consistency(
            tiny["model"], references, tiny["collator"], tiny["tokenizer"], per_reference, tiny["sampling"],
            classifier=classifier,
        )  # fmt: skip

    copied = judged(lambda row: row["paragraphs"])
    assert copied["style_paragraphs_mean"] == np.mean([len(row["paragraphs"]) for row in references])
    assert copied["references_matched_label_agreement"] == copied["style_label_agreement"] == 1.0
    assert copied["references_matched_within_document_consistency"] == copied["references_within_document_consistency"]
    assert (
        copied["references_matched_half_tfidf_retrieval_accuracy"]
        == copied["references_half_tfidf_retrieval_accuracy"]
        == 1.0
    )
    empty = judged(lambda row: [[[]] for _ in row["paragraphs"]])
    guess = classifier.predict([""])[0]
    assert empty["references_matched_label_agreement"] == np.mean([row["label"] == guess for row in references]) == 0.5
    assert math.isnan(empty["references_matched_within_document_consistency"])  # no paragraph left to judge
    assert empty["references_matched_half_tfidf_retrieval_accuracy"] == 0.0  # no word: a miss


def test_a_fluency_model_of_another_vocabulary_is_refused_before_generating(tiny):
    V = len(tiny["tokenizer"]) + 8
    other = DocHVAE(
        DocHVAEConfig(
            levels=[],
            vocab_size=V,
            decoder=default_decoder_config(V, 32, 1, 2),
            encoder=default_encoder_config(V, 32, 1, 2),
        )
    )
    with pytest.raises(
        ValueError,
        match=rf"fluency model's vocabulary has {V} tokens but the model's has {V - 8}: .*own prepared corpus",
    ):
        style_consistency(
            tiny["model"],
            tiny["references"],
            tiny["collator"],
            tiny["tokenizer"],
            2,
            tiny["sampling"],
            fluency_model=other,
        )
    char = LabelClassifier(TEXTS * 3, (["sport"] * 4 + ["markets"] * 4) * 3, kind="char")
    with pytest.raises(ValueError, match="'char' classifier; key each classifier by its kind"):
        style_consistency(
            tiny["model"],
            tiny["references"],
            tiny["collator"],
            tiny["tokenizer"],
            2,
            tiny["sampling"],
            classifiers={"word": char},
        )


def test_fluency_ppl_is_the_exponent_of_total_nll_over_total_tokens(tiny):
    flat_lm, rows = (
        tiny["flat_lm"],
        tiny["references"][:3]
        + [{"id": "long", "paragraphs": [[[5, 6, 7, 8, 9, 10, 11]], [[12, 13]]], "num_tokens": 11}],
    )
    collator = DocCollator.for_model(flat_lm.config)
    with torch.no_grad():  # one document at a time: no batching, no padding
        outputs = [flat_lm(collator([row])) for row in rows]
    nll = sum(float(out.recon_nll + out.stop_nll) for out in outputs)
    tokens = sum(out.num_tokens for out in outputs)
    assert tokens == sum(len(s) + 1 for row in rows for p in row["paragraphs"] for s in p)
    assert fluency_ppl(flat_lm, rows) == pytest.approx(math.exp(nll / tokens), rel=1e-5)
    # Token-weighted, not the mean of the documents' perplexities (the documents differ in length).
    per_document = sum(math.exp(float(out.recon_nll + out.stop_nll) / out.num_tokens) for out in outputs) / len(outputs)
    assert fluency_ppl(flat_lm, rows) != pytest.approx(per_document, rel=1e-5)


def test_tfidf_retrieval_finds_identical_halves_and_misses_shuffled_owners():
    first = [SPORT[0], MARKETS[0], SPORT[2], MARKETS[2]]
    own = np.arange(4)
    nearest = tfidf_nearest(first, first)
    assert (nearest == own).all()  # identical halves: a perfect ceiling
    assert np.mean(nearest == np.roll(own, 1)) == 0.0  # the same texts credited to the wrong owners: all misses
    labels = ["sport", "markets", "sport", "markets"]
    assert label_match_rate(nearest, np.roll(own, 2), labels) == 1.0  # wrong owners with the same labels
    # A query with no word of the vocabulary retrieves nothing (-1): a miss, not reference 0.
    assert tfidf_nearest(["zzz qqq", MARKETS[0]], first).tolist() == [-1, 1]
    assert label_match_rate(np.array([-1, 1]), np.array([0, 1]), labels) == 0.5


def test_the_char_classifier_reads_unseen_words_by_their_letters():
    rng = np.random.default_rng(0)

    def pool(letters, count):  # random 6-letter words from one alphabet
        return ["".join(rng.choice(list(letters), 6)) for _ in range(count)]

    def texts(words, count):
        return [" ".join(rng.choice(words, 8)) for _ in range(count)]

    first, second = pool("abcdefghijklm", 40), pool("nopqrstuvwxyz", 40)
    train = texts(first[:20], 30) + texts(second[:20], 30)
    test = texts(first[20:], 10) + texts(second[20:], 10)  # new words: none seen in training
    assert not set(" ".join(test).split()) & set(" ".join(train).split())
    labels = ["first"] * 30 + ["second"] * 30
    char = LabelClassifier(train, labels, kind="char")
    word = LabelClassifier(train, labels, kind="word")
    assert char.kind == "char" and char.accuracy(test, ["first"] * 10 + ["second"] * 10) == 1.0
    assert word.accuracy(test, ["first"] * 10 + ["second"] * 10) == 0.5  # every word unseen: one constant guess
    with pytest.raises(ValueError, match="unknown classifier kind 'bytes'"):
        LabelClassifier(train, labels, kind="bytes")


def test_diversity_subsamples_to_a_fixed_number_of_texts():
    same = ["the team won the match in the final minute"] * (DIVERSITY_TEXTS + 10)
    scores = diversity(same)
    assert scores["self_bleu"] == pytest.approx(100.0)  # every text repeats the others
    assert scores["distinct_2"] == pytest.approx(
        8 / (8 * DIVERSITY_TEXTS)
    )  # 8 bigrams per text, DIVERSITY_TEXTS texts kept
    assert diversity(TEXTS)["self_bleu"] < 50.0  # different sentences


def test_references_are_spread_over_the_split_and_the_classifier_needs_labels():
    split = Dataset.from_dict({"id": [f"w{i}" for i in range(10)], "label": [None] * 10})
    assert [row["id"] for row in spread_references(split, 3)] == ["w0", "w3", "w6"]
    assert [row["id"] for row in spread_references(split, 20)] == [
        f"w{i}" for i in range(10)
    ]  # fewer windows than asked
    assert train_label_classifier(split, tokenizer=None) is None
    assert train_label_classifiers(split, tokenizer=None) == {}


def test_one_classifier_per_kind_on_a_labelled_split(tiny):
    split = Dataset.from_list([{k: v for k, v in row.items() if k != "id"} for row in tiny["references"]] * 3)
    classifiers = train_label_classifiers(split, tiny["tokenizer"], seed=1)
    assert {kind: c.kind for kind, c in classifiers.items()} == {"word": "word", "char": "char"}
    assert train_label_classifier(split, tiny["tokenizer"], kind="char").kind == "char"
    texts = [row_text(row, tiny["tokenizer"]) for row in tiny["references"]]
    for judge in classifiers.values():
        assert judge.accuracy(texts, [row["label"] for row in tiny["references"]]) == 1.0  # its own training texts


def test_fit_paragraphs_splits_long_paragraphs_at_sentence_boundaries_and_counts_what_it_cuts():
    from doc_hvae.style import fit_paragraphs

    row = {"id": "d", "paragraphs": [[[5] * 3, [6] * 4, [7] * 2], [[8] * 12]], "num_tokens": 0, "num_words": 0}
    fitted, split, cut = fit_paragraphs(row, limit=9)
    # 4 + 5 fit in 9 positions, the third sentence starts a new paragraph; the 13-position sentence is cut to 9.
    assert fitted["paragraphs"] == [[[5] * 3, [6] * 4], [[7] * 2], [[8] * 8]]
    assert (split, cut) == (1, 4)
    assert fitted["num_tokens"] == 4 + 5 + 3 + 9
    unchanged, split, cut = fit_paragraphs(row, limit=100)
    assert unchanged["paragraphs"] == row["paragraphs"] and (split, cut) == (0, 0)
