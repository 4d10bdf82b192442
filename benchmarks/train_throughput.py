"""Training-step throughput of the hierarchical models against the flat LM with the same decoder.

One run, one set of WikiText-2 training batches, every model stepping on the same batches in
turn (the order rotates every step, so slow phases of a shared machine hit all of them alike):

- flat:          levels [] (the baseline: the same GPT-2 decoder, no encoder, no latents);
- hierarchical:  document + paragraph + sentence latents, decoder_context="paragraph", the default
                 latent injection (per-layer for the upper levels);
- hierarchical-input: the same with the latents at the input layer only (memory prefix, embeddings),
                 the injection before per-layer injection existed;
- sentence-ctx:  the same levels with decoder_context="sentence" (one decoder stream per sentence,
                 sentence latent as memory);
- doc+sentence:  two levels (VHCR-style), decoder_context="paragraph";
- hierarchical-checkpointed: hierarchical with activation checkpointing (recomputed blocks);
- hierarchical-position-ids: hierarchical with decoder_packing="position_ids" (no 4-D mask).

A step is the one training runs, `doc_hvae.trainer.training_step`: forward, `objective_loss`,
backward, gradient clipping, the skip guard and the AdamW update (the library's `build_optimizer`
and scheduler), in fp32 with `torch.set_num_threads(--threads)`. Batches are collated before timing; collation is
timed on its own and reported beside the step. Tokens are predicted positions
(`batch.num_tokens`: content tokens, end-of-sentence and end-of-paragraph), the same for every
model on a batch, so tokens/s compare directly. Warm-up steps are excluded.

Usage (from the repository root):
    python benchmarks/train_throughput.py [--steps 20] [--warmup 3] [--max-tokens 4096] \
        [--layers 4] [--width 256] [--threads 2] [--prepared data/wikitext2] [--output results.json] [--profile]

Without `--prepared` (or when data/wikitext2 is absent) the corpus is prepared from
data_scripts/configs/wikitext2.yaml into a temporary folder first (about a minute).
`--profile` adds a breakdown of the hierarchical model's extra time: forward time per module
(hooks), forward+backward of each component in isolation, attention-mask construction,
collation, the optimizer step, and the top operators from torch.profiler.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402
from accelerate import Accelerator  # noqa: E402

from doc_hvae.config import default_decoder_config, default_encoder_config  # noqa: E402
from doc_hvae.config_loading import load_config  # noqa: E402
from doc_hvae.data.batching import DocCollator, TokenBudgetBatchSampler  # noqa: E402
from doc_hvae.data.prepare import PrepareConfig, PreparedCorpus, is_prepared, prepare_corpus  # noqa: E402
from doc_hvae.modeling import DocHVAE  # noqa: E402
from doc_hvae.modeling.encoder import block_attention_mask  # noqa: E402
from doc_hvae.objectives import Objective, objective_loss  # noqa: E402
from doc_hvae.trainer import training_step  # noqa: E402
from doc_hvae.training import (  # noqa: E402
    ModelSection,
    OptimSection,
    TrainConfig,
    TrainerState,
    build_optimizer,
    build_scheduler,
    model_config_from,
)

LEVELS3 = ["document", "paragraph", "sentence"]
VARIANTS = {
    "flat": {"levels": [], "decoder_context": "paragraph"},
    "hierarchical": {"levels": LEVELS3, "decoder_context": "paragraph"},
    "hierarchical-input": {
        "levels": LEVELS3,
        "decoder_context": "paragraph",
        "latent_injection": {"document": ["memory"], "paragraph": ["memory"], "sentence": ["embedding"]},
    },
    "sentence-ctx": {
        "levels": LEVELS3,
        "decoder_context": "sentence",
        "latent_injection": {"document": ["memory"], "paragraph": ["memory"], "sentence": ["memory"]},
    },
    "doc+sentence": {"levels": ["document", "sentence"], "decoder_context": "paragraph"},
    # The hierarchical model with activation checkpointing (training.gradient_checkpointing): its compute cost.
    "hierarchical-checkpointed": {"levels": LEVELS3, "decoder_context": "paragraph", "checkpointing": True},
    # The hierarchical model with streams kept apart by their positions, not a 4-D mask (decoder_packing).
    "hierarchical-position-ids": {"levels": LEVELS3, "decoder_context": "paragraph", "decoder_packing": "position_ids"},
}
TARGET_RATIO = 0.75  # hierarchical tokens/s over flat tokens/s


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--prepared", default=None, help="a prepared corpus folder (default: data/wikitext2 if it exists)"
    )
    parser.add_argument("--corpus-config", default=str(REPO_ROOT / "data_scripts" / "configs" / "wikitext2.yaml"))
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per model first")
    parser.add_argument("--max-tokens", type=int, default=4096, help="token budget of a batch")
    parser.add_argument("--layers", type=int, default=4, help="decoder layers (the encoder gets half)")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=None, help="attention heads (default width // 64)")
    parser.add_argument("--latent-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="write the results as JSON here")
    parser.add_argument(
        "--profile", action="store_true", help="break down where the hierarchical model's extra time goes"
    )
    parser.add_argument("--profile-steps", type=int, default=5)
    args = parser.parse_args(argv)
    if "flat" not in args.variants:
        parser.error("--variants must include flat (the ratios are relative to it)")
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    return args


# ---------------------------------------------------------------------------------------------
# Data and models


def load_corpus(args, workdir: Path) -> PreparedCorpus:
    prepared = Path(args.prepared) if args.prepared else REPO_ROOT / "data" / "wikitext2"
    if is_prepared(prepared):
        return PreparedCorpus(prepared)
    if args.prepared:
        raise SystemExit(
            f"--prepared {args.prepared!r} is not a prepared corpus; omit it to prepare WikiText-2 into a temporary folder"
        )
    output_dir = workdir / "wikitext2"
    print(f"Preparing WikiText-2 from {args.corpus_config} into {output_dir} ...", flush=True)
    # The corpus config's source paths are relative to the repository root.
    previous = Path.cwd()
    os.chdir(REPO_ROOT)
    try:
        prepare_corpus(
            load_config(PrepareConfig, args.corpus_config, [f"output_dir={output_dir}"]), show_progress=False
        )
    finally:
        os.chdir(previous)
    return PreparedCorpus(output_dir)


def build_models(args, tokenizer) -> dict[str, DocHVAE]:
    vocab = len(tokenizer)
    heads = args.heads or max(1, args.width // 64)
    decoder = default_decoder_config(vocab, args.width, args.layers, heads)
    encoder = default_encoder_config(vocab, args.width, max(1, args.layers // 2), heads)
    models = {}
    for name in args.variants:
        variant = dict(VARIANTS[name])
        checkpointing = variant.pop("checkpointing", False)
        section = ModelSection(
            config={**variant, "latent_size": args.latent_size, "decoder": decoder, "encoder": encoder}
        )
        torch.manual_seed(args.seed)
        models[name] = DocHVAE(model_config_from(section, tokenizer)).train()
        if checkpointing:
            models[name].activation_checkpointing_enable()
    return models


def batch_indices(dataset, args) -> list[list[int]]:
    sampler = TokenBudgetBatchSampler(dataset["num_tokens"], max_tokens=args.max_tokens, shuffle=True, seed=args.seed)
    needed = args.warmup + args.steps
    batches = list(sampler)
    if len(batches) < needed:
        raise SystemExit(
            f"the split has {len(batches)} batches of {args.max_tokens} tokens; ask for fewer than {needed} steps"
        )
    return batches[:needed]


def collate_all(models, dataset, indices) -> tuple[dict[str, list], dict[str, list[float]]]:
    """Collated batches per model (each config needs its own packing) and the collation times."""
    batches, seconds = defaultdict(list), defaultdict(list)
    for index_list in indices:
        rows = dataset[index_list]
        rows = [dict(zip(rows, values)) for values in zip(*rows.values())]
        for name, model in models.items():
            collator = DocCollator.for_model(model.config)
            started = time.perf_counter()
            batches[name].append(collator(rows))
            seconds[name].append(time.perf_counter() - started)
    return batches, seconds


class Stepper:
    """One model with its optimizer and scheduler, stepped by the library's `training_step`."""

    def __init__(self, model: DocHVAE, accelerator: Accelerator, config: TrainConfig, total_steps: int):
        optimizer = build_optimizer(model, config.optim)
        scheduler = build_scheduler(optimizer, config.optim, total_steps)
        self.model, self.optimizer, self.scheduler = accelerator.prepare(model, optimizer, scheduler)
        self.accelerator, self.config, self.state = accelerator, config, TrainerState()

    def __call__(self, batch) -> float:
        logs, _ = training_step(
            self.model,
            batch,
            self.optimizer,
            self.scheduler,
            self.accelerator,
            self.config,
            self.state,
            self.model.config.levels,
        )
        return float(logs["loss"])


