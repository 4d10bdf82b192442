"""KL control, outside the model: beta schedules and free bits as pure functions (docs/training.md#objective).

    loss = [ recon_nll + stop_nll + sum_level beta_level(step) * free_bits_level(KL_level) + aux ] / tokens

`KL_level` is the model's per-unit, per-dimension KL tensor [U, D]. Free bits replace it by a
hinged total that has no gradient below the threshold, so a level can keep that much
information for free; the raw KL is always logged beside it.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator

from .config import LEVELS
from .config_loading import StrictModel


class BetaSchedule(StrictModel):
    """beta(step): constant, linear warm-up, or cyclical (Fu et al. 2019), optionally delayed.

    Before `offset_steps` every kind gives `start`; after it:
    constant:  `end`.
    linear:    `start` until `offset_steps`, then linearly to `end` over `warmup_steps`, then `end`.
    cyclical:  after `offset_steps`, cycles of `cycle_steps`: a linear ramp from `start` to `end`
               over the first `ramp_fraction` of each cycle, then `end`; after `num_cycles` cycles
               (if set) it stays at `end`.
    """

    kind: Literal["constant", "linear", "cyclical"] = "linear"
    start: float = Field(0.0, ge=0)
    end: float = Field(1.0, ge=0)
    warmup_steps: int = Field(1000, ge=0)
    cycle_steps: int = Field(1000, ge=1)
    ramp_fraction: float = Field(0.5, gt=0, le=1)
    num_cycles: int | None = Field(None, ge=1)
    offset_steps: int = Field(0, ge=0)


class FreeBits(StrictModel):
    """Free bits: `nats` of KL that cost nothing.

    dimension: per latent dimension, on its batch mean over units (Kingma et al. 2016) - nats per dimension;
    unit:      per unit (document / paragraph / sentence), on its KL summed over dimensions - nats per unit;
    level:     on the level's batch-mean KL per unit - nats per unit;
    none:      off.
    """

    mode: Literal["dimension", "unit", "level", "none"] = "dimension"
    nats: float = Field(0.0, ge=0)
    decay_offset_steps: int | None = Field(
        None,
        ge=0,
        description="from this step the threshold falls linearly to 0 over decay_steps, so that by the end every nat of KL "
        "is charged, as the reported ELBO charges it: free bits keep a level alive while the decoder learns to read it, "
        "then the level keeps only the KL that pays for itself; None: the threshold never falls",
    )
    decay_steps: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _decay_has_a_start(self) -> FreeBits:
        if self.decay_steps and self.decay_offset_steps is None:
            raise ValueError(
                f"free_bits.decay_steps={self.decay_steps} does nothing without decay_offset_steps: "
                "set decay_offset_steps to the step the decay starts"
            )
        return self

    def nats_at(self, step: int) -> float:
        """The threshold at optimisation step `step` (0-based)."""
        if self.decay_offset_steps is None or step < self.decay_offset_steps:
            return self.nats
        if self.decay_steps == 0:
            return 0.0
        return self.nats * max(0.0, 1.0 - (step - self.decay_offset_steps) / self.decay_steps)


class LevelObjective(StrictModel):
    """Per-level overrides; unset fields fall back to the objective's defaults."""

    beta: BetaSchedule | None = None
    free_bits: FreeBits | None = None


class Objective(StrictModel):
    beta: BetaSchedule = Field(default_factory=BetaSchedule)
    free_bits: FreeBits = Field(default_factory=FreeBits)
    stagger_steps: int = Field(
        0, ge=0, description="delay each level's beta schedule by this many steps per position in stagger_order"
    )
    stagger_order: Literal["bottom_up", "top_down"] = Field(
        "bottom_up",
        description="bottom_up: the sentence level warms up first and the document level last, "
        "so upper levels have time to carry information before they are charged for it",
    )
    levels: dict[str, LevelObjective] = Field(default_factory=dict)
    bow_loss_weight: dict[str, float] = Field(
        default_factory=dict,
        description="weight per level of a bag-of-words loss (the level's latent predicts the tokens it covers); the level gets a "
        "bag-of-words head; 0 or absent = off",
    )
    kl_balancing: bool = Field(
        False,
        description="NVAE's KL balancing: while a level's beta is below 1, its charged KL is weighted by the level's KL per "
        "latent dimension, normalised to mean 1 over the levels, so a level that carries little is charged little and is not "
        "pushed into collapse by the others' warm-up",
    )

    @model_validator(mode="after")
    def _known_levels(self) -> Objective:
        unknown = [level for level in self.levels if level not in LEVELS]
        if unknown:
            raise ValueError(f"objective.levels has unknown level(s) {unknown}; use {list(LEVELS)}")
        bad = {level: weight for level, weight in self.bow_loss_weight.items() if level not in LEVELS or weight < 0}
        if bad:
            raise ValueError(
                f"objective.bow_loss_weight={self.bow_loss_weight}: keys are levels {list(LEVELS)}, weights >= 0"
            )
        return self

    def bow_levels(self) -> list[str]:
        """Levels whose bag-of-words loss is on (they need a head in the model)."""
        return [level for level, weight in self.bow_loss_weight.items() if weight > 0]

    def for_level(self, level: str, model_levels: list[str]) -> tuple[BetaSchedule, FreeBits]:
        """The schedule and free bits a level trains with, staggering applied."""
        override = self.levels.get(level, LevelObjective())
        schedule = override.beta or self.beta
        if self.stagger_steps and override.beta is None:
            order = model_levels[::-1] if self.stagger_order == "bottom_up" else model_levels
            schedule = schedule.model_copy(
                update={"offset_steps": schedule.offset_steps + self.stagger_steps * order.index(level)}
            )
        return schedule, override.free_bits or self.free_bits


