"""Latent guidance: classifier-free guidance over a document's latents, inside the decoding loop.

At every token the decoder runs once per branch, in one batched call with one KV cache:

    branch 0      the streams as they are (l_c: log-probabilities given the document's latents)
    branch k      the same streams with guided level k's latents replaced by its null (l_u,k)

and the next token is drawn from

    l = l_c + sum_k (g_k - 1) * (l_c - l_u,k)

before the logits processors, temperature, top-k and top-p. With one guided level this is
`l_u + g * (l_c - l_u)`; g = 1 is unguided decoding (the level's branch is not run), g = 0 decodes
as if the level's latents were its null, g > 1 moves the distribution further towards what the
latents change. Unlike transformers' `UnbatchedClassifierFreeGuidanceLogitsProcessor`, which runs
a second model call on another prompt, both branches here are rows of the same call and differ
only in the latents every decoder injection (memory, embedding, layers) receives; the latent
priors, the lower levels' draws and the stop head always see the real latents.

Nulls: "zero", the vector 0 (for z_doc its prior mean; any model), or "learned", the vector a
model trained with `decoder_latent_null="learned"` and `decoder_latent_drop` puts in place of a
hidden latent (condition dropout), so its decoder has seen the null in training.

For large g the guided distribution can favour tokens the conditional branch finds implausible;
`plausibility` alpha keeps only tokens with p_c >= alpha * max p_c (as contrastive decoding does).
Where a branch has -inf (a banned token), the rule never makes NaN: a token the conditional
branch bans stays banned, and a token only an unconditional branch bans takes the conditional
value for that branch's term.
"""

from __future__ import annotations

import math

import torch

NULLS = ("zero", "learned")


def validate_guidance(scales: dict, null: str, plausibility: float) -> list[str]:
    """The problems of guidance settings that need no model (for SamplingConfig's one message)."""
    problems = []
    bad = {
        level: g
        for level, g in scales.items()
        if isinstance(g, bool) or not isinstance(g, (int, float)) or not g >= 0 or math.isinf(g)
    }
    if bad:
        problems.append(
            f"guidance={scales}: scales {bad} must be finite numbers >= 0 (1 = unguided, e.g. {{document: 3.0}})"
        )
    if null not in NULLS:
        problems.append(f"guidance_null={null!r}; use one of {list(NULLS)}")
    if isinstance(plausibility, bool) or not isinstance(plausibility, (int, float)) or not 0 <= plausibility < 1:
        problems.append(f"guidance_plausibility={plausibility}; use 0 <= alpha < 1 (0 = off, e.g. 0.1)")
    return problems


def guidance_problems_for(config, scales: dict, null: str) -> list[str]:
    """The problems of guidance settings for a model of `config` (a DocHVAEConfig): a flat LM, levels it
    lacks, a learned null it was not trained with. A training config's `sampling` is checked with it
    before training, so a recommended sampling the model cannot use fails at once."""
    guided = {level for level, g in scales.items() if g != 1}
    if not config.levels and scales:
        return [f"guidance={scales} needs latent levels; this model is a flat LM (levels=[])"]
    unknown = sorted(set(scales) - set(config.levels))
    if unknown:
        return [f"guidance has level(s) {unknown} this model does not have; its levels are {config.levels}"]
    untrained = sorted(
        level for level in guided if level not in config.decoder_latent_drop or config.decoder_latent_null != "learned"
    )
    if null == "learned" and untrained:
        return [
            f"guidance_null='learned' at level(s) {untrained}, but the model is trained without a learned null there "
            f"(decoder_latent_null={config.decoder_latent_null!r}, decoder_latent_drop={config.decoder_latent_drop}); use "
            "guidance_null='zero', or train with decoder_latent_null: learned and decoder_latent_drop: {"
            + untrained[0]
            + ": 0.1}"
        ]
    return []


class LatentGuidance:
    """The branches of guided decoding for one model, and the rule that combines their logits."""

    def __init__(self, model, scales: dict[str, float], null: str = "zero", plausibility: float = 0.0):
        config = model.config
        problems = validate_guidance(scales, null, plausibility) + guidance_problems_for(config, scales, null)
        if problems:
            raise ValueError("invalid guidance: " + "; ".join(problems))
        # Top-down order; a level at scale 1 is unguided and costs nothing.
        self.levels = [level for level in config.levels if level in scales and scales[level] != 1]
        self.scales = [float(scales[level]) for level in self.levels]
        self.plausibility = float(plausibility)
        self.nulls = {level: null_latent(model, level, null) for level in self.levels}

    @classmethod
    def from_sampling(cls, model, sampling) -> LatentGuidance | None:
        """The guidance a SamplingConfig asks for, or None when every scale is 1 (plain decoding)."""
        guidance = cls(model, sampling.guidance, sampling.guidance_null, sampling.guidance_plausibility)
        return guidance if guidance.levels else None

    @property
    def branches(self) -> int:
        return 1 + len(self.levels)

    def expand_rows(self, tokens: torch.Tensor) -> torch.Tensor:
        """[A, ...] -> [branches * A, ...]: every branch decodes the same streams (tokens, masks)."""
        return tokens.repeat(self.branches, *([1] * (tokens.dim() - 1)))

    def expand_latents(self, latents: dict[str, torch.Tensor | None]) -> dict[str, torch.Tensor | None]:
        """Per level [A, D] -> [branches * A, D]: the latents as given, then once per guided level
        with that level's latents replaced by its null."""
        expanded = {}
        for level, z in latents.items():
            if z is None:
                expanded[level] = None
                continue
            null = self.nulls.get(level)
            expanded[level] = torch.cat(
                [z, *(null.to(z).expand_as(z) if guided == level else z for guided in self.levels)]
            )
        return expanded

    def combine(self, logits: torch.Tensor) -> torch.Tensor:
        """The guided log-probabilities [A, V] from the branches' logits [branches * A, V]."""
        conditional, *unconditional = logits.float().log_softmax(-1).chunk(self.branches)
        guided = conditional
        for scale, other in zip(self.scales, unconditional):
            # Only where both are finite: -inf - -inf would be NaN, and a token the conditional branch
            # bans stays banned (its -inf plus anything finite).
            difference = torch.where(torch.isfinite(conditional) & torch.isfinite(other), conditional - other, 0.0)
            guided = guided + (scale - 1) * difference
        if self.plausibility > 0:
            # conditional's best token always passes, so the distribution is never empty.
            floor = conditional.max(-1, keepdim=True).values + math.log(self.plausibility)
            guided = guided.masked_fill(conditional < floor, float("-inf"))
        return guided


def null_latent(model, level: str, null: str) -> torch.Tensor:
    """The [D] vector that stands for "no latent" at `level` in the unconditional branches."""
    if null == "zero":
        return torch.zeros(model.config.latent_dim(level), device=model.device)
    learned = model.decoder.null_latents
    if level not in learned:
        raise ValueError(
            f"guidance_null='learned' at level {level!r}, but this model was trained without a learned null there "
            f"(decoder_latent_null={model.config.decoder_latent_null!r}, decoder_latent_drop={model.config.decoder_latent_drop}); "
            "use guidance_null='zero', or train with decoder_latent_null: learned and decoder_latent_drop: {"
            + level
            + ": 0.1}"
        )
    return learned[level].detach()
