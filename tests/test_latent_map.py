"""`doc_hvae.latent_map`: 2D maps of the posterior means in the evaluation report.

The projection is checked against scikit-learn's PCA; the evaluation's maps against posterior
means computed directly on a tiny model (several batches, so the documents' order differs from the
dataset's); the recipe on a small synthetic labelled corpus (`doc_hvae.data.synthetic`).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import datasets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from test_evaluation import THREE_LEVELS, make_rows, quiet_evaluate, tiny_model

from conftest import export_folder
from doc_hvae.data.batching import DocCollator
from doc_hvae.data.prepare import PreparedCorpus
from doc_hvae.data.synthetic import write_topic_corpus
from doc_hvae.evaluation import EvalSettings
from doc_hvae.latent_map import LatentMap, latent_maps
from doc_hvae.modeling.loading import prepared_dir_of
from doc_hvae.plots import latent_map_figure
from doc_hvae.recipes import evaluate_docs

HAS_UMAP = importlib.util.find_spec("umap") is not None


def assert_equal_up_to_axis_signs(ours: np.ndarray, reference: np.ndarray, atol: float = 1e-6) -> None:
    """PCA fixes each axis only up to its sign: compare each column with the reference's, flipped to agree."""
    assert ours.shape == reference.shape
    for axis in range(ours.shape[1]):
        sign = 1.0 if ours[:, axis] @ reference[:, axis] >= 0 else -1.0
        np.testing.assert_allclose(ours[:, axis], sign * reference[:, axis], atol=atol)


def anisotropic_means(n: int = 40, dim: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])[:dim] + 2.0


# ---------------------------------------------------------------------------------------------
# LatentMap


def test_pca_coordinates_reproduce_scikit_learn():
    means = anisotropic_means()
    fitted = LatentMap("pca").fit(means)
    reference = PCA(n_components=2).fit(means)
    assert_equal_up_to_axis_signs(fitted.coordinates, reference.transform(means))
    np.testing.assert_allclose(fitted.explained_variance_ratio, reference.explained_variance_ratio_, rtol=1e-9)
    # The signs are fixed: each axis's largest loading is positive, whatever the input's order.
    again = LatentMap("pca").fit(means[::-1])
    np.testing.assert_allclose(again.coordinates[::-1], fitted.coordinates, atol=1e-9)
    assert all(axis[np.abs(axis).argmax()] > 0 for axis in fitted.components)


def test_transform_places_the_fitted_means_on_their_coordinates_and_survives_a_json_round_trip():
    means = anisotropic_means().astype(np.float32)
    fitted = LatentMap("pca").fit(torch.from_numpy(means))  # tensors are taken as they come
    np.testing.assert_allclose(fitted.transform(means), fitted.coordinates, atol=1e-9)
    reloaded = LatentMap.from_dict(json.loads(json.dumps(fitted.to_dict())))
    new = anisotropic_means(n=5, seed=1)
    np.testing.assert_allclose(reloaded.transform(new), fitted.transform(new), atol=1e-12)
    np.testing.assert_allclose(reloaded.transform(means), fitted.coordinates, atol=1e-9)


def test_degenerate_means_give_a_flat_map_not_nan():
    collapsed = LatentMap("pca").fit(np.ones((6, 4)))  # a collapsed level: every document has the same mean
    np.testing.assert_array_equal(collapsed.coordinates, np.zeros((6, 2)))
    assert collapsed.explained_variance_ratio == [0.0, 0.0]
    line = LatentMap("pca").fit(np.arange(5.0)[:, None])  # one latent dimension: the second axis is empty
    np.testing.assert_allclose(line.coordinates[:, 0], np.arange(5.0) - 2.0)
    np.testing.assert_array_equal(line.coordinates[:, 1], np.zeros(5))


def test_bad_uses_are_refused_with_the_value_and_the_fix():
    with pytest.raises(ValueError, match="'tsne'.*pca, umap"):
        LatentMap("tsne")
    with pytest.raises(ValueError, match="'tsne'"):
        EvalSettings(latent_map="tsne")  # before any pass, not after the evaluation
    with pytest.raises(RuntimeError, match="not fitted.*fit"):
        LatentMap().transform(np.zeros((2, 3)))
    fitted = LatentMap().fit(anisotropic_means(dim=4))
    with pytest.raises(ValueError, match="dimension 3.*fitted on dimension 4"):
        fitted.transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="pca latent map needs at least 3 points, got 2"):
        LatentMap().fit(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="'umap' map is not stored as numbers"):
        LatentMap.from_dict({"method": "umap", "seed": 0})


