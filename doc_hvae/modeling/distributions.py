"""Diagonal Gaussians: reparameterised samples, log-densities and closed-form KL."""

from __future__ import annotations

import math

import torch

_LOG_2PI = math.log(2 * math.pi)


def soft_clamp(x: torch.Tensor, bound: float) -> torch.Tensor:
    """bound * tanh(x / bound): identity near 0, smooth saturation at +-bound (NVAE)."""
    return bound * torch.tanh(x / bound)


HALF_PRECISION = (torch.bfloat16, torch.float16)


class DiagonalGaussian:
    """N(mean, diag(exp(log_scale))^2) over the last dimension; a small device-agnostic value type.

    All methods return per-dimension values (same shape as `mean`); sum over the last axis for
    per-unit quantities.
    """

    def __init__(self, mean: torch.Tensor, log_scale: torch.Tensor):
        # Half-precision parameters (a network run under bf16 autocast, or with FSDP's bf16
        # weights) are kept in fp32: KL, log-densities and samples in full precision.
        self.mean = mean.float() if mean.dtype in HALF_PRECISION else mean
        self.log_scale = log_scale.float() if log_scale.dtype in HALF_PRECISION else log_scale

    @classmethod
    def from_params(cls, params: torch.Tensor, mean_bound: float, log_scale_bound: float) -> DiagonalGaussian:
        """Split a [..., 2D] network output into a soft-clamped mean and log-scale."""
        mean, log_scale = params.chunk(2, dim=-1)
        return cls(soft_clamp(mean, mean_bound), soft_clamp(log_scale, log_scale_bound))

    @classmethod
    def standard(cls, shape: tuple[int, ...], device=None, dtype=None) -> DiagonalGaussian:
        zeros = torch.zeros(shape, device=device, dtype=dtype)
        return cls(zeros, zeros)

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp()

    def rsample(self, noise: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
        """A reparameterised sample; `temperature` scales the standard deviation."""
        if noise is None:
            noise = torch.randn_like(self.mean)
        return self.mean + temperature * self.scale * noise

    def sample(self, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """A sample drawn with `generator` (seeded generation); `temperature` scales the standard deviation."""
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.rsample(noise, temperature)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * (((z - self.mean) / self.scale) ** 2 + _LOG_2PI) - self.log_scale

    def kl(self, other: DiagonalGaussian) -> torch.Tensor:
        """KL(self || other), closed form, per dimension."""
        log_ratio = self.log_scale - other.log_scale
        return 0.5 * (torch.exp(2 * log_ratio) + ((self.mean - other.mean) / other.scale) ** 2 - 1) - log_ratio

    def residual(self, delta: DiagonalGaussian) -> DiagonalGaussian:
        """NVAE's residual normal: shift the mean and rescale the std of `self` by `delta`'s parameters."""
        return DiagonalGaussian(self.mean + delta.mean, self.log_scale + delta.log_scale)

    def __getitem__(self, index) -> DiagonalGaussian:
        return DiagonalGaussian(self.mean[index], self.log_scale[index])

    def detach(self) -> DiagonalGaussian:
        return DiagonalGaussian(self.mean.detach(), self.log_scale.detach())

    def __repr__(self) -> str:
        return f"DiagonalGaussian(shape={tuple(self.mean.shape)})"
