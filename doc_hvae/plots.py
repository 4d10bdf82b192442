"""Plots of an evaluation report and of a training run's log (matplotlib, written as PNG files)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed
import matplotlib.pyplot as plt  # noqa: E402

from .config import LEVELS  # noqa: E402
from .training import read_log  # noqa: E402


def plot_report(report: dict, output_dir: str | os.PathLike, log: str | os.PathLike | None = None) -> list[Path]:
    """KL per dimension for each level, active units per level, and KL per level over training (from a log)."""
    output_dir = Path(output_dir)
    written = []
    per_level = report.get("per_level") or {}
    if per_level:
        fig, axes = plt.subplots(1, len(per_level), figsize=(4.5 * len(per_level), 3.2), squeeze=False)
        for ax, (level, entry) in zip(axes[0], per_level.items()):
            kl = entry["kl_per_dimension"]
            ax.bar(range(len(kl)), kl, color="tab:blue")
            ax.set(title=f"{level}: KL per dimension", xlabel="dimension", ylabel="nats per unit")
        fig.tight_layout()
        written.append(_save(fig, output_dir / "kl_per_dimension.png"))

        fig, ax = plt.subplots(figsize=(5, 3.2))
        names = list(per_level)
        ax.bar(names, [per_level[n]["latent_dim"] for n in names], color="lightgray", label="dimensions")
        ax.bar(names, [per_level[n]["active_units"] for n in names], color="tab:green", label="active (Cov > 0.01)")
        ax.set(title="Active units per level", ylabel="dimensions")
        ax.legend()
        fig.tight_layout()
        written.append(_save(fig, output_dir / "active_units.png"))

    if log is not None and Path(log).is_file():
        records = [r for r in read_log(log) if any(k.startswith("kl_raw/") for k in r)]
        levels = _levels(records, "kl_raw/")
        if records and levels:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            for level in levels:
                ax.plot(*zip(*_points(records, f"kl_raw/{level}")), label=level)
            ax.set(title="KL per level during training", xlabel="step", ylabel="nats per document", yscale="symlog")
            ax.legend()
            fig.tight_layout()
            written.append(_save(fig, output_dir / "kl_over_training.png"))
    return written


def plot_training_curves(log_path: str | os.PathLike, output_dir: str | os.PathLike) -> list[Path]:
    """Curves over the steps of a training run's log.jsonl, one PNG each, written only when the log
    has their keys: `loss.png` (training loss, reconstruction NLL per token, validation ELBO NLL per
    token), `kl_per_level.png` (raw KL per document during training, and at validation),
    `information_use.png` (validation) and `gates.png` (mean |gate| per level: models with per-layer
    latents). A flat LM's log has no KL, so it gets no KL plot. Returns the files written.
    """
    log_path, output_dir = Path(log_path), Path(output_dir)
    if not log_path.is_file():
        raise FileNotFoundError(
            f"no training log at {str(log_path)!r}; give the log.jsonl of a training run (output_dir/log.jsonl)"
        )
    records = [r for r in read_log(log_path) if r.get("step") is not None]
    written = []
    for name, title, ylabel, yscale, curves in _training_figures(records):
        curves = [
            (label, points, colour, validation)
            for label, key, colour, validation in curves
            if (points := _points(records, key))
        ]
        if not curves:
            continue
        output_dir.mkdir(parents=True, exist_ok=True)
        written.append(_plot_curves(curves, title, ylabel, yscale, output_dir / name))
    return written


def _training_figures(records: list[dict]) -> list[tuple[str, str, str, str, list[tuple[str, str, str, bool]]]]:
    """The figures of `plot_training_curves`: (file, title, y label, y scale, [(label, key, colour, validation)])."""
    kl_levels = _levels(records, "kl_raw/", "val/kl/")
    return [
        (
            "loss.png",
            "Loss",
            "nats per token",
            "linear",
            [
                ("training loss", "loss", "C0", False),
                ("reconstruction NLL (training)", "recon_nll_per_token", "C1", False),
                ("ELBO NLL (validation)", "val/nll_elbo_per_token", "C2", True),
            ],
        ),
        (
            "kl_per_level.png",
            "KL per level",
            "nats per document",
            "symlog",
            [(f"{level} (training)", f"kl_raw/{level}", f"C{i}", False) for i, level in enumerate(kl_levels)]
            + [(f"{level} (validation)", f"val/kl/{level}", f"C{i}", True) for i, level in enumerate(kl_levels)],
        ),
        (
            "information_use.png",
            "Information use per level (validation)",
            "nats per document",
            "linear",
            [
                (level, f"val/information_use/{level}", f"C{i}", True)
                for i, level in enumerate(_levels(records, "val/information_use/"))
            ],
        ),
        (
            "gates.png",
            "Gate openings per level",
            "mean |gate| over layers",
            "linear",
            [(level, f"gate/{level}", f"C{i}", False) for i, level in enumerate(_levels(records, "gate/"))],
        ),
    ]


def _plot_curves(
    curves: list[tuple[str, list[tuple[int, float]], str, bool]], title: str, ylabel: str, yscale: str, path: Path
) -> Path:
    """One figure of curves over the steps (validation ones dashed, with markers), saved to `path`."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, points, colour, validation in curves:
        ax.plot(
            *zip(*points),
            label=label,
            color=colour,
            linestyle="--" if validation else "-",
            marker="o" if validation else None,
        )
    ax.set(title=title, xlabel="step", ylabel=ylabel, yscale=yscale)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def _levels(records: list[dict], *prefixes: str) -> list[str]:
    """The levels named after any of `prefixes` in the records' keys, top-down (other names after, sorted)."""
    names = {
        key[len(prefix) :] for record in records for key in record for prefix in prefixes if key.startswith(prefix)
    }
    return sorted(names, key=lambda name: (LEVELS.index(name) if name in LEVELS else len(LEVELS), name))


