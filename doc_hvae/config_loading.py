"""YAML configs with dotted command-line overrides, validated into typed pydantic models.

OmegaConf reads the YAML and merges `key.sub=value` overrides (with YAML typing of the value:
`lr=3e-4` is a float, `levels=[document,sentence]` a list); pydantic checks the result against
the schema. All problems (unknown keys, wrong types, bad values) are reported together in one
`ConfigError`, each naming the key, the value and what to do.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from typing import Any, TypeVar

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ConfigDict, ValidationError

Schema = TypeVar("Schema", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class ConfigError(ValueError):
    """Every problem found in a config, one per line."""

    def __init__(self, problems: list[str], source: str = "config"):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in {source}:\n" + "\n".join(f"  - {p}" for p in problems))


def _allowed_keys(schema: type[BaseModel], location: tuple) -> list[str]:
    """The field names of the (nested) model that `location` points into."""
    model: Any = schema
    for part in location[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return []
        annotation = field.annotation
        # Unwrap Optional[Model] and dict[str, Model].
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


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
        else:
            problems.append(f"{key}: {item['msg']} (got {value!r})")
    return problems


def validate_config(schema: type[Schema], data: dict, source: str = "config") -> Schema:
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, schema), source) from None


def load_config(schema: type[Schema], path: str | os.PathLike | None, overrides: Sequence[str] = ()) -> Schema:
    """Load `path` (YAML), apply `key=value` overrides, validate against `schema`."""
    problems = []
    base = OmegaConf.create({})
    if path is not None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"config file {str(path)!r} does not exist; see recipes/configs/ for the shipped ones.")
        try:
            base = OmegaConf.load(path)
        except (yaml.YAMLError, OmegaConfBaseException) as error:
            raise ConfigError([f"{path}: not valid YAML: {error}"], str(path)) from None
    bad = [o for o in overrides if "=" not in o or o.startswith("=")]
    problems += [f"override {o!r}: expected key=value (dotted keys, e.g. optim.lr=3e-4)" for o in bad]
    try:
        merged = OmegaConf.merge(base, OmegaConf.from_dotlist([o for o in overrides if o not in bad]))
    except OmegaConfBaseException as error:
        raise ConfigError(problems + [f"overrides: {error}"], str(path)) from None
    if problems:
        raise ConfigError(problems, str(path))
    data = OmegaConf.to_container(merged, resolve=True)
    return validate_config(schema, data, str(path) if path else "config")


def dump_config(config: BaseModel) -> str:
    """The resolved config as YAML, to save beside outputs."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
