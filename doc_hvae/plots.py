"""Plots of an evaluation report (matplotlib, written as PNG files)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed
import matplotlib.pyplot as plt  # noqa: E402

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
        levels = sorted({k.split("/", 1)[1] for r in records for k in r if k.startswith("kl_raw/")})
        if records and levels:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            for level in levels:
                points = [(r["step"], r[f"kl_raw/{level}"]) for r in records if f"kl_raw/{level}" in r]
                ax.plot(*zip(*points), label=level)
            ax.set(title="KL per level during training", xlabel="step", ylabel="nats per document", yscale="symlog")
            ax.legend()
            fig.tight_layout()
            written.append(_save(fig, output_dir / "kl_over_training.png"))
    return written


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