def _points(records: list[dict], key: str) -> list[tuple[int, float]]:
    """(step, value) of every record with `key`; non-finite values, logged as "nan" or "inf", become floats."""
    return [(record["step"], float(record[key])) for record in records if key in record]


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def latent_map_figure(entry: dict, title: str, axis_labels: tuple[str, str] = ("axis 1", "axis 2")):
    """One level's map (an entry of `doc_hvae.latent_map.latent_maps`): one scatter per label, with a
    legend up to 20 labels, where it is coloured by label; by document (20 colours, cycled) where by
    document; one colour otherwise. Returns the figure, for a caller to add points (generated documents)."""
    points = entry["points"]
    size = max(4.0, min(30.0, 3000 / len(points)))
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    if entry["coloured_by"] == "label":
        names = sorted({point["label"] for point in points})
        colours = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
        for index, name in enumerate(names):
            chosen = [point for point in points if point["label"] == name]
            ax.scatter(
                [p["x"] for p in chosen], [p["y"] for p in chosen], s=size, color=colours(index % colours.N), label=name
            )
        if len(names) <= 20:
            ax.legend(fontsize="small", markerscale=max(1.0, 20 / size), title="label")
    elif entry["coloured_by"] == "document":
        order = {
            document_id: index for index, document_id in enumerate(dict.fromkeys(p["document_id"] for p in points))
        }
        ax.scatter(
            [p["x"] for p in points],
            [p["y"] for p in points],
            s=size,
            c=[order[p["document_id"]] % 20 for p in points],
            cmap="tab20",
            vmin=0,
            vmax=19,
        )
    else:
        ax.scatter([p["x"] for p in points], [p["y"] for p in points], s=size, color="tab:blue")
    ax.set(title=title, xlabel=axis_labels[0], ylabel=axis_labels[1])
    fig.tight_layout()
    return fig


def plot_latent_maps(latent_map: dict, output_dir: str | os.PathLike) -> list[Path]:
    """`latent_map_document.png` (z_doc, by label) and `latent_map_paragraph.png` (z_par, by document)
    from the evaluation's latent maps, for the levels that have points."""
    from .latent_map import MAP_LEVELS, NAMES

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for level in MAP_LEVELS:
        entry = latent_map.get(level) or {}
        if not entry.get("points"):
            continue
        method = latent_map["method"].upper()  # PCA axes: PC1, PC2 with their variance shares
        shares = entry["projection"].get("explained_variance_ratio")
        axes = (
            tuple(f"PC{i + 1} ({100 * share:.0f}% of variance)" for i, share in enumerate(shares))
            if shares
            else (f"{method} 1", f"{method} 2")
        )
        colour = f", by {entry['coloured_by']}" if entry["coloured_by"] else ""
        title = f"{NAMES[level]} posterior means ({len(entry['points'])} {level}s{colour})"
        written.append(_save(latent_map_figure(entry, title, axes), output_dir / f"latent_map_{level}.png"))
    return written
