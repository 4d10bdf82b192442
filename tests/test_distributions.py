"""DiagonalGaussian and soft_clamp against torch.distributions and closed-form answers."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from doc_hvae.modeling.distributions import DiagonalGaussian, soft_clamp


def random_gaussian(generator: torch.Generator, shape=(5, 7)) -> DiagonalGaussian:
    mean = torch.randn(shape, generator=generator, dtype=torch.float64) * 2
    log_scale = torch.randn(shape, generator=generator, dtype=torch.float64)
    return DiagonalGaussian(mean, log_scale)


def as_normal(gaussian: DiagonalGaussian) -> Normal:
    return Normal(gaussian.mean, gaussian.log_scale.exp())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_prob_matches_torch_normal(seed):
    generator = torch.Generator().manual_seed(seed)
    q = random_gaussian(generator)
    z = torch.randn(q.mean.shape, generator=generator, dtype=torch.float64) * 3
    ours = q.log_prob(z)
    assert ours.shape == q.mean.shape  # per dimension, not summed
    torch.testing.assert_close(ours, as_normal(q).log_prob(z), rtol=0, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_matches_torch_kl_divergence(seed):
    generator = torch.Generator().manual_seed(seed)
    q, p = random_gaussian(generator), random_gaussian(generator)
    ours = q.kl(p)
    assert ours.shape == q.mean.shape
    torch.testing.assert_close(ours, kl_divergence(as_normal(q), as_normal(p)), rtol=0, atol=1e-5)
    # KL is not symmetric: the argument order matters.
    assert not torch.allclose(ours, p.kl(q))


def test_kl_is_non_negative_and_zero_for_identical():
    generator = torch.Generator().manual_seed(3)
    for _ in range(5):
        q, p = random_gaussian(generator, (64, 16)), random_gaussian(generator, (64, 16))
        assert (q.kl(p) >= 0).all()
        assert q.kl(p).sum() > 0
    q = random_gaussian(generator, (64, 16))
    same = DiagonalGaussian(q.mean.clone(), q.log_scale.clone())
    torch.testing.assert_close(q.kl(same), torch.zeros_like(q.mean), rtol=0, atol=1e-12)


def test_kl_to_standard_normal_closed_form():
    q = DiagonalGaussian(torch.tensor([1.0, 0.0]), torch.tensor([0.0, math.log(2.0)]))
    p = DiagonalGaussian.standard((2,))
    # KL(N(mu, s^2) || N(0, 1)) = 0.5 (s^2 + mu^2 - 1) - log s
    expected = torch.tensor([0.5, 0.5 * (4.0 - 1.0) - math.log(2.0)])
    torch.testing.assert_close(q.kl(p), expected)


def test_standard_is_zero_mean_unit_scale():
    p = DiagonalGaussian.standard((3, 4), dtype=torch.float64)
    assert p.mean.shape == (3, 4) and p.mean.dtype == torch.float64
    assert (p.mean == 0).all() and (p.scale == 1).all()


def test_rsample_with_given_noise_and_temperature():
    mean = torch.tensor([[0.5, -1.0, 2.0]])
    log_scale = torch.tensor([[0.0, math.log(0.5), math.log(3.0)]])
    q = DiagonalGaussian(mean, log_scale)
    noise = torch.tensor([[1.0, -2.0, 0.5]])
    torch.testing.assert_close(q.rsample(noise), torch.tensor([[1.5, -2.0, 3.5]]))
    torch.testing.assert_close(q.rsample(noise, temperature=0.5), torch.tensor([[1.0, -1.5, 2.75]]))
    torch.testing.assert_close(q.rsample(torch.zeros_like(noise)), mean)
    # Reparameterised: the sample carries gradients to the parameters.
    mean.requires_grad_(True)
    log_scale.requires_grad_(True)
    DiagonalGaussian(mean, log_scale).rsample(noise).sum().backward()
    torch.testing.assert_close(mean.grad, torch.ones_like(mean))
    torch.testing.assert_close(log_scale.grad, log_scale.detach().exp() * noise)


def test_rsample_without_noise_has_the_right_moments():
    torch.manual_seed(0)
    q = DiagonalGaussian(torch.full((200_000,), 1.5), torch.full((200_000,), math.log(0.5)))
    z = q.rsample()
    assert abs(z.mean().item() - 1.5) < 0.01
    assert abs(z.std().item() - 0.5) < 0.01


def test_soft_clamp_bounds_and_identity_near_zero():
    bound = 4.0
    x = torch.tensor([-1e4, -100.0, -5.0, 5.0, 100.0, 1e4])
    y = soft_clamp(x, bound)
    assert (y.abs() <= bound).all()
    assert (y.abs() > 3.0).all()  # saturates towards the bound, not to zero
    assert torch.equal(torch.sign(y), torch.sign(x))
    small = torch.linspace(-0.01, 0.01, 21, dtype=torch.float64)
    torch.testing.assert_close(soft_clamp(small, bound), small, rtol=1e-5, atol=1e-9)
    zero = torch.zeros((), requires_grad=True)
    soft_clamp(zero, bound).backward()
    assert zero.grad.item() == pytest.approx(1.0)
    # Monotone.
    grid = torch.linspace(-50, 50, 1001)
    assert (soft_clamp(grid, bound).diff() >= 0).all()


def test_from_params_splits_and_clamps():
    params = torch.tensor([[0.1, 100.0, -0.2, -100.0]])  # [1, 2D]: mean (0.1, 100), log-scale (-0.2, -100)
    q = DiagonalGaussian.from_params(params, mean_bound=8.0, log_scale_bound=4.0)
    assert q.mean.shape == (1, 2) and q.log_scale.shape == (1, 2)
    assert q.mean[0, 0].item() == pytest.approx(0.1, abs=1e-4)
    assert q.log_scale[0, 0].item() == pytest.approx(-0.2, abs=1e-3)
    assert 7.9 < q.mean[0, 1].item() <= 8.0
    assert -4.0 <= q.log_scale[0, 1].item() < -3.9


def test_residual_shifts_the_mean_and_rescales_the_std():
    generator = torch.Generator().manual_seed(4)
    prior, delta = random_gaussian(generator), random_gaussian(generator)
    q = prior.residual(delta)
    torch.testing.assert_close(q.mean, prior.mean + delta.mean)
    torch.testing.assert_close(q.scale, prior.scale * delta.scale)
    # Relative to a standard normal it is delta itself; a zero delta leaves the prior unchanged.
    standard = DiagonalGaussian.standard(delta.mean.shape, dtype=delta.mean.dtype)
    torch.testing.assert_close(standard.residual(delta).mean, delta.mean)
    torch.testing.assert_close(standard.residual(delta).log_scale, delta.log_scale)
    identity = prior.residual(DiagonalGaussian.standard(prior.mean.shape, dtype=prior.mean.dtype))
    torch.testing.assert_close(identity.mean, prior.mean)
    torch.testing.assert_close(identity.log_scale, prior.log_scale)
    # Composing two residuals is one residual by the combined delta.
    other = random_gaussian(generator)
    twice, once = prior.residual(delta).residual(other), prior.residual(delta.residual(other))
    torch.testing.assert_close(twice.mean, once.mean)
    torch.testing.assert_close(twice.log_scale, once.log_scale)


def test_indexing_and_detach():
    generator = torch.Generator().manual_seed(5)
    q = random_gaussian(generator)
    row = q[2]
    torch.testing.assert_close(row.mean, q.mean[2])
    torch.testing.assert_close(row.log_scale, q.log_scale[2])
    q.mean.requires_grad_(True)
    assert q.mean.requires_grad and not q.detach().mean.requires_grad
