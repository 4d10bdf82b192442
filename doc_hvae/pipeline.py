"""The Python API: a trained DocHVAE with its tokenizer and segmentation, over raw strings.

    from doc_hvae import DocHVAEPipeline

    pipe = DocHVAEPipeline.from_pretrained("outputs/quickstart/final")
    latents = pipe.encode(["First document ...", "Second document ..."])   # posterior means per level
    styled = pipe.generate_in_style(latents, per_text=1, seed=0)         # one document per reference
    print(styled[0][0].text)
    pipe.score(["Some text."], iw_samples=100)                          # NLL per document (ELBO, IW)

Texts are segmented (paragraphs at blank lines, sentences by the training corpus' splitter),
tokenized and cut to the training limits exactly as the corpus the model was trained on; a text
longer than one training window is scored and encoded by its first window, and the pipeline's
`report` counts every such cut. Every generation method returns `GeneratedText`s: the text, its
paragraphs and the latents it was decoded from.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import yaml

from .data.batching import DocBatch, DocCollator
from .data.document import SkipReport
from .data.prepare import LimitsConfig, rows_from_documents
from .data.readers import document_from_text
from .data.tokenizer import ENCODER_TOKENIZER, load_encoder_tokenizer, load_tokenizer
from .evaluation import EvalSettings, document_nll
from .generation import (
    DEFAULT_SAMPLING,
    GeneratedDocument,
    LatentPlan,
    SamplingConfig,
    decode_documents,
    document_text,
    interpolation_plan,
    plan_from_posterior,
    posterior_latents,
    seeded_generator,
)
from .modeling import DocHVAE
from .style import paragraph_texts
from .training import load_model, recommended_sampling, recommended_sampling_config


@dataclass
class GeneratedText:
    """One generated document: its text, its paragraphs and the latents it was decoded from."""

    text: str
    paragraphs: list[str]
    latents: dict[str, torch.Tensor]  # per level: document [D], paragraph [P, D], sentence [sentences, D]
    document: GeneratedDocument  # the token ids

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        shapes = ", ".join(f"{level}={list(z.shape)}" for level, z in self.latents.items())
        return f"GeneratedText(text={text!r}, paragraphs={len(self.paragraphs)}, latents: {shapes or 'none'})"


class DocHVAEPipeline:
    """Encode, generate and score raw text with a trained DocHVAE (see the module docstring)."""

    def __init__(self, model: DocHVAE, tokenizer, limits: LimitsConfig | None = None, splitter: str = "blingfire",
                 sampling: SamplingConfig | None = None, encoder_tokenizer=None):
        if model.config.own_encoder_tokenizer and encoder_tokenizer is None:
            raise ValueError("this model's sentence encoder has a tokenizer of its own; pass encoder_tokenizer= "
                             "(DocHVAEPipeline.from_pretrained loads it from the export's encoder_tokenizer/ folder)")
        self.model = model.eval()
        self.tokenizer = tokenizer  # the decoder's: text in and out
        self.encoder_tokenizer = encoder_tokenizer if model.config.own_encoder_tokenizer else None
        self.limits = limits or LimitsConfig()
        self.splitter = splitter
        self.sampling = sampling or SamplingConfig(**DEFAULT_SAMPLING)
        self.collator = DocCollator.for_model(model.config)
        self.report = SkipReport()  # what segmentation and windowing cut or skipped in the texts given so far

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str | torch.device | None = None, **kwargs) -> DocHVAEPipeline:
        """Load the export folder of a training run (`output_dir/final`): the model, the tokenizer saved
        beside it, the segmentation and limits of the corpus it was trained on and the sampling its
        config recommends (train_config.yaml)."""
        model = load_model(path)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device)
        limits, splitter = LimitsConfig(), "blingfire"
        config_file = Path(path) / "train_config.yaml"
        if config_file.is_file():
            prepare = (yaml.safe_load(config_file.read_text()).get("data") or {}).get("prepare") or {}
            limits = LimitsConfig(**prepare.get("limits", {}))
            splitter = (prepare.get("source") or {}).get("options", {}).get("splitter", splitter)
        encoder_tokenizer = load_encoder_tokenizer(Path(path) / ENCODER_TOKENIZER) if model.config.own_encoder_tokenizer else None
        # The sampling the model was trained to be used with (its config's `sampling`, e.g. latent guidance).
        kwargs.setdefault("sampling", recommended_sampling_config(recommended_sampling(path)))
        return cls(model, load_tokenizer(path), limits, splitter, encoder_tokenizer=encoder_tokenizer, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ text -> batches
    def rows(self, texts: Sequence[str] | str) -> list[dict]:
        """Prepared-corpus rows of raw texts (paragraphs at blank lines), as at training time."""
        if isinstance(texts, (bytes, bytearray)) or not isinstance(texts, (str, Sequence)):
            raise TypeError(f"texts is a {type(texts).__name__}; give a str or a list of str (decode bytes first: data.decode('utf-8'))")
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise ValueError("texts is empty; give at least one string")
        bad = [i for i, text in enumerate(texts) if not isinstance(text, str)]
        if bad:
            raise TypeError(f"texts[{bad[0]}] is a {type(texts[bad[0]]).__name__}, not a str; pass the documents as strings")
        documents = [document_from_text(text, f"text-{i}", splitter=self.splitter, report=self.report) for i, text in enumerate(texts)]
        return rows_from_documents(documents, self.tokenizer, self.limits, self.report, self.encoder_tokenizer)

    def batch(self, texts: Sequence[str] | str) -> DocBatch:
        return self.collator(self.rows(texts)).to(self.device)

    # ------------------------------------------------------------------ latents
    def encode(self, texts: Sequence[str] | str, mode: str = "mean") -> LatentPlan:
        """Per-level posterior latents of each text (`mode`: "mean" or one "sample"): `.document` [B, D],
        `.paragraphs[b]` [P_b, D], `.sentences[b][j]` [S, D], and the paragraph counts."""
        if mode not in ("mean", "sample"):
            raise ValueError(f"mode={mode!r}; use 'mean' (posterior means) or 'sample' (one posterior sample)")
        batch = self.batch(texts)
        return plan_from_posterior(self.model, batch, posterior_latents(self.model, batch, mode))

    # ------------------------------------------------------------------ generation
    def sample(self, num_documents: int = 1, seed: int | None = None, **sampling) -> list[GeneratedText]:
        """Documents from the prior. `sampling`: SamplingConfig fields over the pipeline's `sampling`
        (temperature, top_p, latent_temperature={"document": 0.8}, guidance={"document": 3.0},
        logits_processors=[...], max_paragraphs, ...), in every generation method."""
        if isinstance(num_documents, bool) or not isinstance(num_documents, int) or num_documents < 1:
            raise ValueError(f"num_documents={num_documents!r}; give a positive int")
        return self._decode(LatentPlan(num_documents=num_documents), seed, sampling)

    def generate_in_style(self, references: Sequence[str] | str | LatentPlan | torch.Tensor, per_text: int = 1, seed: int | None = None,
                          shared_noise: bool = False, **sampling) -> list[list[GeneratedText]]:
        """`per_text` documents per reference: z_doc from the reference (texts, an `encode` result, or
        z_doc itself [R, D]), everything below from the priors. With `shared_noise` the k-th document of
        every reference is drawn with the same randomness (lower latents' and tokens' draws, seed + k),
        so the references' documents differ only by their z_doc."""
        if "document" not in self.model.config.levels:
            raise ValueError(f"style generation needs a document level; this model's levels are {self.model.config.levels}")
        if per_text < 1:
            raise ValueError(f"per_text={per_text}; ask for at least one document per reference")
        if "document" in (sampling.get("latent_temperature") if isinstance(sampling.get("latent_temperature"), dict) else {}):
            raise ValueError("latent_temperature['document'] has no effect in style generation: z_doc is the reference's; "
                             "leave it out (the lower levels' temperatures apply)")
        z_doc = self._document_latents(references)
        plan = LatentPlan(num_documents=z_doc.shape[0] * per_text, document=z_doc.repeat_interleave(per_text, dim=0))
        noise = [k for _ in range(z_doc.shape[0]) for k in range(per_text)] if shared_noise else None
        generated = self._decode(plan, seed, sampling, noise)
        return [generated[r * per_text : (r + 1) * per_text] for r in range(z_doc.shape[0])]

    def reconstruct(self, texts: Sequence[str] | str | LatentPlan, seed: int | None = None, **sampling) -> list[GeneratedText]:
        """Decode each text from all of its own latents (paragraph count kept)."""
        return self._decode(texts if isinstance(texts, LatentPlan) else self.encode(texts), seed, sampling)

    def interpolate(self, first: str, second: str, level: str = "document", steps: int = 5, seed: int | None = None,
                    shared_noise: bool = False, **sampling) -> list[GeneratedText]:
        """Documents along the line between two texts' posterior means at `level` (see `generation.interpolate`).
        With `shared_noise` every step is drawn with the same randomness, so the steps differ only by the
        interpolated latents (a text interpolated with itself gives identical documents)."""
        plan = interpolation_plan(self.model, self.batch([first, second]), level, steps)
        return self._decode(plan, seed, sampling, [0] * steps if shared_noise else None)

    def swap(self, texts: Sequence[str], donors: Sequence[int] | None = None, seed: int | None = None, shared_noise: bool = False,
             **sampling) -> list[GeneratedText]:
        """Each text keeps its paragraph and sentence latents and takes z_doc from text `donors[b]`
        (default: the next text). With `shared_noise` every document is drawn with the same randomness."""
        plan = self.encode(texts)
        count = plan.num_documents
        donors = list(donors) if donors is not None else [(b + 1) % count for b in range(count)]
        if "document" not in self.model.config.levels:
            raise ValueError(f"swap needs a document level; this model's levels are {self.model.config.levels}")
        if count < 2:
            raise ValueError(f"swap needs at least 2 texts to exchange z_doc between, got {count}")
        if len(donors) != count or not all(0 <= d < count for d in donors):
            raise ValueError(f"donors={donors}: give one donor index in [0, {count}) per text")
        plan.document = plan.document[torch.tensor(donors)]
        return self._decode(plan, seed, sampling, [0] * count if shared_noise else None)

    # ------------------------------------------------------------------ scoring
    def score(self, texts: Sequence[str] | str, iw_samples: int = 100, seed: int = 0) -> list[dict]:
        """Per text: NLL (nats) of its first window under the ELBO and, with `iw_samples` > 0, the
        importance-weighted bound; tokens counted as in training; perplexities per token."""
        if isinstance(iw_samples, bool) or not isinstance(iw_samples, int) or iw_samples < 0:
            raise ValueError(f"iw_samples={iw_samples!r}; give an int >= 0 (0 = the ELBO only)")
        rows = self.rows(texts)
        nll = document_nll(self.model, rows, self.collator, EvalSettings(iw_samples=iw_samples, seed=seed))
        results = []
        for b, row in enumerate(rows):
            entry = {"tokens": row["num_tokens"], "nll_elbo": float(nll["elbo"][b]), "ppl_elbo": float(torch.exp(nll["elbo"][b] / row["num_tokens"]))}
            if "iw" in nll:
                entry.update(nll_iw=float(nll["iw"][b]), ppl_iw=float(torch.exp(nll["iw"][b] / row["num_tokens"])))
            results.append(entry)
        return results

    # ------------------------------------------------------------------ helpers
    def _document_latents(self, references) -> torch.Tensor:
        if isinstance(references, torch.Tensor):
            z_doc = references.to(self.device)
            expected = self.model.config.latent_dim("document")
            if z_doc.dim() != 2 or z_doc.shape[1] != expected:
                raise ValueError(f"z_doc has shape {tuple(z_doc.shape)}; give [references, {expected}]")
            return z_doc
        plan = references if isinstance(references, LatentPlan) else self.encode(references)
        return plan.document.to(self.device)

    def _decode(self, plan: LatentPlan, seed: int | None, sampling: dict, noise: list[int] | None = None) -> list[GeneratedText]:
        """Decode `plan` under the pipeline's sampling with `sampling` over it. `noise`: per document, the
        offset of its generator's seed (documents with the same offset draw the same randomness; each is
        then decoded on its own), or None to decode the batch with one generator."""
        unknown = sorted(set(sampling) - {f.name for f in fields(SamplingConfig)})
        if unknown:
            raise TypeError(f"unknown sampling setting(s) {unknown}; use fields of SamplingConfig: {[f.name for f in fields(SamplingConfig)]}")
        config = SamplingConfig(**{**vars(self.sampling), **sampling})
        if noise is not None:
            base = seed if seed is not None else 0
            documents = [decode_documents(self.model, plan.select(b), config, seeded_generator(base + offset, self.device))[0]
                         for b, offset in enumerate(noise)]
        else:
            generator = seeded_generator(seed, self.device) if seed is not None else None
            documents = decode_documents(self.model, plan, config, generator)
        return [GeneratedText(document_text(d, self.tokenizer), paragraph_texts(d, self.tokenizer), d.latents, d) for d in documents]


__all__ = ["DocHVAEPipeline", "GeneratedText"]
