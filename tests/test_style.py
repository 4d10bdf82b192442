"""`doc_hvae.style`: retrieval accuracy, label agreement and within-document consistency."""

import math

import pytest
import torch
from datasets import Dataset

from doc_hvae.config import DocHVAEConfig, default_decoder_config, default_encoder_config
from doc_hvae.data.batching import DocCollator
from doc_hvae.data.tokenizer import train_bpe_tokenizer
from doc_hvae.generation import SamplingConfig, seeded_generator
from doc_hvae.modeling import DocHVAE
from doc_hvae.style import (
    LabelClassifier,
    halves,
    retrieval_accuracy,
    same_label_rate,
    spread_references,
    style_consistency,
    train_label_classifier,
    within_document_consistency,
)

SPORT = ["the team won the match", "a goal in the final minute", "the coach praised the players", "fans filled the stadium"]
MARKETS = ["shares fell on the market", "the bank raised interest rates", "investors sold their bonds", "profits rose this quarter"]


@pytest.fixture(scope="module")
def classifier():
    return LabelClassifier(SPORT * 3 + MARKETS * 3, ["sport"] * 12 + ["markets"] * 12)


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
    row = {"id": "w0", "label": "austen", "paragraphs": paragraphs, "encoder_paragraphs": [[[11]], [[13], [14]], [[16]]],
           "num_tokens": 11, "num_words": 6}
    first, second = halves(row)
    assert first["paragraphs"] == paragraphs[:2] and second["paragraphs"] == paragraphs[2:]  # the first half takes the middle one
    assert first["encoder_paragraphs"] == [[[11]], [[13], [14]]] and second["encoder_paragraphs"] == [[[16]]]
    assert (first["num_tokens"], second["num_tokens"]) == (3 + 2 + 3, 2)  # one boundary per sentence
    assert first["label"] == second["label"] == "austen" and first["id"] != second["id"]


def test_style_consistency_reports_every_number_with_its_baselines():
    texts = [f"{s}." for s in SPORT + MARKETS]
    tokenizer = train_bpe_tokenizer(texts * 3, vocab_size=300, min_frequency=1)
    V = len(tokenizer)
    config = DocHVAEConfig(latent_size=4, vocab_size=V, decoder=default_decoder_config(V, 32, 1, 2), encoder=default_encoder_config(V, 32, 1, 2))
    torch.manual_seed(0)
    model = DocHVAE(config).eval()

    def row(i, sentences, label):
        paragraphs = [[tokenizer.encode(s, add_special_tokens=False)] for s in sentences]
        return {"id": f"d{i}", "paragraphs": paragraphs, "label": label, "num_words": 0,
                "num_tokens": sum(len(s) + 1 for p in paragraphs for s in p)}

    # One sentence per paragraph, said twice: each half of a reference is the other, so the halves
    # ceiling must find every one; the last reference is too short to halve.
    references = [row(0, [SPORT[0]] * 2, "sport"), row(1, [MARKETS[0]] * 2, "markets"), row(2, [SPORT[2]] * 2, "sport"),
                  row(3, MARKETS[2:3], "markets")]
    classifier = LabelClassifier(texts * 3, (["sport"] * 4 + ["markets"] * 4) * 3)
    sampling = SamplingConfig(max_tokens=8, max_paragraphs=2, max_sentences=2)
    result = style_consistency(model, references, DocCollator.for_model(config), tokenizer, 2, sampling, seeded_generator(0), classifier)
    assert result["references"] == 4 and result["chance"] == pytest.approx(1 / 4)
    assert result["reference_labels"] == 2
    assert (result["references_halved"], result["references_too_short_to_halve"]) == (3, 1)
    assert result["references_half_chance"] == pytest.approx(1 / 3)
    assert result["references_half_retrieval_accuracy"] == 1.0
    for name in ("style", "prior", "references_half"):
        assert 0.0 <= result[f"{name}_retrieval_accuracy"] <= result[f"{name}_retrieval_same_label"] <= 1.0  # a hit has its own label
    for name in ("style", "prior"):
        assert 0.0 <= result[f"{name}_label_agreement"] <= 1.0
        value = result[f"{name}_within_document_consistency"]
        assert math.isnan(value) or 0.5 <= value <= 1.0  # two labels: a majority share is at least a half
    # The references are pure: each paragraph has its document's label.
    assert result["references_within_document_consistency"] == 1.0
    assert result["classifier_accuracy_on_references"] == 1.0


def test_references_are_spread_over_the_split_and_the_classifier_needs_labels():
    split = Dataset.from_dict({"id": [f"w{i}" for i in range(10)], "label": [None] * 10})
    assert [row["id"] for row in spread_references(split, 3)] == ["w0", "w3", "w6"]
    assert [row["id"] for row in spread_references(split, 20)] == [f"w{i}" for i in range(10)]  # fewer windows than asked
    assert train_label_classifier(split, tokenizer=None) is None
