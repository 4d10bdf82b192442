#!/usr/bin/env python
"""What real text scores on the style judges when it is as short as the samples.

    python benchmarks/style_ceilings.py --model outputs/gutenberg_style/final --shapes 3x80 3x120 full

Style samples (docs/findings.md#tables-latent-guidance) are 3 paragraphs of about 60 tokens, while the references they
are judged beside are whole windows of up to 6 paragraphs and 1,024 tokens, and a classifier is surer of a longer
text. `doc_hvae.style.style_consistency` reports the references cut to each sample's shape ("matched"), but on 20
references; this scores every window of a split cut to a fixed shape (P paragraphs of at most T tokens each,
`doc_hvae.style.cut_to_shape`; "full": uncut), for a tighter estimate of each judge's reachable value:
  - label agreement by the word and the character classifier (trained on the training split, as the judges are);
  - within-document consistency by each classifier (the windows' paragraphs, cut to the shape);
  - TF-IDF retrieval of a window's second half, cut to the shape, among the first halves of R windows: the
    windows in groups of R spread over the split (as `spread_references` picks), the mean over the groups.

Prints a Markdown table and writes it with the numbers as JSON under --output (default <model>/style_ceilings).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from bench_output import save_results  # noqa: E402

from doc_hvae.data.prepare import PreparedCorpus  # noqa: E402
from doc_hvae.generation import GeneratedDocument, document_text, paragraph_texts  # noqa: E402
from doc_hvae.modeling.loading import prepared_dir_of  # noqa: E402
from doc_hvae.style import (  # noqa: E402
    can_halve,
    cut_to_shape,
    in_two,
    judged_parts,
    paragraph_lengths,
    tfidf_nearest,
    train_label_classifiers,
    within_document_consistency,
)


def parse_shape(text: str) -> tuple[int, int] | None:
    """ "PxT" -> (P paragraphs, T tokens each); "full" -> None (uncut)."""
    if text == "full":
        return None
    try:
        paragraphs, tokens = (int(part) for part in text.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"shape {text!r}: write P x T as e.g. 3x80 (3 paragraphs of 80 tokens), or full"
        ) from None
    if paragraphs < 1 or tokens < 1:
        raise argparse.ArgumentTypeError(f"shape {text!r}: paragraphs and tokens must be at least 1")
    return paragraphs, tokens


def cut(paragraphs: list, shape: tuple[int, int] | None) -> list:
    return paragraphs if shape is None else cut_to_shape(paragraphs, [shape[1]] * shape[0])


def ceilings(rows, classifiers, tokenizer, shape, group_size: int) -> dict:
    """The judges' values on `rows` cut to `shape` (see the module docstring)."""
    labels = [row["label"] for row in rows]
    documents = [GeneratedDocument(cut(row["paragraphs"], shape)) for row in rows]
    texts = [document_text(doc, tokenizer) for doc in documents]
    parts = [paragraph_texts(GeneratedDocument(judged_parts(doc.paragraphs)), tokenizer) for doc in documents]
    result = {
        "windows": len(rows),
        "tokens_mean": float(np.mean([sum(paragraph_lengths(doc)) for doc in documents])),
    }
    for kind, judge in classifiers.items():
        result[f"{kind}_label_agreement"] = judge.accuracy(texts, labels)
        result[f"{kind}_within_document_consistency"] = within_document_consistency(judge, parts)
    halves = [in_two(row["paragraphs"]) for row in rows if can_halve(row["paragraphs"])]
    groups = max(1, len(halves) // group_size)
    hits = []
    for g in range(groups):
        group = halves[g::groups][:group_size]  # every groups-th window: spread over the split
        firsts = [document_text(GeneratedDocument(first), tokenizer) for first, _ in group]
        seconds = [document_text(GeneratedDocument(cut(second, shape)), tokenizer) for _, second in group]
        hits.append(float(np.mean(tfidf_nearest(seconds, firsts) == np.arange(len(group)))))
    result["tfidf_retrieval_accuracy"] = float(np.mean(hits))
    result["tfidf_retrieval_groups"] = groups
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a save_pretrained folder (its prepared corpus is used)")
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=[(3, 80), (3, 120), None])
    parser.add_argument("--split", default="test")
    parser.add_argument("--group-size", type=int, default=20, help="R, the references a retrieval chooses among")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    corpus = PreparedCorpus(prepared_dir_of(args.model))
    rows = list(corpus.dataset[args.split])
    if rows[0]["label"] is None:
        parser.error(f"the {args.split} split of {prepared_dir_of(args.model)} has no labels: nothing to agree with")
    classifiers = train_label_classifiers(corpus.dataset["train"], corpus.tokenizer, seed=args.seed)
    results = {}
    for shape in args.shapes:
        name = "full" if shape is None else f"{shape[0]}x{shape[1]}"
        results[name] = ceilings(rows, classifiers, corpus.tokenizer, shape, args.group_size)
        print(f"[{name}] " + ", ".join(f"{k} {v:.3f}" for k, v in results[name].items()), flush=True)
    n = len(rows)
    table = [
        f"Style judges on real text of the {args.split} split ({n} windows) cut to each shape (P paragraphs x T tokens); "
        f"a share of {n} windows has a standard error of at most {math.sqrt(0.25 / n):.3f}.",
        "",
        "| shape | tokens (mean) | agreement: word / char | within-document: word / char | TF-IDF retrieval (R = "
        f"{args.group_size}) |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        table.append(
            f"| {name} | {r['tokens_mean']:.0f} | {r['word_label_agreement']:.3f} / {r['char_label_agreement']:.3f} | "
            f"{r['word_within_document_consistency']:.3f} / {r['char_within_document_consistency']:.3f} | "
            f"{r['tfidf_retrieval_accuracy']:.3f} ({r['tfidf_retrieval_groups']} groups) |"
        )
    save_results(args.output or Path(args.model) / "style_ceilings", results, table)
    print("\n".join(table))


if __name__ == "__main__":
    main()
