"""benchmarks/generation_speed.py runs end to end, on random weights and on a trained export, and rates
each method against the right baseline (tiny models; the numbers themselves are the benchmark's)."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import REPO_ROOT, export_folder

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import generation_speed  # noqa: E402

TINY = ["--layers", "1", "--width", "16", "--heads", "2", "--vocab", "60", "--latent-size", "4", "--repeats", "1"]


def test_random_weights_rate_every_method_against_generate_and_the_unguided_loop(tmp_path):
    output = tmp_path / "speed.json"
    rows = generation_speed.main(
        [*TINY, "--batch", "2", "--new-tokens", "4", "--skip-uncached", "--output", str(output)]
    )
    methods = {(row["model"], row["method"]): row for row in rows}
    assert set(methods) == {
        ("flat LM", "generate()"),
        ("flat LM", "ours, KV cache"),
        ("three-level", "generate()"),
        ("three-level", "ours, KV cache"),
        *(("three-level", name) for name in generation_speed.GUIDED),
    }
    assert methods[("three-level", "generate()")]["ratio_to_generate"] == 1.0
    assert methods[("three-level", "ours, KV cache")]["ratio_to_unguided"] == 1.0
    guided = methods[("three-level", "ours, guided (document 3)")]
    assert guided["tokens"] > 0 and guided["ratio_to_unguided"] == pytest.approx(
        guided["tokens_per_second"] / methods[("three-level", "ours, KV cache")]["tokens_per_second"]
    )
    assert json.loads(output.read_text())["results"] == json.loads(json.dumps(rows))


def test_a_trained_export_times_its_prior_samples_unguided_and_at_each_scale(tmp_path_factory, capsys):
    export = export_folder(tmp_path_factory, ["document", "sentence"])
    rows = generation_speed.main(
        [
            "--model",
            export,
            "--guidance",
            "2",
            "3",
            "--documents",
            "3",
            "--max-paragraphs",
            "1",
            "--max-tokens",
            "4",
            "--repeats",
            "1",
        ]
    )
    assert [row["method"] for row in rows] == ["unguided", "guided (document 2)", "guided (document 3)"]
    assert all(row["ratio_to_generate"] is None and row["tokens"] > 0 for row in rows)
    assert rows[0]["ratio_to_unguided"] == 1.0
    # The export has no fitted prior, so z_doc comes from N(0, I), and the table says so.
    assert "(z_doc prior: trained)" in rows[0]["model"]
    assert "3 prior samples of" in capsys.readouterr().out
