#!/usr/bin/env python
"""Style consistency of one trained model under several sampling settings, side by side.

    python benchmarks/style_sampling.py --model outputs/gutenberg_style/final [--settings default lower_0.5] \
        [--fluency-model outputs/gutenberg_flat/final]

A document generated "in a reference's style" takes the reference's z_doc (posterior mean) and
draws everything below it: paragraph and sentence latents from their priors, tokens from the
decoder. How much of the style survives depends on how much noise those draws add, so this
measures `doc_hvae.style.style_consistency` for each setting in SETTINGS on the same references,
classifiers and seed, for style and prior samples (docs/metrics.md#style-consistency; `doc_hvae.style.JUDGES`):
retrieval among R references by z_doc (the model's own view) and by TF-IDF of the texts (independent
of the model), author agreement and within-document consistency by a word and a character n-gram
classifier, distinct-2, and with --fluency-model (a flat LM trained on the same corpus) fluency PPL.
The shared settings are the style-consistency command of docs/results.md#gutenberg (20 references, 5 documents each,
3 paragraphs of at most 120 tokens).

Prints a Markdown table and writes it with the numbers as JSON under --output
(default <model>/style_sampling).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from bench_output import save_results  # noqa: E402

from doc_hvae.data.batching import DocCollator  # noqa: E402
from doc_hvae.data.prepare import PreparedCorpus  # noqa: E402
from doc_hvae.generation import DEFAULT_SAMPLING, SamplingConfig, seeded_generator  # noqa: E402
from doc_hvae.modeling.loading import load_model, prepared_dir_of  # noqa: E402
from doc_hvae.style import (  # noqa: E402
    check_fluency_model,
    spread_references,
    style_consistency,
    train_label_classifiers,
)

# Name -> SamplingConfig fields over DEFAULT_SAMPLING. "Lower levels" are the paragraph and
# sentence latents, drawn from their priors given z_doc; temperature 0 takes the prior's mean.
SETTINGS = {
    "default": {},
    "lower_0.5": {"latent_temperature": {"paragraph": 0.5, "sentence": 0.5}},
    "lower_0": {"latent_temperature": {"paragraph": 0.0, "sentence": 0.0}},
    "tokens_0.7": {"temperature": 0.7},
    "tokens_0.7_lower_0.5": {"temperature": 0.7, "latent_temperature": {"paragraph": 0.5, "sentence": 0.5}},
    "tokens_0.7_lower_0": {"temperature": 0.7, "latent_temperature": {"paragraph": 0.0, "sentence": 0.0}},
    # Latent guidance (doc_hvae.guidance): g on the document level, the null z_doc = 0 (any model) or
    # the learned one (models trained with decoder_latent_null: learned), the plausibility cut at large g.
    **{f"guidance_{g}": {"guidance": {"document": g}} for g in (1.5, 2.0, 3.0, 5.0)},
    "guidance_5.0_cut_0.1": {"guidance": {"document": 5.0}, "guidance_plausibility": 0.1},
    "guidance_3.0_paragraph_2.0": {"guidance": {"document": 3.0, "paragraph": 2.0}},
    **{
        f"guidance_{g}_learned": {"guidance": {"document": g}, "guidance_null": "learned"} for g in (1.5, 2.0, 3.0, 5.0)
    },
    # Prior samples' z_doc from the mixture fitted to the training windows (doc_hvae.document_prior); style
    # samples take the reference's z_doc either way, so only the prior columns can move.
    "prior_fitted": {"document_prior": "fitted"},
    **{
        f"guidance_{g}_prior_fitted": {"guidance": {"document": g}, "document_prior": "fitted"}
        for g in (1.5, 1.75, 2.0, 3.0)
    },
    # Best of N by the model's own encoder: of N documents decoded per z_doc, the one whose re-encoded z_doc is nearest.
    **{
        f"guidance_2.0_prior_fitted_best_of_{n}": {
            "guidance": {"document": 2.0},
            "document_prior": "fitted",
            "candidates": n,
        }
        for n in (2, 4)
    },
}

COLUMNS = [
    ("retrieval: style", "style_retrieval_accuracy"),
    ("retrieval: prior", "prior_retrieval_accuracy"),
    ("retrieval, same label: style", "style_retrieval_same_label"),
    ("agreement: style", "style_label_agreement"),
    ("agreement: prior", "prior_label_agreement"),
    ("within-doc: style", "style_within_document_consistency"),
    ("within-doc: prior", "prior_within_document_consistency"),
    ("agreement by char: style", "style_char_label_agreement"),
    ("agreement by char: prior", "prior_char_label_agreement"),
    ("within-doc by char: style", "style_char_within_document_consistency"),
    ("within-doc by char: prior", "prior_char_within_document_consistency"),
    ("TF-IDF retrieval: style", "style_tfidf_retrieval_accuracy"),
    ("TF-IDF retrieval: ceiling", "references_half_tfidf_retrieval_accuracy"),
    # The reference values at the samples' length (doc_hvae.style.cut_to_shape): real text judged as long as the samples.
    ("agreement: real at the samples' length", "references_matched_label_agreement"),
    ("agreement by char: real at the samples' length", "references_matched_char_label_agreement"),
    ("within-doc: real at the samples' length", "references_matched_within_document_consistency"),
    ("TF-IDF retrieval: ceiling at the samples' length", "references_matched_half_tfidf_retrieval_accuracy"),
    ("distinct-2: style", "style_distinct_2"),
    ("distinct-2: prior", "prior_distinct_2"),
    ("self-BLEU: style", "style_self_bleu"),
    ("fluency PPL: style", "style_fluency_ppl"),
    ("fluency PPL: prior", "prior_fluency_ppl"),
    ("decoding tokens/s", "decoding_tokens_per_second"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a save_pretrained folder with a document level")
    parser.add_argument(
        "--fluency-model", default=None, help="a flat LM (levels=[]) trained on the same prepared corpus: fluency PPL"
    )
    parser.add_argument(
        "--settings",
        nargs="*",
        default=None,
        choices=list(SETTINGS),
        help="default: every setting the model can run (the learned null's only for a model trained with one, the "
        "fitted document prior's only for a model with one)",
    )
    parser.add_argument("--split", default="test")
    parser.add_argument("--references-count", type=int, default=20)
    parser.add_argument("--per-reference", type=int, default=5)
    parser.add_argument("--max-paragraphs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = load_model(args.model).eval()
    if args.settings is None:
        args.settings = [
            name
            for name, fields in SETTINGS.items()
            if (fields.get("guidance_null") != "learned" or len(model.decoder.null_latents))
            and (fields.get("document_prior") != "fitted" or model.fitted_document_prior is not None)
        ]
    corpus = PreparedCorpus(prepared_dir_of(args.model))
    collator = DocCollator.for_model(model.config)
    references = spread_references(corpus.dataset[args.split], args.references_count)
    fluency_model = load_model(args.fluency_model).eval() if args.fluency_model else None
    if fluency_model is not None:
        check_fluency_model(model, fluency_model)  # before the classifiers are trained
    classifiers = train_label_classifiers(corpus.dataset["train"], corpus.tokenizer, seed=args.seed)  # word and char
    if not classifiers:
        print("The corpus has no labels: label agreement and within-document consistency are not measured.")

    output = args.output or Path(args.model) / "style_sampling"
    results = {}
    for name in args.settings:
        fields = {
            **DEFAULT_SAMPLING,
            "max_paragraphs": args.max_paragraphs,
            "max_tokens": args.max_tokens,
            **SETTINGS[name],
        }
        started = time.perf_counter()
        result = style_consistency(
            model,
            references,
            collator,
            corpus.tokenizer,
            args.per_reference,
            SamplingConfig(**fields),
            seeded_generator(args.seed),
            classifiers=classifiers,
            fluency_model=fluency_model,
        )
        result.pop("samples")
        results[name] = {"sampling": fields, "seconds": time.perf_counter() - started, **result}
        print(
            f"[{name}] "
            + ", ".join(f"{label} {result.get(key, float('nan')):.2f}" for label, key in COLUMNS)
            + f" ({results[name]['seconds']:.0f} s)",
            flush=True,
        )
        save_results(
            output, results, table_of(args, results)
        )  # after every setting: a stopped run keeps what it measured


def cell(result: dict, key: str) -> str:
    """A number; a share of the generated documents (agreement, retrieval) with its binomial standard error."""
    value = result.get(key, float("nan"))
    if (
        key.endswith(("_label_agreement", "_retrieval_accuracy"))
        and key.startswith(("style_", "prior_"))
        and value == value
    ):
        documents = result["references"] * result["per_reference"]
        return f"{value:.2f} ± {math.sqrt(value * (1 - value) / documents):.2f}"
    return f"{value:.2f}"


def table_of(args, results: dict) -> list[str]:
    first = next(iter(results.values()))
    table = [
        f"Style consistency of {args.model} by sampling setting: {args.references_count} references from the {args.split} split, "
        f"{args.per_reference} documents each, chance retrieval {first['chance']:.2f}, majority label {first.get('majority_label_rate', float('nan')):.2f}, "
        f"real documents' within-document consistency {first.get('references_within_document_consistency', float('nan')):.2f}, "
        f"retrieval of references' second halves by their first halves {first.get('references_half_retrieval_accuracy', float('nan')):.2f} (the ceiling; "
        "z_doc retrieval is the model's own view, TF-IDF retrieval is independent of the model). "
        f"Real references: within-document consistency by char {first.get('references_char_within_document_consistency', float('nan')):.2f}, "
        f"distinct-2 {first['references_distinct_2']:.2f} and self-BLEU {first['references_self_bleu']:.1f} ({first['diversity_texts']} texts per set), "
        f"fluency PPL {first.get('references_fluency_ppl', float('nan')):.2f}.",
        "",
        "| setting | " + " | ".join(label for label, _ in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for name, result in results.items():
        table.append(f"| {name} | " + " | ".join(cell(result, key) for _, key in COLUMNS) + " |")
    return table


if __name__ == "__main__":
    main()
