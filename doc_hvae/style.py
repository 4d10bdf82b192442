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
chance baseline reported beside them. Retrieval's ceiling comes from real text: each reference
is cut in half by paragraphs, and its second half, re-encoded, looks for its own first half among
the R first halves (new text from the same source, as long as a generated document). Where
references share a label, a miss may still land on the right label: the share of nearest
references with the owner's label is reported beside each retrieval.
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
    "references give the ceiling); retrieval's ceiling: each reference's second half of paragraphs finding its first "
    "half among the references' first halves"
)


@torch.no_grad()
def document_latents(model: DocHVAE, rows: Sequence[dict], collator: DocCollator, batch_documents: int = 16) -> torch.Tensor:
    """Posterior means of z_doc [N, D] for prepared rows."""
    device = next(model.parameters()).device
    parts = [posterior_latents(model, collator(rows[i : i + batch_documents]).to(device))["document"].cpu() for i in range(0, len(rows), batch_documents)]
    return torch.cat(parts)


def nearest_reference(generated: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Index [N] of the nearest reference latent [R, D] (Euclidean) to each generated latent [N, D]."""
    return torch.cdist(generated.double(), references.double()).argmin(dim=1)


def retrieval_accuracy(generated: torch.Tensor, owner: torch.Tensor, references: torch.Tensor) -> float:
    """Share of generated latents [N, D] whose nearest reference latent [R, D] is their owner [N]."""
    return float((nearest_reference(generated, references) == owner).double().mean())


def same_label_rate(generated: torch.Tensor, owner: torch.Tensor, references: torch.Tensor, labels: Sequence) -> float:
    """Share of generated latents whose nearest reference has their owner's label (a retrieval miss
    can still find the right author)."""
    labels = np.asarray(labels, dtype=object)
    return float(np.mean(labels[nearest_reference(generated, references).numpy()] == labels[owner.numpy()]))


def halves(row: dict) -> tuple[dict, dict]:
    """The first ceil(n/2) paragraphs of a prepared row with n >= 2 paragraphs and the rest, as rows."""
    cut = (len(row["paragraphs"]) + 1) // 2
    parts = []
    for name, part in (("first", slice(None, cut)), ("second", slice(cut, None))):
        half = {**row, "id": f"{row.get('id')} ({name} half)", "paragraphs": row["paragraphs"][part]}
        if row.get("encoder_paragraphs") is not None:
            half["encoder_paragraphs"] = row["encoder_paragraphs"][part]
        half["num_tokens"] = GeneratedDocument(half["paragraphs"]).num_tokens
        half["num_words"] = 0  # not used by the latents
        parts.append(half)
    return parts[0], parts[1]


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
    labels = [row.get("label") for row in references]
    labelled = all(label is not None for label in labels)
    if labelled:
        result["reference_labels"] = len(set(labels))
    for name, documents in (("style", styled), ("prior", prior)):
        z = document_latents(model, [doc.as_row() for doc in documents], collator)
        result[f"{name}_retrieval_accuracy"] = retrieval_accuracy(z, owner, reference_z)
        if labelled:
            result[f"{name}_retrieval_same_label"] = same_label_rate(z, owner, reference_z, labels)

    halved = [i for i, row in enumerate(references) if len(row["paragraphs"]) >= 2]
    result["references_halved"] = len(halved)
    result["references_too_short_to_halve"] = R - len(halved)  # single-paragraph references: not in the ceiling
    if len(halved) >= 2:
        first, second = zip(*(halves(references[i]) for i in halved))
        first_z, second_z = document_latents(model, list(first), collator), document_latents(model, list(second), collator)
        own = torch.arange(len(halved))
        result["references_half_retrieval_accuracy"] = retrieval_accuracy(second_z, own, first_z)
        result["references_half_chance"] = 1.0 / len(halved)
        if labelled:
            result["references_half_retrieval_same_label"] = same_label_rate(second_z, own, first_z, [labels[i] for i in halved])
    if classifier is not None and labelled:
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
