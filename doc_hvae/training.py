"""Building blocks of a training run: its typed config, builders, checkpoint folders, logging.

The run itself (the Accelerator, the guarded step, the loop, export) is `doc_hvae.trainer`;
everything here is plain Python and PyTorch so it can be tested and reused without a launcher.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import torch
from accelerate.tracking import GeneralTracker
from pydantic import Field, field_validator, model_validator
from torch.utils.data import DataLoader
from transformers import get_scheduler

from .config import LEVELS, DocHVAEConfig
from .config_loading import StrictModel
from .data.batching import DocCollator, TokenBudgetBatchSampler
from .data.prepare import LimitsConfig, SourceConfig, TokenizerConfig
from .data.tokenizer import EncoderTokenIds, SpecialTokenIds
from .generation import recommended_sampling_config
from .guidance import guidance_problems_for
from .modeling import DocHVAE
from .modeling.loading import load_model
from .objectives import Objective

# ---------------------------------------------------------------------------------------------
# The training config (one YAML file, see recipes/configs/)

_MODEL_CONFIG_KEYS = (
    set(inspect.signature(DocHVAEConfig.__init__).parameters)
    - {"self", "kwargs", "vocab_size", "encoder_vocab_size"}
    - {name for name in inspect.signature(DocHVAEConfig.__init__).parameters if name.endswith("token_id")}
)


class PrepareSection(StrictModel):
    """How to build `data.prepared_dir` when it does not exist yet (see data_scripts/prepare_corpus.py)."""

    source: SourceConfig
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    encoder_tokenizer: TokenizerConfig | None = Field(
        None, description="the sentence encoder's own tokenizer (PrepareConfig.encoder_tokenizer)"
    )
    limits: LimitsConfig = Field(default_factory=LimitsConfig)


class DataSection(StrictModel):
    prepared_dir: str = Field(description="a prepared corpus folder (dataset/, tokenizer/, statistics.json)")
    prepare: PrepareSection | None = Field(None, description="prepare the corpus first if prepared_dir does not exist")
    train_split: str = "train"
    validation_split: str = "validation"
    max_tokens: int = Field(4096, ge=16, description="token budget of one training batch (per process)")
    eval_max_tokens: int = Field(8192, ge=16)
    max_validation_documents: int | None = Field(
        None, ge=1, description="validate (periodically and at the end) on the first N windows only"
    )
    min_row_length: int = Field(64, ge=1, description="packed rows are at least this long")


class ModelSection(StrictModel):
    config: dict[str, Any] = Field(
        default_factory=dict, description="DocHVAEConfig arguments (vocab and special ids come from the tokenizer)"
    )
    decoder_name_or_path: str | None = Field(
        None,
        description="start the decoder from this AutoModelForCausalLM checkpoint, or from the decoder of a saved DocHVAE (warm start from a trained flat LM)",
    )
    encoder_name_or_path: str | None = Field(
        None, description="start the sentence encoder from this AutoModel checkpoint"
    )
    init_from: str | None = Field(None, description="start from a saved DocHVAE (save_pretrained folder)")

    @field_validator("config")
    @classmethod
    def _valid_model_config(cls, value: dict) -> dict:
        if "bow_loss_weight" in value:
            raise ValueError(
                "model.config.bow_loss_weight is now objective.bow_loss_weight (the weights are the objective's; "
                "the levels it weights get their heads)"
            )
        unknown = sorted(set(value) - _MODEL_CONFIG_KEYS)
        if unknown:
            raise ValueError(f"unknown DocHVAEConfig key(s) {unknown}; allowed: {sorted(_MODEL_CONFIG_KEYS)}")
        DocHVAEConfig(**value)  # its ValueError lists every invalid field, reported with the other config errors
        return value

    @model_validator(mode="after")
    def _init_from_alone(self) -> ModelSection:
        if self.init_from and (self.config or self.decoder_name_or_path or self.encoder_name_or_path):
            raise ValueError(
                "model.init_from loads a whole saved DocHVAE: leave model.config, decoder_name_or_path and encoder_name_or_path unset"
            )
        return self


class ParamGroup(StrictModel):
    """Optimiser settings for the parameters whose names contain a key of `optim.param_groups`."""

    lr_scale: float = Field(1.0, gt=0, description="learning rate = optim.lr x lr_scale (the schedule scales it alike)")
    eps: float | None = Field(
        None, gt=0, description="AdamW eps; a large eps makes steps of tiny, noisy gradients tiny (SGD-like)"
    )
    weight_decay: float | None = Field(None, ge=0)


class OptimSection(StrictModel):
    lr: float = Field(5e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = Field(1e-8, gt=0)
    scheduler: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    warmup_steps: int = Field(200, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    param_groups: dict[str, ParamGroup] = Field(
        default_factory=dict,
        description="optimiser settings by parameter name: every trainable parameter whose name contains the key gets them "
        "(the last matching key wins), e.g. {decoder.layers.gates: {lr_scale: 10}}; a key that matches nothing is ignored with a warning",
    )
    gradient_accumulation_steps: int = Field(1, ge=1)
    skip_grad_norm: float | None = Field(
        1000.0,
        gt=0,
        description="skip the update when the gradient norm (before clipping) exceeds this (VDVAE); None = only non-finite",
    )


class TrainingSection(StrictModel):
    output_dir: str
    seed: int = 0
    max_steps: int = Field(1000, ge=1, description="optimisation steps (synchronised gradient updates)")
    mixed_precision: Literal["no", "fp16", "bf16"] | None = Field(
        None,
        description="None: the launch decides (accelerate launch --mixed_precision, accelerate config, ACCELERATE_MIXED_PRECISION)",
    )
    log_every: int = Field(10, ge=1)
    eval_every: int = Field(500, ge=1)
    save_every: int = Field(500, ge=1)
    keep_last: int = Field(2, ge=1, description="step folders kept under output_dir/checkpoints")
    max_consecutive_skips: int = Field(
        20, ge=1, description="stop (with a checkpoint) after this many skipped updates in a row"
    )
    num_samples: int = Field(3, ge=0, description="documents sampled from the prior at the end")
    sample_max_tokens: int = Field(120, ge=1)
    gradient_checkpointing: bool = Field(
        False,
        description="recompute the decoder's and sentence encoder's blocks in the backward pass: less activation memory for more compute (docs/results.md#speed)",
    )
    tensorboard: bool = Field(True, description="also log to TensorBoard when it is installed")
    log_with: list[str] = Field(
        default_factory=list, description="more Accelerate trackers (wandb, mlflow, comet_ml, aim, ...)"
    )
    push_to_hub: str | None = Field(
        None, description="a Hub repo id (user/name): the export folder is uploaded there at the end"
    )
    hub_private: bool = Field(True, description="create the push_to_hub repo as private")
    iw_samples: int = Field(0, ge=0, description="importance samples for the final validation IW NLL (0 = skip)")
    fit_document_prior: bool = Field(
        True,
        description="at the end, fit a Gaussian mixture to the training windows' z_doc and save it with the model, for "
        "sampling with document_prior: fitted (doc_hvae.document_prior); models without a document level skip it",
    )
    recalibration_batches: int = Field(
        16,
        ge=1,
        description="training batches whose eval-mode posterior means set the BN-VAE statistics before each validation and the export",
    )

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _yaml_no(cls, value):
        return "no" if value is False else value  # YAML reads a bare `no` as false


class TrainConfig(StrictModel):
    data: DataSection
    model: ModelSection = Field(default_factory=ModelSection)
    objective: Objective = Field(default_factory=Objective)
    optim: OptimSection = Field(default_factory=OptimSection)
    training: TrainingSection
    sampling: dict[str, Any] = Field(
        default_factory=dict,
        description="the sampling this model is meant to be used with (SamplingConfig fields over DEFAULT_SAMPLING, e.g. "
        "guidance: {document: 3.0}): the end-of-training samples, the model card, DocHVAEPipeline.from_pretrained and "
        "generate_docs.py use it",
    )

    @field_validator("sampling")
    @classmethod
    def _known_sampling(cls, value: dict[str, Any]) -> dict[str, Any]:
        recommended_sampling_config(value)  # unknown fields and bad values fail at load, not after training
        return value

    @model_validator(mode="after")
    def _sampling_fits_the_model(self) -> TrainConfig:
        """A recommended sampling the model cannot use (guidance on a flat LM, ...) fails at load, not after training."""
        if self.sampling and not self.model.init_from:
            sampling = recommended_sampling_config(self.sampling)
            model_config = DocHVAEConfig(**self.model.config)
            levels = model_config.levels
            problems = guidance_problems_for(model_config, sampling.guidance, sampling.guidance_null)
            if sampling.document_prior == "fitted" and not (self.training.fit_document_prior and "document" in levels):
                problems.append(
                    "document_prior: fitted needs a document level and training.fit_document_prior: true "
                    f"(levels {levels}, fit_document_prior {self.training.fit_document_prior})"
                )
            if problems:
                raise ValueError(
                    f"sampling does not fit model.config: {problems[0]}; change the sampling section "
                    "(sampling={} on the command line recommends plain sampling)"
                )
        return self

    def unused_objective_levels(self) -> list[str]:
        """Levels with objective settings that this model does not have (a variant made by overriding
        model.config.levels keeps the base config's per-level settings; they are ignored, and said so)."""
        levels = self.model.config.get("levels", list(LEVELS))
        return [level for level in [*self.objective.levels, *self.objective.bow_loss_weight] if level not in levels]


# ---------------------------------------------------------------------------------------------
# Builders


def model_config_from(
    section: ModelSection, tokenizer, bow_levels: list[str] = (), encoder_tokenizer=None
) -> DocHVAEConfig:
    """A DocHVAEConfig from the recipe's model section, with vocab and special ids from the tokenizer
    (and the encoder's from `encoder_tokenizer`, when it has its own), and bag-of-words heads for
    `bow_levels` (the levels the objective weights) too."""
    special = SpecialTokenIds.from_tokenizer(tokenizer)
    kwargs = dict(section.config)
    if bow_levels:
        kwargs["bow_levels"] = sorted({*kwargs.get("bow_levels", []), *bow_levels}, key=LEVELS.index)
    vocab = len(tokenizer)
    if encoder_tokenizer is not None:
        encoder_special = EncoderTokenIds.from_tokenizer(encoder_tokenizer)
        kwargs.update(
            encoder_vocab_size=len(encoder_tokenizer),
            encoder_pad_token_id=encoder_special.pad,
            encoder_start_token_id=encoder_special.start,
            encoder_end_token_id=encoder_special.end,
        )
    for part, size in (
        ("decoder", vocab),
        ("encoder", len(encoder_tokenizer) if encoder_tokenizer is not None else vocab),
    ):
        if part in kwargs:
            kwargs[part] = {**kwargs[part], "vocab_size": size}
    return DocHVAEConfig(
        **kwargs,
        vocab_size=vocab,
        pad_token_id=special.pad,
        bos_token_id=special.bos,
        sentence_end_token_id=special.sentence_end,
        paragraph_end_token_id=special.paragraph_end,
        unk_token_id=special.unk,
    )


def build_model(section: ModelSection, tokenizer, bow_levels: list[str] = (), encoder_tokenizer=None) -> DocHVAE:
    """The model of a training config's model section (`bow_levels`: the objective's bag-of-words levels;
    `encoder_tokenizer`: the sentence encoder's own tokenizer, if the corpus has one)."""
    if section.init_from:
        model = load_model(section.init_from)
        special = SpecialTokenIds.from_tokenizer(tokenizer)
        ours = (
            model.config.vocab_size,
            model.config.pad_token_id,
            model.config.bos_token_id,
            model.config.sentence_end_token_id,
            model.config.paragraph_end_token_id,
            model.config.unk_token_id,
        )
        theirs = (len(tokenizer), special.pad, special.bos, special.sentence_end, special.paragraph_end, special.unk)
        ours += (model.config.encoder_vocab_size,)
        theirs += (len(encoder_tokenizer) if encoder_tokenizer is not None else None,)
        if ours != theirs:
            raise ValueError(
                f"model.init_from={section.init_from!r} was trained with other tokenizers (vocab and special ids, encoder vocab {ours}, "
                f"this corpus {theirs}); prepare the corpus with tokenizer.pretrained=<that model's folder> "
                "(and encoder_tokenizer.pretrained=<its encoder_tokenizer folder>, if it has one)"
            )
        return model
    config = model_config_from(section, tokenizer, bow_levels, encoder_tokenizer)
    if section.decoder_name_or_path or section.encoder_name_or_path:
        return DocHVAE.from_pretrained_parts(
            config, decoder=section.decoder_name_or_path, encoder=section.encoder_name_or_path
        )
    return DocHVAE(config)


def check_positions(config: DocHVAEConfig, limits: dict) -> None:
    """Fail before training if the corpus's longest streams exceed the encoder's or decoder's position tables."""
    problems = []
    sentence_stream = limits["max_sentence_tokens"] + 2  # <s> sentence boundary
    if config.levels:
        encoder_positions = config.encoder_config().max_position_embeddings
        if sentence_stream > encoder_positions:
            problems.append(
                f"sentences of up to {limits['max_sentence_tokens']} tokens need {sentence_stream} encoder positions, "
                f"the encoder has {encoder_positions}: lower limits.max_sentence_tokens or raise the encoder's max_position_embeddings"
            )
    stream_limit = {
        "paragraph": "max_paragraph_tokens",
        "sentence": "max_sentence_tokens",
        "document": "max_window_tokens",
    }[config.decoder_context]
    stream_tokens = limits[stream_limit] + (
        1 if config.decoder_context == "sentence" else 0
    )  # a sentence stream adds its boundary
    decoder_stream = config.num_memory_slots + 1 + stream_tokens
    decoder_positions = config.decoder_config().max_position_embeddings
    if decoder_stream > decoder_positions:
        problems.append(
            f"decoder streams of up to {decoder_stream} positions (memory + <s> + tokens) exceed the decoder's {decoder_positions}: "
            f"lower limits.{stream_limit} or raise the decoder's n_positions"
        )
    if problems:
        raise ValueError("the prepared corpus does not fit the model:\n" + "\n".join(f"  - {p}" for p in problems))


def build_dataloader(
    dataset, collator: DocCollator, max_tokens: int, shuffle: bool, seed: int
) -> tuple[DataLoader, TokenBudgetBatchSampler]:
    """A DataLoader over token-budget batches (the sampler is returned too, for `set_epoch`)."""
    sampler = TokenBudgetBatchSampler(dataset["num_tokens"], max_tokens=max_tokens, shuffle=shuffle, seed=seed)
    # num_workers=0: on few cores, workers compete with the compute threads (measured: slower on 2 cores).
    # Its own generator: creating an iterator draws a seed, and drawing it from the global RNG
    # would shift dropout and latent noise after a resume (the iterator is created at another time).
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collator, num_workers=0, generator=generator), sampler


