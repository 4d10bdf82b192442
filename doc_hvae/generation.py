"""Generating documents: from the prior, in a reference's style, reconstruction, interpolation, swap.

Everything goes through one ancestral decoder, `decode_documents`, driven by a `LatentPlan` that
fixes some latents (from a posterior) and leaves the rest to the priors:

    z_doc                         fixed, or ~ N(0, I)
    for each paragraph j:         z_par[j] fixed, or ~ p(z_par | z_doc, z_par[<j])
        tokens, KV-cached:        z_sen switches at every end-of-sentence: fixed, or ~ p(z_sen | z_par[j], z_sen[<i])
        stop:                     fixed paragraph count, or ~ the stop head
Documents are decoded in parallel; the streams of one paragraph step stay aligned, so no padding.
The model owns every step: `DocHVAE.prior_step` (one unit of a level), `DocHVAE.stop_probability`
and the decoder's `position_inputs` / `step` (one KV-cached call); this module only orchestrates,
and decides a stop in one place (`_draw_stop`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from transformers import DynamicCache
from transformers.generation import (
    LogitsProcessor,
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from .config import LEVELS
from .data.batching import DocBatch, DocCollator
from .document_prior import check_fitted_document_prior
from .guidance import LatentGuidance, validate_guidance
from .modeling import DocHVAE
from .modeling.modeling_doc_hvae import in_eval_mode

NUMBER_FIELDS = {
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "max_paragraphs": int,
    "max_sentences": int,
    "max_tokens": int,
    "candidates": int,
}


DOCUMENT_PRIORS = ("trained", "fitted")


@dataclass
class SamplingConfig:
    """Token and latent sampling settings, and bounds."""

    temperature: float = 1.0  # token temperature; 0 = greedy (tokens and the stop decision)
    top_k: int = 0
    top_p: float = 1.0
    latent_temperature: dict[str, float] | float = field(
        default_factory=dict
    )  # per level (default 1.0), or one value for every level
    max_paragraphs: int = 8
    max_sentences: int = 16  # per paragraph
    max_tokens: int = 256  # per paragraph (per sentence with decoder_context="sentence")
    # transformers logits processors (repetition penalty, bad words, ...), applied before the
    # temperature / top-k / top-p warpers; they see the stream's tokens so far, <s> first.
    logits_processors: list[LogitsProcessor] = field(default_factory=list)
    # Latent guidance (doc_hvae.guidance): per level, the scale g of l_u + g * (l_c - l_u) on the
    # token log-probabilities; 1 (or absent) = unguided. E.g. {"document": 3.0}.
    guidance: dict[str, float] = field(default_factory=dict)
    guidance_null: str = "zero"  # what the unguided branch gets: "zero" or "learned" (trained with condition dropout)
    guidance_plausibility: float = 0.0  # keep tokens with p_c >= alpha * max p_c; 0 = off
    # Where a z_doc that no plan fixes comes from: "trained" (the model's prior, N(0, I)) or "fitted"
    # (the mixture fitted to the training windows and saved beside the model; doc_hvae.document_prior).
    document_prior: str = "trained"
    # Best of N by the model's own encoder: decode this many documents per z_doc and keep the one whose
    # re-encoded z_doc (posterior mean) is nearest the z_doc it was written from; 1 = off. Style and prior
    # samples only (plans that fix nothing below z_doc); N times the decoding.
    candidates: int = 1

    def __post_init__(self):
        problems = []
        if isinstance(self.latent_temperature, (int, float)) and not isinstance(self.latent_temperature, bool):
            self.latent_temperature = {
                level: float(self.latent_temperature) for level in LEVELS
            }  # every level (those the model has are used)
        if not isinstance(self.latent_temperature, dict):
            problems.append(
                f"latent_temperature={self.latent_temperature!r}; give one number or a mapping level -> temperature, e.g. {{'document': 0.8}}"
            )
        elif any(
            isinstance(t, bool) or not isinstance(t, (int, float)) or not t >= 0
            for t in self.latent_temperature.values()
        ):
            problems.append(
                f"latent_temperature={self.latent_temperature}; use temperatures >= 0 (0 = the prior's mean)"
            )
        for name, kind in NUMBER_FIELDS.items():  # a type error first: the range checks below compare numbers
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
                raise TypeError(
                    f"SamplingConfig {name}={value!r} is a {type(value).__name__}; give {'a number' if kind is float else 'an int'}"
                )
        bad = [type(p).__name__ for p in self.logits_processors if not callable(p)]
        if bad:
            problems.append(f"logits_processors {bad} are not callable; give transformers LogitsProcessor instances")
        if self.temperature < 0:
            problems.append(f"temperature={self.temperature}; use >= 0 (0 = greedy)")
        if self.top_k < 0 or not 0 < self.top_p <= 1:
            problems.append(f"top_k={self.top_k}, top_p={self.top_p}; use top_k >= 0 and 0 < top_p <= 1")
        for name in ("max_paragraphs", "max_sentences", "max_tokens", "candidates"):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)}; use a positive bound")
        problems += validate_guidance(self.guidance, self.guidance_null, self.guidance_plausibility)
        if self.document_prior not in DOCUMENT_PRIORS:
            problems.append(f"document_prior={self.document_prior!r}; use one of {list(DOCUMENT_PRIORS)}")
        if problems:
            raise ValueError("invalid SamplingConfig: " + "; ".join(problems))

    def latent_temperature_of(self, level: str) -> float:
        return self.latent_temperature.get(level, 1.0)


# What the recipes, the Python API and the end-of-training samples use unless told otherwise:
# nucleus sampling a little below temperature 1, documents of a few paragraphs.
DEFAULT_SAMPLING = dict(temperature=0.9, top_p=0.95, max_paragraphs=4, max_sentences=8, max_tokens=200)


@dataclass
class LatentPlan:
    """Latents fixed in advance for B documents; anything not fixed is drawn from its prior.

    document:   [B, D] or None.
    paragraphs: per document, [P_b, D] or None.
    sentences:  per document, per paragraph, [S, D] (sentences beyond S come from the prior) or None.
    num_paragraphs: per document, a fixed count (reconstruction), or None for the stop head.
    given_paragraphs: per document, how many leading paragraphs are given rather than written
        (continuation): their latents come from `paragraphs`, no text is decoded for them, the stop
        head is not asked after them, and the document holds only the paragraphs written after them
        (at most `max_paragraphs`). None: none given.
    """

    num_documents: int
    document: torch.Tensor | None = None
    paragraphs: list[torch.Tensor | None] | None = None
    sentences: list[list[torch.Tensor] | None] | None = None
    num_paragraphs: list[int] | None = None
    given_paragraphs: list[int] | None = None

    def latents_of(self, index: int) -> dict[str, torch.Tensor]:
        """Document `index`'s fixed latents keyed as `GeneratedText.latents` is: "document" [D],
        "paragraph" [P, D], "sentence" [N, D] (its sentences in order over the paragraphs)."""
        latents = {}
        if self.document is not None:
            latents["document"] = self.document[index]
        if self.paragraphs is not None and self.paragraphs[index] is not None:
            latents["paragraph"] = self.paragraphs[index]
        if self.sentences is not None and self.sentences[index]:
            latents["sentence"] = torch.cat(list(self.sentences[index]))
        return latents

    def select(self, index: int) -> LatentPlan:
        """The plan of document `index` alone."""

        def pick(values):
            return None if values is None else values[index : index + 1]

        return LatentPlan(
            1,
            pick(self.document),
            pick(self.paragraphs),
            pick(self.sentences),
            pick(self.num_paragraphs),
            pick(self.given_paragraphs),
        )


@dataclass
class GeneratedDocument:
    paragraphs: list[list[list[int]]]  # token ids per sentence, without special tokens
    # The latents it was decoded from, per level: document [D], paragraph [P, D], sentence [N, D]
    # (N: the sentences begun, in order over the paragraphs).
    latents: dict[str, torch.Tensor] = field(default_factory=dict, compare=False)

    @property
    def num_tokens(self) -> int:
        """Predicted positions, as in training: content tokens plus one boundary per sentence."""
        return sum(len(s) + 1 for p in self.paragraphs for s in p)

    def as_row(self, doc_id: str = "generated") -> dict:
        """A row the collator accepts, to re-encode the document (empty sentences and paragraphs dropped)."""
        paragraphs = [[s for s in p if s] for p in self.paragraphs]
        paragraphs = [p for p in paragraphs if p] or [[[]]]  # a document that said nothing is one empty sentence
        return {
            "id": doc_id,
            "paragraphs": paragraphs,
            "num_tokens": sum(len(s) + 1 for p in paragraphs for s in p),
            "num_words": 0,
        }


def recommended_sampling_config(sampling: dict[str, Any]) -> SamplingConfig:
    """DEFAULT_SAMPLING with a config's `sampling` section over it; unknown fields name the known ones."""
    known = [f.name for f in fields(SamplingConfig) if f.name != "logits_processors"]
    unknown = sorted(set(sampling) - set(known))
    if unknown:
        raise ValueError(f"sampling has unknown field(s) {unknown}; use SamplingConfig fields {known}")
    return SamplingConfig(**{**DEFAULT_SAMPLING, **sampling})