@pytest.mark.skipif(HAS_UMAP, reason="umap-learn is installed")
def test_umap_without_umap_learn_says_what_to_install():
    with pytest.raises(ImportError, match="pip install umap-learn.*method='pca'"):
        LatentMap("umap")
    with pytest.raises(ImportError, match="umap-learn"):
        EvalSettings(latent_map="umap")
    with pytest.raises(
        SystemExit, match="--latent-map umap: .*pip install umap-learn"
    ):  # the recipe: one line, before any model loads
        evaluate_docs.main(["--model", "no/such/model", "--latent-map", "umap"])


@pytest.mark.skipif(not HAS_UMAP, reason="umap-learn is not installed")
def test_umap_maps_and_transforms():
    means = anisotropic_means(n=30)
    fitted = LatentMap("umap", seed=0).fit(means)
    assert fitted.coordinates.shape == (30, 2) and np.isfinite(fitted.coordinates).all()
    assert fitted.transform(anisotropic_means(n=4, seed=1)).shape == (4, 2)


# ---------------------------------------------------------------------------------------------
# The evaluation's maps


def labelled_rows() -> list[dict]:
    return [{**row, "label": "ab"[i % 2]} for i, row in enumerate(make_rows())]


def direct_means(model, rows: list[dict]) -> dict[str, torch.Tensor]:
    """Posterior means (parents at their means) of every level, all rows in one batch, in the rows' order."""
    with torch.no_grad():
        out = model(DocCollator.for_model(model.config)(rows), latent_mode="mean", return_latents=True)
    return {level: latents.z for level, latents in out.latents.items()}


@pytest.fixture(scope="module")
def model():
    return tiny_model(THREE_LEVELS)


@pytest.fixture(scope="module")
def labelled_map(model) -> dict:
    # max_tokens=12 splits the 5 documents into several batches, in an order other than the dataset's.
    settings = EvalSettings(iw_samples=0, level_use=False, max_tokens=12, latent_map="pca")
    return quiet_evaluate(model, datasets.Dataset.from_list(labelled_rows()), settings)["latent_map"]


def test_the_document_map_holds_exactly_the_evaluated_documents_at_their_pca_coordinates(model, labelled_map):
    rows = labelled_rows()
    points = labelled_map["document"]["points"]
    ids = [point["document_id"] for point in points]
    assert sorted(ids) == sorted(row["id"] for row in rows) and len(set(ids)) == len(ids) == len(rows)
    assert ids != [row["id"] for row in rows], "the batches should reorder the documents (else the order is not tested)"
    label_of = {row["id"]: row["label"] for row in rows}
    assert [point["label"] for point in points] == [label_of[i] for i in ids]
    assert labelled_map["method"] == "pca" and labelled_map["document"]["coloured_by"] == "label"

    means = direct_means(model, rows)["document"].double().numpy()
    position = {row["id"]: index for index, row in enumerate(rows)}
    expected = PCA(n_components=2).fit(means).transform(means)[[position[i] for i in ids]]
    assert_equal_up_to_axis_signs(np.array([[point["x"], point["y"]] for point in points]), expected, atol=1e-5)
    # The stored projection places the means on the map's coordinates (what a demo does with new latents).
    projected = LatentMap.from_dict(labelled_map["document"]["projection"]).transform(means[[position[i] for i in ids]])
    np.testing.assert_allclose(projected, [[point["x"], point["y"]] for point in points], atol=1e-5)


def test_the_paragraph_map_holds_every_paragraph_of_every_document(model, labelled_map):
    rows = labelled_rows()
    points = labelled_map["paragraph"]["points"]
    expected = sorted((row["id"], k) for row in rows for k in range(len(row["paragraphs"])))
    assert sorted((point["document_id"], point["paragraph"]) for point in points) == expected
    label_of = {row["id"]: row["label"] for row in rows}
    assert all(point["label"] == label_of[point["document_id"]] for point in points)
    assert labelled_map["paragraph"]["coloured_by"] == "document"

    means = direct_means(model, rows)["paragraph"].double().numpy()  # rows' order, paragraphs in order
    position = {
        unit: index for index, unit in enumerate((row["id"], k) for row in rows for k in range(len(row["paragraphs"])))
    }
    order = [position[(point["document_id"], point["paragraph"])] for point in points]
    reference = PCA(n_components=2).fit(means).transform(means)[order]
    assert_equal_up_to_axis_signs(np.array([[point["x"], point["y"]] for point in points]), reference, atol=1e-5)


