"""The estimators of docs/metrics.md against closed-form answers on linear-Gaussian models.

    importance-weighted log-likelihood   a two-level linear-Gaussian hierarchy, exact log p(x)
    ELBO                                 the same model, exact gap KL(q || p(z | x))
    mutual information                   a one-level linear-Gaussian model, exact I(x; z)
    active units                         a hand-built matrix of posterior means

Everything is float64 and seeded through explicit generators, so the numbers are the same on
every run.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from doc_hvae.evaluation import AU_THRESHOLDS, active_units, iw_log_likelihood, mutual_information
from doc_hvae.modeling.distributions import DiagonalGaussian

F64 = torch.float64


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, covariance: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, covariance) over the last dimension, full covariance."""
    return torch.distributions.MultivariateNormal(mean, covariance_matrix=covariance).log_prob(x)


# ---------------------------------------------------------------------------------------------
# Importance-weighted log-likelihood and the ELBO on a two-level hierarchy


class LinearGaussianHierarchy:
    """z1 ~ N(0, I), z2 | z1 ~ N(A z1, s2^2 I), x | z2 ~ N(B z2, sx^2 I), with its exact answers."""

    d1, d2, dx = 2, 3, 5
    s2, sx = 0.6, 0.5

    def __init__(self, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.generator = g
        self.A = torch.randn(self.d2, self.d1, generator=g, dtype=F64)
        self.B = torch.randn(self.dx, self.d2, generator=g, dtype=F64)
        eye2 = torch.eye(self.d2, dtype=F64)
        cov_z2 = self.A @ self.A.T + self.s2**2 * eye2
        # Joint covariance of z = (z1, z2), and of x.
        self.cov_z = torch.cat(
            [torch.cat([torch.eye(self.d1, dtype=F64), self.A.T], 1), torch.cat([self.A, cov_z2], 1)], 0
        )
        self.cov_zx = self.cov_z[:, self.d1 :] @ self.B.T
        self.cov_x = self.B @ cov_z2 @ self.B.T + self.sx**2 * torch.eye(self.dx, dtype=F64)

    def sample_x(self, n: int) -> torch.Tensor:
        g = self.generator
        z1 = torch.randn(n, self.d1, generator=g, dtype=F64)
        z2 = z1 @ self.A.T + self.s2 * torch.randn(n, self.d2, generator=g, dtype=F64)
        return z2 @ self.B.T + self.sx * torch.randn(n, self.dx, generator=g, dtype=F64)

    def exact_log_px(self, x: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(x, torch.zeros(self.dx, dtype=F64), self.cov_x)

    def exact_posterior(self, x: torch.Tensor):
        """p(z | x) = N(mean [N, d1 + d2], cov), split top-down: p(z1 | x) and p(z2 | z1, x)."""
        gain = self.cov_zx @ torch.linalg.inv(self.cov_x)
        mean = x @ gain.T
        cov = self.cov_z - gain @ self.cov_zx.T
        d1 = self.d1
        c11, c21, c22 = cov[:d1, :d1], cov[d1:, :d1], cov[d1:, d1:]
        regression = c21 @ torch.linalg.inv(c11)  # E[z2 | z1, x] = mean2 + regression (z1 - mean1)
        return mean, cov, c11, regression, c22 - regression @ c21.T

    def log_joint(self, x: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """log p(z1) + log p(z2 | z1) + log p(x | z2), the per-level terms as the model sums them."""
        prior1 = DiagonalGaussian(torch.zeros_like(z1), torch.zeros_like(z1))
        prior2 = DiagonalGaussian(z1 @ self.A.T, torch.full_like(z2, math.log(self.s2)))
        likelihood = DiagonalGaussian(
            z2 @ self.B.T, torch.full((*z2.shape[:-1], self.dx), math.log(self.sx), dtype=F64)
        )
        return prior1.log_prob(z1).sum(-1) + prior2.log_prob(z2).sum(-1) + likelihood.log_prob(x).sum(-1)


INFLATION = 1.5  # q = the exact posterior with every covariance inflated: imperfect, but covering


def importance_log_weights(model: LinearGaussianHierarchy, x: torch.Tensor, k: int) -> torch.Tensor:
    """[k, N] log p(x, z) - log q(z | x) for k joint samples of q(z1 | x) q(z2 | z1, x) per point."""
    mean, _, c11, regression, c_cond = model.exact_posterior(x)
    d1 = model.d1
    mean1, mean2 = mean[:, :d1], mean[:, d1:]
    cov1, cov2 = INFLATION * c11, INFLATION * c_cond
    g = model.generator
    z1 = mean1 + torch.randn(k, *mean1.shape, generator=g, dtype=F64) @ torch.linalg.cholesky(cov1).T
    cond_mean2 = mean2 + (z1 - mean1) @ regression.T
    z2 = cond_mean2 + torch.randn(k, *mean2.shape, generator=g, dtype=F64) @ torch.linalg.cholesky(cov2).T
    log_q = gaussian_log_prob(z1, mean1, cov1) + gaussian_log_prob(z2, cond_mean2, cov2)  # summed over both levels
    return model.log_joint(x, z1, z2) - log_q


@pytest.fixture(scope="module")
def hierarchy_run():
    model = LinearGaussianHierarchy(seed=0)
    x = model.sample_x(40)
    log_weights = importance_log_weights(model, x, k=1000)
    return model, x, log_weights


def test_iw_log_likelihood_is_a_stable_log_mean_exp():
    log_weights = torch.tensor([[-1000.0, 2.0], [-1001.0, 0.0], [-999.0, -3.0]])
    expected = (
        torch.log(torch.exp(log_weights.double() - log_weights.max(0).values).mean(0))
        + log_weights.double().max(0).values
    )
    result = iw_log_likelihood(log_weights)
    assert result.dtype == torch.float64 and result.shape == (2,)
    assert torch.isfinite(result).all()
    torch.testing.assert_close(result, expected)
    # k = 1 is the log-weight itself; k equal weights give that weight.
    torch.testing.assert_close(iw_log_likelihood(log_weights[:1]), log_weights[0].double())
    torch.testing.assert_close(iw_log_likelihood(torch.full((7, 3), -2.5)), torch.full((3,), -2.5, dtype=F64))


def test_iw_with_1000_joint_samples_matches_exact_log_px(hierarchy_run):
    model, x, log_weights = hierarchy_run
    exact = model.exact_log_px(x)
    iw = iw_log_likelihood(log_weights)
    error = (iw - exact).abs()
    assert abs(float((iw - exact).mean())) < 0.02, f"mean IW error {float((iw - exact).mean()):.4f} nats"
    assert float(error.mean()) < 0.05
    assert float((error < 0.05).double().mean()) >= 0.9, f"per-point errors: {error.tolist()}"
    assert float(error.max()) < 0.15


def test_elbo_is_below_exact_log_px_by_the_exact_gap(hierarchy_run):
    model, x, log_weights = hierarchy_run
    exact = model.exact_log_px(x)
    elbo = log_weights.mean(0)  # [N] Monte Carlo ELBO per point
    # q = N(mu, c Sigma) against p(z | x) = N(mu, Sigma): KL = d/2 (c - 1 - log c), the same for every x.
    d = model.d1 + model.d2
    gap = 0.5 * d * (INFLATION - 1 - math.log(INFLATION))
    assert (elbo < exact).all(), "the ELBO of an imperfect q must lie below log p(x) at every point"
    assert float((exact - elbo).mean()) == pytest.approx(gap, abs=0.03)


def test_iw_bound_tightens_with_k(hierarchy_run):
    model, x, log_weights = hierarchy_run
    k, n = log_weights.shape

    def iw_mean(group: int) -> float:
        """Average of the IW bound with `group` samples over k / group disjoint groups per point."""
        grouped = log_weights.reshape(k // group, group, n).transpose(0, 1).reshape(group, -1)
        return float(iw_log_likelihood(grouped).mean())

    exact = float(model.exact_log_px(x).mean())
    iw1, iw10, iw1000 = iw_mean(1), iw_mean(10), iw_mean(1000)
    assert iw1 == pytest.approx(float(log_weights.mean()))  # IW with k = 1 is the ELBO
    assert iw1 < iw10 < iw1000
    assert iw1000 - iw1 > 0.1  # the ELBO gap here is 0.24 nats: most of it is recovered
    assert iw1000 <= exact + 0.02


# ---------------------------------------------------------------------------------------------
# Mutual information I(x; z) on a one-level linear-Gaussian model


def linear_gaussian_units(n: int, scales: list[float], noise: float, seed: int, dx: int = 6):
    """z ~ N(0, I_d), x = W z + noise * eps with W = Q diag(scales) (orthonormal columns Q).

    W^T W is diagonal, so the exact posterior q(z | x) = N(post_var W^T x / noise^2, post_var) is a
    diagonal Gaussian with post_var_d = 1 / (1 + scales_d^2 / noise^2), and
    I(x; z) = H(z) - H(z | x) = 1/2 log det Cov(z) - 1/2 log det Cov(z | x) = 1/2 sum_d log(1 + scales_d^2 / noise^2).
    Returns the N units' posteriors, one sample z ~ q(z | x_n) from each, and the true I(x; z).
    """
    g = torch.Generator().manual_seed(seed)
    s = torch.tensor(scales, dtype=F64)
    d = len(scales)
    q, _ = torch.linalg.qr(torch.randn(dx, d, generator=g, dtype=F64))
    w = q * s
    z = torch.randn(n, d, generator=g, dtype=F64)
    x = z @ w.T + noise * torch.randn(n, dx, generator=g, dtype=F64)
    post_var = 1 / (1 + s**2 / noise**2)
    posterior = DiagonalGaussian((x @ w / noise**2) * post_var, (0.5 * torch.log(post_var)).expand(n, d))
    sample = posterior.rsample(torch.randn(n, d, generator=g, dtype=F64))
    true_mi = 0.5 * float(torch.log(1 + s**2 / noise**2).sum())
    return posterior, sample, true_mi


def test_mutual_information_matches_closed_form():
    n = 5000
    posterior, z, true_mi = linear_gaussian_units(n, scales=[2.0, 1.0], noise=0.5, seed=0)
    assert true_mi == pytest.approx(2.2213, abs=1e-3)
    estimate = mutual_information(posterior, z, chunk=1024)  # 5 chunks of the aggregate posterior
    assert estimate <= math.log(n)
    assert abs(estimate - true_mi) / true_mi < 0.05, f"MI estimate {estimate:.4f} against exact {true_mi:.4f}"
    # The chunk size is an implementation detail: it must not change the value.
    few = posterior[:500]
    assert mutual_information(few, z[:500], chunk=77) == pytest.approx(
        mutual_information(few, z[:500], chunk=1024), rel=1e-9
    )


def test_mutual_information_of_uninformative_posteriors_is_zero():
    n = 300
    posterior, z, true_mi = linear_gaussian_units(n, scales=[1e-4, 1e-4], noise=1.0, seed=1)
    assert true_mi < 1e-7
    assert abs(mutual_information(posterior, z)) < 0.02


def test_mutual_information_never_exceeds_log_n():
    # Nearly noiseless x: the true I(x; z) (about 14 nats) is far above log N (5.3 nats).
    n = 200
    posterior, z, true_mi = linear_gaussian_units(n, scales=[1.0, 1.0], noise=1e-3, seed=2)
    assert true_mi > math.log(n) + 5
    estimate = mutual_information(posterior, z)
    assert estimate <= math.log(n) + 1e-9
    # Saturated: every sample is far from the other units' posteriors, so q(z_n) = q(z_n | x_n) / N.
    assert estimate == pytest.approx(math.log(n), abs=1e-3)


# ---------------------------------------------------------------------------------------------
# Active units


def test_active_units_counts_dimensions_above_each_threshold():
    # Columns with unbiased variances 0.5, 0.05, 0.005, 0.0005 and 0 over 6 units.
    base = torch.tensor([1.0, -1.0, 2.0, -2.0, 0.5, -0.5], dtype=F64)
    base = base / base.var(unbiased=True).sqrt()  # unbiased variance exactly 1
    variances = [0.5, 0.05, 0.005, 0.0005, 0.0]
    means = torch.stack([math.sqrt(v) * base for v in variances], dim=1) + torch.tensor(
        [3.0, -1.0, 0.0, 7.0, 2.0], dtype=F64
    )
    counts, variance = active_units(means)
    torch.testing.assert_close(variance, torch.tensor(variances, dtype=F64))
    assert set(counts) == set(AU_THRESHOLDS)
    assert counts == {0.001: 3, 0.01: 2, 0.1: 1}
    # Strictly above: a constant column (variance 0) is never active, even at threshold 0.
    assert active_units(means, thresholds=(0.0, 1.0))[0] == {0.0: 4, 1.0: 0}


def test_active_units_of_a_single_unit_is_zero():
    counts, variance = active_units(torch.tensor([[1.0, 2.0, 3.0]]))
    assert counts == {t: 0 for t in AU_THRESHOLDS}
    assert variance.shape == (3,) and float(variance.abs().sum()) == 0.0
