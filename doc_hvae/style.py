"""Style consistency (docs/metrics.md#style-consistency): do documents generated from a reference's z_doc keep its style?

For R reference documents, N documents are generated from each reference's posterior z_doc (the
lower levels from their priors); N x R documents sampled from the prior, assigned to the references
in order, are the chance baseline reported beside every number. The judges, one line each (JUDGES):
  - z_doc retrieval: the model's own view (above its real-halves ceiling: the text over-expresses
    z_doc): top-1 accuracy of finding each document's reference among the R by re-encoded z_doc.
  - TF-IDF retrieval: the same retrieval by cosine similarity of word TF-IDF vectors of the texts,
    independent of the model.
  - label agreement, one per classifier kind (where the corpus has labels): how often a classifier
    trained on the labelled training documents gives a document its reference's label; "word":
    word 1-2 gram TF-IDF + logistic regression; "char": character 2-5 gram TF-IDF + linear SVM.
  - within-document consistency, per classifier kind: the share of a document's parts (its paragraphs;
    a one-paragraph document's two halves of sentences) whose predicted label is the document's majority
    part label (real references: the ceiling).
  - diversity: distinct-2 and self-BLEU of an equal-sized, seeded subsample of each set of texts.
  - fluency: perplexity of the texts under a separately trained flat LM of the same tokenizer.
Ceilings from real text: each reference is cut in half by paragraphs (a one-paragraph reference by
its sentences), and its second half looks for its own first half among the first halves (new text
from the same source), by z_doc and by TF-IDF; the references' own diversity, fluency and consistency sit beside the samples'.
A judge's verdict depends on how much text it reads, and the samples are shorter than the references: so the
label judges and TF-IDF retrieval also score real text at the samples' length ("matched": each reference, or its
second half, cut to the paragraph lengths of each of its style samples, `cut_to_shape`). Where
references share a label, a retrieval miss may still land on the right label: the share of
nearest references with the owner's label is reported beside each retrieval.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from .data.batching import DocCollator
from .evaluation import EvalSettings, document_nll, perplexity
from .generation import (
    GeneratedDocument,
    SamplingConfig,
    document_latents,
    document_text,
    generate_in_style,
    paragraph_texts,
    row_text,
    sample_prior,
)
from .metrics import generation_diversity
from .modeling import DocHVAE

JUDGES = {
    "baseline": "every judge also scores documents sampled from the prior, assigned to the references in order (chance "
    "retrieval: 1/R)",
    "z_doc retrieval": "the model's own view (above its real-halves ceiling: the text over-expresses z_doc): top-1 accuracy of "
    "finding a generated document's reference among all references by re-encoded z_doc (nearest posterior mean); its "
    "ceiling: each reference's second half (of paragraphs; of sentences for a one-paragraph reference) finding its "
    "first half among the references' first halves",
    "TF-IDF retrieval": "independent of the model: the same top-1 retrieval by cosine similarity of word TF-IDF vectors "
    "(fitted on the reference texts), with the same real-halves ceiling; a text with no known word is a miss",
    "word label agreement": "where labels exist: how often a word 1-2 gram TF-IDF + logistic-regression classifier trained on "
    "the labelled training documents gives a document its reference's label",
    "char label agreement": "the same with a character 2-5 gram (char_wb) TF-IDF + linear SVM classifier, a second judge of "
    "another kind",
    "within-document consistency": "per classifier: the share of a document's parts (its paragraphs; a one-paragraph "
    "document's two halves of sentences) whose predicted label is the document's majority part label (the real "
    "references give the ceiling)",
    "matched ceilings": "the reference values at the samples' length: each style sample's reference (for TF-IDF "
    "retrieval: its second half, finding its first half) cut to the sample's paragraph lengths in tokens, then judged "
    "like the samples (label agreement, within-document consistency, TF-IDF retrieval)",
    "diversity": "distinct-2 (distinct word bigrams / bigrams) and self-BLEU (0-100) of at most 50 texts per set, the same "
    "number for style samples, prior samples and references, drawn with a fixed seed",
    "fluency": "perplexity exp(sum NLL / sum tokens) of the texts under a flat LM trained on the same corpus and tokenizer "
    "(the references' own is the reference value)",
}
DEFINITION = "\n".join(f"{name}: {line}" for name, line in JUDGES.items())
DIVERSITY_TEXTS = 50  # self-BLEU is quadratic in the number of texts


def nearest_reference(generated: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Index [N] of the nearest reference latent [R, D] (Euclidean) to each generated latent [N, D]."""
    return torch.cdist(generated.double(), references.double()).argmin(dim=1)


