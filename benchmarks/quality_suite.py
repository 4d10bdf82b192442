#!/usr/bin/env python
"""Train and evaluate every variant of a suite with the same decoder, tokenizer and token budget.

    python benchmarks/quality_suite.py --suite wikitext2 [--variants flat_lm three_level] [--k 100] [--max-steps 1200]
    python benchmarks/quality_suite.py --suite ptb
    python benchmarks/quality_suite.py --suite quickstart_levers --k 10      # the latent-use ablation
    python benchmarks/quality_suite.py --suite gutenberg_style --k 5         # + style consistency of generations

A suite is a YAML file, benchmarks/suites/<suite>.yaml: the training config it starts from
(`config`), overrides for every variant (`overrides`), each variant's own (`variants`), and how
its models are evaluated (`evaluation`, `max_steps`). An override is a `key=value` of
recipes/train_docs.py or the name of a lever in benchmarks/levers.yaml (a named list of them), so
each variant is the suite's config, then the suite's overrides, then the variant's (only the
latent levels differ). It trains with `accelerate launch recipes/train_docs.py`, evaluates the test
split with `recipes/evaluate_docs.py` (and, in a suite with `evaluation.style_consistency`, every
model with a document level with `recipes/generate_docs.py --mode style-consistency`), and the
suite ends with one comparison table (Markdown and JSON) under `--output` (default
outputs/bench/<suite>). Finished variants (and their evaluations and style runs, when the command
is the same) are reused unless --retrain.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import Field

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from compare_reports import compare  # noqa: E402

from doc_hvae.config_loading import StrictModel, validate_config  # noqa: E402

SUITES = REPO / "benchmarks" / "suites"
LEVERS = REPO / "benchmarks" / "levers.yaml"


class Evaluation(StrictModel):
    """How a suite evaluates its models; the command line's flags override these."""

    k: int = Field(100, ge=1)  # importance samples for the test IW NLL
    max_documents: int | None = Field(None, ge=1)  # the first N test windows only
    bleu_documents: int | None = Field(
        None, ge=0
    )  # greedy reconstructions for BLEU (evaluate_docs.py's default; 0 skips)
    style_consistency: dict[str, int | float | str] | None = None  # generate_docs.py's flags (keys with underscores)
    literature_units: bool = False  # also NLL per sentence and word PPL over words + EOS (one sentence per document)


class Suite(StrictModel):
    config: str  # the training config, relative to the repository
    max_steps: int | None = Field(None, ge=1)  # training.max_steps of every variant, unless --max-steps
    evaluation: Evaluation = Field(default_factory=Evaluation)
    overrides: list[str] = Field(default_factory=list)  # before every variant's own
    variants: dict[str, list[str]]


class Levers(StrictModel):
    levers: dict[str, list[str]]


def suite_names() -> list[str]:
    return sorted(path.stem for path in SUITES.glob("*.yaml"))


def load_suite(name: str) -> Suite:
    """benchmarks/suites/<name>.yaml, validated."""
    path = SUITES / f"{name}.yaml"
    if not path.is_file():
        raise SystemExit(f"unknown suite {name!r}; the suites are {suite_names()} (benchmarks/suites/<suite>.yaml)")
    return validate_config(Suite, yaml.safe_load(path.read_text()), str(path.relative_to(REPO)))


def load_levers() -> dict[str, list[str]]:
    return validate_config(Levers, {"levers": yaml.safe_load(LEVERS.read_text())}, str(LEVERS.relative_to(REPO))).levers


def expand(items: list[str], levers: dict[str, list[str]], seen: tuple[str, ...] = ()) -> list[str]:
    """`key=value` overrides as they are, lever names as their overrides (recursively), in order."""
    overrides = []
    for item in items:
        if "=" in item:
            overrides.append(item)
        elif item in seen:
            raise SystemExit(f"lever {item!r} names itself through {' -> '.join(seen)}; fix benchmarks/levers.yaml")
        elif item in levers:
            overrides += expand(levers[item], levers, (*seen, item))
        else:
            raise SystemExit(
                f"{item!r} is neither a key=value override nor a lever; the levers are {sorted(levers)} (benchmarks/levers.yaml)"
            )
    return overrides


def select_variants(suite_name: str, suite: Suite, names: list[str] | None) -> list[str]:
    """`names` (all of the suite's when None), each checked against the suite."""
    names = names or list(suite.variants)
    unknown = [name for name in names if name not in suite.variants]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; {suite_name} has {list(suite.variants)}")
    return names


def variant_overrides(
    suite: Suite, name: str, output: Path, seed: int, max_steps: int | None = None, extra: Sequence[str] = ()
) -> list[str]:
    """What a variant trains with: the suite's overrides, the variant's, `extra`, its output directory, the seed."""
    variant = [
        override.replace("{output}", str(output))
        for override in expand([*suite.overrides, *suite.variants[name]], load_levers())
    ]
    overrides = [*variant, *extra, f"training.output_dir={output / name}", f"training.seed={seed}"]
    if max_steps or suite.max_steps:
        overrides.append(f"training.max_steps={max_steps or suite.max_steps}")
    return overrides


