"""The Python API: a trained DocHVAE with its tokenizer and segmentation, over raw strings.

    from doc_hvae import DocHVAEPipeline

    pipe = DocHVAEPipeline.from_pretrained("outputs/quickstart/final")   # or a Hub id
    latents = pipe.encode(["First document ...", "Second document ..."])   # posterior means per level
    styled = pipe.generate_in_style(latents, per_text=2, seed=0)         # two documents per reference
    print(styled[0].text, styled[0].reference)
    more = pipe.continue_text("First paragraph ...\n\nSecond ...")       # the next paragraphs
    pipe.score(["Some text."], iw_samples=100)                          # NLL per text (ELBO, IW)
    pipe(["Some text."], mode="style", num_return_sequences=3)          # any method by its mode

Texts are segmented (paragraphs at blank lines, sentences by the training corpus' splitter),
tokenized and cut into windows under the training limits exactly as the corpus the model was
trained on. `score` covers every window of a text; `encode`, style and continuation take
`long_text` for a text longer than one window. `report` counts what the last call cut, skipped or
discarded. Every generation method returns a flat list of `GeneratedText`s: the text, its
paragraphs, the latents it was decoded from, and the reference or step it belongs to.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import yaml

from .data.batching import DocBatch, DocCollator
from .data.document import SkipReport
from .data.prepare import LimitsConfig, windows_from_documents
from .data.readers import document_from_text
from .data.tokenizer import ENCODER_TOKENIZER, load_encoder_tokenizer, load_tokenizer
from .evaluation import EvalSettings, document_nll
from .generation import (
    DEFAULT_SAMPLING,
    GeneratedDocument,
    LatentPlan,
    SamplingConfig,
    check_style_request,
    continuation_plan,
    decode_documents,
    document_text,
    interpolation_plan,
    paragraph_texts,
    plan_from_posterior,
    posterior_latents,
    recommended_sampling_config,
    seeded_generator,
    style_plan,
    swap_plan,
)
from .modeling import DocHVAE
from .modeling.loading import load_model, recommended_sampling, resolve_model_path

LONG_TEXT = ("first_window", "mean", "error")
# pipe(texts, mode=...): the method each mode calls.
MODES = {
    "style": "generate_in_style",
    "continue": "continue_text",
    "sample": "sample",
    "reconstruct": "reconstruct",
    "interpolate": "interpolate",
    "swap": "swap",
    "encode": "encode",
    "score": "score",
}


@dataclass
class GeneratedText:
    """One generated document: its text, its paragraphs, the latents it was decoded from, and where
    it belongs: `reference`, the index of the text it was written from (style, continuation,
    reconstruction, swap), or `step`, its place along an interpolation; None where it has none."""

    text: str
    paragraphs: list[str]
    latents: dict[str, torch.Tensor]  # per level: document [D], paragraph [P, D], sentence [sentences, D]
    document: GeneratedDocument  # the token ids
    reference: int | None = None
    step: int | None = None

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        shapes = ", ".join(f"{level}={list(z.shape)}" for level, z in self.latents.items())
        where = "".join(
            f", {name}={getattr(self, name)}" for name in ("reference", "step") if getattr(self, name) is not None
        )
        return f"GeneratedText(text={text!r}, paragraphs={len(self.paragraphs)}{where}, latents: {shapes or 'none'})"


class DocHVAEPipeline:
    """Encode, generate and score raw text with a trained DocHVAE (see the module docstring)."""

    def __init__(
        self,
        model: DocHVAE,
        tokenizer,
        limits: LimitsConfig | None = None,
        splitter: str = "blingfire",
        sampling: SamplingConfig | None = None,
        encoder_tokenizer=None,
    ):
        if model.config.own_encoder_tokenizer and encoder_tokenizer is None:
            raise ValueError(
                "this model's sentence encoder has a tokenizer of its own; pass encoder_tokenizer= "
                "(DocHVAEPipeline.from_pretrained loads it from the export's encoder_tokenizer/ folder)"
            )
        self.model = model.eval()
        self.tokenizer = tokenizer  # the decoder's: text in and out
        self.encoder_tokenizer = encoder_tokenizer if model.config.own_encoder_tokenizer else None
        self.limits = limits or LimitsConfig()
        self.splitter = splitter
        self.sampling = sampling or SamplingConfig(**DEFAULT_SAMPLING)
        self.collator = DocCollator.for_model(model.config)
        self.report = SkipReport()  # what segmentation and windowing cut, skipped or discarded in the last call

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, device: str | torch.device | None = None, revision: str | None = None, **kwargs
    ) -> DocHVAEPipeline:
        """Load the export folder of a training run (`output_dir/final`) or a Hub id (`user/model`, downloaded
        once, then read from the Hugging Face cache; offline with HF_HUB_OFFLINE=1): the model, the tokenizer
        saved beside it, the segmentation and limits of the corpus it was trained on and the sampling its
        config recommends (train_config.yaml)."""
        path = resolve_model_path(path, revision)
        model = load_model(path)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device)
        limits, splitter = LimitsConfig(), "blingfire"
        config_file = Path(path) / "train_config.yaml"
        if config_file.is_file():
            prepare = (yaml.safe_load(config_file.read_text()).get("data") or {}).get("prepare") or {}
            limits = LimitsConfig(**prepare.get("limits", {}))
            splitter = (prepare.get("source") or {}).get("options", {}).get("splitter", splitter)
        encoder_tokenizer = (
            load_encoder_tokenizer(Path(path) / ENCODER_TOKENIZER) if model.config.own_encoder_tokenizer else None
        )
        # The sampling the model was trained to be used with (its config's `sampling`, e.g. latent guidance).
        kwargs.setdefault("sampling", recommended_sampling_config(recommended_sampling(path)))
        return cls(model, load_tokenizer(path), limits, splitter, encoder_tokenizer=encoder_tokenizer, **kwargs)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def __call__(self, texts: Sequence[str] | str | None = None, mode: str = "style", **kwargs):
        """`pipe(texts, mode=...)`: the method of `mode` on `texts` with `kwargs` ("style":
        `generate_in_style`, "continue": `continue_text`, "sample" (no texts), "reconstruct",
        "interpolate" (two texts), "swap", "encode", "score")."""
        if mode not in MODES:
            close = difflib.get_close_matches(str(mode), MODES, n=1)
            raise ValueError(
                f"mode={mode!r}; use one of {list(MODES)}" + (f" (did you mean {close[0]!r}?)" if close else "")
            )
        method = getattr(self, MODES[mode])
        if mode == "sample":
            if texts is not None:
                raise ValueError(
                    "mode='sample' draws from the prior and takes no texts; pass num_documents= (or num_return_sequences=)"
                )
            return method(**kwargs)
        if texts is None:
            raise ValueError(f"mode={mode!r} needs texts")
        if mode == "interpolate":
            if isinstance(texts, str) or len(texts) != 2:
                raise ValueError(
                    "mode='interpolate' needs exactly two texts: pipe([first, second], mode='interpolate')"
                )
            return method(*texts, **kwargs)
        return method(texts, **kwargs)

    # ------------------------------------------------------------------ text -> batches
    def windows(self, texts: Sequence[str] | str) -> list[list[dict]]:
        """Every window of each raw text (paragraphs at blank lines), cut under the training limits as
        the training corpus was: per text, its prepared-corpus rows in order. Starts a new `report`."""
        if isinstance(texts, (bytes, bytearray)) or not isinstance(texts, (str, Sequence)):
            raise TypeError(
                f"texts is a {type(texts).__name__}; give a str or a list of str (decode bytes first: data.decode('utf-8'))"
            )
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise ValueError("texts is empty; give at least one string")
        bad = [i for i, text in enumerate(texts) if not isinstance(text, str)]
        if bad:
            raise TypeError(
                f"texts[{bad[0]}] is a {type(texts[bad[0]]).__name__}, not a str; pass the documents as strings"
            )
        self.report = SkipReport()
        documents = [
            document_from_text(text, f"text-{i}", splitter=self.splitter, report=self.report)
            for i, text in enumerate(texts)
        ]
        return windows_from_documents(documents, self.tokenizer, self.limits, self.report, self.encoder_tokenizer)

    def rows(self, texts: Sequence[str] | str, long_text: str = "first_window") -> list[dict]:
        """One prepared-corpus row per text: its first window ("first_window", with a warning for a
        longer text) or an error for a text longer than one window ("error")."""
        if long_text not in ("first_window", "error"):
            raise ValueError(f"long_text={long_text!r}; rows keeps one window per text: use 'first_window' or 'error'")
        windows = self.windows(texts)
        self._check_long_texts(windows, long_text)
        return [text_windows[0] for text_windows in windows]

    def batch(self, texts: Sequence[str] | str) -> DocBatch:
        return self.collator(self.rows(texts)).to(self.device)

    # ------------------------------------------------------------------ latents
    def encode(
        self,
        texts: Sequence[str] | str,
        mode: str = "mean",
        long_text: str = "first_window",
        batch_size: int | None = None,
    ) -> LatentPlan:
        """Per-level posterior latents of each text (`mode`: "mean" or one "sample"): `.document` [B, D],
        `.paragraphs[b]` [P_b, D], `.sentences[b][j]` [S, D], and the paragraph counts.

        A text longer than one training window (`long_text`): "first_window" (the default) keeps its first
        window and warns with what was kept; "mean" encodes every window, z_doc is the mean over them and
        the paragraph and sentence latents are every window's in order; "error" refuses it. `batch_size`:
        windows per forward pass (None: all at once)."""
        if mode not in ("mean", "sample"):
            raise ValueError(f"mode={mode!r}; use 'mean' (posterior means) or 'sample' (one posterior sample)")
        windows = self.windows(texts)
        self._check_long_texts(windows, long_text)
        kept = [text_windows if long_text == "mean" else text_windows[:1] for text_windows in windows]
        plan = self._posterior_plan([row for text_windows in kept for row in text_windows], mode, batch_size)
        return _merge_windows(plan, [len(text_windows) for text_windows in kept])

    # ------------------------------------------------------------------ generation
    def sample(self, num_documents: int = 1, seed: int | None = None, **sampling) -> list[GeneratedText]:
        """Documents from the prior. `sampling`: SamplingConfig fields over the pipeline's `sampling`
        (temperature, top_p, latent_temperature={"document": 0.8}, guidance={"document": 3.0},
        document_prior="fitted" (z_doc from the mixture saved beside the model: doc_hvae.document_prior),
        candidates=4 (best of 4: the document the encoder puts nearest its z_doc; prior and style samples),
        logits_processors=[...], max_paragraphs, ...), in every generation method, and two of
        transformers' names: `num_return_sequences` (here: num_documents) and `max_new_tokens` (at
        most this many tokens in a whole document: no stream is decoded longer, and the document is
        cut where the count is reached)."""
        num_documents = _alias(num_documents, sampling.pop("num_return_sequences", None), "num_documents")
        _check_count(num_documents, "num_documents", "documents")
        return self._decode(LatentPlan(num_documents=num_documents), seed, sampling)

    def generate_in_style(
        self,
        references: Sequence[str] | str | LatentPlan | torch.Tensor,
        per_text: int = 1,
        seed: int | None = None,
        shared_noise: bool = False,
        long_text: str = "first_window",
        **sampling,
    ) -> list[GeneratedText]:
        """`per_text` documents per reference (`num_return_sequences` is the same), in reference order, each
        with `.reference` = its reference's index: z_doc from the reference (texts, an `encode` result, or
        z_doc itself [R, D]), everything below from the priors. With `shared_noise` the k-th document of
        every reference is drawn with the same randomness (lower latents' and tokens' draws, seed + k), so
        the references' documents differ only by their z_doc. `long_text`: as in `encode`."""
        per_text = _alias(per_text, sampling.pop("num_return_sequences", None), "per_text")
        _check_count(per_text, "per_text", "documents per reference")
        check_style_request(self.model, per_text)  # before the references are encoded
        if "document" in (
            sampling.get("latent_temperature") if isinstance(sampling.get("latent_temperature"), dict) else {}
        ):
            raise ValueError(
                "latent_temperature['document'] has no effect in style generation: z_doc is the reference's; "
                "leave it out (the lower levels' temperatures apply)"
            )
        z_doc = self._document_latents(references, long_text)
        plan = style_plan(self.model, z_doc, per_text)
        noise = [k for _ in range(z_doc.shape[0]) for k in range(per_text)] if shared_noise else None
        generated = self._decode(plan, seed, sampling, noise)
        for index, text in enumerate(generated):
            text.reference = index // per_text
        return generated

    def continue_text(
        self, prefixes: Sequence[str] | str, per_text: int = 1, seed: int | None = None, **sampling
    ) -> list[GeneratedText]:
        """The paragraphs that follow each prefix (`per_text` continuations per prefix, each with `.reference`
        = its prefix's index; `num_return_sequences` is the same). The posterior means of the prefix give
        z_doc and its paragraph latents; the next paragraphs' latents come from their priors given them,
        and each returned text holds only the new paragraphs (at most `max_paragraphs`). A prefix longer
        than one training window continues from its last window (the earlier ones are counted in `report`
        as discarded). Needs a document level and paragraph or sentence streams (`generation.continuation_plan`)."""
        per_text = _alias(per_text, sampling.pop("num_return_sequences", None), "per_text")
        _check_count(per_text, "per_text", "continuations per prefix")
        windows = self.windows(prefixes)
        discarded = sum(len(text_windows) - 1 for text_windows in windows)
        if discarded:
            self.report.add(
                "windows before a prefix's last discarded (a continuation starts from the last window)", discarded
            )
        plan = continuation_plan(
            self.model, self.collator([text_windows[-1] for text_windows in windows]).to(self.device), per_text
        )
        repeat = [b for b in range(len(windows)) for _ in range(per_text)]
        generated = self._decode(plan, seed, sampling)
        for text, b in zip(generated, repeat):
            text.reference = b
        return generated

    def reconstruct(
        self, texts: Sequence[str] | str | LatentPlan, seed: int | None = None, **sampling
    ) -> list[GeneratedText]:
        """Decode each text from all of its own latents (paragraph count kept); `.reference` = the text's index."""
        generated = self._decode(texts if isinstance(texts, LatentPlan) else self.encode(texts), seed, sampling)
        for index, text in enumerate(generated):
            text.reference = index
        return generated

    def interpolate(
        self,
        first: str,
        second: str,
        level: str = "document",
        steps: int = 5,
        seed: int | None = None,
        shared_noise: bool = False,
        **sampling,
    ) -> list[GeneratedText]:
        """Documents along the line between two texts' posterior means at `level` (see `generation.interpolate`),
        each with `.step`. With `shared_noise` every step is drawn with the same randomness, so the steps differ
        only by the interpolated latents (a text interpolated with itself gives identical documents)."""
        plan = interpolation_plan(self.model, self.batch([first, second]), level, steps)
        generated = self._decode(plan, seed, sampling, [0] * steps if shared_noise else None)
        for index, text in enumerate(generated):
            text.step = index
        return generated

    def swap(
        self,
        texts: Sequence[str],
        donors: Sequence[int] | None = None,
        seed: int | None = None,
        shared_noise: bool = False,
        **sampling,
    ) -> list[GeneratedText]:
        """Each text keeps its paragraph and sentence latents and takes z_doc from text `donors[b]`
        (default: the next text); `.reference` = the text's index. With `shared_noise` every document is
        drawn with the same randomness."""
        plan = self.encode(texts)
        count = plan.num_documents
        plan = swap_plan(
            self.model, plan, list(donors) if donors is not None else [(b + 1) % count for b in range(count)]
        )
        generated = self._decode(plan, seed, sampling, [0] * count if shared_noise else None)
        for index, text in enumerate(generated):
            text.reference = index
        return generated

    # ------------------------------------------------------------------ scoring
    def score(
        self, texts: Sequence[str] | str, iw_samples: int = 100, seed: int = 0, batch_size: int | None = None
    ) -> list[dict]:
        """Per text: NLL (nats) under the ELBO and, with `iw_samples` > 0, the importance-weighted bound,
        summed over every window of the text (each window scored with its own latents, as evaluation
        scores a prepared corpus); `tokens` counted as in training, `windows`, perplexities per token.
        `batch_size`: windows per call of the scorer (None: all, batched by tokens)."""
        if isinstance(iw_samples, bool) or not isinstance(iw_samples, int) or iw_samples < 0:
            raise ValueError(f"iw_samples={iw_samples!r}; give an int >= 0 (0 = the ELBO only)")
        _check_batch_size(batch_size)
        windows = self.windows(texts)
        rows = [row for text_windows in windows for row in text_windows]
        size = batch_size or len(rows)
        settings = EvalSettings(iw_samples=iw_samples, seed=seed)
        chunks = [
            document_nll(self.model, rows[start : start + size], self.collator, settings)
            for start in range(0, len(rows), size)
        ]
        nll = {key: torch.cat([chunk[key] for chunk in chunks]) for key in chunks[0]}
        results, start = [], 0
        for text_windows in windows:
            tokens = sum(row["num_tokens"] for row in text_windows)
            entry = {"tokens": tokens, "windows": len(text_windows)}
            for key in nll:  # "elbo", and "iw" with iw_samples > 0
                total = float(nll[key][start : start + len(text_windows)].sum())
                entry.update({f"nll_{key}": total, f"ppl_{key}": float(torch.exp(torch.tensor(total / tokens)))})
            results.append(entry)
            start += len(text_windows)
        return results

    # ------------------------------------------------------------------ helpers
    def _check_long_texts(self, windows: list[list[dict]], long_text: str) -> None:
        """Refuse, or count and warn about, texts longer than one window, by `long_text`."""
        if long_text not in LONG_TEXT:
            raise ValueError(f"long_text={long_text!r}; use one of {list(LONG_TEXT)}")
        long = [(i, text_windows) for i, text_windows in enumerate(windows) if len(text_windows) > 1]
        if not long:
            return
        described = "; ".join(
            f"text {i}: {len(w)} windows, {sum(r['num_tokens'] for r in w)} tokens, the first {w[0]['num_tokens']}"
            for i, w in long[:3]
        ) + ("; ..." if len(long) > 3 else "")
        limits = f"{self.limits.max_window_tokens} tokens and {self.limits.max_window_paragraphs} paragraphs"
        if long_text == "error":
            raise ValueError(
                f"{len(long)} text(s) longer than one training window ({limits}): {described}. Pass "
                "long_text='first_window' (its first window only) or 'mean' (z_doc averaged over its windows), or shorten it"
            )
        if long_text == "mean":
            self.report.add("long texts encoded over all their windows (long_text='mean')", len(long))
            return
        self.report.add(
            "windows past a text's first discarded (long_text='first_window')", sum(len(w) - 1 for _, w in long)
        )
        warnings.warn(
            f"{len(long)} text(s) longer than one training window ({limits}) were cut to their first window ({described}); "
            "pass long_text='mean' to use every window or 'error' to refuse them",
            UserWarning,
            stacklevel=3,
        )

    def _posterior_plan(self, rows: list[dict], mode: str, batch_size: int | None) -> LatentPlan:
        """The posterior plan of `rows`, `batch_size` rows per forward pass (None: all at once)."""
        _check_batch_size(batch_size)
        size = batch_size or len(rows)
        plans = []
        for start in range(0, len(rows), size):
            batch = self.collator(rows[start : start + size]).to(self.device)
            plans.append(plan_from_posterior(self.model, batch, posterior_latents(self.model, batch, mode)))
        return _concatenate(plans)

    def _document_latents(self, references, long_text: str = "first_window") -> torch.Tensor:
        if isinstance(references, torch.Tensor):
            z_doc = references.to(self.device)
            expected = self.model.config.latent_dim("document")
            if z_doc.dim() != 2 or z_doc.shape[1] != expected:
                raise ValueError(f"z_doc has shape {tuple(z_doc.shape)}; give [references, {expected}]")
            return z_doc
        plan = references if isinstance(references, LatentPlan) else self.encode(references, long_text=long_text)
        return plan.document.to(self.device)

    def _decode(
        self, plan: LatentPlan, seed: int | None, sampling: dict, noise: list[int] | None = None
    ) -> list[GeneratedText]:
        """Decode `plan` under the pipeline's sampling with `sampling` over it. `noise`: per document, the
        offset of its generator's seed (documents with the same offset draw the same randomness; each is
        then decoded on its own), or None to decode the batch with one generator."""
        max_new_tokens = sampling.pop("max_new_tokens", None)
        if "num_return_sequences" in sampling:
            raise TypeError(
                "num_return_sequences applies to sample, generate_in_style and continue_text; "
                "reconstruct, interpolate and swap write one document per text or step"
            )
        unknown = sorted(set(sampling) - {f.name for f in fields(SamplingConfig)})
        if unknown:
            raise TypeError(
                f"unknown sampling setting(s) {unknown}; use fields of SamplingConfig: {[f.name for f in fields(SamplingConfig)]}"
            )
        settings = {**vars(self.sampling), **sampling}
        if max_new_tokens is not None:
            _check_count(max_new_tokens, "max_new_tokens", "tokens in a whole document")
            settings["max_tokens"] = min(settings["max_tokens"], max_new_tokens)  # no stream needs more
        config = SamplingConfig(**settings)
        if noise is not None:
            base = seed if seed is not None else 0
            documents = [
                decode_documents(self.model, plan.select(b), config, seeded_generator(base + offset, self.device))[0]
                for b, offset in enumerate(noise)
            ]
        else:
            generator = seeded_generator(seed, self.device) if seed is not None else None
            documents = decode_documents(self.model, plan, config, generator)
        if max_new_tokens is not None:
            documents = [_cut_document(d, max_new_tokens) for d in documents]
        return [
            GeneratedText(document_text(d, self.tokenizer), paragraph_texts(d, self.tokenizer), d.latents, d)
            for d in documents
        ]


