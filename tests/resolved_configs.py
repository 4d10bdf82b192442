"""Every shipped training config, resolved: the training schema's values with the model section as
the full `DocHVAEConfig` it builds (its defaults included). `tests/test_config_loading.py` checks
that the shipped configs still resolve to the values recorded in tests/data/resolved_configs.json,
so moving settings between a config, the base recipe it inherits and the library's defaults cannot
change a shipped run. After an intended change of a shipped config, record it again:

    python tests/resolved_configs.py --write
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RECORD = REPO_ROOT / "tests" / "data" / "resolved_configs.json"
VOLATILE = {
    "transformers_version",
    "_name_or_path",
    "dtype",
    "torch_dtype",
}  # set by the library version, not by a config


def training_configs() -> list[Path]:
    """The shipped configs that train a model (recipes/configs/*.yaml with a model section; not base recipes)."""
    import yaml

    return [
        path
        for path in sorted((REPO_ROOT / "recipes" / "configs").glob("*.yaml"))
        if "training" in (yaml.safe_load(path.read_text()) or {})
    ]


def resolve(path: Path, overrides: list[str] = ()) -> dict:
    """The TrainConfig of `path` with `overrides`, its model section as the full DocHVAEConfig it builds."""
    from doc_hvae.config import DocHVAEConfig
    from doc_hvae.config_loading import load_config
    from doc_hvae.training import TrainConfig

    config = load_config(TrainConfig, path, overrides)
    resolved = config.model_dump(mode="json")
    model = DocHVAEConfig(**config.model.config).to_dict()
    resolved["model"]["config"] = json.loads(
        json.dumps({k: v for k, v in sorted(model.items()) if k not in VOLATILE}, default=str)
    )
    return resolved


def resolve_all() -> dict[str, dict]:
    return {path.name: resolve(path) for path in training_configs()}


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit(__doc__)
    RECORD.write_text(json.dumps(resolve_all(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {RECORD}")
