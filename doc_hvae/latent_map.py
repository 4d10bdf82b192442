"""2D maps of posterior means for the evaluation report: z_doc coloured by label, z_par by document.

`LatentMap(method).fit(means)` fits the projection once and `.transform(z)` places other latents
(a generated document's z_doc, say) on the same map. PCA (numpy) by default; UMAP where the
optional `umap-learn` package is installed. `latent_maps` builds the report's maps (each point with
its document id and label); the evaluation recipe writes them to `latent_map.json` beside the plots.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

METHODS = ("pca", "umap")
MAP_LEVELS = ("document", "paragraph")  # sentence latents: too many points to read on one map
MIN_POINTS = {
    "pca": 3,
    "umap": 5,
}  # fewer and the map says nothing (UMAP's spectral start fails below 5, umap-learn 0.5.12)
NAMES = {"document": "z_doc", "paragraph": "z_par"}


def _as_array(latents) -> np.ndarray:
    """[N, D] float64 from a tensor, an array or nested lists."""
    if hasattr(latents, "detach"):  # a torch tensor, on any device
        latents = latents.detach().cpu().double().numpy()
    array = np.asarray(latents, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"latents of shape {list(array.shape)}: a latent map takes one row per point, [N, D]")
    return array


class LatentMap:
    """A 2D projection of latents [N, D], fitted once; `transform` places new rows on the same map.

    "pca": the top two principal axes of the fitted rows (signs fixed so that each axis's largest
    loading is positive); `transform` of the fitted rows returns the fitted coordinates exactly, and
    `to_dict` / `from_dict` store the projection as numbers (a demo reloads it from latent_map.json).
    "umap": a seeded UMAP embedding (needs `umap-learn`); its `transform` embeds new rows into the
    fitted embedding, which for the fitted rows themselves is close to, not equal to, their coordinates.
    """

    def __init__(self, method: str = "pca", seed: int = 0):
        if method not in METHODS:
            raise ValueError(f"latent map method {method!r}: use one of {', '.join(METHODS)}")
        if method == "umap" and importlib.util.find_spec("umap") is None:
            raise ImportError(
                "latent map method 'umap' needs the umap-learn package: pip install umap-learn (or use method='pca')"
            )
        self.method, self.seed = method, seed
        self.dim: int | None = None  # D of the fitted rows
        self.center: np.ndarray | None = None  # PCA: [D] mean of the fitted rows
        self.components: np.ndarray | None = None  # PCA: [2, D] principal axes (a zero row where D < 2)
        self.explained_variance_ratio: list[float] | None = None  # PCA: share of the variance along each axis
        self.coordinates: np.ndarray | None = None  # [N, 2] of the fitted rows
        self._umap = None

    def fit(self, means) -> LatentMap:
        """Fit the map on posterior means [N, D] (N >= MIN_POINTS[method]); their coordinates go to `self.coordinates`."""
        x = _as_array(means)
        if x.shape[0] < MIN_POINTS[self.method]:
            raise ValueError(
                f"a {self.method} latent map needs at least {MIN_POINTS[self.method]} points, got {x.shape[0]}"
            )
        self.dim = x.shape[1]
        if self.method == "pca":
            self.center = x.mean(axis=0)
            _, singular, axes = np.linalg.svd(x - self.center, full_matrices=False)  # axes: [min(N, D), D]
            axes = axes[:2]
            largest = axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)]
            axes = axes * np.where(largest < 0, -1.0, 1.0)[:, None]  # deterministic signs
            self.components = np.vstack([axes, np.zeros((2 - len(axes), self.dim))])
            total = float((singular**2).sum())
            shares = (
                np.pad(singular[:2] ** 2, (0, 2 - len(axes))) / total if total > 0 else np.zeros(2)
            )  # all means equal: 0
            self.explained_variance_ratio = shares.tolist()
            self.coordinates = self.transform(x)
        else:
            import umap

            self._umap = umap.UMAP(n_components=2, n_neighbors=min(15, x.shape[0] - 1), random_state=self.seed).fit(x)
            self.coordinates = np.asarray(self._umap.embedding_, dtype=np.float64)
        return self

    def transform(self, latents) -> np.ndarray:
        """[M, 2] map coordinates of latents [M, D] of the fitted level."""
        if self.dim is None:
            raise RuntimeError("this LatentMap is not fitted: call .fit(posterior_means) first")
        x = _as_array(latents)
        if x.shape[1] != self.dim:
            raise ValueError(
                f"latents of dimension {x.shape[1]}, but the map was fitted on dimension {self.dim}: project latents of the level it was fitted on"
            )
        if self.method == "pca":
            return (x - self.center) @ self.components.T
        return np.asarray(self._umap.transform(x), dtype=np.float64)

    def to_dict(self) -> dict:
        """The projection as JSON-ready numbers (PCA); a UMAP map records only its method and seed."""
        if self.method == "umap":
            return {"method": "umap", "seed": self.seed}
        return {
            "method": "pca",
            "center": self.center.tolist(),
            "components": self.components.tolist(),
            "explained_variance_ratio": self.explained_variance_ratio,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LatentMap:
        """A fitted PCA map from `to_dict` (e.g. latent_map.json's `projection`), ready to `transform`."""
        if data.get("method") != "pca":
            raise ValueError(
                f"a {data.get('method')!r} map is not stored as numbers; fit LatentMap({data.get('method')!r}) on the posterior means again"
            )
        latent_map = cls("pca")
        latent_map.center = np.asarray(data["center"], dtype=np.float64)
        latent_map.components = np.asarray(data["components"], dtype=np.float64)
        latent_map.dim = latent_map.center.shape[0]
        latent_map.explained_variance_ratio = list(data["explained_variance_ratio"])
        return latent_map


def latent_maps(
    means: dict,
    document_ids: Sequence[str],
    labels: Sequence[str | None],
    paragraph_units=None,
    method: str = "pca",
    seed: int = 0,
) -> dict:
    """The report's maps of posterior means, for the levels of MAP_LEVELS that `means` holds.

    means: level -> [N_level, D], the document rows in the order of `document_ids` and `labels`;
    paragraph_units: [N_par, 2], the document index and the paragraph's index inside it of each
    paragraph row. z_doc points are coloured by label where every document has one, z_par points by
    their document. A level with fewer than MIN_POINTS[method] rows gets a `skipped` note instead of points.
    """
    result = {"method": method}
    has_labels = all(label is not None for label in labels)
    for level in MAP_LEVELS:
        if level not in means:
            continue
        rows = _as_array(means[level])
        if len(rows) < MIN_POINTS[method]:
            result[level] = {"skipped": f"{len(rows)} point(s): a {method} map needs at least {MIN_POINTS[method]}"}
            continue
        fitted = LatentMap(method, seed).fit(rows)
        if level == "document":
            units = [(index, None) for index in range(len(rows))]
            coloured_by = "label" if has_labels else None
        else:
            units = [(int(document), int(position)) for document, position in np.asarray(paragraph_units)]
            coloured_by = "document"
        points = []
        for (document, position), (x, y) in zip(units, fitted.coordinates.tolist()):
            point = {"document_id": document_ids[document], "label": labels[document], "x": x, "y": y}
            points.append(point if position is None else {**point, "paragraph": position})
        result[level] = {"coloured_by": coloured_by, "points": points, "projection": fitted.to_dict()}
    return result


def format_latent_maps(latent_map: dict, images: Sequence[str | Path] = ()) -> str:
    """The report.md section: what each map shows, then the images (file names beside report.md)."""
    lines = [
        "## Latent maps",
        "",
        f"Posterior means (parents at their means) mapped to 2D by {latent_map['method'].upper()}; every point's "
        "coordinates, document id and label are in `latent_map.json`.",
        "",
    ]
    for level in MAP_LEVELS:
        entry = latent_map.get(level)
        if entry is None:
            continue
        if "skipped" in entry:
            lines.append(f"- {NAMES[level]}: no map ({entry['skipped']})")
            continue
        unit = "documents" if level == "document" else "paragraphs"
        text = f"- {NAMES[level]}: {len(entry['points'])} {unit}, " + (
            f"coloured by {entry['coloured_by']}" if entry["coloured_by"] else "one colour (no labels)"
        )
        shares = entry["projection"].get("explained_variance_ratio")
        lines.append(
            text
            + (f"; the axes hold {100 * shares[0]:.1f}% and {100 * shares[1]:.1f}% of the variance" if shares else "")
        )
    lines += ["", *(f"![{_image_title(Path(image))}]({Path(image).name})" for image in images)]
    return "\n".join(lines)


def _image_title(image: Path) -> str:
    """ "z_doc map" for latent_map_document.png; the file's name for any other image."""
    level = image.stem.removeprefix("latent_map_")
    return f"{NAMES[level]} map" if level in NAMES else image.stem