# ---------------------------------------------------------------------------------------------
# Measurement


def measure(args, steppers, batches) -> dict[str, dict]:
    names = list(steppers)
    times, losses = defaultdict(list), defaultdict(list)
    total = args.warmup + args.steps
    for step in range(total):
        rotation = step % len(names)
        for name in names[rotation:] + names[:rotation]:
            started = time.perf_counter()
            loss = steppers[name](batches[name][step])
            elapsed = time.perf_counter() - started
            if step >= args.warmup:
                times[name].append(elapsed)
                losses[name].append(loss)
        if step == args.warmup - 1:
            print(f"  warm-up done ({args.warmup} steps per model)", flush=True)
        elif step >= args.warmup and (step - args.warmup + 1) % 5 == 0:
            print(f"  step {step - args.warmup + 1}/{args.steps}", flush=True)
    timed_tokens = {name: [b.num_tokens for b in batches[name][args.warmup :]] for name in names}
    results = {}
    for name in names:
        seconds = sum(times[name])
        tokens = sum(timed_tokens[name])
        per_step = [n / t for n, t in zip(timed_tokens[name], times[name])]
        # Same batch, run back to back: the per-step ratio cancels slow phases of a shared machine.
        paired = [f / t for f, t in zip(times["flat"], times[name])]
        results[name] = {
            "tokens": tokens,
            "seconds": seconds,
            "tokens_per_s": tokens / seconds,
            "tokens_per_s_median": statistics.median(per_step),
            "ms_per_step_mean": 1000 * seconds / len(times[name]),
            "ms_per_step_median": 1000 * statistics.median(times[name]),
            "ratio_vs_flat": tokens / seconds / (sum(timed_tokens["flat"]) / sum(times["flat"])),
            "ratio_vs_flat_paired_median": statistics.median(paired),
            "step_seconds": times[name],
            "final_loss": losses[name][-1],
        }
    return results


