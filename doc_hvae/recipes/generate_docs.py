"""Generate documents with a trained DocHVAE.

    python recipes/generate_docs.py --model outputs/wikitext2/final --mode prior --num-documents 4
    python recipes/generate_docs.py --model M --mode style --references 0 5 9 --per-reference 3
    python recipes/generate_docs.py --model M --mode style --reference-file my_text.txt
    python recipes/generate_docs.py --model M --mode reconstruct --references 0 1
    python recipes/generate_docs.py --model M --mode continue --reference-file my_text.txt --per-reference 2   (the next paragraphs)
    python recipes/generate_docs.py --model M --mode interpolate --references 0 1 --level document --steps 5
    python recipes/generate_docs.py --model M --mode swap --references 0 1      (each keeps its lower latents, takes the other's z_doc)
    python recipes/generate_docs.py --model M --mode style-consistency --references-count 20 --per-reference 5
    python recipes/generate_docs.py --model M --mode style --references 0 --guidance document=3   (latent guidance)
    python recipes/generate_docs.py --model M --mode prior --document-prior fitted   (z_doc where the documents are)
    python recipes/generate_docs.py --model M --mode style --references 0 --candidates 4   (best of 4 by z_doc)
    python recipes/generate_docs.py --config recipes/configs/generate_style.yaml --model M --temperature 0.7

Every flag can also come from a YAML file (--config; keys are the flags' names), which flags override.

References are windows of a prepared split (by index, --split, default test) or raw text files.
Writes readable text (paragraphs separated by blank lines) and JSON lines with the settings, to
generated_<mode>.txt / .jsonl in the working directory unless --output names another stem.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from doc_hvae.cli import HelpFormatter, parse_args_with_config, run_cli
from doc_hvae.config import LEVELS
from doc_hvae.data.batching import DocCollator
from doc_hvae.data.document import SkipReport
from doc_hvae.data.prepare import LimitsConfig, PreparedCorpus, rows_from_documents
from doc_hvae.data.readers import document_from_text, read_text_file
from doc_hvae.data.tokenizer import load_tokenizer
from doc_hvae.generation import (
    DEFAULT_SAMPLING,
    DOCUMENT_PRIORS,
    SamplingConfig,
    continue_documents,
    document_text,
    generate_in_style,
    interpolate,
    recommended_sampling_config,
    reconstruct,
    row_text,
    sample_prior,
    seeded_generator,
    swap,
)
from doc_hvae.metrics import generation_diversity
from doc_hvae.modeling.loading import load_model, prepared_dir_of, recommended_sampling
from doc_hvae.style import spread_references, style_consistency, train_label_classifiers

SAMPLING_FLAGS = (
    "temperature",
    "top_k",
    "top_p",
    "guidance_null",
    "guidance_plausibility",
    "document_prior",
    "candidates",
    "max_paragraphs",
    "max_sentences",
    "max_tokens",
)
MODES = ("prior", "style", "continue", "reconstruct", "interpolate", "swap", "style-consistency")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--model", required=True, help="a save_pretrained folder (output_dir/final of a training run)")
    parser.add_argument("--mode", choices=MODES, default="prior", help="what to generate")
    _add_reference_flags(parser)
    _add_mode_flags(parser)
    # Sampling flags left unset take the model's recommended sampling (its training config's `sampling`, over the defaults).
    _add_sampling_flags(parser)
    _add_guidance_flags(parser)
    _add_bound_flags(parser)
    parser.add_argument(
        "--fluency-model",
        default=None,
        help="style-consistency: a flat LM trained on the same corpus (e.g. outputs/gutenberg_flat_lm/final); "
        "reports the perplexity of the generated texts under it",
    )
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same documents")
    parser.add_argument(
        "--output", default=None, help="output file stem (default: generated_<mode> in the working directory)"
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parse_args_with_config(parser, argv)


def _add_reference_flags(parser: argparse.ArgumentParser) -> None:
    """Where the references come from: windows of a prepared split, or raw text files."""
    parser.add_argument(
        "--data", default=None, help="prepared corpus for references (default: the model's training corpus)"
    )
    parser.add_argument("--split", default="test", help="the split of the prepared corpus the references come from")
    parser.add_argument(
        "--references", type=int, nargs="*", default=None, help="indices of reference windows in --split"
    )
    parser.add_argument(
        "--reference-file", nargs="*", default=None, help="raw text files as references (blank-line paragraphs)"
    )
    parser.add_argument(
        "--references-count", type=int, default=20, help="style-consistency: R references (spread over the split)"
    )


def _add_mode_flags(parser: argparse.ArgumentParser) -> None:
    """How many documents each mode makes, and the modes' own settings."""
    parser.add_argument("--num-documents", type=int, default=4, help="prior: how many documents")
    parser.add_argument("--per-reference", type=int, default=3, help="style and continue: documents per reference")
    parser.add_argument(
        "--prefix-paragraphs",
        type=int,
        default=None,
        help="continue: the reference's first N paragraphs are the prefix (default: all of its window)",
    )
    parser.add_argument("--level", choices=LEVELS, default="document", help="interpolate: the level to interpolate")
    parser.add_argument("--steps", type=int, default=5, help="interpolate: points on the line, endpoints included")
    parser.add_argument(
        "--posterior", choices=("mean", "sample"), default="mean", help="reference latents: posterior mean or a sample"
    )