def retrieval_accuracy(generated: torch.Tensor, owner: torch.Tensor, references: torch.Tensor) -> float:
    """Share of generated latents [N, D] whose nearest reference latent [R, D] is their owner [N]."""
    return float((nearest_reference(generated, references) == owner).double().mean())


def same_label_rate(generated: torch.Tensor, owner: torch.Tensor, references: torch.Tensor, labels: Sequence) -> float:
    """Share of generated latents whose nearest reference has their owner's label (a retrieval miss
    can still find the right author)."""
    return label_match_rate(nearest_reference(generated, references).numpy(), owner.numpy(), labels)


def label_match_rate(nearest: np.ndarray, owner: np.ndarray, labels: Sequence) -> float:
    """Share of documents whose retrieved reference index (-1: none) has their owner's label."""
    labels = np.asarray(list(labels) + [None], dtype=object)  # index -1: no reference, no label
    return float(np.mean(labels[np.asarray(nearest)] == labels[np.asarray(owner)]))


def tfidf_nearest(
    queries: Sequence[str], candidates: Sequence[str], fit_texts: Sequence[str] | None = None
) -> np.ndarray:
    """Index [N] of the most cosine-similar candidate text to each query text by word TF-IDF (fitted on
    `fit_texts`, by default the candidates); -1 for a query with no word of the vocabulary."""
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(list(candidates if fit_texts is None else fit_texts))
    query, candidate = vectorizer.transform(list(queries)), vectorizer.transform(list(candidates))  # rows L2-normalised
    nearest = (query @ candidate.T).toarray().argmax(axis=1)  # [N] of cosine similarities [N, R]
    nearest[query.getnnz(axis=1) == 0] = -1
    return nearest


def in_two(paragraphs: list) -> tuple[list, list]:
    """A document's paragraphs in two: the first ceil(n/2) paragraphs and the rest, or, for a single
    paragraph, the first ceil(m/2) of its m sentences and the rest (each a one-paragraph list)."""
    if len(paragraphs) >= 2:
        cut = (len(paragraphs) + 1) // 2
        return paragraphs[:cut], paragraphs[cut:]
    (sentences,) = paragraphs
    cut = (len(sentences) + 1) // 2
    return [sentences[:cut]], [sentences[cut:]]


def can_halve(paragraphs: list) -> bool:
    """Whether `in_two` gives two non-empty halves: two paragraphs or more, or one of two sentences or more."""
    return len(paragraphs) >= 2 or (len(paragraphs) == 1 and len(paragraphs[0]) >= 2)


def judged_parts(paragraphs: list) -> list:
    """The parts a document's within-document consistency compares: its paragraphs, or the two halves
    of a single paragraph's sentences (so that one-paragraph corpora, e.g. abstracts, are judged too)."""
    if len(paragraphs) == 1 and can_halve(paragraphs):
        first, second = in_two(paragraphs)
        return first + second
    return paragraphs


def paragraph_lengths(document: GeneratedDocument) -> list[int]:
    """Content tokens of each paragraph of a document (boundaries not counted), its shape for `cut_to_shape`."""
    return [sum(len(sentence) for sentence in paragraph) for paragraph in document.paragraphs]


