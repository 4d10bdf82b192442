"""A document prior fitted to where the documents are: a Gaussian mixture over z_doc's posterior means.

The model is trained with p(z_doc) = N(0, I), and its aggregate posterior does not fill that ball
evenly: documents sit in clusters (on Gutenberg, by author), and a z_doc drawn from N(0, I) often
falls between them, where the decoder has seen no document and writes one author in one paragraph
and another in the next. Fitting a density to the training windows' z_doc after training
(ex-post density estimation, Ghosh et al. 2020, "From Variational to Deterministic Autoencoders")
and drawing prior samples' z_doc from it puts them where documents are; the lower levels' priors
and the decoder are unchanged. What it buys is in docs/findings.md#fitted-document-prior.

The mixture is diagonal, its number of components chosen by BIC among `COMPONENTS` on the
posterior means (the points style generation decodes from), and it is saved beside the model
(`FILE`, safetensors) by `doc-hvae-fit-prior` or at the end of training.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

FILE = "document_prior.safetensors"
COMPONENTS = (1, 2, 4, 8, 16, 32)  # candidates; BIC picks one, never more than a tenth of the points
NOVELTY_DRAWS = 1000  # draws whose distance to the training windows the fit report gives


@dataclass
class FittedDocumentPrior:
    """A diagonal Gaussian mixture over z_doc: weights [K], means [K, D], standard deviations [K, D]."""

    weights: torch.Tensor
    means: torch.Tensor
    scales: torch.Tensor

    def __post_init__(self):
        K, D = self.means.shape
        if self.weights.shape != (K,) or self.scales.shape != (K, D):
            raise ValueError(
                f"a fitted document prior needs weights [K], means [K, D] and scales [K, D]; got "
                f"{tuple(self.weights.shape)}, {tuple(self.means.shape)} and {tuple(self.scales.shape)}"
            )
        if not (self.scales > 0).all() or not torch.isclose(
            self.weights.sum(), torch.tensor(1.0, dtype=self.weights.dtype)
        ):
            raise ValueError("a fitted document prior needs positive scales and weights that sum to 1")

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.means.shape[1]

    def sample(
        self, num: int, temperature: float = 1.0, generator: torch.Generator | None = None, device="cpu"
    ) -> torch.Tensor:
        """[num, D] on `device` (the generator's): a component by its weight, then its mean plus
        temperature x its scale x N(0, I) (temperature 0: the component's mean, as latent
        temperature 0 takes the prior's mean)."""
        weights, means, scales = (t.float().to(device) for t in (self.weights, self.means, self.scales))
        component = torch.multinomial(weights, num, replacement=True, generator=generator)
        noise = torch.randn(num, self.latent_dim, generator=generator, device=device)
        return means[component] + temperature * scales[component] * noise

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """[N]: the mixture's log density at each z [N, D]."""
        z = z.double()[:, None, :]
        means, scales = self.means.double()[None], self.scales.double()[None]
        per_dim = -0.5 * ((z - means) / scales) ** 2 - scales.log() - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(per_dim.sum(-1) + self.weights.double().log()[None], dim=1)

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / FILE
        save_file({"weights": self.weights, "means": self.means, "scales": self.scales}, str(path))
        return path

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> FittedDocumentPrior:
        path = Path(folder) / FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{str(folder)!r} has no fitted document prior ({FILE}); fit one with "
                f"`doc-hvae-fit-prior --model {folder}`, or sample with document_prior='trained'"
            )
        try:
            tensors = load_file(str(path))
            return cls(tensors["weights"], tensors["means"], tensors["scales"])
        except Exception as error:  # a truncated file, missing keys, bad shapes
            raise OSError(
                f"could not read the fitted document prior {str(path)!r} ({type(error).__name__}: {error}); "
                "fit it again with doc-hvae-fit-prior"
            ) from error


def fit_document_prior(
    latents: torch.Tensor, components: Sequence[int] = COMPONENTS, seed: int = 0
) -> tuple[FittedDocumentPrior, dict[int, float]]:
    """The diagonal Gaussian mixture with the lowest BIC on z_doc points [N, D], and each tried
    number of components' BIC. Counts above N / 10 are not tried (too few points per component)."""
    from sklearn.mixture import GaussianMixture

    if latents.ndim != 2 or latents.shape[0] < 2:
        raise ValueError(f"fitting a document prior needs z_doc points [N >= 2, D]; got {tuple(latents.shape)}")
    points = latents.double().numpy()
    most = max(1, len(points) // 10)
    tried = [k for k in components if 1 <= k <= most]
    if not tried:
        raise ValueError(f"components={list(components)}; give at least one count between 1 and {most}")
    fits, bic = {}, {}
    for k in tried:
        fits[k] = GaussianMixture(k, covariance_type="diag", random_state=seed, reg_covar=1e-4).fit(points)
        bic[k] = float(fits[k].bic(points))
    best = fits[min(bic, key=bic.get)]
    prior = FittedDocumentPrior(
        torch.from_numpy(best.weights_).float() / float(best.weights_.sum()),
        torch.from_numpy(best.means_).float(),
        torch.from_numpy(best.covariances_).sqrt().float(),
    )
    return prior, bic


def check_fitted_document_prior(model) -> None:
    """Sampling z_doc from the fitted prior needs a document level and a prior fitted to it."""
    if "document" not in model.config.levels:
        raise ValueError(
            f"document_prior='fitted' needs a document level; this model's levels are {model.config.levels}"
        )
    prior = model.fitted_document_prior
    if prior is None:
        raise ValueError(
            "document_prior='fitted', but this model has no fitted document prior; fit one with "
            "`doc-hvae-fit-prior --model FOLDER` (training writes it into output_dir/final), load the model "
            "with doc_hvae.load_model, or sample with document_prior='trained'"
        )
    if prior.latent_dim != model.config.latent_dim("document"):
        raise ValueError(
            f"the fitted document prior is over {prior.latent_dim} dimensions but this model's z_doc has "
            f"{model.config.latent_dim('document')}; fit it again for this model with doc-hvae-fit-prior"
        )


def fit_to_windows(
    model,
    windows: Sequence[dict],
    collator,
    held_out: Sequence[dict] = (),
    components: Sequence[int] = COMPONENTS,
    seed: int = 0,
) -> tuple[FittedDocumentPrior, dict]:
    """The prior fitted to the posterior means of z_doc of prepared `windows` (the training split),
    and a report: windows, components, each count's BIC, and with `held_out` windows (validation) the
    mean log density of their z_doc under the fitted and the trained prior (higher: nearer where
    documents are) and the median distance to the nearest training z_doc of the held-out windows, of
    the fitted prior's draws and of N(0, I)'s."""
    from .generation import document_latents  # the encoder pass; generation imports this module

    if "document" not in model.config.levels:
        raise ValueError(f"a document prior needs a document level; this model's levels are {model.config.levels}")
    points = document_latents(model, list(windows), collator)
    prior, bic = fit_document_prior(points, components, seed)
    report = {"windows": len(windows), "components": prior.num_components, "bic": bic}
    if len(held_out):
        z = document_latents(model, list(held_out), collator)
        generator = torch.Generator().manual_seed(seed)
        drawn = prior.sample(NOVELTY_DRAWS, generator=generator)
        report["held_out_windows"] = len(held_out)
        report["held_out_log_density"] = float(prior.log_prob(z).mean())
        report["held_out_log_density_trained_prior"] = float(
            torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1).mean()
        )
        # Does the mixture copy training windows? Its draws should sit no nearer to a training
        # window's z_doc than unseen windows do.
        report["held_out_nearest_training_distance"] = nearest_distance(z, points)
        report["drawn_nearest_training_distance"] = nearest_distance(drawn, points)
        report["trained_prior_nearest_training_distance"] = nearest_distance(
            torch.randn(drawn.shape, generator=generator), points
        )
    return prior, report


def nearest_distance(queries: torch.Tensor, points: torch.Tensor) -> float:
    """The median Euclidean distance from each query [N, D] to its nearest point [M, D]."""
    return float(torch.cdist(queries.double(), points.double()).min(dim=1).values.median())


def format_fit_report(report: dict) -> str:
    line = f"fitted document prior: {report['components']} components (BIC among {sorted(report['bic'])}) on {report['windows']:,} windows"
    if "held_out_log_density" in report:
        line += (
            f"; held-out z_doc log density {report['held_out_log_density']:.2f} "
            f"(the trained prior N(0, I): {report['held_out_log_density_trained_prior']:.2f}) on {report['held_out_windows']:,} windows; "
            f"median distance to the nearest training z_doc: {report['drawn_nearest_training_distance']:.2f} for its draws, "
            f"{report['held_out_nearest_training_distance']:.2f} for held-out windows, "
            f"{report['trained_prior_nearest_training_distance']:.2f} for draws of N(0, I)"
        )
    return line
