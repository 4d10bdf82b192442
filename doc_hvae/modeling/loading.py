"""Loading a saved DocHVAE: a local export folder or a Hub id, with errors that say what to do, and what
its export says of the corpus and the sampling it was trained with."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..document_prior import FILE as DOCUMENT_PRIOR_FILE
from ..document_prior import FittedDocumentPrior
from .modeling_doc_hvae import DocHVAE


def resolve_model_path(path: str | os.PathLike, revision: str | None = None) -> Path:
    """A local folder as it is; a Hub id (`user/model`) as its snapshot folder, downloaded once and then
    read from the Hugging Face cache (HF_HUB_OFFLINE=1 reads the cache only)."""
    local = Path(path)
    if local.exists() or str(path).count("/") != 1 or str(path).startswith((".", "/", "~")):
        return local
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(snapshot_download(str(path), revision=revision))
    except (LocalEntryNotFoundError, RepositoryNotFoundError) as error:
        raise FileNotFoundError(
            f"no model at {str(path)!r}: not a local folder, and the Hub id could not be loaded "
            f"({type(error).__name__}); check the id, or download it once with the network on "
            "(the Hugging Face cache is used offline)"
        ) from error


def load_model(path: str | os.PathLike) -> DocHVAE:
    """`DocHVAE.from_pretrained` with errors that say what is wrong and what to do, and the fitted
    document prior saved beside it, if any (`model.fitted_document_prior`; doc_hvae.document_prior)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"no model at {str(path)!r}; give the export folder of a training run (output_dir/final) or a step folder's model"
        )
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{str(path)!r} has no config.json; it is not a save_pretrained folder of a DocHVAE")
    try:
        model = DocHVAE.from_pretrained(path)
    except Exception as error:  # corrupt safetensors, mismatched shapes, ...
        raise OSError(
            f"could not load the DocHVAE at {str(path)!r} ({type(error).__name__}: {error}); the checkpoint may be corrupt or incomplete: re-export it"
        ) from error
    if (path / DOCUMENT_PRIOR_FILE).is_file():
        model.fitted_document_prior = FittedDocumentPrior.from_pretrained(path)
    return model


def prepared_dir_of(model_path: str | os.PathLike) -> str:
    """The prepared corpus a saved model was trained on (from the train_config.yaml of its export)."""
    config_file = Path(model_path) / "train_config.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{str(model_path)!r} has no train_config.yaml; pass the prepared corpus folder with --data"
        )
    return yaml.safe_load(config_file.read_text())["data"]["prepared_dir"]


def recommended_sampling(model_path: str | os.PathLike) -> dict[str, Any]:
    """The `sampling` section a saved model was trained with (its train_config.yaml), {} without one."""
    config_file = Path(model_path) / "train_config.yaml"
    if not config_file.is_file():
        return {}
    return (yaml.safe_load(config_file.read_text()) or {}).get("sampling") or {}
