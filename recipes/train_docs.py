#!/usr/bin/env python
"""Train a DocHVAE (or the flat-LM baseline) with Accelerate.

    accelerate launch recipes/train_docs.py --config recipes/configs/quickstart.yaml [key=value ...] [--resume latest]

One CPU, one GPU or many (`accelerate launch --multi_gpu --num_processes N`); two CPU processes:
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \
        --mixed_precision no --dynamo_backend no recipes/train_docs.py --config ...
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from doc_hvae.config_loading import ConfigError, dump_config, load_config
from doc_hvae.data.batching import DocCollator
from doc_hvae.data.prepare import PrepareConfig, PreparedCorpus, format_statistics, is_prepared, prepare_corpus
from doc_hvae.evaluation import EvalSettings, evaluate, format_report, validation_metrics
from doc_hvae.generation import SamplingConfig, document_text, sample_prior, seeded_generator
from doc_hvae.objectives import objective_loss
from doc_hvae.training import (
    JsonLinesTracker,
    StepFolders,
    TrainConfig,
    TrainerState,
    build_dataloader,
    build_model,
    build_optimizer,
    build_scheduler,
    check_positions,
    format_summary,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a YAML file, e.g. recipes/configs/quickstart.yaml")
    parser.add_argument("--resume", default=None, help="'latest' or a checkpoint folder (output_dir/checkpoints/step_...)")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. training.max_steps=200 optim.lr=3e-4")
    return parser.parse_args(argv)


def check_launch(accelerator: Accelerator) -> None:
    """Refuse launches where the processes started differ from the processes Accelerate uses."""
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise SystemExit(
            f"{launched} processes were launched but Accelerate runs {accelerator.num_processes} "
            f"(device {accelerator.device}); they would train separately and overwrite each other's checkpoints.\n"
            "On CPU, start real data-parallel processes with:\n"
            "  ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 "
            "--mixed_precision no --dynamo_backend no recipes/train_docs.py --config ...\n"
            "or: torchrun --standalone --nproc_per_node 2 recipes/train_docs.py --config ... (with ACCELERATE_USE_CPU=1)"
        )


def prepare_data(config: TrainConfig, accelerator: Accelerator) -> PreparedCorpus:
    """Load the prepared corpus; build it first (main process only) if the config says how."""
    data = config.data
    with accelerator.main_process_first():
        if not is_prepared(data.prepared_dir):
            if data.prepare is None:
                raise SystemExit(
                    f"data.prepared_dir={data.prepared_dir!r} is not a prepared corpus. Prepare it with\n"
                    f"  python data_scripts/prepare_corpus.py --config <corpus yaml> output_dir={data.prepared_dir}\n"
                    "or add a data.prepare section to the training config."
                )
            if accelerator.is_main_process:
                statistics = prepare_corpus(PrepareConfig(**data.prepare.model_dump(), output_dir=data.prepared_dir))
                accelerator.print(f"Prepared {data.prepared_dir}:\n{format_statistics(statistics)}\n")
        corpus = PreparedCorpus(data.prepared_dir)
    if data.prepare is not None:
        check_prepared_matches(data)
    for split in (data.train_split, data.validation_split):
        if split not in corpus.dataset or len(corpus.dataset[split]) == 0:
            raise SystemExit(f"split {split!r} of {data.prepared_dir} is missing or empty (splits: {dict((k, len(v)) for k, v in corpus.dataset.items())})")
    return corpus


def check_prepared_matches(data) -> None:
    """Refuse a prepared corpus built with other settings than the config's data.prepare."""
    saved = yaml.safe_load((Path(data.prepared_dir) / "prepare_config.yaml").read_text())
    wanted = data.prepare.model_dump(mode="json")
    different = [key for key in wanted if saved.get(key) != wanted[key]]
    if different:
        raise SystemExit(
            f"{data.prepared_dir} was prepared with other {different} settings than this config's data.prepare "
            f"(saved: { {k: saved.get(k) for k in different} }). Delete the folder to prepare it again, or set data.prepared_dir elsewhere."
        )


