"""The training run behind `recipes/train_docs.py`: one `Trainer` that a recipe wires in a few lines.

    trainer = Trainer(load_config(TrainConfig, "recipes/configs/quickstart.yaml"), resume=None)
    trainer.train()          # the guarded loop: logging, validation, checkpoints, early stop
    result = trainer.finish()  # replica check, final evaluation, export with a model card, curves, samples

Launch settings are Accelerate's: `accelerate launch --mixed_precision bf16` (or `accelerate
config`, or ACCELERATE_MIXED_PRECISION) decides precision unless the YAML sets
`training.mixed_precision`. `training_step` is the one step that training and the throughput
benchmark both time.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import DistributedType, set_seed
from tqdm.auto import tqdm

from .config import LEVELS
from .data.batching import DocCollator
from .data.prepare import PrepareConfig, PreparedCorpus, format_statistics, is_prepared, prepare_corpus
from .document_prior import fit_to_windows, format_fit_report
from .errors import TrainingError
from .evaluation import EvalSettings, evaluate, format_report, validation_metrics
from .export import export
from .generation import document_text, recommended_sampling_config, sample_prior, seeded_generator
from .modeling.distributions import HALF_PRECISION
from .objectives import objective_loss
from .training import (
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

CURVES = "curves"  # output_dir/curves: the PNG training curves written at the end of a run


# ---------------------------------------------------------------------------------------------
# Pieces (each usable on its own)


def build_accelerator(config: TrainConfig, append_log: bool = False) -> Accelerator:
    """The Accelerator of a run: the YAML's precision if set, else the launch settings'; trackers."""
    output_dir = Path(config.training.output_dir)
    trackers: list = [JsonLinesTracker("doc_hvae", output_dir, append=append_log)]
    trackers += list(config.training.log_with)
    tensorboard_missing = False
    if config.training.tensorboard and "tensorboard" not in trackers:
        try:
            import tensorboard  # noqa: F401

            trackers.append("tensorboard")
        except ImportError:
            tensorboard_missing = True
    accelerator = Accelerator(
        mixed_precision=config.training.mixed_precision,  # None: `accelerate launch` / `accelerate config` decide
        gradient_accumulation_steps=config.optim.gradient_accumulation_steps,
        log_with=trackers,
        project_dir=str(output_dir),
        step_scheduler_with_optimizer=False,  # schedules count optimisation steps, whatever the process count
    )
    check_launch(accelerator)
    if tensorboard_missing:
        accelerator.print(
            f"Note: TensorBoard is not installed, so this run writes no TensorBoard events (its log: {output_dir / 'log.jsonl'}, "
            f'PNG curves in {output_dir / CURVES} at the end). For TensorBoard: pip install -e ".[tensorboard]" '
            "(training.tensorboard=false silences this note)."
        )
    return accelerator


def check_launch(accelerator: Accelerator) -> None:
    """Refuse launches where the processes started differ from the processes Accelerate uses."""
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise TrainingError(
            f"{launched} processes were launched but Accelerate runs {accelerator.num_processes} "
            f"(device {accelerator.device}); they would train separately and overwrite each other's checkpoints.\n"
            "On CPU, start real data-parallel processes with:\n"
            "  ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 "
            "--mixed_precision no --dynamo_backend no recipes/train_docs.py --config ...\n"
            "or: torchrun --standalone --nproc_per_node 2 recipes/train_docs.py --config ... (with ACCELERATE_USE_CPU=1)"
        )
    plugin = fsdp_plugin(accelerator)
    if plugin is not None and plugin.fsdp_version != 2:
        raise TrainingError(
            f"FSDP version {plugin.fsdp_version}: the recipe shards with FSDP2 only (its `full_parameters` gathers a fully_shard model "
            "for validation, evaluation and sampling); launch with --use_fsdp --fsdp_version 2"
        )


def fsdp_plugin(accelerator: Accelerator):
    """The launch's FSDP plugin; None when the run is not sharded."""
    return accelerator.state.fsdp_plugin if accelerator.distributed_type == DistributedType.FSDP else None


def fsdp_reshard_after_forward(accelerator: Accelerator) -> bool:
    """The FSDP2 setting `full_parameters` restores (FULL_SHARD: True); True without FSDP."""
    plugin = fsdp_plugin(accelerator)
    return bool(getattr(plugin, "reshard_after_forward", True)) if plugin is not None else True