def cut_to_shape(paragraphs: list, shape: Sequence[int]) -> list:
    """Real text as long as a generated document: the first len(shape) paragraphs, the i-th cut to its first
    shape[i] tokens (whole sentences while they fit, then the start of the next), empty ones left out. A judge
    reads less text in a sample than in a whole reference; cut this way, the reference gives the judge's value
    at the samples' length."""
    cut = []
    for paragraph, budget in zip(paragraphs, shape):
        sentences = []
        for sentence in paragraph:
            if budget <= 0:
                break
            sentences.append(sentence[:budget])
            budget -= len(sentence)
        if sentences:
            cut.append(sentences)
    return cut


def halves(row: dict) -> tuple[dict, dict]:
    """A prepared row that `can_halve` cut in two by `in_two` (paragraphs, or a single paragraph's
    sentences), as rows."""
    parts = []
    for name, paragraphs, encoder in zip(
        ("first", "second"),
        in_two(row["paragraphs"]),
        in_two(row["encoder_paragraphs"]) if row.get("encoder_paragraphs") is not None else (None, None),
    ):
        half = {**row, "id": f"{row.get('id')} ({name} half)", "paragraphs": paragraphs}
        if encoder is not None:
            half["encoder_paragraphs"] = encoder
        half["num_tokens"] = GeneratedDocument(paragraphs).num_tokens
        half["num_words"] = 0  # not used by the latents
        parts.append(half)
    return parts[0], parts[1]


def _word_pipeline(seed: int):
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000),
        LogisticRegression(max_iter=2000, random_state=seed),
    )


def _char_pipeline(seed: int):
    # char_wb: n-grams inside word boundaries (padded with spaces); case kept, it is part of a style.
    return make_pipeline(
        TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), lowercase=False, min_df=2, sublinear_tf=True, max_features=300_000
        ),
        LinearSVC(C=1.0, random_state=seed),
    )


CLASSIFIER_KINDS = {"word": _word_pipeline, "char": _char_pipeline}


class LabelClassifier:
    """A label classifier over documents' text, of one `kind`: "word" (word 1-2 gram TF-IDF + logistic
    regression) or "char" (character 2-5 gram TF-IDF + linear SVM)."""

    def __init__(self, texts: Sequence[str], labels: Sequence[str], seed: int = 0, kind: str = "word"):
        if kind not in CLASSIFIER_KINDS:
            raise ValueError(f"unknown classifier kind {kind!r}; use one of {list(CLASSIFIER_KINDS)}")
        if len(set(labels)) < 2:
            raise ValueError(f"the label classifier needs at least 2 labels, got {sorted(set(labels))}")
        self.kind = kind
        self.pipeline = CLASSIFIER_KINDS[kind](seed)
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


def train_label_classifier(train, tokenizer, seed: int = 0, kind: str = "word") -> LabelClassifier | None:
    """The label classifier of `kind` on a prepared training split's texts; None when the corpus has no labels."""
    if train[0]["label"] is None:
        return None
    return LabelClassifier([row_text(row, tokenizer) for row in train], train["label"], seed=seed, kind=kind)


def train_label_classifiers(
    train, tokenizer, seed: int = 0, kinds: Sequence[str] = tuple(CLASSIFIER_KINDS)
) -> dict[str, LabelClassifier]:
    """One classifier per kind on a prepared training split (texts decoded once); {} when the corpus has no labels."""
    if train[0]["label"] is None:
        return {}
    texts = [row_text(row, tokenizer) for row in train]
    return {kind: LabelClassifier(texts, train["label"], seed=seed, kind=kind) for kind in kinds}


def diversity(texts: Sequence[str], count: int = DIVERSITY_TEXTS, seed: int = 0) -> dict[str, float]:
    """distinct-2 and self-BLEU of `count` texts drawn without replacement with a fixed seed (all when fewer)."""
    texts = list(texts)
    if len(texts) > count:
        keep = np.sort(np.random.default_rng(seed).choice(len(texts), size=count, replace=False))
        texts = [texts[i] for i in keep]
    scores = generation_diversity(texts)
    return {"distinct_2": scores["distinct_2"], "self_bleu": scores.get("self_bleu", float("nan"))}