def _add_sampling_flags(parser: argparse.ArgumentParser) -> None:
    """Token and latent sampling."""
    parser.add_argument(
        "--temperature",
        type=float,
        default=None,
        help=f"token temperature (0 = greedy; default {DEFAULT_SAMPLING['temperature']})",
    )
    parser.add_argument("--top-k", type=int, default=None, help="keep the k most likely tokens (0 = off; default 0)")
    parser.add_argument(
        "--top-p", type=float, default=None, help=f"nucleus sampling (default {DEFAULT_SAMPLING['top_p']})"
    )
    parser.add_argument(
        "--latent-temperature", nargs="*", default=None, metavar="LEVEL=T", help="e.g. document=0.8 sentence=0.5"
    )
    parser.add_argument(
        "--document-prior",
        choices=DOCUMENT_PRIORS,
        default=None,
        help="where prior samples' z_doc comes from: trained (N(0, I), the default) or fitted (the mixture that "
        "training or recipes/fit_prior.py saved beside the model)",
    )
    parser.add_argument(
        "--candidates",
        type=int,
        default=None,
        help="best of N: decode N documents per z_doc and keep the one the encoder puts nearest it (prior and style "
        "modes; N times the decoding; default 1)",
    )


def _add_guidance_flags(parser: argparse.ArgumentParser) -> None:
    """Latent guidance: the conditional and unguided branches combined."""
    parser.add_argument(
        "--guidance",
        nargs="*",
        default=None,
        metavar="LEVEL=G",
        help="latent guidance: per level the scale g of l_u + g (l_c - l_u), e.g. document=3 (1 = unguided)",
    )
    parser.add_argument(
        "--guidance-null",
        choices=("zero", "learned"),
        default=None,
        help="the unguided branch's latent: zero (any model) or learned (a model trained with decoder_latent_null: learned)",
    )
    parser.add_argument(
        "--guidance-plausibility",
        type=float,
        default=None,
        metavar="ALPHA",
        help="with guidance, keep only tokens with p >= ALPHA x the most likely token's p (0 = off)",
    )


def _add_bound_flags(parser: argparse.ArgumentParser) -> None:
    """Bounds of every generated document."""
    parser.add_argument(
        "--max-paragraphs", type=int, default=None, help=f"per document (default {DEFAULT_SAMPLING['max_paragraphs']})"
    )
    parser.add_argument(
        "--max-sentences", type=int, default=None, help=f"per paragraph (default {DEFAULT_SAMPLING['max_sentences']})"
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help=f"per paragraph, per sentence with a sentence decoder context (default {DEFAULT_SAMPLING['max_tokens']})",
    )


