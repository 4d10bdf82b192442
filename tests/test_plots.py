"""Plots of a training log: which curves are drawn from which log keys, as PNG files."""

import json

import pytest

import doc_hvae.plots as plots
from doc_hvae.plots import plot_training_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_log(path, records: list[dict]) -> str:
    """A log.jsonl as JsonLinesTracker writes it: the config line first, then one record per log call."""
    lines = [{"config": {"training.max_steps": 4}, "time": 0.0}, *records]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def training_record(step: int, levels: list[str], gates: bool = True) -> dict:
    record = {
        "step": step,
        "time": 1.0,
        "loss": 5.0 - step,
        "recon_nll_per_token": 4.0 - step,
        "grad_norm": 1.0,
        "lr": 1e-3,
    }
    record.update({f"kl_raw/{level}": 10.0 * step for level in levels})
    record.update({f"kl_free_bits/{level}": 10.0 * step for level in levels})
    if gates:
        record.update({f"gate/{level}": 0.01 * step for level in levels})
    return record


def validation_record(step: int, levels: list[str]) -> dict:
    record = {"step": step, "time": 2.0, "val/nll_elbo_per_token": 4.5, "val/ppl_elbo": 90.0, "val/recon_ppl": 60.0}
    for level in levels:
        record.update({f"val/kl/{level}": 3.0, f"val/active_units/{level}": 2, f"val/information_use/{level}": 1.5})
    return record


@pytest.fixture
def drawn(monkeypatch) -> dict[str, dict[str, list[tuple]]]:
    """{file name: {line label: its (step, value) points}} of every figure the plots save."""
    figures = {}
    save = plots._save

    def recording_save(fig, path):
        figures[path.name] = {
            line.get_label(): list(zip(line.get_xdata(), line.get_ydata()))
            for ax in fig.axes
            for line in ax.get_lines()
        }
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", recording_save)
    return figures


def test_training_curves_of_a_hierarchical_run(tmp_path, drawn):
    levels = ["document", "paragraph", "sentence"]
    records = [training_record(step, levels) for step in (1, 2, 3, 4)] + [validation_record(4, levels)]
    records[2]["loss"] = "nan"  # a non-finite value, as the tracker writes it
    written = plot_training_curves(write_log(tmp_path / "log.jsonl", records), tmp_path / "curves")
    assert [path.name for path in written] == ["loss.png", "kl_per_level.png", "information_use.png", "gates.png"]
    for path in written:
        assert (
            path.parent == tmp_path / "curves"
            and path.read_bytes().startswith(PNG_SIGNATURE)
            and path.stat().st_size > 1000
        )
    assert list(drawn["loss.png"]) == ["training loss", "reconstruction NLL (training)", "ELBO NLL (validation)"]
    assert [step for step, _ in drawn["loss.png"]["training loss"]] == [1, 2, 3, 4]
    assert (
        drawn["loss.png"]["training loss"][2][1] != drawn["loss.png"]["training loss"][2][1]
    )  # the "nan" is drawn as NaN (a gap)
    assert drawn["loss.png"]["ELBO NLL (validation)"] == [(4, 4.5)]
    # Levels top-down, training beside validation; only raw KL (not the free-bits KL) is drawn.
    assert list(drawn["kl_per_level.png"]) == [f"{level} (training)" for level in levels] + [
        f"{level} (validation)" for level in levels
    ]
    assert drawn["kl_per_level.png"]["paragraph (training)"] == [(1, 10.0), (2, 20.0), (3, 30.0), (4, 40.0)]
    assert drawn["information_use.png"] == {level: [(4, 1.5)] for level in levels}
    assert drawn["gates.png"]["sentence"] == [(1, 0.01), (2, 0.02), (3, 0.03), (4, 0.04)]


def test_training_curves_draw_only_what_the_log_has(tmp_path, drawn):
    # A flat LM: no KL, no gates, no information use; validation has the ELBO only.
    flat = [training_record(step, [], gates=False) for step in (1, 2)] + [validation_record(2, [])]
    written = plot_training_curves(write_log(tmp_path / "flat.jsonl", flat), tmp_path / "flat")
    assert [path.name for path in written] == ["loss.png"]
    assert sorted(path.name for path in (tmp_path / "flat").iterdir()) == ["loss.png"]
    # One level without per-layer gates, and no validation yet: KL of that level, no gates, no information use.
    one_level = [training_record(step, ["document"], gates=False) for step in (1, 2)]
    written = plot_training_curves(write_log(tmp_path / "one.jsonl", one_level), tmp_path / "one")
    assert [path.name for path in written] == ["loss.png", "kl_per_level.png"]
    assert list(drawn["kl_per_level.png"]) == ["document (training)"]
    assert list(drawn["loss.png"]) == ["training loss", "reconstruction NLL (training)"]


def test_training_curves_of_an_empty_or_missing_log(tmp_path):
    # Only the config line (a run stopped before its first log step): nothing to draw, no folder made.
    assert plot_training_curves(write_log(tmp_path / "log.jsonl", []), tmp_path / "curves") == []
    assert not (tmp_path / "curves").exists()
    with pytest.raises(FileNotFoundError, match="no training log at .*nowhere.jsonl"):
        plot_training_curves(tmp_path / "nowhere.jsonl", tmp_path / "curves")