def check_fluency_model(model: DocHVAE, fluency_model: DocHVAE) -> None:
    """A fluency model must read the model's token ids: the same tokenizer, so the same vocabulary size."""
    if fluency_model.config.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"the fluency model's vocabulary has {fluency_model.config.vocab_size} tokens but the model's has "
            f"{model.config.vocab_size}: they do not share a tokenizer; train the fluency model (a flat LM, "
            "model.config.levels=[]) on the model's own prepared corpus"
        )


def fluency_ppl(
    model: DocHVAE, rows: Sequence[dict], collator: DocCollator | None = None, max_tokens: int = 8192
) -> float:
    """exp(sum NLL / sum tokens) of prepared rows (GeneratedDocument.as_row() for generated ones) under
    `model`: a flat LM's exact perplexity (a model with latents: its ELBO bound, one posterior sample).
    Tokens are the predicted positions: content tokens plus one boundary per sentence."""
    collator = collator or DocCollator.for_model(model.config)
    nll = document_nll(model, list(rows), collator, EvalSettings(iw_samples=0, max_tokens=max_tokens, level_use=False))[
        "elbo"
    ]
    tokens = sum(GeneratedDocument(row["paragraphs"]).num_tokens for row in rows)
    return perplexity(float(nll.sum()), tokens)


def style_consistency(
    model: DocHVAE,
    references: Sequence[dict],
    collator: DocCollator,
    tokenizer,
    per_reference: int,
    sampling: SamplingConfig,
    generator: torch.Generator | None = None,
    classifier: LabelClassifier | None = None,
    classifiers: Mapping[str, LabelClassifier] | None = None,
    fluency_model: DocHVAE | None = None,
    *,
    retrieval_fit_texts: Sequence[str] | None = None,
) -> dict:
    """Every judge of JUDGES on style-conditioned documents, beside prior samples and the real references.

    `classifiers` maps a kind ("word", "char") to its LabelClassifier; `classifier` alone is {"word": classifier}.
    The unprefixed label keys (style_label_agreement, ...) are the word classifier's. `fluency_model`: a flat LM
    of the same tokenizer (fluency PPL is left out without one). `retrieval_fit_texts`: the texts the TF-IDF of
    TF-IDF retrieval is fitted on (e.g. the training texts); by default the references'."""
    _check_style_references(model, references)
    judges = _classifiers_of(classifier, classifiers)
    if fluency_model is not None:
        check_fluency_model(model, fluency_model)  # before the (slow) generation
    R = len(references)
    owner = torch.arange(R).repeat_interleave(per_reference)
    documents, decoding_seconds = _timed_generation(model, references, collator, per_reference, sampling, generator)
    labels = [row.get("label") for row in references]
    labelled = all(label is not None for label in labels)
    texts = {name: [document_text(doc, tokenizer) for doc in docs] for name, docs in documents.items()}
    texts["references"] = [row_text(row, tokenizer) for row in references]
    halved = [i for i, row in enumerate(references) if can_halve(row["paragraphs"])]
    split = [halves(references[i]) for i in halved]
    lengths = [paragraph_lengths(doc) for doc in documents["style"]]
    matched, matched_second = _matched_references(references, split, halved, owner, lengths, tokenizer)

    result = {"definition": DEFINITION, "references": R, "per_reference": per_reference, "chance": 1.0 / R}
    result.update(_decoding_speed(documents, decoding_seconds))
    result["style_paragraphs_mean"] = float(np.mean([len(shape) for shape in lengths]))
    result["style_paragraph_tokens_mean"] = float(np.mean([n for shape in lengths for n in shape] or [0]))
    if labelled:
        result["reference_labels"] = len(set(labels))
    result["references_halved"] = len(halved)
    result["references_too_short_to_halve"] = R - len(halved)  # single-sentence references: not in the ceilings
    result.update(_latent_retrieval(model, references, collator, documents, owner, split, labels if labelled else None))
    half_texts = [[row_text(half, tokenizer) for half in pair] for pair in split]
    result.update(
        _tfidf_retrieval(
            texts, half_texts, owner, labels if labelled else None, halved, retrieval_fit_texts, matched_second
        )
    )
    if labelled and judges:
        matched_texts = [document_text(GeneratedDocument(paragraphs), tokenizer) for paragraphs in matched]
        parts = _judged_part_texts(documents, references, matched, tokenizer)
        result.update(_label_judges(judges, {**texts, "references_matched": matched_texts}, parts, owner, labels))
    result.update(_diversity_judges(texts))
    if fluency_model is not None:
        result.update(_fluency_judges(fluency_model, documents, references))
    result["samples"] = _samples(references, labels, texts["style"], per_reference)
    return result


