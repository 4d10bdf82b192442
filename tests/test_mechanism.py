"""The mechanism test: on a corpus where the hierarchy must win, the shipped recipe must use it.

Every document of `write_topic_corpus` has one of 8 hidden labels, each with its own vocabulary;
a paragraph is one short sentence, so a paragraph-context decoder cannot carry the label from one
paragraph to the next and must guess it again at every paragraph, while a document latent can
hold it for the whole document at a KL of about log 8 nats. A tiny three-level model trained with
the shipped quickstart recipe (its latent injection, posterior normalisation, KL schedule, free
bits and optimiser groups; only the sizes, the learning rate and the step count are the test's)
must therefore

  - encode the label in z_doc (nearest-neighbour label accuracy >= 0.9, chance 0.125),
  - read z_doc in the decoder (information use of the document level > 2 nats per document),
  - reach a lower importance-weighted NLL than the flat LM trained the same way,
  - documents generated in a reference's style with latent guidance (document g = 3) keep the
    reference's label in more of their paragraphs than unguided ones,
  - and continuations of a reference's first two paragraphs keep its label in more of their
    paragraphs than prior samples do.

A failure here means the path from the encoder to the decoder is broken, whatever else passes.
"""

import subprocess
import sys
import warnings

import pytest
import yaml
from omegaconf import OmegaConf

from conftest import REPO_ROOT
from doc_hvae.config_loading import load_yaml_with_base
from doc_hvae.data.batching import DocCollator
from doc_hvae.data.prepare import PreparedCorpus
from doc_hvae.data.synthetic import write_topic_corpus
from doc_hvae.evaluation import EvalSettings, evaluate
from doc_hvae.generation import (
    SamplingConfig,
    continue_documents,
    generate_in_style,
    paragraph_texts,
    sample_prior,
    seeded_generator,
)
from doc_hvae.modeling.loading import load_model
from doc_hvae.style import spread_references, train_label_classifier

TINY = {
    "latent_size": 8,
    "decoder": {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 2, "n_positions": 128},
    "encoder": {
        "model_type": "bert",
        "hidden_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 128,
    },
}


def mechanism_config(tmp_path, corpus) -> dict:
    shipped = OmegaConf.to_container(
        load_yaml_with_base(REPO_ROOT / "recipes" / "configs" / "quickstart.yaml", "quickstart")
    )  # over base.yaml
    return {
        "data": {
            "prepared_dir": str(tmp_path / "data"),
            "prepare": {
                "source": {
                    "reader": "text",
                    "path": str(corpus),
                    "options": {"label_from": "filename_prefix"},
                    "split_fractions": {"validation": 0.1, "test": 0.1},
                },
                "tokenizer": {"vocab_size": 400},
                "limits": {
                    "max_sentence_tokens": 32,
                    "max_paragraph_sentences": 4,
                    "max_paragraph_tokens": 64,
                    "max_window_paragraphs": 8,
                    "max_window_tokens": 512,
                },
            },
            "max_tokens": 1024,
        },
        "model": {"config": {**shipped["model"]["config"], **TINY}},
        "objective": shipped["objective"],
        "optim": {**shipped["optim"], "lr": 2.0e-3, "warmup_steps": 20},
        "training": {
            "output_dir": str(tmp_path / "three_level"),
            "max_steps": 300,
            "log_every": 50,
            "eval_every": 300,
            "save_every": 1000,
            "iw_samples": 0,
            "num_samples": 0,
            "tensorboard": False,
        },
    }