def build_optimizer(model: torch.nn.Module, optim: OptimSection) -> torch.optim.Optimizer:
    """AdamW, without weight decay on biases, norms and the injection gates (decay would pull a gate
    shut), with `optim.param_groups`' settings by parameter name."""
    groups: dict[tuple, list] = {}
    matched = dict.fromkeys(optim.param_groups, False)
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        decays = not (parameter.ndim < 2 or "norm" in name.lower() or name.endswith("gates"))
        settings = {"lr": optim.lr, "eps": optim.eps, "weight_decay": optim.weight_decay if decays else 0.0}
        for key, group in optim.param_groups.items():
            if key in name:
                matched[key] = True
                settings["lr"] = optim.lr * group.lr_scale
                settings["eps"] = group.eps if group.eps is not None else optim.eps
                settings["weight_decay"] = (
                    group.weight_decay if group.weight_decay is not None else settings["weight_decay"]
                )
        groups.setdefault(tuple(sorted(settings.items())), []).append(parameter)
    unmatched = [key for key, found in matched.items() if not found]
    if unmatched:  # e.g. the gates' group in the flat-LM variant of a config: said, not an error
        warnings.warn(
            f"optim.param_groups key(s) {unmatched} match no trainable parameter of this model and are ignored; "
            f"names look like {name!r}",
            stacklevel=2,
        )
    return torch.optim.AdamW(
        [{"params": params, **dict(settings)} for settings, params in groups.items()], lr=optim.lr, betas=optim.betas
    )