def describe(model: DocHVAE) -> dict:
    config = model.config
    return {
        "levels": config.levels,
        "decoder_context": config.decoder_context,
        "parameters": sum(p.numel() for p in model.parameters()),
        "decoder_parameters": sum(p.numel() for p in model.decoder.lm.parameters()),
    }


def format_table(results: dict[str, dict], info: dict[str, dict], collate_ms: dict[str, float]) -> str:
    lines = [
        "| model | levels | decoder context | params (M) | ms/step (mean) | ms/step (median) | tokens/s | tokens/s (median step) "
        "| vs flat | vs flat (paired median) | collate ms/batch |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {'+'.join(info[name]['levels']) or '-'} | {info[name]['decoder_context']} | "
            f"{info[name]['parameters'] / 1e6:.2f} | {r['ms_per_step_mean']:.0f} | {r['ms_per_step_median']:.0f} | "
            f"{r['tokens_per_s']:,.0f} | {r['tokens_per_s_median']:,.0f} | {r['ratio_vs_flat']:.2f}x | "
            f"{r['ratio_vs_flat_paired_median']:.2f}x | {collate_ms[name]:.1f} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Profiling the hierarchical model's extra time


@contextlib.contextmanager
def forward_timers(model: DocHVAE, totals: dict[str, float]):
    """Accumulate the forward wall time of the main submodules (CPU: synchronous, so exact)."""
    modules = {
        "decoder (total)": model.decoder,
        "decoder transformer": model.decoder.lm.base_model,
        "stop head": model.stop_head,
    }
    if model.encoder is not None:
        modules["sentence encoder"] = model.encoder.sentence_encoder
        modules["paragraph encoder"] = model.encoder.paragraph_encoder
        if model.encoder.document_encoder is not None:
            modules["document encoder"] = model.encoder.document_encoder
        modules["encoder (total)"] = model.encoder
    for level, module in model.latent_levels.items():
        modules[f"latent level {level}"] = module
    starts, handles = {}, []
    for label, module in modules.items():
        handles.append(
            module.register_forward_pre_hook(lambda m, a, label=label: starts.__setitem__(label, time.perf_counter()))
        )
        handles.append(
            module.register_forward_hook(
                lambda m, a, o, label=label: totals.__setitem__(
                    label, totals.get(label, 0.0) + time.perf_counter() - starts[label]
                )
            )
        )
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def timed(fn, repeats: int) -> float:
    """Median seconds of fn() over `repeats` calls (after one untimed call): robust to other work's bursts."""
    fn()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def profile(args, models, optimizers, batches, steppers) -> dict:
    hierarchical, flat = models["hierarchical"], models["flat"]
    steps = min(args.profile_steps, args.steps)
    chosen = list(range(args.warmup, args.warmup + steps))
    objective = Objective()
    report: dict[str, dict] = {}

    # 1. Phases of full training steps and forward wall time per module (flat and hierarchical interleaved).
    per_module: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in ("flat", "hierarchical")}
    phases: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in ("flat", "hierarchical")}
    for step in chosen:
        for name, model in (("flat", flat), ("hierarchical", hierarchical)):
            optimizer = optimizers[name]
            optimizer.zero_grad(set_to_none=True)
            totals: dict[str, float] = {}
            t0 = time.perf_counter()
            with forward_timers(model, totals):
                output = model(batches[name][step])
            loss, _ = objective_loss(output, objective, step, model.config.levels)
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            optimizer.step()
            t3 = time.perf_counter()
            phases[name]["forward"].append(t1 - t0)
            phases[name]["backward"].append(t2 - t1)
            phases[name]["optimizer"].append(t3 - t2)
            for label, value in totals.items():
                per_module[name][label].append(value)
    forward = {
        name: {label: 1000 * statistics.median(v) for label, v in values.items()} for name, values in per_module.items()
    }
    step_ms = {
        name: {label: 1000 * statistics.median(v) for label, v in values.items()} for name, values in phases.items()
    }
    report["phases_ms"] = step_ms
    report["forward_ms"] = forward

    # 2. Components in isolation (forward + backward), on the same batches.
    batch = batches["hierarchical"][chosen[0]]
    flat_batch = batches["flat"][chosen[0]]
    model = hierarchical
    repeats = 5

    def encoder_fb():
        features = model.encoder(batch)
        (features.sentence.mean() + features.paragraph.mean() + features.document.mean()).backward()
        model.zero_grad(set_to_none=True)

    with torch.no_grad():
        features = model.encoder(batch)
        latents = {}
        for level in model.config.levels:
            parent = model.config.parent_level(level)
            parent_z = latents[parent][batch.parent_index(level, parent)] if parent else None
            latents[level] = model.latent_levels[level](getattr(features, level), parent_z, batch.siblings(level)).z

    def latents_fb():
        zs, kl = {}, 0.0
        for level in model.config.levels:
            parent = model.config.parent_level(level)
            parent_z = zs[parent][batch.parent_index(level, parent)] if parent else None
            feature = getattr(features, level).detach().requires_grad_(True)
            out = model.latent_levels[level](feature, parent_z, batch.siblings(level))
            zs[level] = out.z
            kl = kl + out.kl.sum()
        stop = model.stop_head(zs, batch.paragraph_document, batch.siblings("paragraph")).sum()
        (kl + stop + sum(z.sum() for z in zs.values())).backward()
        model.zero_grad(set_to_none=True)

    def decoder_fb(m, b, z):
        def run():
            z_in = {level: value.detach().requires_grad_(True) for level, value in z.items()}
            m.decoder(b, z_in).nll.sum().backward()
            m.zero_grad(set_to_none=True)

        return run

    def masks(b, encoder: bool):
        def run():
            block_attention_mask(b.decoder_segment, causal=True, dtype=torch.float32)
            if encoder:
                block_attention_mask(b.encoder_segment, causal=False, dtype=torch.float32)

        return run

    iso = {
        "encoder fwd+bwd (sentence+paragraph+document)": timed(encoder_fb, repeats),
        "latent levels + stop head fwd+bwd (posteriors, priors, KL)": timed(latents_fb, repeats),
        "decoder fwd+bwd, hierarchical (memory + embedding injection)": timed(
            decoder_fb(model, batch, latents), repeats
        ),
        "decoder fwd+bwd, flat": timed(decoder_fb(flat, flat_batch, {}), repeats),
        "attention masks, hierarchical (decoder + encoder)": timed(masks(batch, True), repeats),
        "attention masks, flat (decoder)": timed(masks(flat_batch, False), repeats),
    }
    report["isolated_ms"] = {label: 1000 * value for label, value in iso.items()}
    report["shapes"] = {
        "hierarchical decoder rows": list(batch.decoder_input_ids.shape),
        "flat decoder rows": list(flat_batch.decoder_input_ids.shape),
        "encoder rows": list(batch.encoder_input_ids.shape),
        "sentences": batch.num_sentences,
        "paragraphs": batch.num_paragraphs,
        "documents": batch.num_documents,
        "tokens": batch.num_tokens,
        "padding efficiency": batch.padding_efficiency(),
        "max sentences per paragraph": int(batch.paragraph_sentences_mask.shape[1]),
    }

    # 3. torch.profiler: top operators of one hierarchical step.
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        steppers["hierarchical"](batch)
    report["profiler_top_ops"] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    return report


