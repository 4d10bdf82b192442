"""YAML configs with dotted command-line overrides, validated into typed pydantic models.

OmegaConf reads the YAML and applies `key.sub=value` overrides (with YAML typing of the value:
`lr=3e-4` is a float, `levels=[document,sentence]` a list, `posterior_mean_norm={}` an empty
mapping; the value replaces what the key held, it is not merged into it); pydantic checks the result against
the schema. All problems (unknown keys, wrong types, bad values) are reported together in one
`ConfigError`, each naming the key, the value and what to do.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

Schema = TypeVar("Schema", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def _section_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The pydantic model inside an annotation (Model, Model | None, dict[str, Model]), and whether a
    dict key comes before it in a location."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    keyed = get_origin(annotation) in (dict, Mapping)
    for argument in get_args(annotation):
        model, _ = _section_model(argument)
        if model is not None:
            return model, keyed
    return None, False


def _allowed_keys(schema: type[BaseModel], location: tuple) -> list[str]:
    """The field names of the (nested) model that `location` points into."""
    model: type[BaseModel] | None = schema
    parts = list(location[:-1])
    while parts:
        part = parts.pop(0)
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return []
        model, keyed = _section_model(field.annotation)
        if keyed and parts:
            parts.pop(0)  # the dict key (e.g. a level name) is not a field
    return list(model.model_fields) if model is not None else []


def format_validation_error(error: ValidationError, schema: type[BaseModel]) -> list[str]:
    """Turn pydantic's errors into lines that name the key, the value and the fix."""
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<root>"
        value = item.get("input")
        if item["type"] == "extra_forbidden":
            allowed = _allowed_keys(schema, item["loc"])
            name = str(item["loc"][-1])
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys here: {', '.join(allowed)}"
            problems.append(f"{key}: unknown key (value {value!r}); {hint}")
        elif item["type"] == "missing":
            problems.append(f"{key}: required key is missing; add it to the YAML or pass {key}=...")
        elif not item["loc"]:  # a check across sections (a model validator): the message names what it checked
            problems.append(item["msg"].removeprefix("Value error, "))
        else:
            problems.append(f"{key}: {item['msg']} (got {value!r})")
    return problems


def validate_config(schema: type[Schema], data: dict, source: str = "config") -> Schema:
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, schema), source) from None


def load_yaml_with_base(path: str | os.PathLike, source: str, seen: tuple[Path, ...] = ()) -> DictConfig:
    """A YAML config over the config(s) it names in `base:` (paths relative to the file: `base: base.yaml`,
    or a list merged in order, `base: [base.yaml, parts/wikitext2_data.yaml]`), recursively: mappings
    merge key by key, and any other value the file sets (a number, a string, a list) replaces the base's."""
    path = Path(path)
    if not path.is_file():
        hint = f" (the base of {seen[-1]})" if seen else ""
        raise FileNotFoundError(
            f"config file {str(path)!r}{hint} does not exist; give the path of a YAML config (e.g. under recipes/configs/ or data_scripts/configs/)"
        )
    if path.resolve() in seen:
        raise ConfigError(
            [
                f"{path}: its `base:` chain comes back to itself ({' -> '.join(str(p) for p in (*seen, path.resolve()))})"
            ],
            source,
        )
    try:
        config = OmegaConf.load(path)
    except (yaml.YAMLError, OmegaConfBaseException) as error:
        raise ConfigError([f"{path}: not valid YAML: {error}"], source) from None
    if not isinstance(config, DictConfig):
        raise ConfigError(
            [f"{path}: the top level must be a mapping of sections (key: value), not a {type(config).__name__}"], source
        )
    if "base" not in config:
        return config
    names = config.pop("base")
    names = [names] if isinstance(names, str) else list(names) if OmegaConf.is_list(names) else [names]
    if not names or not all(isinstance(name, str) for name in names):
        raise ConfigError(
            [
                f"{path}: base={names!r}; give the path of the base config, relative to this file (e.g. base: base.yaml), "
                "or a list of them"
            ],
            source,
        )
    bases = [load_yaml_with_base(path.parent / name, source, (*seen, path.resolve())) for name in names]
    return OmegaConf.merge(*bases, config)


def load_config(schema: type[Schema], path: str | os.PathLike | None, overrides: Sequence[str] = ()) -> Schema:
    """Load `path` (YAML, over its `base:` config if it names one), apply `key=value` overrides, validate
    against `schema`."""
    source = str(path) if path is not None else "overrides"
    base = load_yaml_with_base(path, source) if path is not None else OmegaConf.create({})
    problems = []
    for override in overrides:  # one at a time, so that every bad override is reported
        if "=" not in override or override.startswith("="):
            problems.append(f"override {override!r}: expected key=value (dotted keys, e.g. optim.lr=3e-4)")
            continue
        key = override.split("=", 1)[0].strip()
        try:
            # The value replaces what the key held (merging would make `posterior_mean_norm={}` a
            # no-op and `decoder={n_layer: 2}` keep the YAML's other decoder keys).
            value = OmegaConf.select(OmegaConf.from_dotlist([override]), key)
            OmegaConf.update(base, key, value, merge=False, force_add=True)
        except (OmegaConfBaseException, yaml.YAMLError, TypeError, ValueError) as error:
            problems.append(f"override {override!r}: {str(error).splitlines()[0]}")
    try:
        data = OmegaConf.to_container(base, resolve=True)
    except OmegaConfBaseException as error:
        problems.append(f"interpolation: {str(error).splitlines()[0]} ({getattr(error, 'full_key', '')})")
        data = None
    if problems:
        raise ConfigError(problems, source)
    return validate_config(schema, data, source)


def dump_config(config: BaseModel) -> str:
    """The resolved config as YAML, to save beside outputs."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
