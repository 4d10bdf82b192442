"""Self-BLEU (Zhu et al., 2018): how alike a set of generated texts are, each scored against the others."""

import datasets
import evaluate
import sacrebleu

_DESCRIPTION = """The mean over predictions of sacrebleu sentence BLEU (0-100) of each prediction with all the
other predictions as references. 100: every text repeats the others; low: diverse texts. Needs at
least two predictions."""


class SelfBleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Zhu, Lu, Zheng, Guo, Zhang, Wang, Yu. Texygen: A Benchmarking Platform for Text Generation Models. SIGIR 2018.",
            inputs_description="predictions: list of at least two generated texts",
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _compute(self, predictions):
        if len(predictions) < 2:
            raise ValueError(f"self-BLEU needs at least two texts, got {len(predictions)}")
        scores = [
            sacrebleu.sentence_bleu(text, predictions[:i] + predictions[i + 1 :]).score
            for i, text in enumerate(predictions)
        ]
        return {"self_bleu": sum(scores) / len(scores)}