def prepare_data(config: TrainConfig, accelerator: Accelerator) -> PreparedCorpus:
    """Load the prepared corpus; build it first (main process only) if the config says how."""
    data = config.data
    with accelerator.main_process_first():
        if not is_prepared(data.prepared_dir):
            if data.prepare is None:
                raise TrainingError(
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
            raise TrainingError(
                f"split {split!r} of {data.prepared_dir} is missing or empty (splits: {dict((k, len(v)) for k, v in corpus.dataset.items())})"
            )
    return corpus


def check_prepared_matches(data) -> None:
    """Refuse a prepared corpus built with other settings than the config's data.prepare."""
    saved = yaml.safe_load((Path(data.prepared_dir) / "prepare_config.yaml").read_text())
    schema = type(data.prepare)
    try:  # settings added since the folder was prepared take their defaults (what it was prepared with)
        saved = schema.model_validate(
            {key: value for key, value in saved.items() if key in schema.model_fields}
        ).model_dump(mode="json")
    except ValueError:
        pass  # not valid under this version's schema: compare as saved
    wanted = data.prepare.model_dump(mode="json")
    different = [key for key in wanted if saved.get(key) != wanted[key]]
    if different:
        raise TrainingError(
            f"{data.prepared_dir} was prepared with other {different} settings than this config's data.prepare "
            f"(saved: { {k: saved.get(k) for k in different} }). Delete the folder to prepare it again, or set data.prepared_dir elsewhere."
        )


def training_step(
    model,
    batch,
    optimizer,
    scheduler,
    accelerator: Accelerator,
    config: TrainConfig,
    state: TrainerState,
    levels: list[str],
):
    """Forward, backward and (at a synchronisation point) a guarded optimizer update.

    Returns (logs, updated) where updated is None between accumulation steps, else whether the
    update was applied (False: skipped for a non-finite loss or gradient, or a huge gradient).
    """
    with accelerator.accumulate(model):
        output = model(batch)  # under the launch's mixed precision: `accelerator.prepare` wrapped forward
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
            if (
                accelerator.scaler is not None
            ):  # fp16: clipping unscaled the gradients; reset the scaler for the next step
                accelerator.scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        state.step += 1
        logs.update(grad_norm=grad_norm.detach(), lr=scheduler.get_last_lr()[0], skipped_updates=state.skipped_updates)
        return logs, ok


def save_checkpoint(accelerator: Accelerator, folders: StepFolders, state: TrainerState, keep_last: int) -> Path:
    """`accelerator.save_state` into the step's folder, marked complete last; older folders pruned."""
    folder = folders.path(state.step)
    accelerator.save_state(str(folder))
    accelerator.wait_for_everyone()  # every process's random state is written before the folder is marked complete
    if accelerator.is_main_process:
        folders.mark_complete(folder, state)
        folders.prune(keep_last)
    accelerator.wait_for_everyone()
    return folder


def sharded_modules(model) -> list:
    """The FSDP2 (`fully_shard`) modules of `model`: none under DDP or on one process."""
    from torch.distributed.fsdp import FSDPModule

    return [module for module in model.modules() if isinstance(module, FSDPModule)]


@contextmanager
def full_parameters(model, reshard_after_forward: bool = True):
    """Every parameter of `model` whole on this process for the duration of the block: a no-op
    unless the model is sharded with FSDP2 (`fully_shard`, Accelerate's FSDP with fsdp_version 2).

    Validation, BN-VAE recalibration, evaluation and sampling call submodules directly (the
    encoder, a latent level's prior, one decoder step), which the forward hooks that gather a
    sharded model's parameters never see. So the parameters are gathered once up front (a
    collective: every process enters the block) and kept whole until it ends; nothing inside is
    then a collective, and the main process alone may evaluate. `reshard_after_forward` is the
    setting to restore afterwards (FULL_SHARD: True).

    Under FSDP's mixed precision the parameters are gathered in its parameter dtype (bf16 with
    `--mixed_precision bf16`), so the block runs under autocast to that dtype, as Accelerate runs
    the forward: the fp32 tensors the library makes (latent samples, masks) meet bf16 weights.
    """
    modules = sharded_modules(model)
    for module in modules:
        module.set_reshard_after_forward(False)
        module.unshard()
    parameter = next(model.parameters(), None)
    low_precision = modules and parameter is not None and parameter.dtype in HALF_PRECISION
    try:
        with torch.autocast(parameter.device.type, dtype=parameter.dtype) if low_precision else nullcontext():
            yield model
    finally:
        for module in modules:
            module.reshard()
            module.set_reshard_after_forward(reshard_after_forward)


def replica_checksums(accelerator: Accelerator, model) -> list[float]:
    """Sum of all parameters on every process; data-parallel replicas must agree exactly (with
    sharded parameters, the gathered ones: every process must then hold the same whole model)."""
    with full_parameters(model, fsdp_reshard_after_forward(accelerator)):
        local = torch.tensor(
            [sum(float(p.detach().double().sum()) for p in accelerator.unwrap_model(model).parameters())],
            dtype=torch.float64,
            device=accelerator.device,
        )
    checksums = accelerator.gather(local).tolist()
    if len(set(checksums)) > 1:
        raise TrainingError(f"data-parallel replicas diverged: parameter checksums per process {checksums}")
    return checksums


# ---------------------------------------------------------------------------------------------
# The run


class Trainer:
    """Everything a training run holds, built from its config (see the module docstring)."""

    def __init__(self, config: TrainConfig, resume: str | None = None):
        self.config = config
        self.output_dir = Path(config.training.output_dir)
        self.accelerator = accelerator = build_accelerator(config, append_log=bool(resume))
        set_seed(config.training.seed)
        if config.unused_objective_levels():
            accelerator.print(
                f"Note: objective.levels settings for {config.unused_objective_levels()} are ignored: the model has no such level."
            )
        self.corpus = corpus = prepare_data(config, accelerator)
        levels = config.model.config.get("levels", list(LEVELS))
        model = build_model(
            config.model,
            corpus.tokenizer,
            [level for level in config.objective.bow_levels() if level in levels],
            corpus.encoder_tokenizer,
        )
        if corpus.statistics.get("limits"):
            check_positions(model.config, corpus.statistics["limits"])
        if config.training.gradient_checkpointing:
            model.activation_checkpointing_enable()
        self.levels = list(model.config.levels)
        self.collator = DocCollator.for_model(model.config, min_row_length=config.data.min_row_length)
        self._build_data()
        optimizer = build_optimizer(model, config.optim)
        scheduler = build_scheduler(optimizer, config.optim, config.training.max_steps)
        self.model, self.optimizer, self.train_loader, self.scheduler = accelerator.prepare(
            model, optimizer, self.train_loader, scheduler
        )
        self.state = TrainerState()
        accelerator.register_for_checkpointing(self.state)
        self.folders = StepFolders(self.output_dir)
        if not resume and self.folders.latest() is not None:
            raise TrainingError(
                f"{self.output_dir} holds checkpoints of an earlier run (latest: {self.folders.latest()}); continue it with --resume latest, "
                "or give this run its own training.output_dir=..."
            )
        if resume:
            folder = self.folders.resolve(resume)
            accelerator.load_state(str(folder))
            accelerator.print(
                f"Resumed from {folder} at step {self.state.step} (epoch {self.state.epoch}, batch {self.state.batches_in_epoch})."
            )
        accelerator.init_trackers("doc_hvae", config=_flat(config.model_dump(mode="json")))
        parameters = sum(p.numel() for p in self.unwrapped.parameters())
        accelerator.print(
            f"Model: levels={self.levels or 'none (flat LM)'}, {parameters / 1e6:.2f}M parameters, decoder_context={self.unwrapped.config.decoder_context}; "
            f"{len(corpus.dataset[config.data.train_split]):,} training windows, {len(self.train_loader)} batches/epoch/process, "
            f"{accelerator.num_processes} process(es) on {accelerator.device}, mixed precision {accelerator.mixed_precision}"
            f"{', gradient checkpointing' if self.unwrapped.is_activation_checkpointing else ''}."
        )
        self.started = time.perf_counter()

    def _build_data(self) -> None:
        config, corpus, device = self.config, self.corpus, self.accelerator.device
        train = corpus.dataset[config.data.train_split]
        self.train_loader, self.train_sampler = build_dataloader(
            train, self.collator, config.data.max_tokens, shuffle=True, seed=config.training.seed
        )
        validation = corpus.dataset[config.data.validation_split]
        if config.data.max_validation_documents:
            validation = validation.select(range(min(len(validation), config.data.max_validation_documents)))
        self.validation = validation
        loader, _ = build_dataloader(validation, self.collator, config.data.eval_max_tokens, shuffle=False, seed=0)
        self.validation_batches = [batch.to(device) for batch in loader]
        # A fixed sample of training batches (its own shuffle seed: the training order is untouched)
        # for the BN-VAE statistics that evaluation uses.
        loader, _ = build_dataloader(
            train, self.collator, config.data.max_tokens, shuffle=True, seed=config.training.seed + 1
        )
        self.recalibration_batches = [
            batch.to(device) for batch, _ in zip(loader, range(config.training.recalibration_batches))
        ]
        if self.train_sampler.oversized:
            self.accelerator.print(
                f"Note: {self.train_sampler.oversized} training windows exceed data.max_tokens={config.data.max_tokens} and form batches of their own."
            )

    @property
    def unwrapped(self):
        return self.accelerator.unwrap_model(self.model)

    def validate(self) -> dict:
        """Validation metrics on the main process (BN-VAE statistics recalibrated on every process,
        so the replicas keep identical buffers)."""
        accelerator = self.accelerator
        metrics = {}
        with full_parameters(self.model, fsdp_reshard_after_forward(accelerator)):
            self.unwrapped.recalibrate_posterior_norms(self.recalibration_batches)
            if accelerator.is_main_process:
                metrics = validation_metrics(self.unwrapped, self.validation_batches)
                accelerator.log(metrics, step=self.state.step)
            accelerator.wait_for_everyone()
        return metrics

    def train(self) -> None:
        """The loop until `training.max_steps`: logs, validation, checkpoints; raises TrainingError
        (after saving a checkpoint) when too many updates in a row were skipped."""
        config, accelerator, state, training = self.config, self.accelerator, self.state, self.config.training
        progress = tqdm(
            total=training.max_steps,
            initial=state.step,
            desc="training",
            disable=not accelerator.is_local_main_process,
            dynamic_ncols=True,
        )
        window_start, window_tokens = time.perf_counter(), 0
        self.model.train()
        while state.step < training.max_steps:
            for batch in self._epoch_batches():
                state.batches_in_epoch += 1
                state.tokens_seen += batch.num_tokens
                window_tokens += batch.num_tokens
                logs, updated = training_step(
                    self.model, batch, self.optimizer, self.scheduler, accelerator, config, state, self.levels
                )
                if updated is None:
                    continue
                progress.update(1)
                if state.step % training.log_every == 0 or state.step == 1:
                    record = self._log_record(logs, window_tokens, window_start)
                    accelerator.log(record, step=state.step)
                    progress.set_postfix(_postfix(record, self.levels), refresh=False)
                    window_start, window_tokens = time.perf_counter(), 0
                if state.step % training.eval_every == 0 or state.step == training.max_steps:
                    metrics = self.validate()
                    if metrics:
                        progress.write(
                            f"step {state.step}: " + ", ".join(f"{k[4:]}={v:.3f}" for k, v in metrics.items())
                        )
                if state.consecutive_skips >= training.max_consecutive_skips:
                    self._stop_after_skips(progress)
                if state.step % training.save_every == 0 or state.step == training.max_steps:
                    save_checkpoint(accelerator, self.folders, state, training.keep_last)
                if state.step >= training.max_steps:
                    break
            else:
                state.epoch += 1
                state.batches_in_epoch = 0
        progress.close()

    def _epoch_batches(self):
        """The training loader of the current epoch, past the batches of it already trained on (after a resume)."""
        state = self.state
        # Accelerate's loader sets its sampler's epoch from its own counter at every iteration:
        # after a resume that counter must start at the saved epoch, not at 0.
        self.train_loader.set_epoch(state.epoch)
        self.train_sampler.set_epoch(state.epoch)
        return (
            self.accelerator.skip_first_batches(self.train_loader, state.batches_in_epoch)
            if state.batches_in_epoch
            else self.train_loader
        )

    def _log_record(self, logs: dict, window_tokens: int, window_start: float) -> dict:
        """The logged record of a step: the step's logs, throughput since the last record, epoch and gate openings."""
        accelerator = self.accelerator
        tokens = accelerator.reduce(torch.tensor(window_tokens, device=accelerator.device), reduction="sum")
        record = {key: float(value) for key, value in logs.items()}
        record["tokens_per_second"] = float(tokens) / max(time.perf_counter() - window_start, 1e-9)
        record["epoch"] = self.state.epoch
        if (
            self.unwrapped.decoder.layers is not None
        ):  # whether the per-layer gates open (docs/findings.md#gates-stay-shut)
            with full_parameters(self.model, fsdp_reshard_after_forward(accelerator)):
                gates = self.unwrapped.decoder.layers.openings(self.unwrapped.config.layer_levels)
            record.update({f"gate/{level}": value for level, value in gates.items()})
        return record

    def _stop_after_skips(self, progress) -> None:
        """Save a checkpoint, end the run and raise: too many updates in a row were skipped."""
        state, training = self.state, self.config.training
        folder = save_checkpoint(self.accelerator, self.folders, state, training.keep_last)
        progress.close()
        self.accelerator.end_training()
        raise TrainingError(
            f"stopped: {state.consecutive_skips} updates in a row were skipped (non-finite loss or gradient norm > "
            f"{self.config.optim.skip_grad_norm}). Checkpoint: {folder}. Try a lower optim.lr, a longer warm-up, or smaller free bits."
        )

    def finish(self) -> dict:
        """Replica check, final evaluation, export, training curves, prior samples and a printed summary."""
        config, accelerator = self.config, self.accelerator
        checksums = replica_checksums(accelerator, self.model)
        metrics, samples, document_prior = {}, [], "not fitted"
        with full_parameters(self.model, fsdp_reshard_after_forward(accelerator)):
            if accelerator.is_main_process:
                settings = EvalSettings(
                    iw_samples=config.training.iw_samples,
                    max_tokens=config.data.eval_max_tokens,
                    level_use=bool(self.levels),
                )
                metrics = evaluate(self.unwrapped, self.validation, self.collator, settings, show_progress=True)
                if config.training.fit_document_prior and "document" in self.levels:
                    prior, report = fit_to_windows(
                        self.unwrapped, self.corpus.dataset[config.data.train_split], self.collator, self.validation
                    )
                    self.unwrapped.fitted_document_prior = prior  # saved by the export, used by the samples below
                    document_prior = format_fit_report(report)
                shown = {"max_paragraphs": 3, "max_sentences": 6, "max_tokens": config.training.sample_max_tokens}
                sampling = replace(recommended_sampling_config(config.sampling), **shown)
                if config.training.num_samples:
                    generated = sample_prior(
                        self.unwrapped,
                        config.training.num_samples,
                        sampling,
                        seeded_generator(config.training.seed, accelerator.device),
                    )
                    samples = [document_text(document, self.corpus.tokenizer) for document in generated]
            accelerator.wait_for_everyone()
        final = export(accelerator, self.model, self.corpus, config, metrics, self.output_dir)
        accelerator.end_training()  # closes log.jsonl: the curves below read it whole
        if accelerator.is_main_process:
            curves = self.write_curves()
            print("\n" + format_report(metrics, "Final validation"))
            for i, text in enumerate(samples):
                print(f"\n--- sample {i + 1} (from the prior) ---\n{text}")
            print("\nSummary\n" + format_summary(self._summary(metrics, checksums, final, curves, document_prior)))
        return {"metrics": metrics, "samples": samples, "state": self.state.state_dict(), "final": str(final)}

    def write_curves(self) -> str:
        """PNG curves of log.jsonl in output_dir/curves (main process), and what the summary says of them.

        Written after the export: a plot that fails (a damaged log, a matplotlib problem) is
        reported on stderr with the command that retries it, and costs neither the model nor the run.
        """
        from .plots import plot_training_curves  # matplotlib loads only when a run ends

        log, folder = self.output_dir / "log.jsonl", self.output_dir / CURVES
        try:
            written = plot_training_curves(log, folder)
        except Exception as error:  # the model is exported: a failed plot is reported, not worth the run
            retry = f"python -c \"from doc_hvae.plots import plot_training_curves; plot_training_curves('{log}', '{folder}')\""
            print(
                f"Could not plot the training curves ({type(error).__name__}: {error}); the model is saved. Retry with:\n  {retry}",
                file=sys.stderr,
            )
            return f"not written ({type(error).__name__}: {error})"
        return (
            f"{folder} ({', '.join(path.name for path in written)})"
            if written
            else "none (the log has no curves to draw)"
        )

    def _summary(
        self, metrics: dict, checksums: list[float], final: Path, curves: str = "-", document_prior: str = "-"
    ) -> dict:
        use = [
            f"{level} {e['information_use_nats_per_document']:.2f}"
            for level, e in metrics.get("per_level", {}).items()
            if "information_use_nats_per_document" in e
        ]
        return {
            "steps": self.state.step,
            "wall time": f"{(time.perf_counter() - self.started) / 60:.1f} min",
            "tokens seen (this process)": f"{self.state.tokens_seen:,}",
            "skipped updates": self.state.skipped_updates,
            "mixed precision": self.accelerator.mixed_precision,
            "parameter checksum per process": ", ".join(f"{c:.10e}" for c in checksums),
            "validation PPL (ELBO)": f"{metrics.get('ppl_elbo', float('nan')):.2f}",
            "information use (nats/doc)": ", ".join(use) or "-",
            "document prior": document_prior,
            "model": str(final),
            "log": str(self.output_dir / "log.jsonl"),
            "curves": curves,
        }


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