def per_level(flag: str, items, example: str) -> dict[str, float]:
    """LEVEL=FLOAT items of a flag as a dict (a YAML config's mapping arrives as such items)."""
    values = {}
    for item in items:
        level, _, value = item.partition("=")
        try:
            values[level] = float(value)
        except ValueError:
            raise SystemExit(f"{flag} {item!r}: expected LEVEL=FLOAT, e.g. {example}") from None
    return values


def sampling_config(args, recommended: dict | None = None) -> SamplingConfig:
    """The flags that were given, over the model's recommended sampling, over DEFAULT_SAMPLING."""
    given = {name: getattr(args, name) for name in SAMPLING_FLAGS if getattr(args, name) is not None}
    if args.latent_temperature is not None:
        given["latent_temperature"] = per_level("--latent-temperature", args.latent_temperature, "document=0.8")
    if args.guidance is not None:
        given["guidance"] = per_level("--guidance", args.guidance, "document=3")
    return recommended_sampling_config({**(recommended or {}), **given})


def reference_rows(args, corpus: PreparedCorpus) -> list[dict]:
    if args.reference_file:
        report = SkipReport()
        limits = LimitsConfig(**corpus.statistics["limits"]) if corpus.statistics.get("limits") else LimitsConfig()
        documents = []
        for path in args.reference_file:
            documents.append(document_from_text(read_text_file(path, report), Path(path).name, report=report))
        rows = rows_from_documents(documents, corpus.tokenizer, limits, report, corpus.encoder_tokenizer)
        if report.counts:
            print(f"Reference files, skipped or changed:\n{report.format()}")
        return rows
    split = corpus.dataset[args.split]
    indices = args.references if args.references is not None else [0, 1]
    bad = [i for i in indices if not 0 <= i < len(split)]
    if bad:
        raise SystemExit(
            f"--references {bad}: the {args.split} split has {len(split)} windows (indices 0..{len(split) - 1})"
        )
    return [split[i] for i in indices]