def build_scheduler(optimizer: torch.optim.Optimizer, optim: OptimSection, max_steps: int):
    return get_scheduler(optim.scheduler, optimizer, num_warmup_steps=optim.warmup_steps, num_training_steps=max_steps)


# ---------------------------------------------------------------------------------------------
# State that checkpoints carry, and step folders


class TrainerState:
    """Counters saved with every checkpoint (registered with `accelerator.register_for_checkpointing`)."""

    def __init__(self):
        self.step = 0  # optimisation steps done
        self.epoch = 0
        self.batches_in_epoch = 0  # batches of the current epoch already consumed
        self.skipped_updates = 0
        self.consecutive_skips = 0
        self.tokens_seen = 0

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


class StepFolders:
    """`output_dir/checkpoints/step_00000100` folders: the newest is found from the saved state, not the name."""

    def __init__(self, output_dir: str | os.PathLike):
        self.root = Path(output_dir) / "checkpoints"

    def path(self, step: int) -> Path:
        return self.root / f"step_{step:08d}"

    def all(self) -> list[Path]:
        """Complete step folders (with our state file), oldest first by the step recorded inside."""
        folders = [p for p in self.root.glob("step_*") if (p / "trainer_state.json").is_file()]
        return sorted(folders, key=lambda p: json.loads((p / "trainer_state.json").read_text())["step"])

    def latest(self) -> Path | None:
        folders = self.all()
        return folders[-1] if folders else None

    def mark_complete(self, folder: Path, state: TrainerState) -> None:
        # Written last: a folder without it (a run killed mid-save) is never resumed from.
        (folder / "trainer_state.json").write_text(json.dumps(state.state_dict(), indent=2))

    def prune(self, keep_last: int) -> list[Path]:
        removed = self.all()[:-keep_last]
        for folder in removed:
            shutil.rmtree(folder, ignore_errors=True)
        return removed

    def resolve(self, resume: str) -> Path:
        """'latest' or a path -> a complete step folder, with a clear error otherwise."""
        if resume == "latest":
            folder = self.latest()
            if folder is None:
                raise FileNotFoundError(
                    f"--resume latest: no complete checkpoint under {str(self.root)!r}; start without --resume"
                )
            return folder
        folder = Path(resume)
        if not (folder / "trainer_state.json").is_file():
            raise FileNotFoundError(
                f"--resume {resume!r}: not a complete checkpoint folder (no trainer_state.json); use 'latest' or a step folder under {self.root}"
            )
        return folder