def test_documents_without_labels_are_not_coloured_by_label_and_maps_are_off_by_default(model):
    dataset = datasets.Dataset.from_list(make_rows())
    report = quiet_evaluate(model, dataset, EvalSettings(iw_samples=0, level_use=False, latent_map="pca"))
    document = report["latent_map"]["document"]
    assert document["coloured_by"] is None and {point["label"] for point in document["points"]} == {None}
    assert "latent_map" not in quiet_evaluate(model, dataset, EvalSettings(iw_samples=0, level_use=False))


def test_a_level_with_too_few_points_gets_a_note_instead_of_a_map():
    maps = latent_maps({"document": torch.zeros(2, 4)}, ["d0", "d1"], ["a", "b"])
    assert maps["document"] == {"skipped": "2 point(s): a pca map needs at least 3"}


def test_the_figure_is_coloured_by_label_only_where_there_are_labels(labelled_map):
    figure = latent_map_figure(labelled_map["document"], "z_doc")
    legend = figure.axes[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["a", "b"]
    assert [len(collection.get_offsets()) for collection in figure.axes[0].collections] == [3, 2]
    plt.close(figure)
    unlabelled = {
        **labelled_map["document"],
        "coloured_by": None,
        "points": [{**point, "label": None} for point in labelled_map["document"]["points"]],
    }
    figure = latent_map_figure(unlabelled, "z_doc")
    assert figure.axes[0].get_legend() is None and len(figure.axes[0].collections) == 1
    plt.close(figure)
    figure = latent_map_figure(labelled_map["paragraph"], "z_par")  # by document: one colour per document
    figure.canvas.draw()  # the colour map is applied when drawn
    colours = figure.axes[0].collections[0].get_facecolors()
    plt.close(figure)
    assert len({tuple(colour) for colour in colours}) == len(
        {point["document_id"] for point in labelled_map["paragraph"]["points"]}
    )


# ---------------------------------------------------------------------------------------------
# The recipe on a synthetic labelled corpus


@pytest.fixture(scope="module")
def synthetic_export(tmp_path_factory):
    """An untrained tiny three-level export over a prepared synthetic corpus of 3 labels."""
    corpus = tmp_path_factory.mktemp("topics")
    write_topic_corpus(corpus, num_documents=40, num_labels=3, paragraphs=3)
    prepare = {
        "source": {
            "reader": "text",
            "path": str(corpus),
            "options": {"label_from": "filename_prefix"},
            "split_fractions": {"validation": 0.1, "test": 0.25},
        },
        "tokenizer": {"vocab_size": 300},
    }
    folder = export_folder(tmp_path_factory, THREE_LEVELS, prepare)
    return Path(folder), Path(prepared_dir_of(folder))


def test_the_recipe_writes_the_maps_their_points_and_references_them_in_the_report(synthetic_export, tmp_path):
    folder, prepared = synthetic_export
    output = tmp_path / "eval"
    report = evaluate_docs.main(
        [
            "--model",
            str(folder),
            "--split",
            "test",
            "--k",
            "0",
            "--bleu-documents",
            "0",
            "--no-level-use",
            "--output",
            str(output),
        ]
    )
    test = PreparedCorpus(prepared).dataset["test"]
    latent_map = json.loads((output / "latent_map.json").read_text())
    points = latent_map["document"]["points"]
    assert len(points) == len(test) == report["documents"] >= 3
    assert sorted(point["document_id"] for point in points) == sorted(test["id"])
    label_of = dict(zip(test["id"], test["label"]))
    assert all(
        point["label"] == label_of[point["document_id"]] and point["label"].startswith("topic") for point in points
    )
    assert latent_map["document"]["coloured_by"] == "label" and len(latent_map["paragraph"]["points"]) > len(points)
    assert all(np.isfinite([point["x"], point["y"]]).all() for point in points)

    markdown = (output / "report.md").read_text()
    for level in ("document", "paragraph"):
        image = output / f"latent_map_{level}.png"
        assert image.stat().st_size > 1000 and f"]({image.name})" in markdown
    assert "latent_map" not in json.loads((output / "report.json").read_text())  # the points live in latent_map.json
