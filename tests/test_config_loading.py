"""Tests of `doc_hvae.config_loading`: YAML + dotted overrides, validated into pydantic models,
every problem reported together in one `ConfigError`; and the shipped corpus configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from conftest import REPO_ROOT
from doc_hvae.config_loading import StrictModel, dump_config, load_config, validate_config
from doc_hvae.data.prepare import PrepareConfig
from doc_hvae.errors import ConfigError


class Optim(StrictModel):
    name: str
    lr: float = 1e-3
    betas: list[float] = Field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = Field(0, ge=0)


class Model(StrictModel):
    hidden_size: int = 64
    levels: list[str] = Field(default_factory=lambda: ["document", "paragraph", "sentence"])
    dropout: float = 0.1


class Head(StrictModel):
    size: int = 1


class TrainConfig(StrictModel):
    optim: Optim
    model: Model = Field(default_factory=Model)
    heads: dict[str, Head] = Field(default_factory=dict)
    tag: float | str = "none"
    max_steps: int = 100
    output_dir: str = "runs/x"


BASE_YAML = """\
optim:
  name: adamw
  lr: 1.0e-3
model:
  hidden_size: 32
max_steps: 10
"""


@pytest.fixture
def base(tmp_path) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(BASE_YAML)
    return path


def problems_of(error: pytest.ExceptionInfo) -> list[str]:
    assert isinstance(error.value, ConfigError) and isinstance(error.value, ValueError)
    for problem in error.value.problems:
        assert problem in str(error.value)
    assert str(error.value).startswith(f"{len(error.value.problems)} problem(s) in ")
    return error.value.problems


def test_yaml_only(base):
    config = load_config(TrainConfig, base)
    assert config.optim == Optim(name="adamw", lr=1e-3)
    assert config.model.hidden_size == 32 and config.model.dropout == 0.1
    assert config.max_steps == 10 and config.heads == {}


def test_overrides_merge_typed(base):
    config = load_config(
        TrainConfig,
        base,
        [
            "optim.lr=3e-4",
            "optim.betas=[0.8,0.95]",
            "model.levels=[document,sentence]",
            "max_steps=7",
            "tag=3e-4",
            "heads.bow.size=5",
            "output_dir=runs/y",
        ],
    )
    assert config.optim.lr == 3e-4 and isinstance(config.optim.lr, float)
    assert config.optim.betas == [0.8, 0.95]
    assert config.model.levels == ["document", "sentence"]
    assert config.model.hidden_size == 32, "keys the overrides do not name are kept from the YAML"
    assert config.optim.name == "adamw"
    assert config.max_steps == 7
    # The override value is typed by YAML before pydantic sees it: `float | str` keeps a float.
    assert config.tag == 3e-4 and isinstance(config.tag, float)
    assert config.heads == {"bow": Head(size=5)}
    assert config.output_dir == "runs/y"


def test_a_mapping_override_replaces_the_mapping(base, tmp_path):
    """`key={...}` sets the key to that mapping, `key={}` empties it: a merge would keep the YAML's
    entries (a silent no-op for `posterior_mean_norm={}`, which once left BN-VAE on)."""
    path = tmp_path / "heads.yaml"
    path.write_text(BASE_YAML + "heads:\n  bow: {size: 3}\n  stop: {size: 2}\n")
    assert load_config(TrainConfig, path).heads == {"bow": Head(size=3), "stop": Head(size=2)}
    assert load_config(TrainConfig, path, ["heads={}"]).heads == {}
    assert load_config(TrainConfig, path, ["heads={extra: {size: 9}}"]).heads == {"extra": Head(size=9)}
    assert load_config(TrainConfig, path, ["heads.bow.size=4"]).heads == {
        "bow": Head(size=4),
        "stop": Head(size=2),
    }  # dotted keys still reach inside


def test_quoted_override_stays_a_string(base):
    config = load_config(TrainConfig, base, ["tag='3e-4'"])
    assert config.tag == "3e-4"


def test_overrides_without_yaml():
    config = load_config(TrainConfig, None, ["optim.name=sgd", "optim.lr=0.5"])
    assert config.optim == Optim(name="sgd", lr=0.5)


def test_later_override_wins(base):
    assert load_config(TrainConfig, base, ["max_steps=1", "max_steps=2"]).max_steps == 2


@pytest.mark.parametrize(
    "override, key, suggestion",
    [
        ("optim.lrr=1", "optim.lrr", "lr"),
        ("max_step=1", "max_step", "max_steps"),
        ("model.hiden_size=3", "model.hiden_size", "hidden_size"),
    ],
)
def test_unknown_key_names_it_and_suggests(base, override, key, suggestion):
    with pytest.raises(ConfigError) as error:
        load_config(TrainConfig, base, [override])
    (problem,) = problems_of(error)
    assert problem.startswith(f"{key}: unknown key")
    assert f"did you mean '{suggestion}'?" in problem


def test_unknown_key_without_close_match_lists_allowed(base):
    with pytest.raises(ConfigError) as error:
        load_config(TrainConfig, base, ["optim.zzzzzz=1"])
    (problem,) = problems_of(error)
    assert "optim.zzzzzz" in problem and "allowed keys here" in problem
    for key in ("name", "lr", "betas", "warmup_steps"):
        assert key in problem


def test_unknown_key_inside_a_dict_of_sections_suggests(base):
    with pytest.raises(ConfigError) as error:
        load_config(TrainConfig, base, ["heads.bow.sise=2"])
    (problem,) = problems_of(error)
    assert "heads.bow.sise" in problem and "did you mean 'size'?" in problem


def test_all_problems_reported_together(tmp_path):
    path = tmp_path / "bad.yaml"
    # optim.name is missing, optim.lrr is unknown, max_steps has a bad type; the override adds a bad value.
    path.write_text("optim:\n  lrr: 0.1\nmax_steps: many\n")
    with pytest.raises(ConfigError) as error:
        load_config(TrainConfig, path, ["optim.warmup_steps=-1"])
    problems = problems_of(error)
    assert len(problems) == 4
    text = "\n".join(problems)
    assert "optim.name: required key is missing" in text and "optim.name=..." in text
    assert "optim.lrr: unknown key" in text and "did you mean 'lr'?" in text
    assert "max_steps:" in text and "'many'" in text
    assert "optim.warmup_steps:" in text and "-1" in text
    assert str(path) in str(error.value)


def test_missing_required_section():
    with pytest.raises(ConfigError) as error:
        load_config(TrainConfig, None, [])
    (problem,) = problems_of(error)
    assert problem.startswith("optim: required key is missing")


@pytest.mark.parametrize("override", ["max_steps", "=3", "model.hidden_size"])
def test_bad_override_syntax(base, override):
    with pytest.raises(ConfigError) as error:
        load_config(TrainConfig, base, ["max_steps=3", override])
    (problem,) = problems_of(error)
    assert repr(override) in problem and "key=value" in problem


def test_several_bad_overrides_reported_together(base):
    with pytest.raises(ConfigError) as error:
        load_config(TrainConfig, base, ["lr", "=1", "max_steps=2"])
    assert len(problems_of(error)) == 2


def test_override_with_invalid_yaml_value(base):
    with pytest.raises(ConfigError, match=r"max_steps"):
        load_config(TrainConfig, base, ["max_steps=[1"])


def test_override_replacing_a_section_by_a_list(base):
    with pytest.raises(ConfigError, match=r"optim"):
        load_config(TrainConfig, base, ["optim=[1,2]"])


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(FileNotFoundError) as error:
        load_config(TrainConfig, path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("text", ["optim: {name: adam\n", "optim:\n\tname: x\n", "max_steps: 1\nmax_steps: 2\n"])
def test_invalid_yaml(tmp_path, text):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(TrainConfig, path, ["optim.name=x"])
    (problem,) = problems_of(error)
    assert "not valid YAML" in problem and str(path) in problem


def test_yaml_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- optim\n- model\n")
    with pytest.raises(ConfigError, match="list.yaml"):
        load_config(TrainConfig, path)


def test_unresolvable_interpolation(tmp_path):
    path = tmp_path / "interp.yaml"
    path.write_text("optim:\n  name: ${nope}\n")
    with pytest.raises(ConfigError, match="optim.name"):
        load_config(TrainConfig, path)


def test_interpolation_resolves(tmp_path):
    path = tmp_path / "interp.yaml"
    path.write_text("optim:\n  name: adam\noutput_dir: runs/${optim.name}\n")
    assert load_config(TrainConfig, path).output_dir == "runs/adam"


def test_empty_yaml_reports_missing_keys(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match="optim: required key is missing"):
        load_config(TrainConfig, path)
    assert load_config(TrainConfig, path, ["optim.name=a"]).optim.name == "a"


def test_strict_model_validates_assignment():
    config = validate_config(TrainConfig, {"optim": {"name": "a"}})
    with pytest.raises(ValueError):
        config.max_steps = "many"
    with pytest.raises(ValueError):
        TrainConfig(optim={"name": "a"}, unknown=1)


def test_dump_config_round_trip(base, tmp_path):
    config = load_config(TrainConfig, base, ["heads.bow.size=3", "optim.lr=3e-4"])
    dumped = tmp_path / "dumped.yaml"
    dumped.write_text(dump_config(config))
    assert load_config(TrainConfig, dumped) == config


# ---------------------------------------------------------------------------------------------
# The shipped corpus configs.

SHIPPED = sorted((REPO_ROOT / "data_scripts" / "configs").glob("*.yaml"))


def test_shipped_configs_exist():
    assert {path.stem for path in SHIPPED} >= {"wikitext2", "ptb", "gutenberg", "arxiv", "yahoo"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_config_validates(path, tmp_path):
    config = load_config(PrepareConfig, path)
    assert isinstance(config, PrepareConfig)
    assert config.output_dir == f"data/{path.stem}"
    assert (config.source.path is None) != (config.source.paths is None)
    # Each opens with the command that runs it.
    assert (
        path.read_text().splitlines()[0]
        == f"# python data_scripts/prepare_corpus.py --config data_scripts/configs/{path.name}"
    )
    # Overrides apply on top of it, and the result dumps and loads back.
    overridden = load_config(PrepareConfig, path, [f"output_dir={tmp_path}", "tokenizer.vocab_size=1000"])
    assert overridden.output_dir == str(tmp_path) and overridden.tokenizer.vocab_size == 1000
    dumped = tmp_path / "dumped.yaml"
    dumped.write_text(dump_config(overridden))
    assert load_config(PrepareConfig, dumped) == overridden


def test_prepare_config_reports_nested_problems():
    path = REPO_ROOT / "data_scripts" / "configs" / "wikitext2.yaml"
    with pytest.raises(ConfigError) as error:
        load_config(
            PrepareConfig, path, ["limits.max_sentence_tokn=3", "tokenizer.vocab_size=10", "source.reader=null"]
        )
    text = "\n".join(problems_of(error))
    assert "limits.max_sentence_tokn: unknown key" in text and "did you mean 'max_sentence_tokens'?" in text
    assert "tokenizer.vocab_size:" in text and "source.reader:" in text
    assert len(error.value.problems) == 3


# ---------------------------------------------------------------------------------------------
# Configs over a base recipe (`base: base.yaml`).


class Recipe(StrictModel):
    name: str
    sizes: dict[str, int] = Field(default_factory=dict)
    levels: list[str] = Field(default_factory=list)
    steps: int = 1


def test_a_config_over_its_base_merges_mappings_and_replaces_other_values(tmp_path):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "base.yaml").write_text(
        "name: base\nsizes: {document: 32, sentence: 16}\nlevels: [document, sentence]\nsteps: 800\n"
    )
    (tmp_path / "mine.yaml").write_text("base: recipes/base.yaml\nsizes: {sentence: 8}\nlevels: [sentence]\n")
    config = load_config(Recipe, tmp_path / "mine.yaml", ["steps=10"])
    assert config.name == "base" and config.sizes == {"document": 32, "sentence": 8}  # merged key by key
    assert config.levels == ["sentence"] and config.steps == 10  # a list replaced, an override over both
    # A base can have a base; a chain that comes back to itself or a missing base is named.
    (tmp_path / "middle.yaml").write_text("base: mine.yaml\nname: middle\n")
    assert load_config(Recipe, tmp_path / "middle.yaml").sizes == {"document": 32, "sentence": 8}
    (tmp_path / "loop.yaml").write_text("base: loop2.yaml\nname: a\n")
    (tmp_path / "loop2.yaml").write_text("base: loop.yaml\nname: b\n")
    with pytest.raises(ConfigError, match="comes back to itself"):
        load_config(Recipe, tmp_path / "loop.yaml")
    (tmp_path / "orphan.yaml").write_text("base: nowhere.yaml\nname: x\n")
    with pytest.raises(FileNotFoundError, match=r"nowhere.yaml'.*\(the base of .*orphan.yaml\)"):
        load_config(Recipe, tmp_path / "orphan.yaml")
    # A list of bases merges in order, the file over them all.
    (tmp_path / "part.yaml").write_text("sizes: {paragraph: 4}\nsteps: 5\n")
    (tmp_path / "two.yaml").write_text("base: [recipes/base.yaml, part.yaml]\nsizes: {sentence: 2}\n")
    assert load_config(Recipe, tmp_path / "two.yaml").model_dump() == {
        "name": "base",
        "sizes": {"document": 32, "sentence": 2, "paragraph": 4},
        "levels": ["document", "sentence"],
        "steps": 5,
    }
    (tmp_path / "bad.yaml").write_text("base: 3\nname: x\n")
    with pytest.raises(ConfigError, match="base=.*give the path of the base config"):
        load_config(Recipe, tmp_path / "bad.yaml")


def test_shipped_training_configs_resolve_to_the_recorded_values():
    """Moving settings between a shipped config, base.yaml and the library's defaults changes no shipped run
    (tests/resolved_configs.py records them again after an intended change)."""
    import json

    from resolved_configs import RECORD, resolve_all

    recorded = json.loads(RECORD.read_text())
    resolved = json.loads(json.dumps(resolve_all(), sort_keys=True))
    assert sorted(resolved) == sorted(recorded)
    for name in recorded:
        assert resolved[name] == recorded[name], name
    assert "base.yaml" not in recorded  # the base recipe is not a run


def test_the_corpus_configs_state_only_what_differs_from_the_base_recipe():
    import yaml

    base = yaml.safe_load((REPO_ROOT / "recipes" / "configs" / "base.yaml").read_text())
    for name in ("quickstart.yaml", "wikitext2.yaml", "gutenberg_style.yaml"):
        config = yaml.safe_load((REPO_ROOT / "recipes" / "configs" / name).read_text())
        bases = [config["base"]] if isinstance(config["base"], str) else config["base"]
        assert "base.yaml" in bases, name
        model = config.get("model", {}).get("config", {})
        restated = {key for key, value in model.items() if base["model"]["config"].get(key) == value}
        assert not restated, f"{name} restates base.yaml's {sorted(restated)}"


def test_a_recommended_sampling_the_model_cannot_use_fails_at_load_not_after_training():
    from doc_hvae.training import TrainConfig

    gutenberg = REPO_ROOT / "recipes" / "configs" / "gutenberg_style.yaml"  # recommends guidance on z_doc
    with pytest.raises(
        ConfigError,
        match=r"sampling does not fit model.config: guidance=\{'document': [0-9.]+\} needs latent levels.*sampling=\{\}",
    ):
        load_config(TrainConfig, gutenberg, ["model.config.levels=[]"])
    assert load_config(TrainConfig, gutenberg, ["model.config.levels=[]", "sampling={}"]).sampling == {}
    with pytest.raises(ConfigError, match=r"guidance_null='learned' at level\(s\) \['document'\].*decoder_latent_drop"):
        load_config(TrainConfig, gutenberg, ["sampling.guidance_null=learned"])
    learned = [
        "sampling.guidance_null=learned",
        "model.config.decoder_latent_null=learned",
        "model.config.decoder_latent_drop={document: 0.1}",
    ]
    assert load_config(TrainConfig, gutenberg, learned).sampling["guidance_null"] == "learned"
    # Prior samples from the fitted document prior need one fitted at the end of training.
    with pytest.raises(
        ConfigError, match=r"document_prior: fitted needs a document level and training.fit_document_prior: true"
    ):
        load_config(TrainConfig, gutenberg, ["sampling.document_prior=fitted", "training.fit_document_prior=false"])
    assert load_config(TrainConfig, gutenberg, ["sampling.document_prior=fitted"]).training.fit_document_prior