def style_arguments(evaluation: Evaluation) -> list[str]:
    """`evaluation.style_consistency` as generate_docs.py's flags (`references_count: 20` as `--references-count 20`)."""
    return [
        part
        for key, value in (evaluation.style_consistency or {}).items()
        for part in (f"--{key.replace('_', '-')}", str(value))
    ]


def run(command: list[str], log: Path, env: dict | None = None) -> float:
    """Run a command, streaming its output to a log file; return its wall time (s)."""
    started = time.perf_counter()
    with open(log, "w") as handle:
        process = subprocess.run(
            command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, **(env or {})}
        )
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(command)}\nsee {log}:\n" + log.read_text()[-3000:])
    return time.perf_counter() - started


def run_unless_done(command: list[str], record: Path, log: Path, what: str, retrain: bool) -> None:
    """Run `command` unless `record` says the same command already ran on this model (evaluation
    and generation are deterministic given the seed, so their outputs are reused)."""
    if not retrain and record.is_file() and json.loads(record.read_text()) == command[1:]:
        print(f"{what}: reusing the output of the same command ({record})", flush=True)
        return
    print(f"{what} ...", flush=True)
    run(command, log)
    record.write_text(json.dumps(command[1:]))


def literature_units(report: dict, sentences: int) -> dict:
    """PTB papers report NLL per sentence and word PPL over words plus one end-of-sentence per sentence."""
    nll = report.get("nll_iw_per_document", report["nll_elbo_per_document"]) * report["documents"]
    return {
        "nll_per_sentence": nll / sentences,
        "word_ppl_words_plus_eos": math.exp(nll / (report["words"] + sentences)),
    }


def train(args, suite: Suite, output: Path, name: str, overrides: list[str]) -> dict:
    """Train the variant unless a finished model of the same overrides exists; its training record."""
    run_dir = output / name
    entry = {"overrides": overrides}
    recorded = run_dir / "suite_overrides.json"
    finished = (run_dir / "final" / "model.safetensors").is_file()
    if finished and not args.retrain and recorded.is_file() and json.loads(recorded.read_text()) != overrides:
        raise SystemExit(
            f"{run_dir} was trained with other overrides ({recorded.read_text()}); pass --retrain or another --output"
        )
    if args.retrain or not finished:
        shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run never mixes with an earlier one
        run_dir.mkdir(parents=True)
        recorded.write_text(json.dumps(overrides))
        print(f"[{name}] training ({' '.join(overrides)}) ...", flush=True)
        launch = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--num_processes",
            "1",
            "--num_cpu_threads_per_process",
            str(args.threads),
        ]
        # The end-of-training IW validation is skipped: the suite's own test evaluation replaces
        # it, and it changes nothing in the model (so it is not part of the recorded overrides).
        command = [*launch, "recipes/train_docs.py", "--config", suite.config, *overrides, "training.iw_samples=0"]
        entry["train_seconds"] = run(command, output / f"{name}.train.log")
    records = [
        json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if "tokens_per_second" in line
    ]
    entry["train_tokens_per_second"] = sum(r["tokens_per_second"] for r in records[1:]) / max(len(records) - 1, 1)
    return entry


def evaluate(args, evaluation: Evaluation, output: Path, name: str, entry: dict) -> None:
    """The test evaluation (and, with a document level, the style consistency) of a trained variant, into `entry`."""
    run_dir = output / name
    command = [
        sys.executable,
        "recipes/evaluate_docs.py",
        "--model",
        str(run_dir / "final"),
        "--split",
        "test",
        "--k",
        str(evaluation.k),
        "--seed",
        str(args.seed),
        "--threads",
        str(args.threads),
        "--log",
        str(run_dir / "log.jsonl"),
        "--output",
        str(run_dir / "eval_test"),
    ]
    if evaluation.max_documents:
        command += ["--max-documents", str(evaluation.max_documents)]
    if evaluation.bleu_documents is not None:
        command += ["--bleu-documents", str(evaluation.bleu_documents)]
    run_unless_done(
        command,
        run_dir / "eval_test" / "suite_command.json",
        output / f"{name}.eval.log",
        f"[{name}] evaluating (k={evaluation.k})",
        args.retrain,
    )
    entry["report"] = json.loads((run_dir / "eval_test" / "report.json").read_text())
    if (
        evaluation.style_consistency
        and "document" in json.loads((run_dir / "final" / "config.json").read_text())["levels"]
    ):
        stem = run_dir / "style_consistency"
        generate = [
            sys.executable,
            "recipes/generate_docs.py",
            "--model",
            str(run_dir / "final"),
            "--mode",
            "style-consistency",
            *style_arguments(evaluation),
            "--seed",
            str(args.seed),
            "--output",
            str(stem),
        ]
        run_unless_done(
            generate,
            run_dir / "style_command.json",
            output / f"{name}.style.log",
            f"[{name}] style consistency",
            args.retrain,
        )
        record = json.loads(stem.with_suffix(".jsonl").read_text().splitlines()[0])
        entry["style"] = {
            key: value for key, value in record.items() if key not in ("samples", "settings", "definition")
        }