def train(config: dict, path, *overrides) -> None:
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, str(REPO_ROOT / "recipes" / "train_docs.py"), "--config", str(path), *overrides]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def validation_report(output_dir, prepared_dir) -> dict:
    model = load_model(output_dir / "final")
    validation = PreparedCorpus(prepared_dir).dataset["validation"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # small-sample MI notes
        return evaluate(
            model, validation, DocCollator.for_model(model.config), EvalSettings(iw_samples=10), show_progress=False
        )


def paragraph_label_agreement(output_dir, prepared_dir, guidance: dict) -> float:
    """Share of the paragraphs of style samples (4 per reference, 16 test references, plain
    ancestral sampling) that a word classifier trained on the training split gives the reference's label."""
    model, corpus, references, classifier = _judged(output_dir, prepared_dir)
    sampling = SamplingConfig(temperature=1.0, max_paragraphs=4, max_tokens=40, guidance=guidance)
    groups = generate_in_style(
        model, DocCollator.for_model(model.config)(references), 4, sampling, generator=seeded_generator(0)
    )
    return _agreement(
        [d for documents in groups for d in documents],
        [r["label"] for r in references for _ in range(4)],
        classifier,
        corpus,
    )


def continuation_label_agreement(output_dir, prepared_dir) -> tuple[float, float]:
    """The same share for continuations of each reference's first two paragraphs (the prefix's posterior
    z_doc and paragraph latents, the next paragraphs from the priors), and for as many prior samples."""
    model, corpus, references, classifier = _judged(output_dir, prepared_dir)
    prefixes = [
        {**r, "paragraphs": r["paragraphs"][:2], "num_tokens": sum(len(s) + 1 for p in r["paragraphs"][:2] for s in p)}
        for r in references
        for _ in range(4)
    ]
    sampling = SamplingConfig(temperature=1.0, max_paragraphs=4, max_tokens=40)
    expected = [prefix["label"] for prefix in prefixes]
    groups = continue_documents(model, DocCollator.for_model(model.config)(prefixes), 1, sampling, seeded_generator(0))
    continued = _agreement([documents[0] for documents in groups], expected, classifier, corpus)
    prior = _agreement(sample_prior(model, len(prefixes), sampling, seeded_generator(0)), expected, classifier, corpus)
    return continued, prior


def _judged(output_dir, prepared_dir):
    model = load_model(output_dir / "final")
    corpus = PreparedCorpus(prepared_dir)
    references = spread_references(corpus.dataset["test"], 16)
    return model, corpus, references, train_label_classifier(corpus.dataset["train"], corpus.tokenizer)


def _agreement(documents, labels, classifier, corpus) -> float:
    expected, paragraphs = [], []
    for document, label in zip(documents, labels):
        texts = [text for text in paragraph_texts(document, corpus.tokenizer) if text.strip()]
        paragraphs += texts
        expected += [label] * len(texts)
    return sum(p == e for p, e in zip(classifier.predict(paragraphs), expected)) / len(expected)


@pytest.mark.slow
def test_the_hierarchy_wins_where_it_must(tmp_path):
    corpus = tmp_path / "corpus"
    write_topic_corpus(corpus, num_documents=480, num_labels=8)
    config = mechanism_config(tmp_path, corpus)
    train(config, tmp_path / "three_level.yaml")
    train(config, tmp_path / "flat.yaml", "model.config.levels=[]", f"training.output_dir={tmp_path / 'flat'}")

    hierarchical = validation_report(tmp_path / "three_level", tmp_path / "data")
    flat = validation_report(tmp_path / "flat", tmp_path / "data")
    document = hierarchical["per_level"]["document"]
    use = ", ".join(
        f"{level} {entry['information_use_nats_per_document']:.2f}"
        for level, entry in hierarchical["per_level"].items()
    )
    summary = (
        f"z_doc 1-NN label accuracy {document['label_accuracy_1nn']:.3f}, information use {use} "
        f"nats/doc, IW NLL/doc {hierarchical['nll_iw_per_document']:.2f} "
        f"vs flat {flat['nll_iw_per_document']:.2f}"
    )
    print(summary)  # shown with pytest -s
    assert document["majority_label_share"] <= 0.2, summary  # 8 balanced labels: a constant guess is far off
    assert document["label_accuracy_1nn"] >= 0.9, summary
    assert document["information_use_nats_per_document"] > 2.0, summary
    assert hierarchical["nll_iw_per_document"] < flat["nll_iw_per_document"], summary

    unguided = paragraph_label_agreement(tmp_path / "three_level", tmp_path / "data", {})
    guided = paragraph_label_agreement(tmp_path / "three_level", tmp_path / "data", {"document": 3.0})
    print(
        f"paragraphs of style samples with the reference's label: unguided {unguided:.3f}, guided (document g = 3) {guided:.3f}"
    )
    assert guided > unguided, (unguided, guided)

    continued, prior = continuation_label_agreement(tmp_path / "three_level", tmp_path / "data")
    print(f"paragraphs with the prefix's label: continuations {continued:.3f}, prior samples {prior:.3f}")
    assert continued > prior + 0.2, (continued, prior)  # 8 labels: a prior sample agrees about 1/8 of the time
