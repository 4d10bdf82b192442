"""The fitted document prior: the mixture, its file, sampling z_doc from it, the recipe that fits it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_generation import tiny_model

import doc_hvae
from conftest import export_folder
from doc_hvae.data.batching import DocCollator
from doc_hvae.data.prepare import PreparedCorpus
from doc_hvae.document_prior import FILE, FittedDocumentPrior, fit_document_prior, fit_to_windows, nearest_distance
from doc_hvae.generation import LatentPlan, SamplingConfig, decode_documents, sample_prior, seeded_generator
from doc_hvae.modeling.loading import load_model, prepared_dir_of
from doc_hvae.pipeline import DocHVAEPipeline
from doc_hvae.recipes import fit_prior, generate_docs

CENTRES = torch.tensor([[4.0, 0.0, 0.0], [-4.0, 1.0, 0.0]])


def two_clusters(n: int = 400, seed: int = 0) -> torch.Tensor:
    """n points, a quarter around CENTRES[0] and the rest around CENTRES[1], standard deviation 0.3."""
    generator = torch.Generator().manual_seed(seed)
    which = (torch.arange(n) >= n // 4).long()
    return CENTRES[which] + 0.3 * torch.randn(n, 3, generator=generator)


def test_bic_finds_the_clusters_and_samples_land_in_them():
    prior, bic = fit_document_prior(two_clusters(), components=(1, 2, 4, 8))
    assert set(bic) == {1, 2, 4, 8} and prior.num_components == 2 and min(bic, key=bic.get) == 2
    order = prior.means[:, 0].argsort(descending=True)
    assert torch.allclose(prior.means[order], CENTRES, atol=0.1)
    assert torch.allclose(prior.weights[order], torch.tensor([0.25, 0.75]), atol=0.03)
    assert torch.allclose(prior.scales, torch.full_like(prior.scales, 0.3), atol=0.06)
    z = prior.sample(2000, generator=torch.Generator().manual_seed(1))
    nearest = torch.cdist(z, CENTRES).argmin(dim=1)
    assert torch.cdist(z, CENTRES).min(dim=1).values.max() < 2.0  # nothing between the clusters
    assert (nearest == 0).double().mean().item() == pytest.approx(0.25, abs=0.03)
    # Temperature 0 gives the components' means; N(0, I) has no mass where these points are.
    assert torch.cdist(prior.sample(50, temperature=0.0), prior.means).min(dim=1).values.max() < 1e-6
    held_out = two_clusters(seed=2)
    fitted = prior.log_prob(held_out).mean()
    trained = torch.distributions.Normal(0.0, 1.0).log_prob(held_out).sum(-1).mean()
    assert fitted > trained + 5


def test_nearest_distance_tells_copies_from_new_points():
    grid = 10.0 * torch.arange(5.0)[:, None].repeat(1, 3)  # points 10 * sqrt(3) apart
    assert nearest_distance(grid[:2], grid) == 0.0
    moved = grid + torch.tensor([[0.0, 0.0, 0.5], [0.0, 0.0, 0.5], [0.0, 0.0, 1.0], [0.0, 2.0, 0.0], [3.0, 0.0, 0.0]])
    assert nearest_distance(moved, grid) == pytest.approx(1.0)  # the median of 0.5, 0.5, 1, 2, 3


def test_log_prob_is_the_mixture_density():
    from sklearn.mixture import GaussianMixture

    points = two_clusters()
    prior, _ = fit_document_prior(points, components=(2,))
    reference = GaussianMixture(2, covariance_type="diag", random_state=0, reg_covar=1e-4).fit(points.double().numpy())
    expected = reference.score_samples(points[:20].double().numpy())
    assert np.allclose(prior.log_prob(points[:20]).numpy(), expected, atol=1e-4)


def test_component_counts_are_capped_by_the_points_and_bad_input_is_named():
    prior, bic = fit_document_prior(two_clusters(n=30), components=(1, 2, 4, 8))
    assert set(bic) == {1, 2}  # more than a tenth of the points per component is not tried
    with pytest.raises(ValueError, match=r"z_doc points \[N >= 2, D\]"):
        fit_document_prior(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="components=\\[0\\]"):
        fit_document_prior(two_clusters(), components=(0,))
    with pytest.raises(ValueError, match="weights \\[K\\], means \\[K, D\\] and scales \\[K, D\\]"):
        FittedDocumentPrior(torch.ones(2) / 2, torch.zeros(2, 3), torch.ones(3, 3))
    with pytest.raises(ValueError, match="positive scales"):
        FittedDocumentPrior(torch.ones(2) / 2, torch.zeros(2, 3), torch.zeros(2, 3))


def test_save_load_and_the_errors_of_a_missing_or_corrupt_file(tmp_path):
    prior, _ = fit_document_prior(two_clusters(), components=(2,))
    path = prior.save_pretrained(tmp_path)
    assert path == tmp_path / FILE
    loaded = FittedDocumentPrior.from_pretrained(tmp_path)
    for name in ("weights", "means", "scales"):
        assert torch.equal(getattr(loaded, name), getattr(prior, name)), name
    with pytest.raises(FileNotFoundError, match="doc-hvae-fit-prior --model"):
        FittedDocumentPrior.from_pretrained(tmp_path / "nowhere")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(OSError, match="fit it again with doc-hvae-fit-prior"):
        FittedDocumentPrior.from_pretrained(tmp_path)


def test_prior_samples_take_z_doc_from_the_fitted_prior_only_when_asked():
    model = tiny_model()
    D = model.config.latent_dim("document")
    prior = FittedDocumentPrior(
        torch.tensor([0.5, 0.5]), torch.stack([torch.full((D,), 3.0), torch.full((D,), -3.0)]), torch.ones(2, D)
    )
    sampling = dict(max_paragraphs=1, max_sentences=1, max_tokens=4, latent_temperature={"document": 0.0})
    with pytest.raises(ValueError, match="no fitted document prior; fit one with `doc-hvae-fit-prior"):
        sample_prior(model, 2, SamplingConfig(**sampling, document_prior="fitted"))
    model.fitted_document_prior = prior
    fitted = sample_prior(model, 6, SamplingConfig(**sampling, document_prior="fitted"), seeded_generator(0))
    z = torch.stack([document.latents["document"] for document in fitted])
    assert torch.cdist(z, prior.means).min(dim=1).values.max() < 1e-5  # temperature 0: a component's mean
    trained = sample_prior(model, 6, SamplingConfig(**sampling), seeded_generator(0))
    assert torch.allclose(torch.stack([document.latents["document"] for document in trained]), torch.zeros(6, D))
    # A plan that fixes z_doc keeps it; the setting only says where an unfixed z_doc comes from.
    fixed = torch.randn(2, D)
    planned = decode_documents(
        model, LatentPlan(2, document=fixed), SamplingConfig(**sampling, document_prior="fitted"), seeded_generator(0)
    )
    assert torch.equal(torch.stack([document.latents["document"] for document in planned]), fixed)
    model.fitted_document_prior = FittedDocumentPrior(torch.ones(1), torch.zeros(1, D + 1), torch.ones(1, D + 1))
    with pytest.raises(ValueError, match=f"over {D + 1} dimensions but this model's z_doc has {D}"):
        sample_prior(model, 1, SamplingConfig(**sampling, document_prior="fitted"))


def test_the_setting_is_checked():
    with pytest.raises(ValueError, match="document_prior='learned'; use one of \\['trained', 'fitted'\\]"):
        SamplingConfig(document_prior="learned")
    flat = tiny_model(levels=[])
    with pytest.raises(ValueError, match="document_prior='fitted' needs a document level"):
        sample_prior(flat, 1, SamplingConfig(document_prior="fitted", max_tokens=4))


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return export_folder(tmp_path_factory, ["document", "paragraph", "sentence"])


def test_fit_recipe_writes_the_prior_that_load_model_and_generation_read(export, tmp_path, capsys):
    assert load_model(export).fitted_document_prior is None
    with pytest.raises(ValueError, match="fit one with `doc-hvae-fit-prior --model FOLDER`.*doc_hvae.load_model"):
        sample_prior(load_model(export), 1, SamplingConfig(document_prior="fitted", max_tokens=4))
    report = fit_prior.main(["--model", export, "--components", "1", "2"])
    out = capsys.readouterr().out
    assert report["path"] == f"{export}/{FILE}" and f"Wrote {export}/{FILE}" in out
    assert set(report["bic"]) <= {1, 2} and report["components"] in report["bic"]
    corpus = PreparedCorpus(prepared_dir_of(export))
    assert report["windows"] == len(corpus.dataset["train"]) and report["held_out_windows"] == len(
        corpus.dataset["validation"]
    )
    assert np.isfinite(report["held_out_log_density"]) and np.isfinite(report["held_out_log_density_trained_prior"])
    assert report["drawn_nearest_training_distance"] > 0 and report["held_out_nearest_training_distance"] > 0
    assert report["trained_prior_nearest_training_distance"] > 0
    model = doc_hvae.load_model(export)  # the loader the error above names
    assert model.fitted_document_prior.num_components == report["components"]
    # The recipe's fit is the library's on the same windows, also from a model left in training mode
    # (as the trainer's is): the encoder runs without dropout, and the mode is given back.
    model.train()
    same, _ = fit_to_windows(model, corpus.dataset["train"], DocCollator.for_model(model.config), components=(1, 2))
    assert model.training and torch.allclose(same.means, model.fitted_document_prior.means, atol=1e-5)
    model.eval()
    records = generate_docs.main(
        [
            "--model",
            export,
            "--mode",
            "prior",
            "--num-documents",
            "2",
            "--document-prior",
            "fitted",
            "--max-tokens",
            "8",
            "--output",
            str(tmp_path / "prior"),
        ]
    )
    assert len(records) == 2
    pipe = DocHVAEPipeline.from_pretrained(export)
    sampled = pipe.sample(3, seed=0, document_prior="fitted", latent_temperature={"document": 0.0}, max_tokens=8)
    z = torch.stack([text.latents["document"] for text in sampled])
    assert torch.cdist(z, model.fitted_document_prior.means).min(dim=1).values.max() < 1e-5
    assert json.loads((tmp_path / "prior.jsonl").read_text().splitlines()[0])["settings"]["document_prior"] == "fitted"


def test_fit_recipe_names_a_missing_split(export):
    with pytest.raises(SystemExit, match="--split 'dev': the prepared corpus has splits"):
        fit_prior.main(["--model", export, "--split", "dev"])
    with pytest.raises(SystemExit, match="--held-out-split 'dev': the prepared corpus has splits"):
        fit_prior.main(["--model", export, "--held-out-split", "dev"])