def _matched_references(
    references: Sequence[dict], split: list, halved: list[int], owner: torch.Tensor, lengths: list, tokenizer
) -> tuple[list, list[tuple[int, str]]]:
    """Real text at the samples' length: each style sample's reference cut to the sample's paragraph `lengths`
    (paragraphs of token ids, one per sample), and its reference's second half so cut, with the half's index
    (half index, text; samples of references too short to halve have none)."""
    shapes = list(zip(owner.tolist(), lengths))
    matched = [cut_to_shape(references[r]["paragraphs"], shape) for r, shape in shapes]
    half_of = {r: j for j, r in enumerate(halved)}
    second = [
        (
            half_of[r],
            document_text(GeneratedDocument(cut_to_shape(split[half_of[r]][1]["paragraphs"], shape)), tokenizer),
        )
        for r, shape in shapes
        if r in half_of
    ]
    return matched, second


def _timed_generation(
    model: DocHVAE,
    references: Sequence[dict],
    collator: DocCollator,
    per_reference: int,
    sampling: SamplingConfig,
    generator: torch.Generator | None,
) -> tuple[dict[str, list[GeneratedDocument]], float]:
    """The style-conditioned and prior documents ({"style": ..., "prior": ...}), and the seconds they took."""
    started = time.perf_counter()
    documents = dict(
        zip(("style", "prior"), _generate(model, references, collator, per_reference, sampling, generator))
    )
    return documents, time.perf_counter() - started


def _decoding_speed(documents: dict[str, list[GeneratedDocument]], seconds: float) -> dict:
    """Decoding speed of the sampling settings (style and prior documents, re-encoding and judges not counted)."""
    tokens = sum(doc.num_tokens for docs in documents.values() for doc in docs)
    return {"decoding_tokens": tokens, "decoding_tokens_per_second": tokens / seconds}


def _samples(references: Sequence[dict], labels: list, style_texts: list[str], per_reference: int) -> list[dict]:
    """The first style-conditioned document of the first three references, to read."""
    return [
        {"reference": references[r].get("id"), "label": labels[r], "text": style_texts[r * per_reference]}
        for r in range(min(len(references), 3))
    ]


def _check_style_references(model: DocHVAE, references: Sequence[dict]) -> None:
    """Style consistency needs two references at least, and a model with a document level."""
    if len(references) < 2:
        raise ValueError(f"style consistency needs at least 2 references, got {len(references)}")
    if "document" not in model.config.levels:
        raise ValueError(f"style consistency needs a document level; this model's levels are {model.config.levels}")


def _judged_part_texts(
    documents: dict[str, list[GeneratedDocument]], references: Sequence[dict], matched: list, tokenizer
) -> dict[str, list[list[str]]]:
    """The texts of the judged parts (`judged_parts`) of every generated document, by kind, of the references
    and of the references cut to the style samples' shapes (`matched`, paragraphs of token ids)."""
    rows = {name: [doc.paragraphs for doc in docs] for name, docs in documents.items()}
    rows["references"] = [row["paragraphs"] for row in references]
    rows["references_matched"] = matched
    return {
        name: [paragraph_texts(GeneratedDocument(judged_parts(paragraphs)), tokenizer) for paragraphs in listed]
        for name, listed in rows.items()
    }