# ---------------------------------------------------------------------------------------------
# Logging


class JsonLinesTracker(GeneralTracker):
    """An Accelerate tracker writing one JSON object per `log` call to `output_dir/log.jsonl`."""

    name = "jsonl"
    requires_logging_directory = True
    main_process_only = True

    def __init__(self, run_name: str, logging_dir: str | os.PathLike, append: bool = False):
        super().__init__()
        self.path = Path(logging_dir) / "log.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A resumed run continues its log; a fresh run starts a new one.
        self._file = open(self.path, "a" if append else "w", buffering=1)

    @property
    def tracker(self):
        return self._file

    def store_init_configuration(self, values: dict) -> None:
        self._file.write(json.dumps({"config": values, "time": time.time()}) + "\n")

    def log(self, values: dict, step: int | None = None, **kwargs) -> None:
        record = {"step": step, "time": round(time.time(), 3), **{k: _jsonable(v) for k, v in values.items()}}
        self._file.write(json.dumps(record) + "\n")

    def finish(self) -> None:
        self._file.close()


def _jsonable(value):
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def read_log(path: str | os.PathLike) -> list[dict]:
    """The records of a log.jsonl (the config line excluded)."""
    return [r for r in map(json.loads, Path(path).read_text().splitlines()) if "config" not in r]


def format_summary(rows: dict[str, Any]) -> str:
    width = max(len(k) for k in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows.items())