def speed_table(results: dict) -> list[str]:
    speed = [
        "| variant | train tokens/s | ratio to flat LM | eval documents/s | train wall (min) | eval wall (min) |",
        "|---|---|---|---|---|---|",
    ]
    flat = results.get("flat_lm", {}).get("train_tokens_per_second")
    for name, entry in results.items():
        ratio = f"{entry['train_tokens_per_second'] / flat:.2f}" if flat else "-"
        train_min = f"{entry['train_seconds'] / 60:.1f}" if "train_seconds" in entry else "(reused)"
        speed.append(
            f"| {name} | {entry['train_tokens_per_second']:,.0f} | {ratio} | {entry['report']['documents_per_second']:.2f} | {train_min} | {entry['report']['seconds'] / 60:.1f} |"
        )
    return speed


def style_section(styled: dict) -> list[str]:
    keys = [
        "style_retrieval_accuracy",
        "prior_retrieval_accuracy",
        "references_half_retrieval_accuracy",
        "style_retrieval_same_label",
        "style_label_agreement",
        "prior_label_agreement",
        "style_within_document_consistency",
        "prior_within_document_consistency",
        "references_within_document_consistency",
    ]
    lines = ["| variant | " + " | ".join(key.replace("_", " ") for key in keys) + " |", "|---|" + "---|" * len(keys)]
    lines += [
        f"| {name} | " + " | ".join(f"{style.get(key, float('nan')):.3f}" for key in keys) + " |"
        for name, style in styled.items()
    ]
    chance = next(iter(styled.values()))["chance"]
    return [
        "",
        f"Style consistency (retrieval chance {chance:.3f}; its ceiling: references' second halves finding their first halves; "
        "same label: the nearest reference has the owner's label; label agreement and consistency by the TF-IDF author classifier):",
        "",
        *lines,
    ]


def literature_section(results: dict) -> list[str]:
    lines = [
        "| variant | NLL / sentence (nats) | word PPL (words + EOS, literature) | word PPL (ours: words only) |",
        "|---|---|---|---|",
    ]
    for name, entry in results.items():
        report = entry["report"]
        units = literature_units(report, sentences=report["documents"])  # one sentence per document
        ours = report.get("word_ppl_iw") or report["word_ppl_elbo"]
        lines.append(
            f"| {name} | {units['nll_per_sentence']:.2f} | {units['word_ppl_words_plus_eos']:.2f} | {ours:.2f} |"
        )
        entry["literature_units"] = units
    return ["", "In the literature's units:", "", *lines]


def evaluation_settings(suite: Suite, args: argparse.Namespace) -> Evaluation:
    """The suite's evaluation, with the command line's flags where they are given."""
    flags = {"k": args.k, "max_documents": args.eval_max_documents, "bleu_documents": args.bleu_documents}
    return suite.evaluation.model_copy(update={key: value for key, value in flags.items() if value is not None})


def parse_arguments(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=suite_names(), default="wikitext2")
    parser.add_argument("--variants", nargs="*", default=None, help="subset of the suite's variants")
    parser.add_argument(
        "--k",
        type=int,
        default=None,
        help="importance samples for the test IW NLL (default: the suite's evaluation.k, 100)",
    )
    parser.add_argument("--max-steps", type=int, default=None, help="override training.max_steps for every variant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--eval-max-documents", type=int, default=None, help="evaluate on the first N test windows only"
    )
    parser.add_argument(
        "--bleu-documents",
        type=int,
        default=None,
        help="greedy reconstructions for BLEU (evaluate_docs.py's default; 0 skips)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--extra", nargs="*", default=[], help="overrides applied to every variant")
    parser.add_argument("--output", default=None)
    parser.add_argument("--retrain", action="store_true", help="train again even where a finished model exists")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_arguments(argv)
    suite = load_suite(args.suite)
    evaluation = evaluation_settings(suite, args)
    names = select_variants(args.suite, suite, args.variants)
    output = Path(args.output or REPO / "outputs" / "bench" / args.suite)
    output.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in names:
        overrides = variant_overrides(suite, name, output, args.seed, args.max_steps, args.extra)
        entry = results[name] = train(args, suite, output, name, overrides)
        evaluate(args, evaluation, output, name, entry)
        print(
            f"[{name}] PPL (ELBO) {entry['report']['ppl_elbo']:.2f}, PPL (IW) {entry['report'].get('ppl_iw', float('nan')):.2f}",
            flush=True,
        )

    table = compare({name: entry["report"] for name, entry in results.items()})
    sections = [
        f"## {args.suite}: test split, k = {evaluation.k}",
        "",
        table,
        "",
        "Speed (this machine, measured within each run):",
        "",
        *speed_table(results),
    ]
    styled = {name: entry["style"] for name, entry in results.items() if "style" in entry}
    if styled:
        sections += style_section(styled)
    if evaluation.literature_units:
        sections += literature_section(results)
    markdown = "\n".join(sections)
    (output / "results.md").write_text(markdown + "\n")
    (output / "results.json").write_text(
        json.dumps({"suite": args.suite, "k": evaluation.k, "seed": args.seed, "results": results}, indent=2)
    )
    print("\n" + markdown)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
