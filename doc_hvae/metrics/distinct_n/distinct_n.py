"""distinct-n (Li et al., 2016): distinct n-grams over all n-grams of a set of generated texts."""

import datasets
import evaluate

_DESCRIPTION = """The number of distinct word n-grams divided by the number of n-grams, over all predictions
together (whitespace words, lower-cased). 1.0: no n-gram repeats; near 0: the texts repeat themselves."""


class DistinctN(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Li, Galley, Brockett, Gao, Dolan. A Diversity-Promoting Objective Function for Neural Conversation Models. NAACL 2016.",
            inputs_description="predictions: list of generated texts; n: the n-gram order (default 2)",
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _compute(self, predictions, n: int = 2):
        if n < 1:
            raise ValueError(f"n={n}; use n >= 1")
        grams, total = set(), 0
        for text in predictions:
            words = text.lower().split()
            for start in range(len(words) - n + 1):
                grams.add(tuple(words[start : start + n]))
                total += 1
        return {f"distinct_{n}": len(grams) / total if total else 0.0}
