#!/usr/bin/env python
"""Is the corpus label in z_doc, and is it in the text? Side by side on the same windows.

    python benchmarks/label_in_latents.py --model outputs/arxiv_style/final [--model outputs/arxiv_style_bow/final] \
        [--split test] [--windows 1000]

Generation in a reference's style can keep only what z_doc carries. Before sweeping decoding settings,
this says whether a label is there to keep: over `--windows` windows spread evenly over a split (the
validation metric of training takes the first N, which can all share one label), the leave-one-out
1-NN label accuracy of each model's z_doc (posterior means), beside two judges of the text alone:
TF-IDF 1-NN on the same windows and the style judges' word classifier (trained on the training split),
and the majority label's share (what a constant guess reaches). Prints a Markdown table and writes it
with the numbers as JSON under --output (default outputs/bench/label_in_latents).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_output import save_results  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402

from doc_hvae.data.batching import DocCollator  # noqa: E402
from doc_hvae.data.prepare import PreparedCorpus  # noqa: E402
from doc_hvae.evaluation import nearest_neighbour_label_accuracy  # noqa: E402
from doc_hvae.generation import row_text  # noqa: E402
from doc_hvae.modeling.loading import load_model, prepared_dir_of  # noqa: E402
from doc_hvae.style import document_latents, spread_references, train_label_classifier  # noqa: E402


def tfidf_nearest_neighbour_accuracy(texts: list[str], labels: list) -> float:
    """Leave-one-out 1-NN label accuracy by cosine similarity of word TF-IDF vectors of the texts."""
    vectors = TfidfVectorizer(sublinear_tf=True).fit_transform(texts)  # rows L2-normalised
    similarity = (vectors @ vectors.T).toarray()
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    return float(np.mean([labels[i] == labels[j] for i, j in enumerate(nearest)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="a saved model with a document level; repeat")
    parser.add_argument("--split", default="test")
    parser.add_argument("--windows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="outputs/bench/label_in_latents")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    corpora = {prepared_dir_of(path) for path in args.model}
    if len(corpora) != 1:
        parser.error(
            f"the models were trained on different prepared corpora {sorted(map(str, corpora))}; give one corpus's"
        )
    corpus = PreparedCorpus(corpora.pop())
    rows = spread_references(corpus.dataset[args.split], args.windows)
    labels = [row["label"] for row in rows]
    if any(label is None for label in labels):
        parser.error(f"{corpus.path}: the {args.split} split has no labels; this benchmark needs a labelled corpus")
    texts = [row_text(row, corpus.tokenizer) for row in rows]
    classifier = train_label_classifier(corpus.dataset["train"], corpus.tokenizer, seed=args.seed)
    results = {
        "split": args.split,
        "windows": len(rows),
        "labels": dict(Counter(labels).most_common()),
        "majority": Counter(labels).most_common(1)[0][1] / len(labels),
        "tfidf_1nn": tfidf_nearest_neighbour_accuracy(texts, labels),
        "word_classifier": classifier.accuracy(texts, labels),
        "z_doc_1nn": {},
    }
    for path in args.model:
        model = load_model(path).eval()
        z = document_latents(model, rows, DocCollator.for_model(model.config))
        results["z_doc_1nn"][path] = nearest_neighbour_label_accuracy(z, labels)
        print(f"{path}: z_doc 1-NN {results['z_doc_1nn'][path]:.3f}", flush=True)
    save_results(args.output, results, table_of(results))


def table_of(results: dict) -> list[str]:
    table = [
        f"Label accuracy on {results['windows']} {results['split']} windows spread over the split "
        f"(majority label {results['majority']:.3f}; labels {results['labels']}).",
        "",
        "| judge | label accuracy |",
        "|---|---|",
        f"| majority label (a constant guess) | {results['majority']:.3f} |",
        f"| text: TF-IDF 1-NN | {results['tfidf_1nn']:.3f} |",
        f"| text: word classifier (trained on the training split) | {results['word_classifier']:.3f} |",
    ]
    table += [f"| z_doc 1-NN: {path} | {value:.3f} |" for path, value in results["z_doc_1nn"].items()]
    return table


if __name__ == "__main__":
    main()
