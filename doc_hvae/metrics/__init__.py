"""Generation-quality metrics as `evaluate` modules shipped with the package (loadable offline).

from doc_hvae.metrics import load_metric, generation_diversity
load_metric("distinct_n").compute(predictions=texts, n=2)   # {"distinct_2": ...}
generation_diversity(texts)                                 # distinct-1, distinct-2, self-BLEU
"""

from __future__ import annotations

from pathlib import Path

import evaluate

METRICS = ("distinct_n", "self_bleu")


def load_metric(name: str) -> evaluate.EvaluationModule:
    """One of `METRICS`, from its module folder inside the package (no Hub access)."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; the package ships {list(METRICS)}")
    return evaluate.load(str(Path(__file__).parent / name))


def generation_diversity(texts: list[str]) -> dict[str, float]:
    """distinct-1, distinct-2 (over all texts together) and self-BLEU (with two or more texts)."""
    distinct = load_metric("distinct_n")
    result = {**distinct.compute(predictions=texts, n=1), **distinct.compute(predictions=texts, n=2)}
    if len(texts) >= 2:
        result.update(load_metric("self_bleu").compute(predictions=texts))
    return result