def _classifiers_of(
    classifier: LabelClassifier | None, classifiers: Mapping[str, LabelClassifier] | None
) -> dict[str, LabelClassifier]:
    """The classifiers by kind, `classifier` (the old argument) as the "word" one; each key must be its classifier's kind."""
    judges = dict(classifiers or {})
    if classifier is not None:
        if judges.get("word", classifier) is not classifier:
            raise ValueError("two word classifiers: pass it as classifier= or as classifiers['word'], not both")
        judges["word"] = classifier
    for kind, judge in judges.items():
        if judge.kind != kind:
            raise ValueError(f"classifiers[{kind!r}] is a {judge.kind!r} classifier; key each classifier by its kind")
    return judges


def _generate(
    model, references, collator, per_reference, sampling, generator
) -> tuple[list[GeneratedDocument], list[GeneratedDocument]]:
    """`per_reference` documents in each reference's style (reference-major) and as many prior samples."""
    device = model.device
    styled: list[GeneratedDocument] = []
    for start in range(0, len(references), 8):  # 8 references per decoding call
        chunk = collator(list(references[start : start + 8])).to(device)
        styled += [
            doc
            for docs in generate_in_style(model, chunk, per_reference, sampling, generator=generator)
            for doc in docs
        ]
    return styled, sample_prior(model, len(styled), sampling, generator)


def _latent_retrieval(model, references, collator, documents, owner, split, labels) -> dict:
    """z_doc retrieval (the model's own view) of each set of documents, and its real-halves ceiling."""
    reference_z = document_latents(model, references, collator)
    result = {}
    for name, docs in documents.items():
        z = document_latents(model, [doc.as_row() for doc in docs], collator)
        result[f"{name}_retrieval_accuracy"] = retrieval_accuracy(z, owner, reference_z)
        if labels:
            result[f"{name}_retrieval_same_label"] = same_label_rate(z, owner, reference_z, labels)
    if len(split) >= 2:
        first, second = (document_latents(model, list(rows), collator) for rows in zip(*split))
        own = torch.arange(len(split))
        result["references_half_retrieval_accuracy"] = retrieval_accuracy(second, own, first)
        result["references_half_chance"] = 1.0 / len(split)
        if labels:
            result["references_half_retrieval_same_label"] = same_label_rate(
                second, own, first, [row["label"] for row, _ in split]
            )
    return result


def _tfidf_retrieval(texts, split_texts, owner, labels, halved, fit_texts, matched_second=()) -> dict:
    """TF-IDF retrieval of each set of generated texts among the references' texts, and its real-halves ceiling,
    whole and at the samples' length (`matched_second`: (half index, second half cut to a style sample's shape))."""
    fit = texts["references"] if fit_texts is None else fit_texts
    result = {}
    for name in ("style", "prior"):
        nearest = tfidf_nearest(texts[name], texts["references"], fit)
        result[f"{name}_tfidf_retrieval_accuracy"] = float(np.mean(nearest == owner.numpy()))
        if labels:
            result[f"{name}_tfidf_retrieval_same_label"] = label_match_rate(nearest, owner.numpy(), labels)
    if len(split_texts) >= 2:
        first, second = zip(*split_texts)
        nearest, own = tfidf_nearest(second, first, fit), np.arange(len(split_texts))
        result["references_half_tfidf_retrieval_accuracy"] = float(np.mean(nearest == own))
        if matched_second:
            own_half, queries = zip(*matched_second)
            nearest_half = tfidf_nearest(queries, first, fit)
            result["references_matched_half_tfidf_retrieval_accuracy"] = float(
                np.mean(nearest_half == np.asarray(own_half))
            )
        if labels:
            result["references_half_tfidf_retrieval_same_label"] = label_match_rate(
                nearest, own, [labels[i] for i in halved]
            )
    return result