def format_profile(report: dict) -> str:
    out = ["", "### Where the time goes (ms per step, median over the profiled steps)", ""]
    out.append("| phase | flat | hierarchical |")
    out.append("| --- | ---: | ---: |")
    for phase in ("forward", "backward", "optimizer"):
        out.append(
            f"| {phase} | {report['phases_ms']['flat'][phase]:.0f} | {report['phases_ms']['hierarchical'][phase]:.0f} |"
        )
    out += ["", "| module (forward only) | flat | hierarchical |", "| --- | ---: | ---: |"]
    labels = sorted(set(report["forward_ms"]["flat"]) | set(report["forward_ms"]["hierarchical"]))
    for label in labels:
        f = report["forward_ms"]["flat"].get(label)
        h = report["forward_ms"]["hierarchical"].get(label)
        out.append(f"| {label} | {'-' if f is None else f'{f:.1f}'} | {'-' if h is None else f'{h:.1f}'} |")
    out += ["", "| component in isolation (one batch) | ms |", "| --- | ---: |"]
    out += [f"| {label} | {value:.1f} |" for label, value in report["isolated_ms"].items()]
    out += [
        "",
        "Batch shapes: " + json.dumps(report["shapes"]),
        "",
        "Top operators of one hierarchical step (torch.profiler):",
        "```",
        report["profiler_top_ops"],
        "```",
    ]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as workdir:
        corpus = load_corpus(args, Path(workdir))
        dataset = corpus.dataset["train"]
        indices = batch_indices(dataset, args)
        models = build_models(args, corpus.tokenizer)
        info = {name: describe(model) for name, model in models.items()}
        batches, collate_seconds = collate_all(models, dataset, indices)
    collate_ms = {name: 1000 * statistics.mean(values) for name, values in collate_seconds.items()}
    print(
        f"{corpus.path.name}: {len(indices)} batches of <= {args.max_tokens} tokens; decoder GPT-2 {args.layers} x {args.width}, "
        f"encoder {max(1, args.layers // 2)} layers; {args.threads} threads; {args.warmup} warm-up + {args.steps} timed steps per model",
        flush=True,
    )
    # The step of `recipes/train_docs.py`, on one CPU process (no launcher needed).
    accelerator = Accelerator(cpu=True)
    config = TrainConfig(data={"prepared_dir": str(corpus.path)}, training={"output_dir": tempfile.gettempdir()})
    steppers = {name: Stepper(model, accelerator, config, args.warmup + args.steps) for name, model in models.items()}
    # --profile times forward, backward and the update apart, with optimizers of its own.
    optimizers = (
        {name: build_optimizer(model, OptimSection()) for name, model in models.items()} if args.profile else {}
    )
    load_before = os.getloadavg()
    results = measure(args, steppers, batches)
    load_after = os.getloadavg()
    ratio = results["hierarchical"]["ratio_vs_flat"] if "hierarchical" in results else None
    paired = results["hierarchical"]["ratio_vs_flat_paired_median"] if "hierarchical" in results else None

    table = format_table(results, info, collate_ms)
    print()
    print(table)
    if ratio is not None:
        verdict = "meets" if ratio >= TARGET_RATIO else "is below"
        print(
            f"\nhierarchical / flat tokens/s = {ratio:.2f} ({verdict} the {TARGET_RATIO:.2f} target); "
            f"median of the per-step ratios (same batch, back to back) = {paired:.2f}"
        )
    print(
        f"load average before / after the timed steps: {load_before[0]:.2f} / {load_after[0]:.2f} (other processes share the cores)"
    )
    summary = {
        "settings": {k: v for k, v in vars(args).items() if k != "output"},
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
        "models": info,
        "results": results,
        "collate_ms": collate_ms,
        "ratio_hierarchical_over_flat": ratio,
        "ratio_hierarchical_over_flat_paired_median": paired,
        "target_ratio": TARGET_RATIO,
        "table": table,
    }
    if args.profile and "hierarchical" in models:
        report = profile(args, models, optimizers, batches, steppers)
        print(format_profile(report))
        summary["profile"] = report
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(summary, indent=2))
        print(f"\nWrote {args.output}")
    return summary


if __name__ == "__main__":
    main()