# ---------------------------------------------------------------------------------------------
# Latents one unit at a time


class SentenceLatents:
    """Sentence latents of A streams of one paragraph: fixed ones from the plan, the rest from the prior."""

    def __init__(
        self,
        model: DocHVAE,
        parent,
        fixed: list[torch.Tensor | None],
        max_sentences: int,
        temperature: float,
        generator,
        device,
    ):
        self.model = model
        self.parent, self.fixed = parent, fixed
        self.temperature, self.generator = temperature, generator
        self.history = torch.zeros(len(fixed), max_sentences + 1, model.config.latent_dim("sentence"), device=device)
        self.count = torch.zeros(len(fixed), dtype=torch.long, device=device)

    def next(self, rows: torch.Tensor) -> torch.Tensor:
        """Draw the next latent of the streams in `rows` [A] bool; returns [A, D] (rows elsewhere: undefined)."""
        position = self.count.clamp(max=self.history.shape[1] - 1)
        z = self.model.prior_step("sentence", self.history, position, self.parent).sample(
            self.temperature, self.generator
        )
        for a, fixed in enumerate(self.fixed):
            if fixed is not None and int(position[a]) < fixed.shape[0]:
                z[a] = fixed[int(position[a])]
        index = rows.nonzero().squeeze(-1)
        self.history[index, position[index]] = z[index]
        self.count += rows.long()
        return z

    def drawn(self, a: int) -> torch.Tensor:
        """[n, D] the latents of the sentences stream `a` has begun."""
        return self.history[a, : int(self.count[a])]


# ---------------------------------------------------------------------------------------------
# Token decoding