def training_step(model, batch, optimizer, scheduler, accelerator, config: TrainConfig, state: TrainerState, levels: list[str]):
    """Forward, backward and (at a synchronisation point) a guarded optimizer update.

    Returns (logs, updated) where updated is None between accumulation steps, else whether the
    update was applied (False: skipped for a non-finite loss or gradient, or a huge gradient).
    """
    with accelerator.accumulate(model):
        output = model(batch)
        loss, logs = objective_loss(output, config.objective, state.step, levels)
        accelerator.backward(loss)
        if not accelerator.sync_gradients:
            return logs, None
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), config.optim.max_grad_norm)
        ok = bool(torch.isfinite(loss)) and bool(torch.isfinite(grad_norm))
        if config.optim.skip_grad_norm is not None:
            ok = ok and float(grad_norm) <= config.optim.skip_grad_norm
        # Every process must take the same decision, or the replicas drift apart.
        ok = bool(accelerator.reduce(torch.tensor(float(ok), device=accelerator.device), reduction="mean") == 1.0)
        if ok:
            optimizer.step()
            state.consecutive_skips = 0
        else:
            state.skipped_updates += 1
            state.consecutive_skips += 1
            if accelerator.scaler is not None:  # fp16: clipping unscaled the gradients; reset the scaler for the next step
                accelerator.scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        state.step += 1
        logs.update(grad_norm=grad_norm.detach(), lr=scheduler.get_last_lr()[0], skipped_updates=state.skipped_updates)
        return logs, ok


def save_checkpoint(accelerator: Accelerator, folders: StepFolders, state: TrainerState, keep_last: int) -> Path:
    folder = folders.path(state.step)
    accelerator.save_state(str(folder))
    accelerator.wait_for_everyone()  # every process's random state is written before the folder is marked complete
    if accelerator.is_main_process:
        folders.mark_complete(folder, state)
        folders.prune(keep_last)
    accelerator.wait_for_everyone()
    return folder


def replica_checksums(accelerator: Accelerator, model) -> list[float]:
    """Sum of all parameters on every process; data-parallel replicas must agree exactly."""
    local = torch.tensor([sum(float(p.double().sum()) for p in accelerator.unwrap_model(model).parameters())], dtype=torch.float64, device=accelerator.device)
    checksums = accelerator.gather(local).tolist()
    if len(set(checksums)) > 1:
        raise SystemExit(f"data-parallel replicas diverged: parameter checksums per process {checksums}")
    return checksums


def export(accelerator, model, corpus, config: TrainConfig, metrics: dict, output_dir: Path) -> Path:
    """save_pretrained of the model and tokenizer, the resolved config and a model card."""
    final = output_dir / "final"
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.save_pretrained(final, is_main_process=accelerator.is_main_process, save_function=accelerator.save)
    if accelerator.is_main_process:
        corpus.tokenizer.save_pretrained(final)
        (final / "train_config.yaml").write_text(dump_config(config))
        (final / "README.md").write_text(model_card(config, corpus, metrics))
    accelerator.wait_for_everyone()
    return final