def _alias(value, alias, name: str):
    """transformers' `num_return_sequences` in place of our `name`; both given and different is an error."""
    if alias is None:
        return value
    if value not in (1, alias):
        raise ValueError(f"{name}={value} and num_return_sequences={alias} disagree; give one of them")
    return alias


def _check_count(value, name: str, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r}; give a positive int ({what})")


def _check_batch_size(batch_size) -> None:
    if batch_size is not None:
        _check_count(batch_size, "batch_size", "windows per forward pass; None: all at once")


def _cut_document(document: GeneratedDocument, max_tokens: int) -> GeneratedDocument:
    """The document's first `max_tokens` content tokens (whole paragraphs, then the one it falls in, cut)."""
    paragraphs, left = [], max_tokens
    for paragraph in document.paragraphs:
        if left <= 0:
            break
        sentences = []
        for sentence in paragraph:
            if left <= 0:
                break
            sentences.append(sentence[:left])
            left -= len(sentences[-1])
        paragraphs.append(sentences)
    return GeneratedDocument(paragraphs=paragraphs, latents=document.latents)


def _concatenate(plans: list[LatentPlan]) -> LatentPlan:
    """One plan of the documents of several (the same levels fixed in each)."""
    if len(plans) == 1:
        return plans[0]
    first = plans[0]

    def joined(name):
        return None if getattr(first, name) is None else [value for plan in plans for value in getattr(plan, name)]

    document = None if first.document is None else torch.cat([plan.document for plan in plans])
    return LatentPlan(
        sum(plan.num_documents for plan in plans),
        document,
        joined("paragraphs"),
        joined("sentences"),
        joined("num_paragraphs"),
    )


def _merge_windows(plan: LatentPlan, counts: list[int]) -> LatentPlan:
    """One document per group of `counts` consecutive windows: z_doc their mean, the lower latents in order."""
    if all(count == 1 for count in counts):
        return plan
    starts = [sum(counts[:i]) for i in range(len(counts))]

    def joined(values, combine):
        return (
            None if values is None else [combine(values[start : start + count]) for start, count in zip(starts, counts)]
        )

    document = (
        None
        if plan.document is None
        else torch.stack([plan.document[start : start + count].mean(0) for start, count in zip(starts, counts)])
    )
    return LatentPlan(
        len(counts),
        document,
        joined(plan.paragraphs, torch.cat),
        joined(plan.sentences, lambda groups: [s for group in groups for s in group]),
        joined(plan.num_paragraphs, sum),
    )


__all__ = ["DocHVAEPipeline", "GeneratedText"]
