"""A trained model as a folder that stands alone: `save_pretrained` of the model and tokenizers,
the resolved training config, a Hugging Face model card, and optionally a push to the Hub."""

from __future__ import annotations

from pathlib import Path

import yaml
from accelerate import Accelerator
from huggingface_hub import EvalResult, ModelCard, ModelCardData, create_repo, upload_folder

from .config_loading import dump_config
from .data.prepare import PreparedCorpus
from .data.tokenizer import ENCODER_TOKENIZER
from .document_prior import FILE as DOCUMENT_PRIOR_FILE
from .evaluation import format_report
from .generation import recommended_sampling_config
from .training import TrainConfig

# An export loads with AutoModel after `import doc_hvae` (which registers the classes). Without the
# import, transformers only knows the model type from the folder's auto_map: it asks for
# trust_remote_code=True, and this module then takes the classes from the installed package, or
# transformers names the package to install.
AUTO_MODULE = "doc_hvae_auto"
AUTO_MAP = {"AutoConfig": f"{AUTO_MODULE}.DocHVAEConfig", "AutoModel": f"{AUTO_MODULE}.DocHVAE"}
AUTO_MODULE_SOURCE = '''"""The doc_hvae classes, for AutoModel.from_pretrained(folder, trust_remote_code=True).

Plain `import doc_hvae` before AutoModel.from_pretrained(folder) does the same without remote code.
Needs the doc_hvae package (pip install -e . in its repository).
"""

from doc_hvae import DocHVAE, DocHVAEConfig

__all__ = ["DocHVAE", "DocHVAEConfig"]
'''


def export(
    accelerator: Accelerator, model, corpus: PreparedCorpus, config: TrainConfig, metrics: dict, output_dir: Path
) -> Path:
    """save_pretrained of the model and tokenizer, the resolved config and a model card.

    The folder stands alone: the tokenizer (and the encoder's own, in encoder_tokenizer/) and the corpus' segmentation and limits travel in it,
    and the corpus path in train_config.yaml is absolute, so it works from any working directory.
    """
    final = output_dir / "final"
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.config.auto_map = AUTO_MAP
    state_dict = accelerator.get_state_dict(model)  # gathered from every process where parameters are sharded
    unwrapped.save_pretrained(
        final, state_dict=state_dict, is_main_process=accelerator.is_main_process, save_function=accelerator.save
    )
    if accelerator.is_main_process:
        (final / f"{AUTO_MODULE}.py").write_text(AUTO_MODULE_SOURCE)
        exported = config.model_copy(deep=True)
        exported.data.prepared_dir = str(Path(config.data.prepared_dir).resolve())
        corpus.tokenizer.save_pretrained(final)
        if corpus.encoder_tokenizer is not None:
            corpus.encoder_tokenizer.save_pretrained(final / ENCODER_TOKENIZER)
        (final / "train_config.yaml").write_text(dump_config(exported))
        if unwrapped.fitted_document_prior is not None:
            unwrapped.fitted_document_prior.save_pretrained(final)
        card = model_card(exported, corpus, metrics, unwrapped.config, unwrapped.fitted_document_prior)
        card.save(final / "README.md")
        if config.training.push_to_hub:
            url = push_export(final, config.training.push_to_hub, private=config.training.hub_private)
            accelerator.print(f"Pushed {final} to {url}")
    accelerator.wait_for_everyone()
    return final


def push_export(folder: Path, repo_id: str, private: bool = True) -> str:
    """Upload an export folder (model, tokenizer, config, model card) to a Hub model repo."""
    create_repo(repo_id, private=private, exist_ok=True)
    upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="doc_hvae export")
    return f"https://huggingface.co/{repo_id}"


def _fitted_prior_note(document_prior) -> str:
    """What the folder's fitted document prior (doc_hvae.document_prior) is, where the export saved one."""
    if document_prior is None:
        return ""
    return (
        f"\n`{DOCUMENT_PRIOR_FILE}` is a Gaussian mixture ({document_prior.num_components} components) fitted to the "
        "training windows' z_doc: sampling with `document_prior: fitted` draws prior samples' z_doc from it instead of N(0, I).\n"
    )


