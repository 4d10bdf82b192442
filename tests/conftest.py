"""Test setup: offline Hugging Face (before anything imports transformers), shared fixtures."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny test models gain nothing from intra-op threads, and when other work shares the cores a
    second OpenMP thread waiting for a busy core makes every small op slow (measured: 20x)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpora live in ../shared/data beside the repository")
    return path


TINY_ENCODER = {
    "model_type": "bert",
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}
EXPORT_TINY = {
    "latent_size": 8,
    "decoder": {"model_type": "gpt2", "n_embd": 32, "n_layer": 1, "n_head": 2, "n_positions": 256},
    "encoder": TINY_ENCODER,
}
EXPORT_LIMITS = {
    "max_sentence_tokens": 32,
    "max_paragraph_sentences": 8,
    "max_paragraph_tokens": 128,
    "max_window_paragraphs": 4,
    "max_window_tokens": 256,
}


def export_folder(tmp_path_factory, levels: list[str], prepare: dict | None = None, tiny: dict | None = None) -> str:
    """An export folder as `recipes/train_docs.py` writes it (model, tokenizer, train_config.yaml),
    with untrained weights of a tiny model (`tiny`, default EXPORT_TINY) on a prepared corpus
    (`prepare`, a PrepareConfig without output_dir; default a small pydoc corpus)."""
    import torch
    import yaml

    from doc_hvae.data.prepare import PrepareConfig, PreparedCorpus, prepare_corpus
    from doc_hvae.training import ModelSection, build_model

    corpus_dir = tmp_path_factory.mktemp("corpus")
    prepare = prepare or {
        "source": {"reader": "pydoc", "max_documents": 20, "split_fractions": {"validation": 0.2, "test": 0.1}},
        "tokenizer": {"vocab_size": 400},
        "limits": EXPORT_LIMITS,
    }
    prepare_corpus(PrepareConfig(**prepare, output_dir=str(corpus_dir)), show_progress=False)
    tokenizer = PreparedCorpus(corpus_dir).tokenizer
    torch.manual_seed(0)
    model = build_model(ModelSection(config={**(tiny or EXPORT_TINY), "levels": levels}), tokenizer)
    folder = tmp_path_factory.mktemp("export") / "final"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "train_config.yaml").write_text(
        yaml.safe_dump({"data": {"prepared_dir": str(corpus_dir), "prepare": prepare}})
    )
    return str(folder)
