"""Padding efficiency of packed training batches on a prepared corpus (WikiText-2 by default).

For one epoch of training batches (`TokenBudgetBatchSampler` with a token budget, then
`DocCollator`), this measures, for the decoder rows and the encoder rows:

- packed efficiency: filled token slots / all token slots of the packed rows, as the collator
  builds them (streams packed first-fit into rows as long as the longest stream, rounded up to
  `--row-multiple` and at least `--min-row-length`);
- unpacked efficiency, for comparison: the same streams with one stream per row, every stream
  padded to the batch's longest stream (no rounding: the most favourable case for padding);

as an overall ratio over the epoch (sum of filled slots / sum of slots) and as the mean and
minimum per batch; plus documents per batch and the collate time per batch. Two collator
configurations are measured:

- three-level: decoder_context="paragraph" (one decoder stream per paragraph), 2 memory slots;
- sentence context: decoder_context="sentence" (one decoder stream per sentence), 2 memory slots.

The target is >= 85% packed efficiency on WikiText-2 training batches.

Usage:
    python benchmarks/padding_efficiency.py [--prepared DIR] [--max-tokens 4096] [--output results.json]

Without `--prepared`, WikiText-2 is prepared with data_scripts/configs/wikitext2.yaml (paths
relative to the repository root) into a temporary folder (about 10 s on 2 cores). With
`--prepared DIR`, an existing prepared corpus is used, or, if DIR is not one yet, the corpus
is prepared into DIR so that the next run can reuse it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from doc_hvae.config_loading import load_config  # noqa: E402
from doc_hvae.data.batching import DocCollator, TokenBudgetBatchSampler  # noqa: E402
from doc_hvae.data.prepare import PrepareConfig, PreparedCorpus, is_prepared, prepare_corpus  # noqa: E402
from doc_hvae.data.tokenizer import SpecialTokenIds  # noqa: E402

CONFIGS = [
    {"name": "three-level (paragraph context, 2 memory slots)", "decoder_context": "paragraph", "num_memory_slots": 2},
    {"name": "sentence context (2 memory slots)", "decoder_context": "sentence", "num_memory_slots": 2},
]
TARGET = 0.85


def prepare(config_path: Path, output_dir: Path) -> float:
    """Prepare the corpus of `config_path` into `output_dir`; return the seconds it took."""
    cwd = Path.cwd()
    os.chdir(REPO_ROOT)  # the shipped configs' paths are relative to the repository root
    try:
        config = load_config(PrepareConfig, config_path, [f"output_dir={output_dir}"])
        started = time.perf_counter()
        prepare_corpus(config, show_progress=True)
        return time.perf_counter() - started
    finally:
        os.chdir(cwd)


def stream_lengths(segment: torch.Tensor) -> np.ndarray:
    """Length of every stream (slots per segment id) of packed rows."""
    filled = segment[segment >= 0]
    return torch.bincount(filled).numpy() if filled.numel() else np.zeros(0, np.int64)


def measure(rows: list[dict], batches: list[list[int]], special: SpecialTokenIds, setting: dict, args) -> dict:
    collator = DocCollator(
        special,
        decoder_context=setting["decoder_context"],
        num_memory_slots=setting["num_memory_slots"],
        min_row_length=args.min_row_length,
        row_multiple=args.row_multiple,
    )
    sides = {
        side: {
            "filled": 0,
            "slots": 0,
            "unpacked_slots": 0,
            "per_batch": [],
            "per_batch_unpacked": [],
            "rows": [],
            "row_length": [],
        }
        for side in ("decoder", "encoder")
    }
    documents, tokens, seconds = [], [], []
    for batch_indices in batches:
        batch_rows = [rows[i] for i in batch_indices]
        started = time.perf_counter()
        batch = collator(batch_rows)
        seconds.append(time.perf_counter() - started)
        documents.append(batch.num_documents)
        tokens.append(batch.num_tokens)
        for side, segment in (("decoder", batch.decoder_segment), ("encoder", batch.encoder_segment)):
            lengths = stream_lengths(segment)
            filled, slots = int(lengths.sum()), segment.numel()
            unpacked = len(lengths) * int(lengths.max())
            record = sides[side]
            record["filled"] += filled
            record["slots"] += slots
            record["unpacked_slots"] += unpacked
            record["per_batch"].append(filled / slots)
            record["per_batch_unpacked"].append(filled / unpacked)
            record["rows"].append(segment.shape[0])
            record["row_length"].append(segment.shape[1])
        efficiency = batch.padding_efficiency()
        assert abs(efficiency["decoder"] - sides["decoder"]["per_batch"][-1]) < 1e-5  # float32 mean
    result = {
        "name": setting["name"],
        "decoder_context": setting["decoder_context"],
        "num_memory_slots": setting["num_memory_slots"],
        "batches": len(batches),
    }
    for side, record in sides.items():
        result[side] = {
            "packed": record["filled"] / record["slots"],
            "packed_mean": statistics.fmean(record["per_batch"]),
            "packed_min": min(record["per_batch"]),
            "unpacked": record["filled"] / record["unpacked_slots"],
            "unpacked_mean": statistics.fmean(record["per_batch_unpacked"]),
            "unpacked_min": min(record["per_batch_unpacked"]),
            "rows_per_batch": statistics.fmean(record["rows"]),
            "row_length_mean": statistics.fmean(record["row_length"]),
        }
    result["documents_per_batch"] = {"mean": statistics.fmean(documents), "min": min(documents), "max": max(documents)}
    result["tokens_per_batch"] = {"mean": statistics.fmean(tokens), "min": min(tokens), "max": max(tokens)}
    result["collate_ms"] = {
        "mean": 1000 * statistics.fmean(seconds),
        "p50": 1000 * float(np.percentile(seconds, 50)),
        "p95": 1000 * float(np.percentile(seconds, 95)),
        "total_s": sum(seconds),
    }
    return result


def markdown(results: list[dict], header: dict) -> str:
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    lines = [
        f"Corpus: {header['corpus']} ({header['split']}, {header['documents']:,} windows, {header['tokens']:,} tokens); "
        f"budget {header['max_tokens']:,} tokens/batch, {header['batches']:,} batches, {header['oversized']} oversized; "
        f"rows >= {header['min_row_length']} slots, multiple of {header['row_multiple']}.",
        "",
        "| config | rows | packed: overall | mean/batch | min/batch | unpacked: overall | mean/batch | min/batch | rows/batch x length |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for side in ("decoder", "encoder"):
            r = result[side]
            lines.append(
                f"| {result['name']} | {side} | **{pct(r['packed'])}** | {pct(r['packed_mean'])} | {pct(r['packed_min'])} | "
                f"{pct(r['unpacked'])} | {pct(r['unpacked_mean'])} | {pct(r['unpacked_min'])} | "
                f"{r['rows_per_batch']:.1f} x {r['row_length_mean']:.0f} |"
            )
    lines += [
        "",
        "| config | documents/batch mean (min-max) | tokens/batch mean (min-max) | collate ms/batch mean | p50 | p95 | epoch collate s |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        d, t, c = result["documents_per_batch"], result["tokens_per_batch"], result["collate_ms"]
        lines.append(
            f"| {result['name']} | {d['mean']:.2f} ({d['min']}-{d['max']}) | {t['mean']:,.0f} ({t['min']:,}-{t['max']:,}) | "
            f"{c['mean']:.2f} | {c['p50']:.2f} | {c['p95']:.2f} | {c['total_s']:.1f} |"
        )
    lines += [
        "",
        "Efficiency = filled token slots / all token slots (memory slots count as filled). Packed: the collator's rows. "
        "Unpacked: one stream per row, padded to the batch's longest stream. Overall = summed over the epoch.",
    ]
    verdicts = []
    for result in results:
        for side in ("decoder", "encoder"):
            ok = result[side]["packed"] >= TARGET
            verdicts.append(
                f"{result['name']} {side}: {pct(result[side]['packed'])} {'>=' if ok else '<'} {pct(TARGET)} target"
            )
    lines += ["", "Target (packed, overall): " + "; ".join(verdicts) + "."]
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--config",
        default=str(REPO_ROOT / "data_scripts" / "configs" / "wikitext2.yaml"),
        help="corpus YAML used when the corpus must be prepared (default: WikiText-2)",
    )
    parser.add_argument("--prepared", help="a prepared corpus folder to use (prepared into it when it is not one yet)")
    parser.add_argument("--split", default="train", help="split to batch (default: train)")
    parser.add_argument("--max-tokens", type=int, default=4096, help="token budget per batch (default: 4096)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed")
    parser.add_argument("--epoch", type=int, default=0, help="sampler epoch")
    parser.add_argument("--min-row-length", type=int, default=64, help="DocCollator min_row_length (default: 64)")
    parser.add_argument("--row-multiple", type=int, default=16, help="DocCollator row_multiple (default: 16)")
    parser.add_argument("--output", help="write the results as JSON to this file")
    args = parser.parse_args(argv)

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    temporary = None
    prepare_seconds = None
    if args.prepared:
        folder = Path(args.prepared)
        if not is_prepared(folder):
            print(f"Preparing {args.config} into {folder} ...", flush=True)
            prepare_seconds = prepare(Path(args.config).resolve(), folder.resolve())
    else:
        temporary = tempfile.TemporaryDirectory(prefix="padding_efficiency_")
        folder = Path(temporary.name)
        print(f"Preparing {args.config} into a temporary folder ...", flush=True)
        prepare_seconds = prepare(Path(args.config).resolve(), folder)
    try:
        corpus = PreparedCorpus(folder)
        if args.split not in corpus.dataset:
            raise SystemExit(f"split {args.split!r} is not in {folder}; it has {', '.join(corpus.dataset)}")
        started = time.perf_counter()
        rows = corpus.dataset[args.split].to_list()
        load_seconds = time.perf_counter() - started
        special = SpecialTokenIds.from_tokenizer(corpus.tokenizer)
    finally:
        if temporary is not None:
            temporary.cleanup()

    lengths = [row["num_tokens"] for row in rows]
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=args.max_tokens, shuffle=True, seed=args.seed)
    sampler.set_epoch(args.epoch)
    batches = list(sampler)
    header = {
        "corpus": str(args.prepared or args.config),
        "split": args.split,
        "documents": len(rows),
        "tokens": int(sum(lengths)),
        "max_tokens": args.max_tokens,
        "batches": len(batches),
        "oversized": sampler.oversized,
        "min_row_length": args.min_row_length,
        "row_multiple": args.row_multiple,
    }
    results = [measure(rows, batches, special, setting, args) for setting in CONFIGS]
    table = markdown(results, header)
    timings = (
        f"prepare {prepare_seconds:.1f} s, " if prepare_seconds is not None else ""
    ) + f"rows to Python {load_seconds:.1f} s"
    print()
    print(table)
    print(
        f"\nTimings: {timings}. Python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPU(s)."
    )
    output = {
        "header": header,
        "results": results,
        "prepare_seconds": prepare_seconds,
        "rows_load_seconds": load_seconds,
        "target": TARGET,
        "markdown": table,
    }
    if args.output:
        Path(args.output).write_text(json.dumps(output, indent=2))
        print(f"Wrote {args.output}")
    return output


if __name__ == "__main__":
    main()