def _recommended_sampling(config: TrainConfig) -> dict:
    """The resolved recommended sampling of a training config, as plain data (no logits processors)."""
    settings = vars(recommended_sampling_config(config.sampling))
    return {name: value for name, value in settings.items() if name != "logits_processors"}


def model_card(
    config: TrainConfig, corpus: PreparedCorpus, metrics: dict, model_config, document_prior=None
) -> ModelCard:
    """A Hugging Face model card: metadata (library, license, datasets, base model, validation
    perplexity and information use as model-index results), the data, the metrics and the config."""
    source = config.data.prepare.source if config.data.prepare is not None else None
    dataset = (source.path or source.reader) if source is not None else Path(config.data.prepared_dir).name
    dataset = Path(dataset).name or dataset
    data = _card_metadata(config, metrics, model_config, dataset)
    body = _card_body(config, corpus, metrics, model_config, document_prior)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def _card_metadata(config: TrainConfig, metrics: dict, model_config, dataset: str) -> ModelCardData:
    """The card's YAML header; validation PPL and each level's information use as model-index results."""

    def result(metric_type: str, name: str, value: float) -> EvalResult:
        return EvalResult(
            task_type="text-generation",
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_split=config.data.validation_split,
            metric_type=metric_type,
            metric_name=name,
            metric_value=round(value, 3),
        )

    results = [
        result("perplexity", f"PPL ({kind})", metrics[key])
        for kind, key in (("ELBO", "ppl_elbo"), ("IW", "ppl_iw"))
        if key in metrics
    ]
    results += [
        result(
            "information_use", f"information use, {level} (nats/document)", entry["information_use_nats_per_document"]
        )
        for level, entry in metrics.get("per_level", {}).items()
        if "information_use_nats_per_document" in entry
    ]
    base_model = getattr(model_config, "decoder_init_from", None)
    return ModelCardData(
        library_name="doc_hvae",
        license="apache-2.0",
        tags=["doc_hvae", "hierarchical-vae", "text-generation"],
        datasets=[dataset],
        base_model=base_model if base_model and not Path(base_model).exists() else None,  # a Hub id, not a local folder
        model_name=f"doc_hvae-{'-'.join(model_config.levels) or 'flat'}-{dataset}",
        eval_results=results or None,
    )


def _card_body(config: TrainConfig, corpus: PreparedCorpus, metrics: dict, model_config, document_prior) -> str:
    levels = list(model_config.levels)
    base_model = getattr(model_config, "decoder_init_from", None)
    stats = corpus.statistics.get("splits", {})
    data_rows = "\n".join(f"| {name} | {s.get('windows', 0):,} | {s.get('tokens', 0):,} |" for name, s in stats.items())
    return f"""
# DocHVAE: {", ".join(levels) or "flat LM (no latents)"}

Trained with `accelerate launch recipes/train_docs.py` for {config.training.max_steps} steps{f", decoder warm-started from `{base_model}`" if base_model else ""}.

```python
from doc_hvae import DocHVAEPipeline  # importing doc_hvae also registers it with AutoConfig / AutoModel

pipe = DocHVAEPipeline.from_pretrained("<this folder>")
```

`AutoModel.from_pretrained("<this folder>")` works after `import doc_hvae`; without that import,
pass `trust_remote_code=True` (the folder's `{AUTO_MODULE}.py` takes the classes from the installed
doc_hvae package).

## Training data

Prepared corpus `{config.data.prepared_dir}` (vocabulary {len(corpus.tokenizer):,}):

| split | windows | tokens |
|---|---|---|
{data_rows}

## Recommended sampling

The training config's `sampling` section over the toolkit's defaults; `DocHVAEPipeline.from_pretrained`
and `recipes/generate_docs.py` start from it (arguments and flags override it):

```yaml
{yaml.safe_dump(_recommended_sampling(config), sort_keys=True)}```
{_fitted_prior_note(document_prior)}
## Final validation metrics

{format_report(metrics, "Validation") if "definitions" in metrics else metrics}

## Training config

```yaml
{dump_config(config)}```
"""