def model_card(config: TrainConfig, corpus: PreparedCorpus, metrics: dict) -> str:
    stats = corpus.statistics.get("splits", {})
    data_rows = "\n".join(f"| {name} | {s.get('windows', 0):,} | {s.get('tokens', 0):,} |" for name, s in stats.items())
    return f"""---
library_name: doc_hvae
tags: [doc_hvae, hierarchical-vae, text-generation]
---
# DocHVAE: {", ".join(config.model.config.get("levels", ["document", "paragraph", "sentence"])) or "flat LM (no latents)"}

Trained with `accelerate launch recipes/train_docs.py` for {config.training.max_steps} steps.

## Training data

Prepared corpus `{config.data.prepared_dir}` (vocabulary {len(corpus.tokenizer):,}):

| split | windows | tokens |
|---|---|---|
{data_rows}

## Final validation metrics

{format_report(metrics, "Validation") if "definitions" in metrics else metrics}

## Training config

```yaml
{dump_config(config)}```

Load with `doc_hvae.DocHVAE.from_pretrained(path)` and `AutoTokenizer.from_pretrained(path)`.
"""


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        config = load_config(TrainConfig, args.config, args.overrides)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    output_dir = Path(config.training.output_dir)
    trackers = [JsonLinesTracker("doc_hvae", output_dir, append=bool(args.resume))]
    if config.training.tensorboard:
        try:
            import tensorboard  # noqa: F401

            trackers.append("tensorboard")
        except ImportError:
            pass
    accelerator = Accelerator(
        mixed_precision=config.training.mixed_precision,
        gradient_accumulation_steps=config.optim.gradient_accumulation_steps,
        log_with=trackers,
        project_dir=str(output_dir),
        step_scheduler_with_optimizer=False,  # schedules count optimisation steps, whatever the process count
    )
    check_launch(accelerator)
    set_seed(config.training.seed)
    if config.unused_objective_levels():
        accelerator.print(f"Note: objective.levels settings for {config.unused_objective_levels()} are ignored: the model has no such level.")

    corpus = prepare_data(config, accelerator)
    model = build_model(config.model, corpus.tokenizer)
    if corpus.statistics.get("limits"):
        check_positions(model.config, corpus.statistics["limits"])
    levels = list(model.config.levels)
    collator = DocCollator.for_model(model.config, min_row_length=config.data.min_row_length)
    train_loader, train_sampler = build_dataloader(
        corpus.dataset[config.data.train_split], collator, config.data.max_tokens, shuffle=True, seed=config.training.seed
    )
    validation = corpus.dataset[config.data.validation_split]
    if config.data.max_validation_documents:
        validation = validation.select(range(min(len(validation), config.data.max_validation_documents)))
    validation_loader, _ = build_dataloader(validation, collator, config.data.eval_max_tokens, shuffle=False, seed=0)
    validation_batches = [batch.to(accelerator.device) for batch in validation_loader]
    # A fixed sample of training batches (its own shuffle seed: the training order is untouched)
    # for the BN-VAE statistics that evaluation uses.
    recalibration_loader, _ = build_dataloader(corpus.dataset[config.data.train_split], collator, config.data.max_tokens, shuffle=True, seed=config.training.seed + 1)
    recalibration_batches = [batch.to(accelerator.device) for batch, _ in zip(recalibration_loader, range(config.training.recalibration_batches))]
    if train_sampler.oversized:
        accelerator.print(f"Note: {train_sampler.oversized} training windows exceed data.max_tokens={config.data.max_tokens} and form batches of their own.")

    optimizer = build_optimizer(model, config.optim)
    scheduler = build_scheduler(optimizer, config.optim, config.training.max_steps)
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    state = TrainerState()
    accelerator.register_for_checkpointing(state)
    folders = StepFolders(output_dir)
    if not args.resume and folders.latest() is not None:
        raise SystemExit(
            f"{output_dir} holds checkpoints of an earlier run (latest: {folders.latest()}); continue it with --resume latest, "
            "or give this run its own training.output_dir=..."
        )
    if args.resume:
        folder = folders.resolve(args.resume)
        accelerator.load_state(str(folder))
        accelerator.print(f"Resumed from {folder} at step {state.step} (epoch {state.epoch}, batch {state.batches_in_epoch}).")
    accelerator.init_trackers("doc_hvae", config=_flat(config.model_dump(mode="json")))

    unwrapped = accelerator.unwrap_model(model)
    parameters = sum(p.numel() for p in unwrapped.parameters())
    accelerator.print(
        f"Model: levels={levels or 'none (flat LM)'}, {parameters / 1e6:.2f}M parameters, decoder_context={unwrapped.config.decoder_context}; "
        f"{len(corpus.dataset[config.data.train_split]):,} training windows, {len(train_loader)} batches/epoch/process, "
        f"{accelerator.num_processes} process(es) on {accelerator.device}."
    )

    progress = tqdm(total=config.training.max_steps, initial=state.step, desc="training", disable=not accelerator.is_local_main_process, dynamic_ncols=True)
    started, window_start, window_tokens = time.perf_counter(), time.perf_counter(), 0
    last_validation: dict = {}
    stopped_early = None
    model.train()
    while state.step < config.training.max_steps and stopped_early is None:
        # Accelerate's loader sets its sampler's epoch from its own counter at every iteration:
        # after a resume that counter must start at the saved epoch, not at 0.
        train_loader.set_epoch(state.epoch)
        train_sampler.set_epoch(state.epoch)
        loader = accelerator.skip_first_batches(train_loader, state.batches_in_epoch) if state.batches_in_epoch else train_loader
        for batch in loader:
            state.batches_in_epoch += 1
            state.tokens_seen += batch.num_tokens
            window_tokens += batch.num_tokens
            logs, updated = training_step(model, batch, optimizer, scheduler, accelerator, config, state, levels)
            if updated is None:
                continue
            progress.update(1)
            if state.step % config.training.log_every == 0 or state.step == 1:
                tokens = accelerator.reduce(torch.tensor(window_tokens, device=accelerator.device), reduction="sum")
                elapsed = time.perf_counter() - window_start
                record = {key: float(value) for key, value in logs.items()}
                record["tokens_per_second"] = float(tokens) / max(elapsed, 1e-9)
                record["epoch"] = state.epoch
                accelerator.log(record, step=state.step)
                progress.set_postfix(_postfix(record, levels), refresh=False)
                window_start, window_tokens = time.perf_counter(), 0
            if state.step % config.training.eval_every == 0 or state.step == config.training.max_steps:
                # Every process, so that the replicas keep identical buffers.
                accelerator.unwrap_model(model).recalibrate_posterior_norms(recalibration_batches)
                if accelerator.is_main_process:
                    last_validation = validation_metrics(accelerator.unwrap_model(model), validation_batches)
                    accelerator.log(last_validation, step=state.step)
                    progress.write(f"step {state.step}: " + ", ".join(f"{k[4:]}={v:.3f}" for k, v in last_validation.items()))
                accelerator.wait_for_everyone()
            if state.consecutive_skips >= config.training.max_consecutive_skips:
                folder = save_checkpoint(accelerator, folders, state, config.training.keep_last)
                stopped_early = (
                    f"stopped: {state.consecutive_skips} updates in a row were skipped (non-finite loss or gradient norm > "
                    f"{config.optim.skip_grad_norm}). Checkpoint: {folder}. Try a lower optim.lr, a longer warm-up, or smaller free bits."
                )
                break
            if state.step % config.training.save_every == 0 or state.step == config.training.max_steps:
                save_checkpoint(accelerator, folders, state, config.training.keep_last)
            if state.step >= config.training.max_steps:
                break
        else:
            state.epoch += 1
            state.batches_in_epoch = 0
    progress.close()
    if stopped_early:
        accelerator.end_training()
        raise SystemExit(stopped_early)

    checksums = replica_checksums(accelerator, model)

    # Final evaluation, export, samples and a summary.
    final_metrics = {}
    samples = []
    unwrapped = accelerator.unwrap_model(model)
    if accelerator.is_main_process:
        settings = EvalSettings(iw_samples=config.training.iw_samples, max_tokens=config.data.eval_max_tokens, level_use=bool(levels))
        final_metrics = evaluate(unwrapped, validation, collator, settings, show_progress=True)
        sampling = SamplingConfig(temperature=0.9, top_p=0.95, max_paragraphs=3, max_sentences=6, max_tokens=config.training.sample_max_tokens)
        generated = sample_prior(unwrapped, config.training.num_samples, sampling, seeded_generator(config.training.seed, accelerator.device)) if config.training.num_samples else []
        samples = [document_text(doc, corpus.tokenizer) for doc in generated]
    accelerator.wait_for_everyone()
    final = export(accelerator, model, corpus, config, final_metrics, output_dir)
    accelerator.end_training()

    wall = time.perf_counter() - started
    if accelerator.is_main_process:
        print("\n" + format_report(final_metrics, "Final validation"))
        for i, text in enumerate(samples):
            print(f"\n--- sample {i + 1} (from the prior) ---\n{text}")
        print("\nSummary\n" + format_summary({
            "steps": state.step,
            "wall time": f"{wall / 60:.1f} min",
            "tokens seen (this process)": f"{state.tokens_seen:,}",
            "skipped updates": state.skipped_updates,
            "parameter checksum per process": ", ".join(f"{c:.10e}" for c in checksums),
            "validation PPL (ELBO)": f"{final_metrics.get('ppl_elbo', float('nan')):.2f}",
            "information use (nats/doc)": ", ".join(
                f"{level} {e['information_use_nats_per_document']:.2f}" for level, e in final_metrics.get("per_level", {}).items()
                if "information_use_nats_per_document" in e
            ) or "-",
            "model": str(final),
            "log": str(output_dir / "log.jsonl"),
        }))
    return {"metrics": final_metrics, "samples": samples, "state": state.state_dict(), "final": str(final)}


def _postfix(record: dict, levels: list[str]) -> dict:
    postfix = {"loss": f"{record['loss']:.3f}"}
    postfix.update({f"kl_{level[:3]}": f"{record[f'kl_raw/{level}']:.1f}" for level in levels})
    postfix["tok/s"] = f"{record['tokens_per_second']:.0f}"
    return postfix


def _flat(tree: dict, prefix: str = "") -> dict:
    """Flatten nested config dicts for trackers (TensorBoard hparams take scalars only)."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat(value, name + "."))
        else:
            flat[name] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


if __name__ == "__main__":
    main(sys.argv[1:])
