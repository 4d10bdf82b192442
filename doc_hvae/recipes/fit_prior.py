"""Fit a document prior to where a trained model's documents are, for prior samples.

    python recipes/fit_prior.py --model outputs/gutenberg_style/final
    python recipes/generate_docs.py --model outputs/gutenberg_style/final --mode prior --document-prior fitted

A Gaussian mixture over the posterior means of z_doc of the training windows (its number of
components chosen by BIC), saved beside the model as document_prior.safetensors; sampling with
document_prior: fitted draws z_doc from it instead of N(0, I) (doc_hvae.document_prior, and what it
buys in docs/findings.md#fitted-document-prior). Training writes one into output_dir/final; this
recipe fits one for an older export, another split or corpus, or other component counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from doc_hvae.cli import HelpFormatter, parse_args_with_config, run_cli
from doc_hvae.data.batching import DocCollator
from doc_hvae.data.prepare import PreparedCorpus
from doc_hvae.document_prior import COMPONENTS, FILE, fit_to_windows, format_fit_report
from doc_hvae.modeling.loading import load_model, prepared_dir_of


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--model", required=True, help="a save_pretrained folder with a document level")
    parser.add_argument(
        "--data", default=None, help="prepared corpus folder (default: the one the model was trained on)"
    )
    parser.add_argument("--split", default="train", help="the windows the mixture is fitted to")
    parser.add_argument(
        "--held-out-split", default="validation", help="windows to report the fit's log density on ('' skips)"
    )
    parser.add_argument(
        "--components", type=int, nargs="+", default=list(COMPONENTS), help="the counts BIC chooses among"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--output", default=None, help=f"folder to write {FILE} to (default: the model's folder)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parse_args_with_config(parser, argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model)
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    corpus = PreparedCorpus(args.data or prepared_dir_of(args.model))
    for flag, split in (("--split", args.split), ("--held-out-split", args.held_out_split)):
        if split and split not in corpus.dataset:
            raise SystemExit(f"{flag} {split!r}: the prepared corpus has splits {list(corpus.dataset)}")
    held_out = corpus.dataset[args.held_out_split] if args.held_out_split else ()
    started = time.perf_counter()
    print(
        f"Encoding {len(corpus.dataset[args.split]):,} {args.split} windows and {len(held_out):,} held out ...",
        flush=True,
    )
    prior, report = fit_to_windows(
        model, corpus.dataset[args.split], DocCollator.for_model(model.config), held_out, args.components, args.seed
    )
    path = prior.save_pretrained(args.output or args.model)
    print(json.dumps({"bic": report["bic"]}))
    print(f"{format_fit_report(report)}.\nWrote {path} in {time.perf_counter() - started:.1f} s.")
    return {**report, "path": str(path)}


def run(argv=None) -> None:
    """The console script (`doc-hvae-fit-prior`): `main` with readable errors."""
    run_cli(main, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    run()
