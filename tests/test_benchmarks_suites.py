"""The benchmark suites as data (benchmarks/suites/<suite>.yaml over benchmarks/levers.yaml): every
variant trains with the overrides, and so the config, recorded in tests/data/resolved_suites.json
(recorded from the suites as Python dicts, before they became YAML), and a name the runner does not
know is an error that lists the known ones. After an intended change of a suite, record it again:

    python tests/test_benchmarks_suites.py --write
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import quality_suite  # noqa: E402

RECORD = REPO_ROOT / "tests" / "data" / "resolved_suites.json"


def resolve_suite(name: str) -> dict[str, dict]:
    """Each variant of a suite as the runner trains it by default (--seed 0, the default --output, no
    --max-steps or --extra): its config, overrides, style-consistency flags and resolved TrainConfig."""
    from resolved_configs import resolve  # the model section as the full DocHVAEConfig, the library's defaults included

    suite = quality_suite.load_suite(name)
    resolved = {}
    for variant in suite.variants:
        overrides = quality_suite.variant_overrides(suite, variant, Path("outputs/bench") / name, seed=0)
        resolved[variant] = {
            "config": suite.config,
            "overrides": overrides,
            "style": quality_suite.style_arguments(suite.evaluation) or None,
            "resolved": json.loads(json.dumps(resolve(REPO_ROOT / suite.config, overrides), sort_keys=True)),
        }
    return resolved


@pytest.mark.parametrize("name", quality_suite.suite_names())
def test_every_variant_trains_with_the_recorded_overrides_and_config(name):
    recorded = json.loads(RECORD.read_text())
    assert quality_suite.suite_names() == sorted(recorded)
    resolved = resolve_suite(name)
    assert list(resolved) == list(quality_suite.load_suite(name).variants) and sorted(resolved) == sorted(
        recorded[name]
    )
    for variant, values in recorded[name].items():
        assert resolved[variant]["overrides"] == values["overrides"], (
            f"{name}/{variant}"
        )  # the same command, in the same order
        assert resolved[variant]["resolved"] == values["resolved"], f"{name}/{variant}"
        assert (resolved[variant]["config"], resolved[variant]["style"]) == (values["config"], values["style"]), (
            f"{name}/{variant}"
        )


def test_the_command_line_overrides_the_suites_settings():
    suite = quality_suite.load_suite("gutenberg_style")
    overrides = quality_suite.variant_overrides(
        suite, "flat_lm", Path("out"), seed=3, max_steps=7, extra=["optim.lr=1e-4"]
    )
    assert overrides[-4:] == [
        "optim.lr=1e-4",
        "training.output_dir=out/flat_lm",
        "training.seed=3",
        "training.max_steps=7",
    ]
    assert (
        quality_suite.variant_overrides(suite, "flat_lm", Path("out"), seed=3)[-1] == "training.max_steps=300"
    )  # the suite's
    args = quality_suite.parse_arguments(["--suite", "ptb", "--k", "5", "--bleu-documents", "0"])
    evaluation = quality_suite.evaluation_settings(quality_suite.load_suite("ptb"), args)
    assert (evaluation.k, evaluation.bleu_documents, evaluation.max_documents, evaluation.literature_units) == (
        5,
        0,
        None,
        True,
    )
    default = quality_suite.evaluation_settings(
        quality_suite.load_suite("ptb"), quality_suite.parse_arguments(["--suite", "ptb"])
    )
    assert default.k == 100 and default.bleu_documents is None


def test_an_unknown_suite_variant_or_lever_names_the_known_ones():
    with pytest.raises(
        SystemExit, match=r"unknown suite 'wikitext3'; the suites are \[.*'wikitext2'.*'wikitext2_gates'"
    ):
        quality_suite.load_suite("wikitext3")
    suite = quality_suite.load_suite("ptb")
    assert quality_suite.select_variants("ptb", suite, None) == ["flat_lm", "sentence_vae"]
    with pytest.raises(
        SystemExit, match=r"unknown variant\(s\) \['three_level'\]; ptb has \['flat_lm', 'sentence_vae'\]"
    ):
        quality_suite.select_variants("ptb", suite, ["flat_lm", "three_level"])
    levers = {
        "cycle": ["objective.beta.kind=linear", "ramp"],
        "ramp": ["objective.beta.warmup_steps=100"],
        "loop": ["loop"],
    }
    assert quality_suite.expand(["cycle", "optim.lr=1e-4"], levers) == [
        "objective.beta.kind=linear",
        "objective.beta.warmup_steps=100",
        "optim.lr=1e-4",
    ]
    with pytest.raises(
        SystemExit,
        match=r"'cycel' is neither a key=value override nor a lever; the levers are \['cycle', 'loop', 'ramp'\]",
    ):
        quality_suite.expand(["cycel"], levers)
    with pytest.raises(SystemExit, match="lever 'loop' names itself"):
        quality_suite.expand(["loop"], levers)


def test_a_suite_with_an_unknown_key_is_a_config_error(tmp_path, monkeypatch):
    from doc_hvae.errors import ConfigError

    (tmp_path / "typo.yaml").write_text("config: recipes/configs/ptb_sentence_vae.yaml\nvariant: {flat_lm: []}\n")
    monkeypatch.setattr(quality_suite, "SUITES", tmp_path)
    monkeypatch.setattr(quality_suite, "REPO", tmp_path)
    with pytest.raises(ConfigError, match=r"variant: unknown key.*did you mean 'variants'\?"):
        quality_suite.load_suite("typo")


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit(__doc__)
    RECORD.write_text(
        json.dumps({name: resolve_suite(name) for name in quality_suite.suite_names()}, indent=1, sort_keys=True) + "\n"
    )
    print(f"wrote {RECORD}")
