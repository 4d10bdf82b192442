"""Style consistency (README "Metrics"): do documents generated from a reference's z_doc keep its style?

For R reference documents, N documents are generated from each reference's posterior z_doc (the
lower levels from their priors) and re-encoded; then
  - retrieval: the top-1 accuracy of finding each generated document's reference among the R by
    z_doc (nearest posterior mean; chance is 1/R);
  - labels (when the corpus has them): a TF-IDF + logistic-regression classifier trained on the
    labelled training documents; how often generated documents get their reference's label.
  - within-document consistency (with labels): the share of a document's paragraphs whose
    classifier label is the document's majority paragraph label, for style samples, prior
    samples and the real references (the ceiling).
The same numbers for documents sampled from the prior (assigned to references in order) are the
chance baseline reported beside them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from .data.batching import DocCollator
from .generation import GeneratedDocument, SamplingConfig, document_text, generate_in_style, posterior_latents, row_text, sample_prior
from .modeling import DocHVAE

DEFINITION = (
    "documents generated from one reference's z_doc, re-encoded: top-1 accuracy of finding their reference among all "
    "references by z_doc (nearest posterior mean); and, where labels exist, agreement of a TF-IDF + logistic-regression "
    "classifier trained on the labelled training documents with the reference's label, and within-document consistency: "
    "the share of a document's paragraphs whose classifier label is the document's majority paragraph label (real "
    "references give the ceiling)"
)


@torch.no_grad()
def document_latents(model: DocHVAE, rows: Sequence[dict], collator: DocCollator, batch_documents: int = 16) -> torch.Tensor:
    """Posterior means of z_doc [N, D] for prepared rows."""
    device = next(model.parameters()).device
    parts = [posterior_latents(model, collator(rows[i : i + batch_documents]).to(device))["document"].cpu() for i in range(0, len(rows), batch_documents)]
    return torch.cat(parts)


def retrieval_accuracy(generated: torch.Tensor, owner: torch.Tensor, references: torch.Tensor) -> float:
    """Share of generated latents [N, D] whose nearest reference latent [R, D] is their owner [N]."""
    nearest = torch.cdist(generated.double(), references.double()).argmin(dim=1)
    return float((nearest == owner).double().mean())


class LabelClassifier:
    """TF-IDF (word 1-2 grams) + logistic regression, trained on labelled documents' text."""

    def __init__(self, texts: Sequence[str], labels: Sequence[str], seed: int = 0):
        if len(set(labels)) < 2:
            raise ValueError(f"the label classifier needs at least 2 labels, got {sorted(set(labels))}")
        self.pipeline = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000),
            LogisticRegression(max_iter=2000, random_state=seed),
        )
        self.pipeline.fit(list(texts), list(labels))

    def predict(self, texts: Sequence[str]) -> list[str]:
        return list(self.pipeline.predict(list(texts)))

    def accuracy(self, texts: Sequence[str], labels: Sequence[str]) -> float:
        return float(np.mean(np.asarray(self.predict(texts)) == np.asarray(labels)))


def within_document_consistency(classifier: LabelClassifier, documents: Sequence[Sequence[str]]) -> float:
    """Mean over documents (each a list of paragraph texts, empty ones left out) of the share of
    its paragraphs whose predicted label is the document's most frequent predicted label.
    Documents with no non-empty paragraph are left out; 1.0 for single-paragraph documents."""
    shares = []
    for paragraphs in documents:
        paragraphs = [text for text in paragraphs if text.strip()]
        if not paragraphs:
            continue
        predicted = classifier.predict(paragraphs)
        shares.append(max(predicted.count(label) for label in set(predicted)) / len(predicted))
    return float(np.mean(shares)) if shares else float("nan")


def spread_references(split, count: int) -> list[dict]:
    """`count` windows spread evenly over a prepared split (every len/count-th), the references."""
    step = max(1, len(split) // count)
    return [split[i] for i in range(0, len(split), step)][:count]


def train_label_classifier(train, tokenizer, seed: int = 0) -> LabelClassifier | None:
    """The label classifier on a prepared training split's texts; None when the corpus has no labels."""
    if train[0]["label"] is None:
        return None
    return LabelClassifier([row_text(row, tokenizer) for row in train], train["label"], seed=seed)


def paragraph_texts(document: GeneratedDocument, tokenizer) -> list[str]:
    return [document_text(GeneratedDocument([paragraph]), tokenizer) for paragraph in document.paragraphs]


def style_consistency(
    model: DocHVAE,
    references: Sequence[dict],
    collator: DocCollator,
    tokenizer,
    per_reference: int,
    sampling: SamplingConfig,
    generator: torch.Generator | None = None,
    classifier: LabelClassifier | None = None,
) -> dict:
    """Retrieval accuracy and label agreement of style-conditioned documents vs prior samples."""
    if len(references) < 2:
        raise ValueError(f"style consistency needs at least 2 references, got {len(references)}")
    if "document" not in model.config.levels:
        raise ValueError(f"style consistency needs a document level; this model's levels are {model.config.levels}")
    device = next(model.parameters()).device
    R = len(references)
    reference_z = document_latents(model, references, collator)
    owner = torch.arange(R).repeat_interleave(per_reference)

    styled: list[GeneratedDocument] = []
    for start in range(0, R, 8):  # 8 references per decoding call
        chunk = collator(list(references[start : start + 8])).to(device)
        styled += [doc for docs in generate_in_style(model, chunk, per_reference, sampling, generator=generator) for doc in docs]
    prior = sample_prior(model, R * per_reference, sampling, generator)

    result = {"definition": DEFINITION, "references": R, "per_reference": per_reference, "chance": 1.0 / R}
    for name, documents in (("style", styled), ("prior", prior)):
        z = document_latents(model, [doc.as_row() for doc in documents], collator)
        result[f"{name}_retrieval_accuracy"] = retrieval_accuracy(z, owner, reference_z)
    labels = [row.get("label") for row in references]
    if classifier is not None and all(label is not None for label in labels):
        reference_texts = [row_text(row, tokenizer) for row in references]
        expected = np.asarray([labels[r] for r in owner.tolist()])
        result["classifier_accuracy_on_references"] = classifier.accuracy(reference_texts, labels)
        result["majority_label_rate"] = float(max(np.mean(expected == label) for label in set(labels)))
        for name, documents in (("style", styled), ("prior", prior)):
            predicted = np.asarray(classifier.predict([document_text(doc, tokenizer) for doc in documents]))
            result[f"{name}_label_agreement"] = float(np.mean(predicted == expected))
            result[f"{name}_within_document_consistency"] = within_document_consistency(classifier, [paragraph_texts(doc, tokenizer) for doc in documents])
        real = [paragraph_texts(GeneratedDocument(row["paragraphs"]), tokenizer) for row in references]
        result["references_within_document_consistency"] = within_document_consistency(classifier, real)
    result["samples"] = [
        {"reference": references[r].get("id"), "label": labels[r], "text": document_text(styled[r * per_reference], tokenizer)}
        for r in range(min(R, 3))
    ]
    return result
