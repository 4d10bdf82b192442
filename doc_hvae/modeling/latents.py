"""One block per latent level (top-down), and the paragraph stop head (README "How it works").

A level owns
    q(z_u | h_u, z_parent(u))                    the posterior, from encoder features and the sampled parent
    p(z_u | z_parent(u), z_siblings before u)    the conditional prior, causal over siblings
and returns its sample with the KL statistics. Siblings are the paragraphs of a document or the
sentences of a paragraph; the document level has none and its prior is N(0, I).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import DocHVAEConfig
from ..data.batching import Siblings
from .distributions import HALF_PRECISION, DiagonalGaussian
from .encoder import SiblingEncoder


@dataclass
class LevelOutput:
    """What one level produced for a batch: per-unit latents and both distributions."""

    z: torch.Tensor  # [U, D]
    posterior: DiagonalGaussian  # [U, D]
    prior: DiagonalGaussian  # [U, D]
    kl: torch.Tensor  # [U, D] analytic KL(q || p) given the sampled parents and earlier siblings


class PosteriorMeanNorm(nn.Module):
    """BN-VAE (Zhu et al., ACL 2020): batch-normalise posterior means over the units of a batch.

    mean -> gamma * (mean - E[mean]) / std[mean] + shift, per dimension, with gamma fixed, so the
    means of different inputs keep a spread gamma whatever the encoder does: training cannot
    shrink them into one point (posterior collapse), and the expected KL has a floor. The floor
    holds only while the means' variance is well above `eps`: an encoder can shrink it below
    (docs/findings.md#kl-is-free-bits: 6e-6 at Gutenberg's document level), and the spread falls under gamma. Running
    statistics serve evaluation and batches with a single unit; `DocHVAE.recalibrate_posterior_norms`
    replaces them with exact eval-mode statistics before every evaluation (see there why).
    """

    def __init__(self, dim: int, gamma: float, momentum: float = 0.05, eps: float = 1e-5):
        super().__init__()
        self.gamma, self.momentum, self.eps = gamma, momentum, eps
        self.shift = nn.Parameter(torch.zeros(dim))
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))
        self._moments: list[torch.Tensor] | None = None  # [count, sum, sum of squares] while collecting

    def start_collecting(self) -> None:
        """Accumulate the exact moments of every input until `finish_collecting`."""
        self._moments = [
            torch.zeros((), dtype=torch.float64, device=self.running_mean.device),
            torch.zeros_like(self.running_mean, dtype=torch.float64),
            torch.zeros_like(self.running_mean, dtype=torch.float64),
        ]

    def finish_collecting(self) -> int:
        """Set the running statistics to the collected moments; returns how many units were seen."""
        count, total, squares = self._moments
        self._moments = None
        if count < 2:
            raise ValueError(f"posterior-norm recalibration saw {int(count)} unit(s); give it batches with at least 2")
        mean = total / count
        self.running_mean.copy_(mean)
        self.running_var.copy_((squares / count - mean**2).clamp_min(0))
        return int(count)

    def forward(self, mean: torch.Tensor) -> torch.Tensor:
        if self._moments is not None:
            values = mean.detach().double()
            self._moments[0] += values.shape[0]
            self._moments[1] += values.sum(0)
            self._moments[2] += (values**2).sum(0)
        # Statistics in fp32 when the encoder ran in half precision (bf16 autocast, or FSDP's bf16
        # parameters), as the buffers are; the result in the input's precision.
        values = mean.float() if mean.dtype in HALF_PRECISION else mean
        if self.training and mean.shape[0] > 1:
            center, var = values.mean(0), values.var(0, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(center.detach(), self.momentum)
                self.running_var.lerp_(var.detach(), self.momentum)
        else:
            center, var = self.running_mean, self.running_var
        return (self.gamma * (values - center) / torch.sqrt(var + self.eps) + self.shift).to(mean.dtype)


def mlp(input_size: int, hidden: int, output: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(input_size, hidden), nn.GELU(), nn.Linear(hidden, output))


class LatentLevel(nn.Module):
    """Posterior, causal prior and sampling for one level of the hierarchy."""

    def __init__(self, config: DocHVAEConfig, level: str, feature_size: int):
        super().__init__()
        self.config = config
        self.level = level
        self.latent_size = config.latent_dim(level)
        parent = config.parent_level(level)
        self.parent_size = config.latent_dim(parent) if parent else 0
        width = config.context_width
        self.posterior_net = mlp(feature_size + self.parent_size, width, 2 * self.latent_size)
        # Variance-preserving init: with transformers' std 0.02 the posterior means of different
        # inputs start ~1e-3 apart, under the posterior noise, and the decoder learns to ignore z.
        for layer in self.posterior_net[::2]:
            layer._fan_in_init = True
        self.posterior_net[-1]._log_scale_init = config.posterior_log_scale_init
        gamma = config.posterior_mean_norm.get(level, 0.0)
        self.mean_norm = PosteriorMeanNorm(self.latent_size, gamma) if gamma > 0 else None
        self.has_siblings = level != "document"
        if self.has_siblings:
            # Input at sibling k: [z_parent, z_{k-1}]; causal attention covers z_{<k}.
            self.prior_net = SiblingEncoder(
                self.parent_size + self.latent_size, width, config.prior_layers, config.max_siblings, causal=True
            )
            self.prior_head = nn.Linear(width, 2 * self.latent_size)
            self.prior_head._zero_init = True  # the prior starts at N(0, I)

    def gaussian(self, params: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian.from_params(params, self.config.mean_bound, self.config.log_scale_bound)

    def prior(self, z: torch.Tensor, parent_z: torch.Tensor | None, siblings: Siblings | None) -> DiagonalGaussian:
        """p(z_u | parent, earlier siblings) for every unit, given all units' latents z [U, D]."""
        if not self.has_siblings:
            return DiagonalGaussian.standard(z.shape, device=z.device, dtype=z.dtype)
        inputs = siblings.previous(z)  # [G, L, D]
        if parent_z is not None:
            inputs = torch.cat([siblings.group(parent_z), inputs], dim=-1)
        hidden = self.prior_net(inputs, siblings.mask)  # [G, L, W]
        return self.gaussian(self.prior_head(hidden[siblings.mask]))  # [U, 2D] -> [U, D]

    def prior_step(
        self, history: torch.Tensor, position: torch.Tensor, parent_z: torch.Tensor | None
    ) -> DiagonalGaussian:
        """One unit at a time (generation): p(z_k | parent, z_<k) at k = position[g] for G groups,
        from the latents drawn so far, history [G, L, D], and the groups' parent latents [G, Dp].

        The prior is causal, so entries at and after each group's position are never read.
        """
        groups, length, dim = history.shape
        if not self.has_siblings:
            return DiagonalGaussian.standard((groups, dim), device=history.device, dtype=history.dtype)
        siblings = Siblings.full(groups, length, history.device)
        parent_units = parent_z.repeat_interleave(length, dim=0) if parent_z is not None else None
        prior = self.prior(history.reshape(-1, dim), parent_units, siblings)
        return prior[torch.arange(groups, device=history.device) * length + position]

    def forward(
        self,
        features: torch.Tensor,
        parent_z: torch.Tensor | None,
        siblings: Siblings | None,
        mode: str = "sample",
        temperature: float = 1.0,
    ) -> LevelOutput:
        """Sample this level given encoder features [U, F] and the parent's sampled latent [U, Dp].

        mode: "sample" (posterior sample), "mean" (posterior mean) or "prior" (sample from the
        prior given the parents: the level-use metric replaces one level this way).
        """
        inputs = features if parent_z is None else torch.cat([features, parent_z], dim=-1)
        params = self.posterior_net(inputs)
        if self.mean_norm is not None:
            mean, log_scale = params.chunk(2, dim=-1)
            params = torch.cat([self.mean_norm(mean), log_scale], dim=-1)
        posterior = self.gaussian(params)
        noise = torch.randn_like(posterior.mean)

        if mode == "prior":
            z = self._sample_prior(parent_z, siblings, noise, temperature, features)
            prior = self.prior(z, parent_z, siblings)
            return LevelOutput(z=z, posterior=prior, prior=prior, kl=torch.zeros_like(z))

        def draw(q: DiagonalGaussian) -> torch.Tensor:
            return q.mean if mode == "mean" else q.rsample(noise, temperature)

        if self.config.posterior == "residual" and self.has_siblings:
            # q_k = prior_k shifted by the encoder; prior_k depends on z_{<k}, so iterate: after
            # step t the first t+1 siblings are exact (the prior is causal), L steps in all.
            delta = posterior
            z = draw(delta)
            for _ in range(siblings.mask.shape[1]):
                prior = self.prior(z, parent_z, siblings)
                posterior = prior.residual(delta)
                z = draw(posterior)
        else:
            if self.config.posterior == "residual":  # document level: the prior is N(0, I)
                posterior = DiagonalGaussian.standard(
                    posterior.mean.shape, posterior.mean.device, posterior.mean.dtype
                ).residual(posterior)
            z = draw(posterior)
        prior = self.prior(z, parent_z, siblings)
        return LevelOutput(z=z, posterior=posterior, prior=prior, kl=posterior.kl(prior))

    def _sample_prior(self, parent_z, siblings, noise, temperature, features) -> torch.Tensor:
        """Ancestral sample from the causal prior, all groups at once (L steps of the prior net)."""
        if not self.has_siblings:
            return noise * temperature
        z = torch.zeros(features.shape[0], self.latent_size, device=features.device, dtype=features.dtype)
        for _ in range(siblings.mask.shape[1]):
            z = self.prior(z, parent_z, siblings).rsample(noise, temperature)
        return z


class StopHead(nn.Module):
    """p(stop_j | z_doc, z_par[<=j]): is paragraph j the document's last? Causal over paragraphs.

    Without document or paragraph latents it still models the number of paragraphs (from the
    paragraph position alone), so every configuration pays for that term of log p(x).
    """

    def __init__(self, config: DocHVAEConfig):
        super().__init__()
        self.inputs = [level for level in ("document", "paragraph") if level in config.levels]
        input_size = sum(config.latent_dim(level) for level in self.inputs)
        self.net = SiblingEncoder(
            input_size, config.context_width, config.prior_layers, config.max_siblings, causal=True
        )
        self.head = nn.Linear(config.context_width, 1)

    def forward(
        self, latents: dict[str, torch.Tensor], paragraph_document: torch.Tensor, siblings: Siblings
    ) -> torch.Tensor:
        """Stop logits per paragraph [N_par], from z per level (document [B, D], paragraph [N_par, D])."""
        parts = []
        if "document" in self.inputs:
            parts.append(latents["document"][paragraph_document])
        if "paragraph" in self.inputs:
            parts.append(latents["paragraph"])
        inputs = siblings.group(torch.cat(parts, dim=-1)) if parts else None
        hidden = self.net(inputs, siblings.mask)  # [B, P_max, W]
        return self.head(hidden[siblings.mask]).squeeze(-1)

    def last_probability(self, latents: dict[str, torch.Tensor], groups: int, count: int) -> torch.Tensor:
        """One step (generation): P(paragraph `count` - 1 is the last) for G documents whose first
        `count` paragraphs are drawn, from z_doc [G, D] and paragraph latents [G, >= count, D]."""
        device = self.head.weight.device
        per_paragraph = {}
        if "document" in self.inputs:
            per_paragraph["document"] = latents["document"]
        if "paragraph" in self.inputs:
            per_paragraph["paragraph"] = latents["paragraph"][:, :count].reshape(groups * count, -1)
        paragraph_document = torch.arange(groups, device=device).repeat_interleave(count)
        logits = self(per_paragraph, paragraph_document, Siblings.full(groups, count, device))
        return torch.sigmoid(logits.view(groups, count)[:, -1])