class TokenSampler:
    """Temperature, top-k and top-p through transformers' logits warpers; greedy at temperature 0.
    `guidance` (None: unguided) is how `decode_streams` turns the decoder's branches into logits."""

    def __init__(
        self, config: SamplingConfig, generator: torch.Generator | None, guidance: LatentGuidance | None = None
    ):
        self.greedy = config.temperature == 0
        self.generator = generator
        self.guidance = guidance
        warpers = []
        if not self.greedy:
            if config.temperature != 1.0:
                warpers.append(TemperatureLogitsWarper(config.temperature))
            if config.top_k > 0:
                warpers.append(TopKLogitsWarper(config.top_k))
            if config.top_p < 1.0:
                warpers.append(TopPLogitsWarper(config.top_p))
        self.processors = LogitsProcessorList(config.logits_processors)
        self.warpers = LogitsProcessorList(warpers)

    def __call__(self, logits: torch.Tensor, input_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The next token [A] from logits [A, V]; `input_ids` [A, t]: the streams' tokens so far."""
        logits = self.processors(input_ids, logits.float()) if self.processors else logits
        if self.greedy:
            return logits.argmax(-1)
        logits = self.warpers(input_ids, logits.float())
        return torch.multinomial(torch.softmax(logits, -1), 1, generator=self.generator).squeeze(-1)


def decode_streams(
    model: DocHVAE,
    num_streams: int,
    memory_latents: dict[str, torch.Tensor] | None,
    latents: dict[str, torch.Tensor],
    on_sentence_end,
    sampler: TokenSampler,
    max_tokens: int,
    max_sentences: int,
    use_cache: bool = True,
    on_paragraph_end=None,
    max_paragraphs: int = 1,
) -> tuple[list[list[list[list[int]]]], torch.Tensor]:
    """Decode A aligned streams "[memory] <s> ..." until each ends, KV-cached.

    memory_latents:   per memory level, [A, D]: what the memory slots are made of; None without memory.
    latents:          per position level (embedding or layers injection), [A, D]: what the first
                      sentence's tokens get.
    on_sentence_end:  None (a stream is one sentence and ends at any boundary token) or a function
                      rows [A] bool -> per position level [A, D], the latents of the next sentence
                      of the streams that just emitted end-of-sentence.
    on_paragraph_end: None (a stream ends at end-of-paragraph) or a function rows [A] bool -> [A]
                      bool, which of the streams that just emitted end-of-paragraph go on with
                      another paragraph (document context; at most `max_paragraphs` in all).
    With latent guidance (`sampler.guidance`) the decoder runs its branches as extra rows of the
    same call and cache ([branches * A]), and tokens come from the combined log-probabilities.
    Finished streams leave the decoder's rows (and its cache) as they accumulate, so a batch pays for
    the streams that still write, not for its longest one (what each stream is drawn from is unchanged).
    `max_tokens` and `max_sentences` bound each paragraph; a paragraph cut by `max_tokens` ends
    its stream. Returns each stream's paragraphs (lists of sentences of token ids) and whether its
    last paragraph ended ([A] bool: emitted end-of-paragraph, or hit a bound).
    """
    config, decoder = model.config, model.decoder
    device = decoder.lm.get_input_embeddings().weight.device
    one_sentence = on_sentence_end is None
    rows = _DecoderRows(decoder, sampler.guidance)
    bos = torch.full((num_streams,), config.bos_token_id, device=device)
    inputs, layer_inputs = rows.first_inputs(bos, latents, memory_latents)
    max_steps = _step_budget(decoder, max_tokens * max_paragraphs, first_positions=inputs.shape[1])
    cache = DynamicCache() if use_cache else None
    progress = _StreamProgress.start(num_streams, device)
    live = torch.arange(num_streams, device=device)  # the streams the decoder still runs (finished ones drop out)
    emitted = []
    for _ in range(max_steps):
        positions = _step_positions(cache, inputs.shape[1], inputs.shape[0], device)
        logits = decoder.step(inputs, positions, layer_inputs, cache)  # [branches * live, V]
        # The last allowed sentence may only end the paragraph.
        at_limit = None if one_sentence else rows.expand((progress.sentences_done + 1 >= max_sentences)[live])
        history = torch.stack([bos, *emitted], dim=1)[live] if sampler.processors else None
        tokens = torch.full_like(bos, config.pad_token_id)  # finished streams emit <pad>
        tokens[live] = _next_tokens(logits, sampler, config, at_limit, history, progress.finished[live])
        emitted.append(tokens)
        ends_sentence = progress.advance(tokens, config, max_tokens, on_paragraph_end, one_sentence)
        if bool(progress.finished.all()):
            break
        if not one_sentence and bool(ends_sentence.any()):
            progress.sentences_done += ends_sentence.long()
            latents = _switched(latents, on_sentence_end(ends_sentence), ends_sentence)
        live, inputs, layer_inputs = _drop_finished(rows, live, progress.finished, inputs, layer_inputs, cache)
        inputs, layer_inputs = _next_step_inputs(
            rows, tokens[live], _rows_of(latents, live), inputs, layer_inputs, use_cache
        )
    progress.ended_paragraph |= ~progress.finished  # cut by the position table: the paragraph ends here
    result = [split_stream(row, config, one_sentence) for row in torch.stack(emitted, dim=1).tolist()]
    return result, progress.ended_paragraph


def _drop_finished(
    rows: _DecoderRows,
    live: torch.Tensor,
    finished: torch.Tensor,
    inputs: torch.Tensor,
    layer_inputs: torch.Tensor | None,
    cache: DynamicCache | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Take finished streams out of the decoder's rows (its cache, or its inputs so far without one) once they
    are a quarter of the live ones: a batch otherwise runs every stream until its longest ends, and sampled
    streams end far apart (most of the decoder's work went to padding; docs/findings.md#decoding-waste).
    Returns the live streams [L'] and the decoder's inputs of those rows."""
    done = finished[live]
    if int(done.sum()) * 4 < live.numel():
        return live, inputs, layer_inputs
    keep = rows.expand_index((~done).nonzero().squeeze(-1), live.numel())
    if cache is not None:
        cache.batch_select_indices(keep)
    return live[~done], inputs[keep], layer_inputs[keep] if layer_inputs is not None else None


def _step_positions(cache: DynamicCache | None, width: int, num_rows: int, device) -> torch.Tensor:
    """[rows, width] the positions of one decoder call's inputs: after the cached ones (without a
    cache, the inputs are the whole input so far, from position 0)."""
    past = cache.get_seq_length() if cache is not None else 0
    return torch.arange(past, past + width, device=device)[None].expand(num_rows, -1)


def _next_step_inputs(
    rows: _DecoderRows,
    tokens: torch.Tensor,
    latents: dict[str, torch.Tensor],
    inputs: torch.Tensor,
    layer_inputs: torch.Tensor | None,
    use_cache: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The inputs of the next decoder call: the new position alone with a cache, else the input so far with it."""
    new_inputs, new_layer_inputs = rows.step_inputs(tokens, latents)
    if use_cache:
        return new_inputs, new_layer_inputs
    return _appended(inputs, layer_inputs, new_inputs, new_layer_inputs)


def _step_budget(decoder, max_steps: int, first_positions: int) -> int:
    """`max_steps`, or fewer: never run past the decoder's position table."""
    if decoder.max_positions is not None:
        max_steps = min(max_steps, decoder.max_positions - first_positions)
    return max_steps


def _switched(
    latents: dict[str, torch.Tensor], new: dict[str, torch.Tensor], rows: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per level [A, D]: `new` in the `rows` [A] bool (the streams that began a sentence), `latents` elsewhere."""
    return {level: torch.where(rows[:, None], new[level], latents[level]) for level in latents}


class _DecoderRows:
    """The rows of `decode_streams`' decoder calls: every live stream once per guidance branch (once, unguided)."""

    def __init__(self, decoder, guidance: LatentGuidance | None):
        self.decoder, self.guidance = decoder, guidance
        self.branches = guidance.branches if guidance is not None else 1

    def expand_index(self, streams: torch.Tensor, num_live: int) -> torch.Tensor:
        """The decoder rows [branches * n] of the live streams at positions `streams` [n], of `num_live`."""
        return torch.cat([streams + branch * num_live for branch in range(self.branches)])

    def expand(self, per_stream: torch.Tensor) -> torch.Tensor:
        """[A, ...] -> [rows, ...]: every branch decodes the same streams."""
        return self.guidance.expand_rows(per_stream) if self.guidance is not None else per_stream

    def expand_latents(self, latents: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per level [A, D] -> [rows, D]: each branch's latents."""
        return self.guidance.expand_latents(latents) if self.guidance is not None else latents

    def step_inputs(
        self, tokens: torch.Tensor, latents: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The inputs of one new position per row (every branch), from tokens [A] and position latents [A, D]."""
        return self.decoder.position_inputs(self.expand(tokens), self.expand_latents(latents))

    def first_inputs(
        self, bos: torch.Tensor, latents: dict[str, torch.Tensor], memory_latents: dict[str, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The inputs of the first step: <s>, behind the memory slots when there are memory latents."""
        inputs, layer_inputs = self.step_inputs(bos, latents)
        if memory_latents is None:
            return inputs, layer_inputs
        memory = self.decoder.memory_vectors(self.expand_latents(memory_latents))  # [rows, m, H]
        inputs = torch.cat([memory, inputs], dim=1)  # [rows, m + 1, H]
        if layer_inputs is not None:  # memory slots get no per-layer latents, as in training
            layer_inputs = torch.cat(
                [layer_inputs.new_zeros(inputs.shape[0], memory.shape[1], layer_inputs.shape[-1]), layer_inputs], dim=1
            )
        return inputs, layer_inputs


def _appended(
    inputs: torch.Tensor,
    layer_inputs: torch.Tensor | None,
    new_inputs: torch.Tensor,
    new_layer_inputs: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Without a cache every step reads the whole input so far: the new position appended to it."""
    inputs = torch.cat([inputs, new_inputs], dim=1)
    layer_inputs = torch.cat([layer_inputs, new_layer_inputs], dim=1) if new_layer_inputs is not None else None
    return inputs, layer_inputs


def _next_tokens(
    logits: torch.Tensor,
    sampler: TokenSampler,
    config,
    at_limit: torch.Tensor | None,
    history: torch.Tensor | None,
    finished: torch.Tensor,
) -> torch.Tensor:
    """The next token [A] of every stream from the decoder's logits [rows, V] (changed in place).

    `at_limit` [rows] bool (None: no sentence limit): streams whose end-of-sentence is forbidden; `history`
    [A, t]: the tokens so far, for user processors (None without them); finished streams get <pad>.
    """
    logits[:, [config.bos_token_id, config.pad_token_id, config.unk_token_id]] = float(
        "-inf"
    )  # <s>, <pad> and <unk> are never content
    if at_limit is not None:
        logits[at_limit, config.sentence_end_token_id] = float("-inf")
    if sampler.guidance is not None:
        logits = sampler.guidance.combine(logits)  # [A, V] guided log-probabilities
    return sampler(logits, history).masked_fill(finished, config.pad_token_id)


@dataclass
class _StreamProgress:
    """Where each of A streams stands in `decode_streams`."""

    finished: torch.Tensor  # [A] bool: emits nothing more (<pad>)
    ended_paragraph: torch.Tensor  # [A] bool: the stream's last paragraph ended (end-of-paragraph or a bound)
    sentences_done: torch.Tensor  # [A] sentences ended in the current paragraph
    paragraph_tokens: torch.Tensor  # [A] tokens emitted in the current paragraph

    @classmethod
    def start(cls, streams: int, device) -> _StreamProgress:
        zeros = torch.zeros(streams, dtype=torch.long, device=device)
        flags = torch.zeros(streams, dtype=torch.bool, device=device)
        return cls(finished=flags, ended_paragraph=flags.clone(), sentences_done=zeros, paragraph_tokens=zeros.clone())

    def advance(
        self, tokens: torch.Tensor, config, max_tokens: int, on_paragraph_end, one_sentence: bool
    ) -> torch.Tensor:
        """Count the new tokens [A] and finish the streams they end; return which of them end a sentence."""
        finished = self.finished
        ends_sentence = (tokens == config.sentence_end_token_id) & ~finished
        ends_paragraph = (tokens == config.paragraph_end_token_id) & ~finished
        self.paragraph_tokens = torch.where(ends_paragraph, 0, self.paragraph_tokens + (~finished).long())
        cut = (self.paragraph_tokens >= max_tokens) & ~finished  # a paragraph at its token bound ends the stream
        self.ended_paragraph = torch.where(
            finished, self.ended_paragraph, ends_paragraph | cut
        )  # the stream's last paragraph ended
        goes_on = torch.zeros_like(finished)
        if on_paragraph_end is not None and bool(ends_paragraph.any()):
            goes_on = on_paragraph_end(ends_paragraph) & ends_paragraph
            self.sentences_done = torch.where(goes_on, 0, self.sentences_done)
        finished |= (ends_paragraph & ~goes_on) | cut | (ends_sentence if one_sentence else torch.zeros_like(finished))
        return ends_sentence


def split_stream(row: list[int], config, one_sentence: bool) -> list[list[list[int]]]:
    """A stream's tokens split at its boundaries into paragraphs of sentences (everything after
    its end is padding, which is never sampled as content)."""
    paragraphs, sentences, current = [], [], []
    for token in row:
        if token == config.pad_token_id:
            break
        if token in (config.sentence_end_token_id, config.paragraph_end_token_id):
            sentences.append(current)
            current = []
            if one_sentence:
                break
            if token == config.paragraph_end_token_id:
                paragraphs.append(sentences)
                sentences = []
        else:
            current.append(token)
    if current:
        sentences.append(current)  # a partial sentence cut by max_tokens
    if sentences or not paragraphs:
        paragraphs.append(sentences)
    return paragraphs


# ---------------------------------------------------------------------------------------------
# Documents


@torch.no_grad()
@in_eval_mode
def decode_documents(
    model: DocHVAE,
    plan: LatentPlan,
    sampling: SamplingConfig,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> list[GeneratedDocument]:
    """Ancestral decoding of `plan.num_documents` documents (see the module docstring)."""
    _check_decoding_request(model, plan, sampling, generator)
    if sampling.candidates > 1:
        return _best_of_candidates(model, plan, sampling, generator, use_cache)
    config = model.config
    device = model.device
    B = plan.num_documents
    sampler = TokenSampler(sampling, generator, LatentGuidance.from_sampling(model, sampling))
    temperature = sampling.latent_temperature_of
    # A plan that fixes the paragraph count (reconstruction, swap) is never cut by the bound.
    max_paragraphs = max([sampling.max_paragraphs, *(n for n in plan.num_paragraphs or [] if n is not None)])
    given = plan.given_paragraphs or [0] * B
    _check_given_paragraphs(plan, given, config)

    if config.decoder_context == "document":
        return _decode_document_streams(model, plan, sampling, sampler, generator, max_paragraphs, use_cache)
    max_paragraphs += max(given)  # the bound counts written paragraphs

    z_doc = _document_latent(model, plan, sampling, generator)
    z_par_all = (
        torch.zeros(B, max_paragraphs + 1, config.latent_dim("paragraph"), device=device)
        if "paragraph" in config.levels
        else None
    )
    documents = [GeneratedDocument(paragraphs=[]) for _ in range(B)]
    drawn_sentences: list[list[torch.Tensor]] = [[] for _ in range(B)]
    active = torch.ones(B, dtype=torch.bool, device=device)
    writing = torch.tensor(given, device=device)  # a document writes paragraph j once j >= its given paragraphs
    for j in range(max_paragraphs):
        if not active.any():
            break
        index = (active & (writing <= j)).nonzero().squeeze(-1)
        # Paragraph latents (all documents, so the buffer stays aligned): prior unless the plan fixes them.
        z_par = _paragraph_latents(model, plan, z_par_all, z_doc, j, temperature("paragraph"), generator)
        if index.numel() == 0:  # every document is still in its given paragraphs
            continue
        upper = {
            "document": z_doc[index] if z_doc is not None else None,
            "paragraph": z_par[index] if z_par is not None else None,
        }
        paragraphs, sentence_latents = _decode_paragraph(
            model, plan, sampling, sampler, upper, index, j, generator, use_cache
        )
        for a, b in enumerate(index.tolist()):
            documents[b].paragraphs.append(paragraphs[a])
            if sentence_latents is not None:
                drawn_sentences[b].append(sentence_latents.drawn(a))
        _stop_after_paragraph(model, plan, sampling, active, index, given, j, z_doc, z_par_all, generator)
    _attach_latents(documents, config, z_doc, z_par_all, given, drawn_sentences)
    return documents


def _best_of_candidates(
    model: DocHVAE, plan: LatentPlan, sampling: SamplingConfig, generator, use_cache: bool
) -> list[GeneratedDocument]:
    """`sampling.candidates` documents decoded from each document's z_doc (the plan's, or one prior draw shared
    by its candidates), and of each document the candidate the encoder puts nearest that z_doc."""
    _check_candidates_request(model, plan, sampling)
    N = sampling.candidates
    z_doc = _document_latent(model, plan, sampling, generator)  # [B, D]
    expanded = LatentPlan(num_documents=plan.num_documents * N, document=z_doc.repeat_interleave(N, dim=0))
    decoded = decode_documents(model, expanded, replace(sampling, candidates=1), generator, use_cache)
    encoded = document_latents(model, [document.as_row() for document in decoded]).view(plan.num_documents, N, -1)
    best = (encoded - z_doc.cpu().unsqueeze(1)).norm(dim=-1).argmin(dim=1)  # [B]
    return [decoded[b * N + int(n)] for b, n in enumerate(best)]


def _check_candidates_request(model: DocHVAE, plan: LatentPlan, sampling: SamplingConfig) -> None:
    """Best of N compares re-encoded z_doc: a document level, the decoder's tokens readable by the encoder,
    and a plan that fixes nothing below z_doc (style and prior samples, document-level interpolation)."""
    config = model.config
    problems = []
    if "document" not in config.levels:
        problems.append(f"this model has no document level (levels {config.levels})")
    if config.own_encoder_tokenizer:
        problems.append("this model's sentence encoder has its own tokenizer and cannot re-read generated tokens")
    fixed = [name for name in ("paragraphs", "sentences", "num_paragraphs", "given_paragraphs") if getattr(plan, name)]
    if fixed:
        problems.append(f"the plan fixes {fixed} (reconstruction, continuation, swap); only z_doc may be fixed")
    if problems:
        raise ValueError(
            f"candidates={sampling.candidates} (best of N by z_doc): " + "; ".join(problems) + "; use candidates=1"
        )


@torch.no_grad()
@in_eval_mode
def document_latents(
    model: DocHVAE, rows: list[dict], collator: DocCollator | None = None, batch_documents: int = 16
) -> torch.Tensor:
    """Posterior means of z_doc [N, D] (on the CPU) for prepared rows (the encoder alone: the decoder is not run)."""
    collator = collator or DocCollator.for_model(model.config)
    parts = []
    for i in range(0, len(rows), batch_documents):
        batch = collator(rows[i : i + batch_documents]).to(model.device)
        latents = model.infer_latents(batch, model.encoder(batch), latent_mode="mean", down_to="document")
        parts.append(latents["document"].z.cpu())
    return torch.cat(parts)


def _check_decoding_request(
    model: DocHVAE, plan: LatentPlan, sampling: SamplingConfig, generator: torch.Generator | None
) -> None:
    """Reject an empty plan, a generator on another device, and latent temperatures of absent levels."""
    if plan.num_documents < 1:
        raise ValueError(f"num_documents={plan.num_documents}; ask for at least one document")
    config = model.config
    device = model.device
    if generator is not None and generator.device != device:
        raise ValueError(
            f"the generator is on {generator.device} but the model on {device}; use seeded_generator(seed, device)"
        )
    if sampling.document_prior == "fitted" and plan.document is None:
        check_fitted_document_prior(model)
    unknown = sorted(set(sampling.latent_temperature) - set(config.levels))
    if unknown and set(sampling.latent_temperature) != set(
        LEVELS
    ):  # one value for every level covers those the model lacks
        raise ValueError(
            f"latent_temperature has level(s) {unknown} this model does not have; its levels are {config.levels}"
        )


def _attach_latents(
    documents: list[GeneratedDocument],
    config,
    z_doc: torch.Tensor | None,
    z_par_all: torch.Tensor | None,
    given: list[int],
    drawn_sentences: list[list[torch.Tensor]],
) -> None:
    """Give each document the latents it was written from: z_doc, its written paragraphs' z_par and its z_sen."""
    for b, document in enumerate(documents):
        if z_doc is not None:
            document.latents["document"] = z_doc[b]
        if z_par_all is not None:
            document.latents["paragraph"] = z_par_all[b, given[b] : given[b] + len(document.paragraphs)]
        if "sentence" in config.levels:
            document.latents["sentence"] = torch.cat(drawn_sentences[b])


def _document_latent(model: DocHVAE, plan: LatentPlan, sampling: SamplingConfig, generator) -> torch.Tensor | None:
    """[B, D]: the plan's z_doc, or a draw from the document prior (`sampling.document_prior`); None
    without a document level."""
    if "document" not in model.config.levels:
        return None
    if plan.document is not None:
        return plan.document.to(model.device)
    B, device = plan.num_documents, model.device
    temperature = sampling.latent_temperature_of("document")
    if sampling.document_prior == "fitted":
        return model.fitted_document_prior.sample(B, temperature, generator, device)
    start = torch.zeros(B, 1, model.config.latent_dim("document"), device=device)
    return model.prior_step("document", start, torch.zeros(B, dtype=torch.long, device=device), None).sample(
        temperature, generator
    )


def _paragraph_latents(
    model: DocHVAE, plan: LatentPlan, z_par_all, z_doc, j: int, temperature: float, generator
) -> torch.Tensor | None:
    """[B, D]: paragraph j's latents, drawn from the prior given the paragraphs before (z_par_all) unless the
    plan fixes them; written into z_par_all. None without a paragraph level."""
    if z_par_all is None:
        return None
    position = torch.full((plan.num_documents,), j, device=model.device)
    z_par = model.prior_step("paragraph", z_par_all, position, z_doc).sample(temperature, generator)
    for b in range(plan.num_documents):
        fixed = plan.paragraphs[b] if plan.paragraphs is not None else None
        if fixed is not None and j < fixed.shape[0]:
            z_par[b] = fixed[j].to(model.device)
    z_par_all[:, j] = z_par
    return z_par


def _decode_paragraph(
    model: DocHVAE,
    plan: LatentPlan,
    sampling: SamplingConfig,
    sampler,
    upper: dict,
    index: torch.Tensor,
    j: int,
    generator,
    use_cache: bool,
) -> tuple[list, SentenceLatents | None]:
    """Paragraph j of the documents in `index` given their upper latents: token ids per sentence per
    document, and the sentence latents drawn for them."""
    config, device = model.config, model.device
    sentence_latents = None
    if "sentence" in config.levels:
        parent = upper["paragraph"] if upper["paragraph"] is not None else upper["document"]
        fixed = [_fixed_sentences(plan, int(b), j, device) for b in index]
        sentence_latents = SentenceLatents(
            model, parent, fixed, sampling.max_sentences, sampling.latent_temperature_of("sentence"), generator, device
        )

    def position_latents(z_sentence):  # this paragraph's upper latents, with the sentence's
        return {level: (z_sentence if level == "sentence" else upper[level]) for level in config.position_levels}

    all_rows = torch.ones(index.numel(), dtype=torch.bool, device=device)
    z_sen = sentence_latents.next(all_rows) if sentence_latents is not None else None
    if config.decoder_context == "sentence":
        paragraphs = _decode_sentence_streams(
            model, index.numel(), upper, z_sen, sentence_latents, position_latents, sampler, sampling, use_cache
        )
        return paragraphs, sentence_latents
    memory = upper if config.memory_levels else None

    def next_sentence(rows: torch.Tensor) -> dict[str, torch.Tensor]:
        return position_latents(sentence_latents.next(rows) if sentence_latents is not None else None)

    streams, _ = decode_streams(
        model,
        index.numel(),
        memory,
        position_latents(z_sen),
        next_sentence,
        sampler,
        sampling.max_tokens,
        sampling.max_sentences,
        use_cache,
    )
    return [stream[0] for stream in streams], sentence_latents


def _stop_after_paragraph(
    model: DocHVAE,
    plan: LatentPlan,
    sampling: SamplingConfig,
    active: torch.Tensor,
    index: torch.Tensor,
    given: list[int],
    j: int,
    z_doc,
    z_par_all,
    generator,
) -> None:
    """Whether the documents in `index` stop after paragraph j (`active` set False): the plan's paragraph
    count, or a draw from the stop head (greedy at token temperature 0); always at the bound."""
    B = plan.num_documents
    draws = _draw_stop(
        model.stop_probability({"document": z_doc, "paragraph": z_par_all}, B, j + 1), sampling.temperature, generator
    )
    for b in index.tolist():
        fixed_count = plan.num_paragraphs[b] if plan.num_paragraphs is not None else None
        at_bound = fixed_count is None and j + 1 >= given[b] + sampling.max_paragraphs
        if (fixed_count is not None and j + 1 >= fixed_count) or (fixed_count is None and bool(draws[b])) or at_bound:
            active[b] = False


def _draw_stop(probability: torch.Tensor, temperature: float, generator) -> torch.Tensor:
    """[B] bool: which documents stop, given the stop head's probability [B]; its likelier answer at token temperature 0."""
    if temperature == 0:
        return probability > 0.5
    return torch.rand(probability.shape[0], generator=generator, device=probability.device) < probability


def _decode_document_streams(
    model, plan: LatentPlan, sampling: SamplingConfig, sampler, generator, max_paragraphs: int, use_cache: bool
):
    """decoder_context="document" (a flat LM): one stream per document; after each end-of-paragraph
    the stop head (or the plan's paragraph count) decides whether the stream goes on."""
    B, device = plan.num_documents, model.device
    counts = torch.zeros(B, dtype=torch.long, device=device)
    fixed = (
        torch.tensor([n or 0 for n in plan.num_paragraphs], device=device) if plan.num_paragraphs is not None else None
    )

    def on_paragraph_end(rows: torch.Tensor) -> torch.Tensor:
        counts.add_(rows.long())
        if fixed is not None:
            return counts < fixed
        # Without latents the stop probability depends on the paragraph count alone: once per count.
        by_count = {c: model.stop_probability({}, 1, max(c, 1))[0] for c in set(counts.tolist())}
        stop = _draw_stop(torch.stack([by_count[c] for c in counts.tolist()]), sampling.temperature, generator)
        return ~stop & (counts < max_paragraphs)

    streams, _ = decode_streams(
        model,
        B,
        None,
        {},
        lambda rows: {},
        sampler,
        sampling.max_tokens,
        sampling.max_sentences,
        use_cache,
        on_paragraph_end=on_paragraph_end,
        max_paragraphs=max_paragraphs,
    )
    return [GeneratedDocument(paragraphs=paragraphs) for paragraphs in streams]


def _check_given_paragraphs(plan: LatentPlan, given: list[int], config) -> None:
    if plan.given_paragraphs is None:
        return
    if config.decoder_context == "document" or not config.levels:
        raise ValueError(
            "given paragraphs (continuation) need a model with latent levels and paragraph or sentence streams; "
            f"this one has levels={config.levels}, decoder_context={config.decoder_context!r}"
        )
    if len(given) != plan.num_documents or any(n < 0 for n in given) or plan.num_paragraphs is not None:
        raise ValueError(f"given_paragraphs={given}: give one count >= 0 per document, and no num_paragraphs beside it")
    if "paragraph" in config.levels:
        fixed = [
            0 if plan.paragraphs is None or plan.paragraphs[b] is None else plan.paragraphs[b].shape[0]
            for b in range(len(given))
        ]
        if any(f < n for f, n in zip(fixed, given)):
            raise ValueError(
                f"given_paragraphs={given} but the plan fixes {fixed} paragraph latents; fix the latents of every given paragraph"
            )


def _fixed_sentences(plan: LatentPlan, b: int, j: int, device) -> torch.Tensor | None:
    if plan.sentences is None or plan.sentences[b] is None or j >= len(plan.sentences[b]):
        return None
    return plan.sentences[b][j].to(device)


def _decode_sentence_streams(
    model, streams, upper, z_sen, sentence_latents, position_latents, sampler, sampling, use_cache
):
    """decoder_context="sentence": one fresh stream per sentence, until a stream ends the paragraph.

    A paragraph whose sentence latents the plan fixes (reconstruction, swaps) has at most that many
    sentences, as the plan's paragraph count bounds the document. Without the bound a greedy
    decoder that never emits end-of-paragraph wrote max_sentences sentences per paragraph (each of
    up to max_tokens): reconstruction BLEU of a Gutenberg model ran for over 20 minutes (stopped), 4.5 with it.
    """
    config = model.config
    paragraphs: list[list[list[int]]] = [[] for _ in range(streams)]
    going = torch.ones(streams, dtype=torch.bool)
    fixed = sentence_latents.fixed if sentence_latents is not None else [None] * streams
    limits = [
        min(sampling.max_sentences, len(f)) if f is not None and len(f) else sampling.max_sentences for f in fixed
    ]
    for i in range(sampling.max_sentences):
        index = going.nonzero().squeeze(-1)  # only the paragraphs still going write a sentence
        memory = {**upper, "sentence": z_sen} if config.memory_levels else None
        sentences, ended = decode_streams(
            model,
            index.numel(),
            _rows_of(memory, index),
            _rows_of(position_latents(z_sen), index),
            None,
            sampler,
            sampling.max_tokens,
            1,
            use_cache,
        )
        for k, a in enumerate(index.tolist()):
            paragraphs[a].extend(sentences[k][0][:1] or [[]])
            if bool(ended[k]) or i + 1 >= limits[a]:
                going[a] = False
        if not bool(going.any()):
            break
        if sentence_latents is not None:
            z_sen = sentence_latents.next(going.to(z_sen.device))
    return paragraphs


def _rows_of(latents: dict[str, torch.Tensor | None] | None, index: torch.Tensor) -> dict | None:
    """Per level [A, D] -> [n, D]: the rows `index` [n] (None stays None)."""
    if latents is None:
        return None
    return {level: z[index.to(z.device)] if z is not None else None for level, z in latents.items()}


# ---------------------------------------------------------------------------------------------
# Posterior latents of given documents, and the four ways to use them


@torch.no_grad()
@in_eval_mode
def posterior_latents(model: DocHVAE, batch: DocBatch, mode: str = "mean") -> dict[str, torch.Tensor]:
    """Every level's latents for a batch (posterior means, or one sample)."""
    output = model(batch, latent_mode=mode, return_latents=True)
    return {level: out.z for level, out in output.latents.items()}


def plan_from_posterior(
    model: DocHVAE, batch: DocBatch, latents: dict[str, torch.Tensor], fix_structure: bool = True
) -> LatentPlan:
    """A plan that fixes every level to the given per-unit latents (for reconstruction and swap)."""
    B = batch.num_documents
    plan = LatentPlan(num_documents=B, document=latents.get("document"))
    paragraphs_of = [batch.document_paragraphs[b][batch.document_paragraphs_mask[b]] for b in range(B)]
    if "paragraph" in latents:
        plan.paragraphs = [latents["paragraph"][p] for p in paragraphs_of]
    if "sentence" in latents:
        plan.sentences = [
            [
                latents["sentence"][batch.paragraph_sentences[p][batch.paragraph_sentences_mask[p]]]
                for p in paragraphs.tolist()
            ]
            for paragraphs in paragraphs_of
        ]
    if fix_structure:
        plan.num_paragraphs = [int(p.numel()) for p in paragraphs_of]
    return plan


def reconstruct(
    model: DocHVAE, batch: DocBatch, sampling: SamplingConfig, mode: str = "mean", generator=None
) -> list[GeneratedDocument]:
    """Decode each document from all of its own posterior latents (paragraph count kept)."""
    latents = posterior_latents(model, batch, mode)
    return decode_documents(model, plan_from_posterior(model, batch, latents), sampling, generator)


def sample_prior(
    model: DocHVAE, num_documents: int, sampling: SamplingConfig, generator=None
) -> list[GeneratedDocument]:
    return decode_documents(model, LatentPlan(num_documents=num_documents), sampling, generator)


def check_style_request(model: DocHVAE, per_reference: int) -> None:
    """Style generation needs a document level and at least one document per reference."""
    if "document" not in model.config.levels:
        raise ValueError(f"style generation needs a document level; this model's levels are {model.config.levels}")
    if isinstance(per_reference, bool) or not isinstance(per_reference, int) or per_reference < 1:
        raise ValueError(f"per_reference={per_reference!r}; ask for at least one document per reference")


def style_plan(model: DocHVAE, z_doc: torch.Tensor, per_reference: int) -> LatentPlan:
    """A plan of `per_reference` documents per reference z_doc [R, D] (reference order); the lower levels
    come from their priors."""
    check_style_request(model, per_reference)
    return LatentPlan(
        num_documents=z_doc.shape[0] * per_reference, document=z_doc.repeat_interleave(per_reference, dim=0)
    )


def generate_in_style(
    model: DocHVAE,
    references: DocBatch,
    per_reference: int,
    sampling: SamplingConfig,
    mode: str = "mean",
    generator=None,
) -> list[list[GeneratedDocument]]:
    """N documents per reference: z_doc from the reference's posterior, the lower levels from their priors."""
    check_style_request(model, per_reference)  # before the encoder runs
    plan = style_plan(model, posterior_latents(model, references, mode)["document"], per_reference)
    flat = decode_documents(model, plan, sampling, generator)
    return [flat[r * per_reference : (r + 1) * per_reference] for r in range(references.num_documents)]


def continuation_plan(model: DocHVAE, prefixes: DocBatch, per_prefix: int = 1) -> LatentPlan:
    """A plan that continues each prefix `per_prefix` times: the prefix's posterior-mean z_doc and paragraph
    latents are given (`given_paragraphs`), the next paragraphs' latents come from their priors given them."""
    config = model.config
    if "document" not in config.levels or config.decoder_context == "document":
        raise ValueError(
            f"continuation infers a prefix's z_doc and decodes new paragraphs from the latents; this model has "
            f"levels={config.levels} and decoder_context={config.decoder_context!r} (it needs a document level and "
            "paragraph or sentence streams; a flat LM continues its token stream instead)"
        )
    if isinstance(per_prefix, bool) or not isinstance(per_prefix, int) or per_prefix < 1:
        raise ValueError(f"per_prefix={per_prefix!r}; ask for at least one continuation per prefix")
    prefix = plan_from_posterior(model, prefixes, posterior_latents(model, prefixes))
    repeat = [b for b in range(prefix.num_documents) for _ in range(per_prefix)]
    return LatentPlan(
        num_documents=len(repeat),
        document=prefix.document[repeat],
        paragraphs=[prefix.paragraphs[b] for b in repeat] if prefix.paragraphs is not None else None,
        given_paragraphs=[prefix.num_paragraphs[b] for b in repeat],
    )


def continue_documents(
    model: DocHVAE, prefixes: DocBatch, per_prefix: int, sampling: SamplingConfig, generator=None
) -> list[list[GeneratedDocument]]:
    """`per_prefix` continuations of each prefix (see `continuation_plan`): each holds only the new paragraphs."""
    flat = decode_documents(model, continuation_plan(model, prefixes, per_prefix), sampling, generator)
    return [flat[b * per_prefix : (b + 1) * per_prefix] for b in range(prefixes.num_documents)]


def interpolate(
    model: DocHVAE, pair: DocBatch, level: str, steps: int, sampling: SamplingConfig, generator=None
) -> list[GeneratedDocument]:
    """Documents along the line between two documents' posterior means at `level` (see `interpolation_plan`)."""
    return decode_documents(model, interpolation_plan(model, pair, level, steps), sampling, generator)


def interpolation_plan(model: DocHVAE, pair: DocBatch, level: str, steps: int) -> LatentPlan:
    """A plan of `steps` documents along the line between two documents' posterior means at `level`.

    The level's units are paired by position (the shorter document sets the count); levels above
    come from the first document's posterior mean, levels below from their priors.
    """
    if level not in model.config.levels:
        raise ValueError(f"level={level!r} is not a level of this model ({model.config.levels})")
    if pair.num_documents != 2:
        raise ValueError(f"interpolation needs exactly 2 documents, got {pair.num_documents}")
    if steps < 2:
        raise ValueError(f"steps={steps}; use at least 2 (the two endpoints)")
    latents = posterior_latents(model, pair)
    plan_a = plan_from_posterior(model, pair, latents, fix_structure=False)
    weights = torch.linspace(0, 1, steps)
    plan = LatentPlan(num_documents=steps)
    if level == "document":
        plan.document = torch.stack([(1 - w) * latents["document"][0] + w * latents["document"][1] for w in weights])
        return plan
    if "document" in latents:
        plan.document = latents["document"][:1].repeat(steps, 1)
    if level == "paragraph":
        a, b = plan_a.paragraphs
        count = min(a.shape[0], b.shape[0])
        plan.paragraphs = [(1 - w) * a[:count] + w * b[:count] for w in weights]
        plan.num_paragraphs = [count] * steps
    else:  # sentence: pair sentence by sentence inside paired paragraphs
        if "paragraph" in latents:
            plan.paragraphs = [plan_a.paragraphs[0]] * steps
        sa, sb = plan_a.sentences
        count = min(len(sa), len(sb))
        plan.sentences = [
            [
                (1 - w) * sa[j][: min(len(sa[j]), len(sb[j]))] + w * sb[j][: min(len(sa[j]), len(sb[j]))]
                for j in range(count)
            ]
            for w in weights
        ]
        plan.num_paragraphs = [count] * steps
    return plan


def swap_plan(model: DocHVAE, plan: LatentPlan, donors: list[int]) -> LatentPlan:
    """A posterior plan whose document b takes z_doc from document `donors[b]` (its lower latents kept)."""
    if "document" not in model.config.levels:
        raise ValueError(f"swap needs a document level; this model's levels are {model.config.levels}")
    count = plan.num_documents
    if count < 2:
        raise ValueError(f"swap needs at least 2 documents to exchange z_doc between, got {count}")
    if len(donors) != count or not all(isinstance(d, int) and 0 <= d < count for d in donors):
        raise ValueError(f"donors={donors}: give one donor index in [0, {count}) per document")
    return replace(plan, document=plan.document[torch.tensor(donors)])


def swap(
    model: DocHVAE, batch: DocBatch, donors: list[int], sampling: SamplingConfig, generator=None
) -> list[GeneratedDocument]:
    """Keep each document's paragraph and sentence latents, take z_doc from document `donors[b]`."""
    plan = plan_from_posterior(model, batch, posterior_latents(model, batch))
    return decode_documents(model, swap_plan(model, plan, donors), sampling, generator)


# ---------------------------------------------------------------------------------------------
# Text


def row_text(row: dict, tokenizer) -> str:
    """The text of a prepared-corpus row (its token ids decoded), paragraphs separated by blank lines."""
    return document_text(GeneratedDocument(row["paragraphs"]), tokenizer)


def paragraph_texts(document: GeneratedDocument, tokenizer) -> list[str]:
    """The readable text of each paragraph of a document."""
    return [document_text(GeneratedDocument([paragraph]), tokenizer) for paragraph in document.paragraphs]


def document_text(document: GeneratedDocument, tokenizer) -> str:
    """Readable text: sentences joined by spaces, paragraphs separated by blank lines."""
    paragraphs = []
    for paragraph in document.paragraphs:
        sentences = [tokenizer.decode(s, skip_special_tokens=True).strip() for s in paragraph]
        paragraphs.append(" ".join(s for s in sentences if s))
    return "\n\n".join(p for p in paragraphs if p)


def seeded_generator(seed: int, device="cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)
