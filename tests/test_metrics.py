"""The generation-quality metrics shipped as `evaluate` modules: known values, offline."""

import pytest

from doc_hvae.metrics import generation_diversity, load_metric


def test_distinct_n_counts_distinct_ngrams_over_all_texts():
    distinct = load_metric("distinct_n")
    # bigrams: (a b) (b c) (c a) (a b) | (a b) (b d): 6 in all, 4 distinct
    assert distinct.compute(predictions=["a b c a b", "A b d"], n=2) == {"distinct_2": pytest.approx(4 / 6)}
    assert distinct.compute(predictions=["x y z"], n=1) == {"distinct_1": 1.0}
    assert distinct.compute(predictions=["one"], n=2) == {"distinct_2": 0.0}  # no bigram at all
    with pytest.raises(ValueError, match="n >= 1"):
        distinct.compute(predictions=["a"], n=0)


def test_self_bleu_is_high_for_repeats_and_low_for_different_texts():
    bleu = load_metric("self_bleu")
    same = "the cat sat on the mat and looked at the dog"
    assert bleu.compute(predictions=[same, same, same])["self_bleu"] == pytest.approx(100.0)
    different = [
        "the cat sat on the mat today",
        "stocks fell sharply in early trading",
        "rain is expected over the weekend",
    ]
    assert bleu.compute(predictions=different)["self_bleu"] < 10
    with pytest.raises(ValueError, match="at least two"):
        bleu.compute(predictions=[same])


def test_generation_diversity_and_unknown_names():
    result = generation_diversity(["a b c", "a b d"])
    assert set(result) == {"distinct_1", "distinct_2", "self_bleu"} and result["distinct_1"] == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="ships"):
        load_metric("rouge")
