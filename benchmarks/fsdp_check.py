#!/usr/bin/env python
"""The training recipe under FSDP2 against DDP, on a machine with 2 or more GPUs.

    python benchmarks/fsdp_check.py [--gpus 2] [--steps 100] [--mixed-precision bf16]

Accelerate shards only on GPUs (on CPU `--use_fsdp` falls back to DDP; tests/test_fsdp.py checks the
sharded pieces with torch's `fully_shard` on CPU instead). This trains the quickstart recipe twice
with the same seed and steps, once with DDP and once with `--use_fsdp --fsdp_version 2`
(FULL_SHARD, GPT-2 blocks wrapped), both under `--mixed-precision`, then evaluates each
export with recipes/evaluate_docs.py. It checks that the FSDP run trains, validates, samples and
exports (its export loads and evaluates), prints both runs' numbers side by side, and exits
non-zero if the FSDP run fails or its validation PPL is more than --tolerance (relative) from DDP's.
Results: a Markdown table and JSON under --output.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def launch(name: str, args, extra_launch: list[str]) -> dict:
    output_dir = Path(args.output) / name
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(args.gpus),
        "--num_machines",
        "1",
        "--mixed_precision",
        args.mixed_precision,
        "--dynamo_backend",
        "no",
        *extra_launch,
        "recipes/train_docs.py",
        "--config",
        "recipes/configs/quickstart.yaml",
        f"training.output_dir={output_dir}",
        f"training.max_steps={args.steps}",
        "training.eval_every=50",
        "training.save_every=50",
        "training.iw_samples=0",
    ]
    started = time.perf_counter()
    log = Path(args.output) / f"{name}.train.log"
    with open(log, "w") as handle:
        process = subprocess.run(command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)
    entry = {"train_seconds": time.perf_counter() - started, "train_ok": process.returncode == 0, "log": str(log)}
    if not entry["train_ok"]:
        return entry
    evaluate = [
        sys.executable,
        "recipes/evaluate_docs.py",
        "--model",
        str(output_dir / "final"),
        "--split",
        "validation",
        "--k",
        "5",
        "--output",
        str(output_dir / "eval_validation"),
    ]
    process = subprocess.run(evaluate, cwd=REPO, capture_output=True, text=True)
    entry["eval_ok"] = process.returncode == 0
    if entry["eval_ok"]:
        entry["report"] = json.loads((output_dir / "eval_validation" / "report.json").read_text())
    records = [
        json.loads(line) for line in (output_dir / "log.jsonl").read_text().splitlines() if "tokens_per_second" in line
    ]
    entry["tokens_per_second"] = sum(r["tokens_per_second"] for r in records[1:]) / max(len(records) - 1, 1)
    return entry


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--mixed-precision", default="bf16", choices=("no", "fp16", "bf16"))
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        help="largest relative difference of the FSDP run's validation PPL from DDP's",
    )
    parser.add_argument("--output", default=str(REPO / "outputs" / "bench" / "fsdp_check"))
    args = parser.parse_args(argv)
    import torch

    if torch.cuda.device_count() < args.gpus:
        raise SystemExit(
            f"this check needs {args.gpus} GPUs; found {torch.cuda.device_count()} (on CPU, tests/test_fsdp.py covers sharding)"
        )
    Path(args.output).mkdir(parents=True, exist_ok=True)
    # The quickstart's decoder blocks are GPT-2's: each its own shard unit, the rest (encoder, latent heads) the root's.
    fsdp = [
        "--use_fsdp",
        "--fsdp_version",
        "2",
        "--fsdp_reshard_after_forward",
        "true",
        "--fsdp_auto_wrap_policy",
        "TRANSFORMER_BASED_WRAP",
        "--fsdp_transformer_layer_cls_to_wrap",
        "GPT2Block",
        "--fsdp_state_dict_type",
        "FULL_STATE_DICT",
    ]
    results = {"ddp": launch("ddp", args, ["--multi_gpu"]), "fsdp2": launch("fsdp2", args, fsdp)}

    lines = [
        "| run | trained | evaluated | val PPL (ELBO) | val PPL (IW, k = 5) | tokens/s | train wall (min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in results.items():
        report = entry.get("report", {})
        lines.append(
            f"| {name} | {entry['train_ok']} | {entry.get('eval_ok', False)} | {report.get('ppl_elbo', float('nan')):.2f} | "
            f"{report.get('ppl_iw', float('nan')):.2f} | {entry.get('tokens_per_second', float('nan')):,.0f} | {entry['train_seconds'] / 60:.1f} |"
        )
    table = "\n".join(lines)
    (Path(args.output) / "results.md").write_text(table + "\n")
    (Path(args.output) / "results.json").write_text(json.dumps(results, indent=2))
    print(table)
    ddp, sharded = results["ddp"].get("report"), results["fsdp2"].get("report")
    if sharded is None:
        raise SystemExit(f"the FSDP2 run failed: see {results['fsdp2']['log']}")
    if ddp is not None and abs(sharded["ppl_elbo"] / ddp["ppl_elbo"] - 1) > args.tolerance:
        raise SystemExit(
            f"FSDP2 validation PPL {sharded['ppl_elbo']:.2f} differs from DDP's {ddp['ppl_elbo']:.2f} by more than {args.tolerance:.0%}"
        )
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