def beta_at(step: int, schedule: BetaSchedule) -> float:
    """The KL weight at optimisation step `step` (0-based)."""
    t = step - schedule.offset_steps
    if t < 0:
        return schedule.start
    if schedule.kind == "constant":
        return schedule.end
    if schedule.kind == "linear":
        if schedule.warmup_steps == 0:
            return schedule.end
        return schedule.start + (schedule.end - schedule.start) * min(1.0, t / schedule.warmup_steps)
    cycle = t // schedule.cycle_steps
    if schedule.num_cycles is not None and cycle >= schedule.num_cycles:
        return schedule.end
    phase = (t % schedule.cycle_steps) / (schedule.cycle_steps * schedule.ramp_fraction)
    return schedule.start + (schedule.end - schedule.start) * min(1.0, phase)


def free_bits_kl(kl: torch.Tensor, free_bits: FreeBits, step: int = 0) -> torch.Tensor:
    """Total KL after free bits at `step`, from per-unit per-dimension KL [U, D]; on the raw total's scale."""
    units, nats = kl.shape[0], free_bits.nats_at(step)
    if free_bits.mode == "none" or nats == 0 or units == 0:
        return kl.sum()
    if free_bits.mode == "dimension":
        return units * torch.clamp(kl.mean(0), min=nats).sum()
    if free_bits.mode == "unit":
        return torch.clamp(kl.sum(-1), min=nats).sum()
    return units * torch.clamp(kl.sum(-1).mean(), min=nats)


def kl_balance_coefficients(kl: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """NVAE's KL balancing coefficients (Vahdat & Kautz 2020): per level, its batch KL per latent
    variable (units x dimensions) plus 0.01, normalised to mean 1 over the levels; detached."""
    per_variable = {level: value.detach().sum() / max(value.numel(), 1) + 0.01 for level, value in kl.items()}
    mean = sum(per_variable.values()) / max(len(per_variable), 1)
    return {level: value / mean for level, value in per_variable.items()}


def objective_loss(
    output, objective: Objective, step: int, model_levels: list[str]
) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
    """The training loss of a `DocHVAEOutput` at `step`, and what to log (detached tensors and floats).

    Logged values stay tensors so that a step does not wait on the device; convert them with
    `float()` only when a log line is written.
    """
    tokens = max(output.num_tokens, 1)
    documents = max(output.num_documents, 1)
    missing = [level for level in objective.bow_levels() if level not in output.bow_nll]
    if missing:
        raise ValueError(
            f"objective.bow_loss_weight weights {missing}, but the model has no bag-of-words head there; "
            "build it from this objective (doc_hvae.training.build_model) or set model.config.bow_levels"
        )
    total = output.recon_nll + output.stop_nll
    for level in objective.bow_levels():
        total = total + objective.bow_loss_weight[level] * output.bow_nll[level]
    logs: dict[str, torch.Tensor | float] = {
        "recon_nll_per_token": output.recon_nll.detach() / tokens,
        "stop_nll_per_document": output.stop_nll.detach() / documents,
    }
    balance = kl_balance_coefficients(output.kl) if objective.kl_balancing else {}
    for level, kl in output.kl.items():
        schedule, free_bits = objective.for_level(level, model_levels)
        beta = beta_at(step, schedule)
        charged = free_bits_kl(kl, free_bits, step)
        weight = balance[level] if level in balance and beta < 1 else 1.0  # balancing acts during the warm-up only
        total = total + beta * weight * charged
        logs[f"kl_raw/{level}"] = kl.detach().sum() / documents
        logs[f"kl_free_bits/{level}"] = charged.detach() / documents
        logs[f"beta/{level}"] = beta
        if objective.kl_balancing:
            logs[f"kl_balance/{level}"] = weight
    for level, nll in output.bow_nll.items():
        logs[f"bow_nll/{level}"] = nll.detach() / tokens
    loss = total / tokens
    logs["loss"] = loss.detach()
    return loss, logs