def prefix_row(row: dict, paragraphs: int | None) -> dict:
    """The row of a reference's first `paragraphs` paragraphs (all of them with None)."""
    if paragraphs is None:
        return row
    if paragraphs < 1:
        raise SystemExit(f"--prefix-paragraphs {paragraphs}: give at least 1")
    kept = row["paragraphs"][:paragraphs]
    return {**row, "paragraphs": kept, "num_tokens": sum(len(s) + 1 for p in kept for s in p)}


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    model = load_model(args.model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    # Prior samples need only the tokenizer saved beside the model; references need the corpus.
    corpus = (
        None if args.mode == "prior" and not args.data else PreparedCorpus(args.data or prepared_dir_of(args.model))
    )
    tokenizer = corpus.tokenizer if corpus is not None else load_tokenizer(args.model)
    sampling = sampling_config(args, recommended_sampling(args.model))
    generator = seeded_generator(args.seed, device)
    started = time.perf_counter()
    if args.mode == "style-consistency":
        records = [consistency_record(args, model, corpus, tokenizer, sampling, generator)]
    else:
        records = generated_records(args, model, corpus, tokenizer, sampling, generator)
        show_records(records)
    settings = {"model": args.model, "mode": args.mode, "seed": args.seed, **{k: v for k, v in vars(sampling).items()}}
    stem = Path(args.output or f"generated_{args.mode}")  # the export folder stays as training wrote it
    stem.parent.mkdir(parents=True, exist_ok=True)
    with open(stem.with_suffix(".jsonl"), "w") as jsonl:
        for record in records:
            jsonl.write(json.dumps({**record, "settings": settings}) + "\n")
    if args.mode != "style-consistency":
        stem.with_suffix(".txt").write_text("\n\n\n".join(r["text"] for r in records) + "\n")
    print(
        f"\n{len(records)} record(s) in {time.perf_counter() - started:.1f} s; wrote {stem}.jsonl"
        + ("" if args.mode == "style-consistency" else f" and {stem}.txt")
    )
    return records


def consistency_record(args, model, corpus: PreparedCorpus, tokenizer, sampling: SamplingConfig, generator) -> dict:
    """--mode style-consistency: the judges' numbers (printed) and the samples they judged."""
    references = spread_references(corpus.dataset[args.split], args.references_count)
    fluency_model = load_model(args.fluency_model).to(model.device).eval() if args.fluency_model else None
    classifiers = train_label_classifiers(corpus.dataset["train"], tokenizer, seed=args.seed)
    result = style_consistency(
        model,
        references,
        DocCollator.for_model(model.config),
        tokenizer,
        args.per_reference,
        sampling,
        generator,
        classifiers=classifiers,
        fluency_model=fluency_model,
    )
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    for sample in result["samples"]:
        print(f"\n--- in the style of {sample['reference']} ({sample['label']}) ---\n{sample['text']}")
    return result


def generated_records(
    args, model, corpus: PreparedCorpus | None, tokenizer, sampling: SamplingConfig, generator
) -> list[dict]:
    """One record per generated document of --mode (its text, and the reference it was written from)."""
    if args.mode == "prior":
        return [
            {"mode": "prior", "text": document_text(d, tokenizer)}
            for d in sample_prior(model, args.num_documents, sampling, generator)
        ]
    rows = reference_rows(args, corpus)
    if args.mode == "continue":
        rows = [prefix_row(row, args.prefix_paragraphs) for row in rows]
    batch = DocCollator.for_model(model.config)(rows).to(model.device)
    ids = [row.get("id") for row in rows]

    def written_from(r: int, document) -> dict:
        return {
            "mode": args.mode,
            "reference": ids[r],
            "source": row_text(rows[r], tokenizer),
            "text": document_text(document, tokenizer),
        }

    if args.mode == "style":
        groups = generate_in_style(model, batch, args.per_reference, sampling, mode=args.posterior, generator=generator)
        return [written_from(r, d) for r, docs in enumerate(groups) for d in docs]
    if args.mode == "continue":
        return [
            written_from(r, d)
            for r, docs in enumerate(continue_documents(model, batch, args.per_reference, sampling, generator))
            for d in docs
        ]
    if args.mode == "reconstruct":
        return [
            written_from(i, d)
            for i, d in enumerate(reconstruct(model, batch, sampling, mode=args.posterior, generator=generator))
        ]
    if args.mode == "interpolate":
        documents = interpolate(model, batch, args.level, args.steps, sampling, generator)
        return [
            {
                "mode": "interpolate",
                "level": args.level,
                "between": ids,
                "weight": i / (args.steps - 1),
                "text": document_text(d, tokenizer),
            }
            for i, d in enumerate(documents)
        ]
    donors = [(i + 1) % len(rows) for i in range(len(rows))]  # swap: every document takes the next one's z_doc
    return [
        {"mode": "swap", "reference": ids[i], "z_doc_from": ids[donors[i]], "text": document_text(d, tokenizer)}
        for i, d in enumerate(swap(model, batch, donors, sampling, generator))
    ]


def show_records(records: list[dict]) -> None:
    """Each reference once, before what was written from it; then the set's diversity (added to every record)."""
    shown_sources = set()
    for record in records:
        header = ", ".join(f"{k}={v}" for k, v in record.items() if k not in ("text", "source"))
        if "source" in record and record["reference"] not in shown_sources:
            shown_sources.add(record["reference"])
            print(f"\n=== reference {record['reference']} ===\n{record['source']}")
        print(f"\n=== {header} ===\n{record['text']}")
    diversity = generation_diversity([record["text"] for record in records])
    print(
        "\nDiversity of the generated documents: "
        + ", ".join(f"{name} {value:.3f}" for name, value in diversity.items())
    )
    for record in records:
        record["diversity_of_set"] = diversity


def run(argv=None) -> None:
    """The console script (`doc-hvae-generate`): `main` with readable errors."""
    run_cli(main, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    run()