def _label_judges(
    judges: dict[str, LabelClassifier], texts: dict, paragraphs: dict, owner: torch.Tensor, labels: list
) -> dict:
    """Per classifier kind K: accuracy on the references, label agreement and within-document consistency."""
    expected = np.asarray([labels[r] for r in owner.tolist()], dtype=object)
    result = {"majority_label_rate": float(max(np.mean(expected == label) for label in set(labels)))}
    for kind, judge in judges.items():
        scores = {f"{kind}_classifier_accuracy_on_references": judge.accuracy(texts["references"], labels)}
        for name in ("style", "prior", "references_matched"):
            scores[f"{name}_{kind}_label_agreement"] = float(
                np.mean(np.asarray(judge.predict(texts[name]), dtype=object) == expected)
            )
        for name in ("style", "prior", "references", "references_matched"):
            scores[f"{name}_{kind}_within_document_consistency"] = within_document_consistency(judge, paragraphs[name])
        result.update(scores)
        if kind == "word":  # the unprefixed keys, as before there were several classifiers, are the word classifier's
            result.update({key.replace("word_", "", 1): value for key, value in scores.items()})
    return result


def _fluency_judges(
    fluency_model: DocHVAE, documents: dict[str, list[GeneratedDocument]], references: Sequence[dict]
) -> dict:
    """Fluency PPL of each set of generated documents and of the references under the fluency model (its own
    collator), each paragraph fitted to its position table (`fit_paragraphs`; what was split or cut is reported)."""
    collator = DocCollator.for_model(
        fluency_model.config
    )  # a flat LM's collator differs (no encoder rows, its decoder context)
    limit = (
        (fluency_model.decoder.max_positions or 10**9) - 1 - collator.num_memory_slots
    )  # positions a stream may predict
    rows = {name: [doc.as_row(f"{name} {i}") for i, doc in enumerate(docs)] for name, docs in documents.items()}
    rows["references"] = list(references)
    result = {}
    for name, items in rows.items():
        fitted, split, cut = zip(*(fit_paragraphs(row, limit) for row in items))
        result[f"{name}_fluency_ppl"] = fluency_ppl(fluency_model, fitted, collator)
        result[f"{name}_fluency_paragraphs_split"], result[f"{name}_fluency_tokens_cut"] = sum(split), sum(cut)
    return result


def fit_paragraphs(row: dict, limit: int) -> tuple[dict, int, int]:
    """`row` with every paragraph of more than `limit` predicted positions split at sentence boundaries
    into paragraphs that fit (generated paragraphs can outgrow the training limits a judge was trained
    at), and sentences longer than a paragraph may be cut to fit; returns the row, the number of
    paragraphs split and the tokens cut."""
    paragraphs, split, cut = [], 0, 0
    for paragraph in row["paragraphs"]:
        pieces, current, size = [], [], 0
        for sentence in paragraph:
            if len(sentence) + 1 > limit:
                cut += len(sentence) + 1 - limit
                sentence = sentence[: limit - 1]
            if current and size + len(sentence) + 1 > limit:
                pieces.append(current)
                current, size = [], 0
            current.append(sentence)
            size += len(sentence) + 1
        pieces.append(current)
        split += len(pieces) > 1
        paragraphs += pieces
    fitted = {**row, "paragraphs": paragraphs, "num_tokens": GeneratedDocument(paragraphs).num_tokens}
    fitted.pop("encoder_paragraphs", None)  # a flat LM reads no encoder rows
    return fitted, split, cut


def _diversity_judges(texts: dict[str, list[str]]) -> dict:
    """distinct-2 and self-BLEU of each set of texts, each subsampled to the same number of texts."""
    count = min(DIVERSITY_TEXTS, *(len(t) for t in texts.values()))
    result = {"diversity_texts": count}
    for name, items in texts.items():
        result.update({f"{name}_{key}": value for key, value in diversity(items, count).items()})
    return result
