"""Evaluate a trained DocHVAE (or flat LM) on a split: every metric of docs/metrics.md.

    python recipes/evaluate_docs.py --model outputs/wikitext2/final --split test --k 100 --output outputs/wikitext2/eval_test
    python recipes/evaluate_docs.py --config recipes/configs/evaluate_test.yaml --model outputs/wikitext2/final --k 20

Writes report.json (numbers, definitions and settings), report.md, and plots (KL per dimension
and active units per level; KL per level over training when --log is given), and latent maps:
2D maps of the z_doc posterior means (coloured by label where documents have one) and of the z_par
means (coloured by document), latent_map_*.png, with every point's coordinates, document id and
label in latent_map.json (`doc_hvae.latent_map.LatentMap.from_dict` reloads a PCA map's projection).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from doc_hvae.cli import HelpFormatter, parse_args_with_config, run_cli
from doc_hvae.data.batching import DocCollator
from doc_hvae.data.prepare import PreparedCorpus
from doc_hvae.evaluation import EvalSettings, evaluate, format_report
from doc_hvae.latent_map import format_latent_maps
from doc_hvae.modeling.loading import load_model, prepared_dir_of
from doc_hvae.plots import plot_latent_maps, plot_report


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--model", required=True, help="a save_pretrained folder (output_dir/final of a training run)")
    parser.add_argument(
        "--data", default=None, help="prepared corpus folder (default: the one the model was trained on)"
    )
    parser.add_argument("--split", default="test", help="dataset split")
    parser.add_argument(
        "--k", type=int, default=100, help="importance samples for the IW NLL (0 skips it; default 100)"
    )
    parser.add_argument("--iw-chunk", type=int, default=25, help="importance samples per forward pass")
    parser.add_argument("--max-tokens", type=int, default=8192, help="token budget of a batch of distinct documents")
    parser.add_argument("--max-documents", type=int, default=None, help="evaluate the first N windows only")
    parser.add_argument("--bleu-documents", type=int, default=50, help="greedy reconstructions for BLEU (0 skips)")
    parser.add_argument(
        "--no-level-use", action="store_true", help="skip the level-use passes (information use and prior substitution)"
    )
    parser.add_argument(
        "--latent-map",
        default="pca",
        choices=["pca", "umap", "none"],
        help="2D maps of the z_doc and z_par posterior means: PCA, UMAP (needs umap-learn) or none",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--log", default=None, help="the run's log.jsonl, to plot KL per level over training")
    parser.add_argument("--output", default=None, help="output folder (default: <model>/eval_<split>)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parse_args_with_config(parser, argv)


def _eval_settings(args: argparse.Namespace) -> EvalSettings:
    """The evaluation settings of the flags; --latent-map umap without umap-learn ends here, in one line."""
    try:
        return EvalSettings(
            iw_samples=args.k,
            iw_chunk=args.iw_chunk,
            max_tokens=args.max_tokens,
            level_use=not args.no_level_use,
            bleu_documents=args.bleu_documents,
            seed=args.seed,
            latent_map=None if args.latent_map == "none" else args.latent_map,
        )
    except ImportError as error:
        raise SystemExit(f"--latent-map {args.latent_map}: {error}") from error


def _report_settings(args: argparse.Namespace, data_dir, device: str) -> dict:
    """What report.json records of the run: model, data, split and the settings that change the numbers."""
    return {
        "model": str(args.model),
        "data": str(data_dir),
        "split": args.split,
        "k": args.k,
        "seed": args.seed,
        "max_documents": args.max_documents,
        "device": device,
        "threads": torch.get_num_threads(),
        "latent_map": args.latent_map,
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = _eval_settings(args)  # before the model loads: --latent-map umap without umap-learn ends here
    model = load_model(args.model)
    data_dir = args.data or prepared_dir_of(args.model)
    corpus = PreparedCorpus(data_dir)
    if args.split not in corpus.dataset:
        raise SystemExit(f"--split {args.split!r} is not in {data_dir} (splits: {list(corpus.dataset)})")
    dataset = corpus.dataset[args.split]
    if args.max_documents:
        dataset = dataset.select(range(min(args.max_documents, len(dataset))))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    collator = DocCollator.for_model(model.config)
    started = time.perf_counter()
    report = evaluate(model, dataset, collator, settings, tokenizer=corpus.tokenizer)
    report["settings"] = _report_settings(args, data_dir, device)
    latent_map = report.pop("latent_map", None)  # points and projections: latent_map.json, not report.json

    output = Path(args.output or Path(args.model) / f"eval_{args.split}")
    output.mkdir(parents=True, exist_ok=True)
    (output / "report.json").write_text(json.dumps(report, indent=2))
    markdown = format_report(report, f"{Path(args.model)} on {args.split}")
    plots = plot_report(report, output, log=args.log)
    if latent_map is not None:
        (output / "latent_map.json").write_text(json.dumps(latent_map, indent=2))
        maps = plot_latent_maps(latent_map, output)
        markdown += "\n\n" + format_latent_maps(latent_map, maps)
        plots += maps
    (output / "report.md").write_text(markdown + "\n")
    print(markdown)
    print(
        f"\nEvaluated {report['documents']:,} windows ({report['tokens']:,} tokens) in {time.perf_counter() - started:.0f} s. "
        f"Wrote {output}/report.json, report.md"
        + (", latent_map.json" if latent_map is not None else "")
        + (", " + ", ".join(p.name for p in plots) if plots else "")
    )
    return report


def run(argv=None) -> None:
    """The console script (`doc-hvae-evaluate`): `main` with readable errors."""
    run_cli(main, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    run()
