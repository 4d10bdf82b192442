"""Recipe settings from YAML files (`doc_hvae.cli.parse_args_with_config`) and the shipped configs."""

import argparse
import os

import pytest
import yaml

from conftest import REPO_ROOT
from doc_hvae.cli import parse_args_with_config
from doc_hvae.config_loading import load_config
from doc_hvae.errors import ConfigError
from doc_hvae.recipes import evaluate_docs, generate_docs
from doc_hvae.training import TrainConfig

CONFIGS = REPO_ROOT / "recipes" / "configs"


def toy_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--mode", choices=("prior", "style"), default="prior")
    parser.add_argument("--max-tokens", type=int, default=100)
    parser.add_argument("--references", type=int, nargs="*", default=None)
    parser.add_argument("--latent-temperature", nargs="*", default=[])
    parser.add_argument("--no-level-use", action="store_true")
    return parser


def write(tmp_path, values) -> str:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def test_the_file_sets_defaults_and_flags_override_them(tmp_path):
    path = write(
        tmp_path,
        {
            "model": "m",
            "mode": "style",
            "max-tokens": 7,
            "references": [0, 5],
            "latent_temperature": {"document": 0.5},
            "no_level_use": True,
        },
    )
    args = parse_args_with_config(toy_parser(), ["--config", path])
    assert (args.model, args.mode, args.max_tokens, args.references, args.latent_temperature, args.no_level_use) == (
        "m",
        "style",
        7,
        [0, 5],
        ["document=0.5"],
        True,
    )
    args = parse_args_with_config(
        toy_parser(), ["--config", path, "--max-tokens", "9", "--references", "3", "--mode", "prior"]
    )
    assert (args.max_tokens, args.references, args.mode) == (9, [3], "prior")
    assert parse_args_with_config(toy_parser(), ["--model", "x"]).max_tokens == 100  # no file: the flags' defaults


def test_bad_keys_and_values_in_the_file_are_reported(tmp_path, capsys):
    with pytest.raises(ConfigError) as error:
        parse_args_with_config(
            toy_parser(), ["--config", write(tmp_path, {"model": "m", "max_tokenz": 3, "no_level_use": "yes"})]
        )
    message = str(error.value)
    assert "unknown key 'max_tokenz'" in message and "max_tokens" in message and "no_level_use: 'yes'" in message
    with pytest.raises(SystemExit):  # the flags' own checks: a bad choice or type is an argparse error
        parse_args_with_config(toy_parser(), ["--config", write(tmp_path, {"model": "m", "mode": "poetry"})])
    assert "invalid choice: 'poetry'" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="no_such.yaml"):
        parse_args_with_config(toy_parser(), ["--config", str(tmp_path / "no_such.yaml")])


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda path: path.name)
def test_every_shipped_recipe_config_is_valid(path, tmp_path):
    if path.name.startswith("evaluate_"):
        args = evaluate_docs.parse_args(["--config", str(path), "--model", "some/model"])
        assert args.model == "some/model" and args.split == yaml.safe_load(path.read_text())["split"]
    elif path.name.startswith("generate_"):
        args = generate_docs.parse_args(["--config", str(path), "--model", "some/model"])
        assert args.mode == yaml.safe_load(path.read_text())["mode"]
        generate_docs.sampling_config(args)  # the sampling settings it describes are valid too
    elif path.name == "base.yaml":  # the base recipe: valid under a config that names it and adds a corpus and a budget
        mine = tmp_path / "mine.yaml"
        mine.write_text(f"base: {path}\ndata: {{prepared_dir: data/mine}}\ntraining: {{output_dir: outputs/mine}}\n")
        config = load_config(TrainConfig, mine)
        assert config.model.config == yaml.safe_load(path.read_text())["model"]["config"]
    else:
        config = load_config(TrainConfig, path)
        assert config.training.output_dir


def test_generate_docs_help_shows_defaults_and_levels_are_checked_before_the_model_loads(capsys):
    with pytest.raises(SystemExit):
        generate_docs.parse_args(["--help"])
    text = capsys.readouterr().out
    assert "(default: prior)" in text and "(default: 20)" in text  # --mode, --references-count
    with pytest.raises(SystemExit):  # argparse refuses it: no model is loaded from the absent folder
        generate_docs.parse_args(["--model", "no/such/folder", "--mode", "interpolate", "--level", "chapter"])
    assert "invalid choice: 'chapter'" in capsys.readouterr().err


def test_generate_docs_writes_to_the_working_directory_and_prints_each_reference_beside_its_samples(
    tmp_path_factory, monkeypatch, capsys
):
    from conftest import export_folder

    folder = export_folder(tmp_path_factory, ["document", "paragraph", "sentence"])
    work = tmp_path_factory.mktemp("work")
    monkeypatch.chdir(work)
    records = generate_docs.main(
        [
            "--model",
            folder,
            "--mode",
            "style",
            "--references",
            "0",
            "--per-reference",
            "2",
            "--max-tokens",
            "8",
            "--max-paragraphs",
            "1",
        ]
    )
    assert (work / "generated_style.jsonl").is_file() and (work / "generated_style.txt").is_file()
    assert not any(name.startswith("generated_") for name in os.listdir(folder)), (
        "the export folder is left as training wrote it"
    )
    printed = capsys.readouterr().out
    assert printed.count("=== reference ") == 1 and records[0]["source"] in printed
    assert printed.index("=== reference ") < printed.index("=== mode=style")
    # --mode continue: the reference's first paragraph is the prefix; what is written follows it.
    continued = generate_docs.main(
        [
            "--model",
            folder,
            "--mode",
            "continue",
            "--references",
            "0",
            "--per-reference",
            "2",
            "--prefix-paragraphs",
            "1",
            "--max-tokens",
            "8",
            "--max-paragraphs",
            "2",
        ]
    )
    assert [record["mode"] for record in continued] == ["continue", "continue"] and (
        work / "generated_continue.txt"
    ).is_file()
    assert continued[0]["source"].count("\n\n") == 0  # one paragraph of prefix, shown beside its continuations
    with pytest.raises(SystemExit, match="--prefix-paragraphs 0"):
        generate_docs.main(["--model", folder, "--mode", "continue", "--references", "0", "--prefix-paragraphs", "0"])
