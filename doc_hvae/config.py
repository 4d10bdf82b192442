"""DocHVAEConfig: the architecture of a document hierarchical VAE, and nothing else.

Training settings (KL schedules, free bits, optimiser) live in the recipe configs; what lives
here is what `from_pretrained` needs to rebuild the same network.
"""

from __future__ import annotations

import copy

from transformers import AutoConfig, PreTrainedConfig

LEVELS = ("document", "paragraph", "sentence")
INJECTIONS = ("memory", "embedding", "layers")
DECODER_CONTEXTS = ("paragraph", "sentence", "document")
DECODER_PACKINGS = ("mask", "position_ids")
POSTERIORS = ("plain", "residual")

# Every level into every decoder layer (gates closed at initialisation): the injection that the latent-use
# ablation found best (docs/findings.md#layer-injection); input-only paths are weaker.
DEFAULT_INJECTION = {"document": ["layers"], "paragraph": ["layers"], "sentence": ["layers"]}
# The defaults are the best recipe measured so far (recipes/configs/base.yaml states the same).
DEFAULT_MEAN_NORM = {"document": 1.0, "paragraph": 0.2, "sentence": 0.1}


def default_decoder_config(vocab_size: int, hidden_size: int = 256, num_layers: int = 4, num_heads: int = 4) -> dict:
    """A GPT-2 decoder config dict; the built-in decoder of every preset."""
    return {
        "model_type": "gpt2",
        "vocab_size": vocab_size,
        "n_embd": hidden_size,
        "n_layer": num_layers,
        "n_head": num_heads,
        "n_positions": 1024,
        "resid_pdrop": 0.1,
        "embd_pdrop": 0.1,
        "attn_pdrop": 0.1,
    }


def default_encoder_config(vocab_size: int, hidden_size: int = 256, num_layers: int = 2, num_heads: int = 4) -> dict:
    """A BERT encoder config dict: the bidirectional sentence encoder (half the decoder's depth)."""
    return {
        "model_type": "bert",
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "intermediate_size": 4 * hidden_size,
        "max_position_embeddings": 512,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
    }


class DocHVAEConfig(PreTrainedConfig):
    r"""Configuration of a [`DocHVAE`]: which latent levels exist and how they reach the decoder.

    Args:
        levels (`list[str]`, defaults to `["document", "paragraph", "sentence"]`):
            The latent levels, top-down: any ordered subset of ("document", "paragraph",
            "sentence"). `[]` is the flat language model baseline (same decoder, no latents),
            `["sentence"]` an Optimus-style sentence VAE, `["document", "sentence"]` a
            VHCR-style two-level model.
        latent_size (`int | dict[str, int]`, defaults to 32):
            Dimensions of each level's latent, one value for all levels or one per level.
        latent_injection (`dict[str, list[str]]`, defaults to "layers" for every level):
            How each level enters the decoder, any of: "memory" (projected to prefix positions
            every token of the stream attends to), "embedding" (projected and added to the input
            embedding of the tokens it covers), "layers" (projected, once per decoder layer, and
            added to the residual stream at that layer's input for the tokens it covers, through
            a scalar gate per layer and level that starts at zero, so the decoder starts as a flat
            LM). Sentence memory needs
            `decoder_context="sentence"` (a paragraph stream spans several sentences).
        memory_tokens (`int`, defaults to 1):
            Prefix positions per memory-injected level.
        decoder_context (`str`, defaults to `"sentence"`):
            "paragraph": one decoder stream per paragraph; "sentence": one per sentence, so that
            everything crossing sentences must flow through the latents (the better LM too on the
            quickstart and Gutenberg: docs/findings.md#sentence-streams). Cross-paragraph
            information always flows through the latents only. "document": one stream per
            document (window), for the flat LM only: the baseline that reads the whole preceding
            text instead of latents.
        decoder_packing (`str`, defaults to `"mask"`):
            How the decoder keeps the streams packed in one row apart. "mask": a dense 4-D block
            mask (works with any decoder, but keeps flash-attention kernels out); "position_ids":
            no mask, only the positions that restart at 0 in every stream, from which transformers
            finds the streams (varlen flash-attention kernels, or the same block mask for
            SDPA / eager), for decoders built on transformers' masking utilities (GPT-2, Llama
            and most current causal LMs; the packing test tells).
        posterior (`str`, defaults to `"plain"`):
            "plain": q is a Gaussian from the encoder and the sampled parent; "residual": q is
            the prior shifted and rescaled by the encoder (NVAE's residual normal).
        decoder (`dict`, *optional*):
            A transformers causal-LM config as a dict (with `model_type`); defaults to a 4-layer,
            256-wide GPT-2. `DocHVAE.from_pretrained_parts` fills it from a checkpoint.
        encoder (`dict`, *optional*):
            A transformers encoder config as a dict (the sentence encoder); defaults to a
            2-layer BERT as wide as the decoder. Unused (and not built) without latent levels.
        context_layers (`int`, defaults to 1):
            Transformer layers of the paragraph encoder (over sentence features) and of the
            document encoder (over paragraph features).
        prior_layers (`int`, defaults to 1):
            Causal transformer layers of each conditional prior and of the stop head.
        context_size (`int`, *optional*):
            Width of the context encoders, priors and stop head; defaults to the encoder width.
        max_siblings (`int`, defaults to 64):
            Position embeddings of paragraphs in a document and sentences in a paragraph (later
            positions share the last embedding).
        vocab_size (`int`, defaults to 8000): size of the token vocabulary (`len(tokenizer)`).
        pad_token_id, bos_token_id, sentence_end_token_id, paragraph_end_token_id, unk_token_id (`int`):
            Special token ids (see `doc_hvae.data.tokenizer`).
        encoder_vocab_size (`int`, *optional*):
            Set when the sentence encoder has its own tokenizer (a BERT encoder over a GPT-2
            decoder): its vocabulary size. None (the default) = encoder and decoder share the
            decoder's tokenizer, and the encoder reads the decoder's ids.
        encoder_pad_token_id, encoder_start_token_id, encoder_end_token_id (`int`, *optional*):
            With `encoder_vocab_size`: the encoder tokenizer's padding id and the ids around each
            sentence (BERT: [PAD], [CLS], [SEP]).
        word_dropout (`float`, defaults to 0.0):
            Probability of replacing a decoder input token by `<unk>` during training.
        sentence_drop (`float`, defaults to 0.0):
            Probability of zeroing a sentence's feature before the paragraph encoder (training).
        paragraph_drop (`float`, defaults to 0.0):
            Probability of zeroing a paragraph's feature before the document encoder (training).
        decoder_latent_drop (`dict[str, float]`, defaults to `{}`):
            Per level, the probability that a unit's latent is hidden from the decoder during
            training (zeroed at the decoder's input, which injects nothing; the KL, priors and stop
            head keep it). Hiding sentence latents makes the decoder predict those sentences from
            the levels above, so they must carry what a sentence latent would have given.
            Hiding the document latent is condition dropout: the decoder learns the unconditional
            branch that latent guidance (`SamplingConfig.guidance`) contrasts with.
        decoder_latent_null (`str`, defaults to `"zero"`):
            What the decoder receives in place of a latent hidden by `decoder_latent_drop`:
            "zero" (nothing is injected) or "learned" (a trained vector per level, the null that
            guided decoding uses with `guidance_null="learned"`).
        decoder_latent_prior_draw (`dict[str, float]`, defaults to `{}`):
            Per level below the document, the share of documents whose decoder reads, during
            training, a draw from the level's prior (given the posterior parents and earlier
            siblings) in place of the posterior sample, for every unit of the level. One draw per
            document decides for all levels: a document drawn at p = 0.25 is drawn at every level
            with p >= 0.25. Generation in a reference's style reads prior draws below z_doc; this
            trains the decoder on them, so it learns to take the style from z_doc when the lower
            latents do not carry it. The KL is unchanged; the priors also learn from the
            reconstruction, through their draws.
        bow_levels (`list[str]`, defaults to `[]`):
            Levels with a bag-of-words head (the level's latent predicts, order-free, the tokens
            it covers). The loss weights are the objective's (`objective.bow_loss_weight`); a
            training config that weights a level gives it a head. (Saved configs of older versions
            carry `bow_loss_weight`; its levels become `bow_levels`.)
        layer_projection_std (`float`, *optional*):
            Std of the initial weights of the per-layer ("layers") projections; defaults to
            `initializer_range`. With closed gates this does not change the initial decoder; it
            sets how much one gate step injects (a gate of 1 adds about std x sqrt(latent dims) x
            |z| per hidden dimension). 0 starts the projections at zero.
        layer_gate_init (`float`, defaults to 0.0):
            Initial value of every per-layer gate. 0 (closed) starts the decoder as the flat LM;
            a nonzero value with `layer_projection_std=0` is the ungated injection (zero-initialised
            projections, which then learn from the first step).
        posterior_log_scale_init (`float`, defaults to -2.0):
            Initial log standard deviation of every posterior: the bias of its log-scale output,
            before the soft clamp (so the std starts at exp(log_scale_bound * tanh(init / bound))).
            Below 0, early samples are dominated by the input-dependent mean rather than by
            noise, so the decoder has a signal to learn to use before it learns to ignore z.
        posterior_mean_norm (`dict[str, float]`, defaults to `{"document": 1.0, "paragraph": 0.2, "sentence": 0.1}`):
            Per level, the fixed scale gamma of BN-VAE's batch normalisation of posterior means
            (Zhu et al. 2020): the means of a level's units keep spread gamma across inputs, so
            the level cannot collapse. Absent or 0 = off; `{}` switches it off everywhere. The
            default is graded by level: wide at the document level, narrow below, so a level with
            little to carry pays a small KL floor (docs/findings.md#graded-bn-vae).
        mean_bound, log_scale_bound (`float`, defaults to 8.0 and 4.0):
            Soft-clamp bounds of every Gaussian's mean and log-scale.
        initializer_range (`float`, defaults to 0.02): std of the normal initialiser.
    """

    model_type = "doc_hvae"

    def __init__(
        self,
        levels: list[str] | tuple[str, ...] = LEVELS,
        latent_size: int | dict[str, int] = 32,
        latent_injection: dict[str, list[str]] | None = None,
        memory_tokens: int = 1,
        decoder_context: str = "sentence",
        decoder_packing: str = "mask",
        posterior: str = "plain",
        decoder: dict | None = None,
        encoder: dict | None = None,
        context_layers: int = 1,
        prior_layers: int = 1,
        context_size: int | None = None,
        max_siblings: int = 64,
        vocab_size: int = 8000,
        pad_token_id: int = 0,
        bos_token_id: int = 1,
        sentence_end_token_id: int = 2,
        unk_token_id: int = 3,
        paragraph_end_token_id: int = 4,
        encoder_vocab_size: int | None = None,
        encoder_pad_token_id: int | None = None,
        encoder_start_token_id: int | None = None,
        encoder_end_token_id: int | None = None,
        word_dropout: float = 0.0,
        sentence_drop: float = 0.0,
        paragraph_drop: float = 0.0,
        decoder_latent_drop: dict[str, float] | None = None,
        decoder_latent_null: str = "zero",
        decoder_latent_prior_draw: dict[str, float] | None = None,
        bow_levels: list[str] | None = None,
        layer_projection_std: float | None = None,
        layer_gate_init: float = 0.0,
        posterior_log_scale_init: float = -2.0,
        posterior_mean_norm: dict[str, float] | None = None,
        mean_bound: float = 8.0,
        log_scale_bound: float = 4.0,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        self._set_latents(levels, latent_size, latent_injection, memory_tokens)
        self._set_decoder_streams(decoder_context, decoder_packing)
        self.posterior = posterior
        self.decoder, self.encoder = _decoder_and_encoder_dicts(decoder, encoder, vocab_size)
        self._set_context_network(context_layers, prior_layers, context_size, max_siblings)
        self._set_token_ids(vocab_size, sentence_end_token_id, paragraph_end_token_id, unk_token_id)
        self._set_encoder_tokenizer(
            encoder_vocab_size, encoder_pad_token_id, encoder_start_token_id, encoder_end_token_id
        )
        self._set_dropout(word_dropout, sentence_drop, paragraph_drop, decoder_latent_drop, decoder_latent_null)
        self.decoder_latent_prior_draw = dict(decoder_latent_prior_draw or {})
        self.bow_levels = _bow_levels(bow_levels, legacy_weights=kwargs.pop("bow_loss_weight", None))
        self._set_initialisation(layer_projection_std, layer_gate_init, posterior_log_scale_init)
        self._set_gaussian_bounds(posterior_mean_norm, mean_bound, log_scale_bound)
        self.initializer_range = initializer_range
        kwargs.pop("eos_token_id", None)  # always the end-of-sentence token (saved configs carry it back)
        self._share_special_ids(pad_token_id, bos_token_id, sentence_end_token_id)
        super().__init__(
            pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=sentence_end_token_id, **kwargs
        )
        self.validate()

    # The attribute groups of __init__, in the order of its arguments.
    def _set_latents(
        self,
        levels: list[str] | tuple[str, ...],
        latent_size: int | dict[str, int],
        latent_injection: dict[str, list[str]] | None,
        memory_tokens: int,
    ) -> None:
        """The latent levels, their sizes and how they reach the decoder."""
        self.levels = list(levels)
        self.latent_size = copy.deepcopy(latent_size)
        self.latent_injection = copy.deepcopy(latent_injection if latent_injection is not None else DEFAULT_INJECTION)
        self.memory_tokens = memory_tokens

    def _set_decoder_streams(self, decoder_context: str, decoder_packing: str) -> None:
        """What one decoder stream spans, and how the streams packed in one row are kept apart."""
        self.decoder_context = decoder_context
        self.decoder_packing = decoder_packing

    def _set_context_network(
        self, context_layers: int, prior_layers: int, context_size: int | None, max_siblings: int
    ) -> None:
        """The paragraph and document encoders, the priors and the stop head."""
        self.context_layers = context_layers
        self.prior_layers = prior_layers
        self.context_size = context_size
        self.max_siblings = max_siblings

    def _set_token_ids(
        self, vocab_size: int, sentence_end_token_id: int, paragraph_end_token_id: int, unk_token_id: int
    ) -> None:
        """The tokenizer's size and the special ids that PreTrainedConfig does not hold."""
        self.vocab_size = vocab_size
        self.sentence_end_token_id = sentence_end_token_id
        self.paragraph_end_token_id = paragraph_end_token_id
        self.unk_token_id = unk_token_id

    def _set_encoder_tokenizer(
        self,
        encoder_vocab_size: int | None,
        encoder_pad_token_id: int | None,
        encoder_start_token_id: int | None,
        encoder_end_token_id: int | None,
    ) -> None:
        """The sentence encoder's own tokenizer, when it has one (all None when it shares the decoder's)."""
        self.encoder_vocab_size = encoder_vocab_size
        self.encoder_pad_token_id = encoder_pad_token_id
        self.encoder_start_token_id = encoder_start_token_id
        self.encoder_end_token_id = encoder_end_token_id

    def _set_dropout(
        self,
        word_dropout: float,
        sentence_drop: float,
        paragraph_drop: float,
        decoder_latent_drop: dict[str, float] | None,
        decoder_latent_null: str,
    ) -> None:
        """What training hides: input tokens, encoder features, and latents from the decoder."""
        self.word_dropout = word_dropout
        self.sentence_drop = sentence_drop
        self.paragraph_drop = paragraph_drop
        self.decoder_latent_drop = dict(decoder_latent_drop or {})
        self.decoder_latent_null = decoder_latent_null

    def _set_initialisation(
        self, layer_projection_std: float | None, layer_gate_init: float, posterior_log_scale_init: float
    ) -> None:
        """Initial per-layer projections and gates, and the initial posterior scales."""
        self.layer_projection_std = layer_projection_std
        self.layer_gate_init = layer_gate_init
        self.posterior_log_scale_init = posterior_log_scale_init

    def _set_gaussian_bounds(
        self, posterior_mean_norm: dict[str, float] | None, mean_bound: float, log_scale_bound: float
    ) -> None:
        """What holds the Gaussians: BN-VAE's spread of posterior means, and the soft clamps."""
        self.posterior_mean_norm = dict(posterior_mean_norm if posterior_mean_norm is not None else DEFAULT_MEAN_NORM)
        self.mean_bound = mean_bound
        self.log_scale_bound = log_scale_bound

    def _share_special_ids(self, pad_token_id: int, bos_token_id: int, sentence_end_token_id: int) -> None:
        """Give the sub-configs the special ids.

        The decoder must agree on the special ids (GPT-2 configs default to 50256), and so must the
        encoder, with its own tokenizer's ids when it has one.
        """
        if isinstance(self.decoder, dict):
            self.decoder.update(
                pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=sentence_end_token_id
            )
        if isinstance(self.encoder, dict):
            if self.encoder_vocab_size is None:
                self.encoder.update(
                    pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=sentence_end_token_id
                )
            else:
                self.encoder.update(pad_token_id=self.encoder_pad_token_id)

    # ------------------------------------------------------------------ derived
    def latent_dim(self, level: str) -> int:
        return self.latent_size[level] if isinstance(self.latent_size, dict) else self.latent_size

    def parent_level(self, level: str) -> str | None:
        """The nearest present level above `level` (its latent conditions this one)."""
        above = [name for name in self.levels if LEVELS.index(name) < LEVELS.index(level)]
        return above[-1] if above else None

    @property
    def memory_levels(self) -> list[str]:
        return [level for level in self.levels if "memory" in self.latent_injection.get(level, [])]

    @property
    def embedding_levels(self) -> list[str]:
        return [level for level in self.levels if "embedding" in self.latent_injection.get(level, [])]

    @property
    def layer_levels(self) -> list[str]:
        return [level for level in self.levels if "layers" in self.latent_injection.get(level, [])]

    @property
    def position_levels(self) -> list[str]:
        """Levels that reach the decoder per position (embedding or layers), as opposed to the memory prefix."""
        return [level for level in self.levels if level in self.embedding_levels or level in self.layer_levels]

    @property
    def num_memory_slots(self) -> int:
        return len(self.memory_levels) * self.memory_tokens

    def decoder_config(self) -> PreTrainedConfig:
        """The decoder's transformers config, parsed from `self.decoder` (the one place it is)."""
        return _sub_config(self.decoder)

    def encoder_config(self) -> PreTrainedConfig:
        """The sentence encoder's transformers config, parsed from `self.encoder`."""
        return _sub_config(self.encoder)

    @property
    def hidden_size(self) -> int:
        """Width of the decoder (the latent projections' output)."""
        return self.decoder_config().hidden_size

    @property
    def own_encoder_tokenizer(self) -> bool:
        """Whether the sentence encoder reads its own tokenizer's ids (`encoder_paragraphs` in the rows)."""
        return self.encoder_vocab_size is not None

    @property
    def encoder_token_count(self) -> int:
        """Rows of the sentence encoder's token embeddings."""
        return self.encoder_vocab_size if self.own_encoder_tokenizer else self.vocab_size

    @property
    def encoder_size(self) -> int:
        return self.encoder_config().hidden_size

    @property
    def context_width(self) -> int:
        return self.context_size or self.encoder_size

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Reject invalid values with a message naming the field, the value and what is allowed."""
        problems = [
            *self._level_problems(),
            *self._injection_problems(),
            *self._choice_problems(),
            *self._number_problems(),
            *self._per_level_option_problems(),
            *self._sub_config_problems(),
        ]
        if problems:
            raise ValueError("invalid DocHVAEConfig:\n" + "\n".join(f"  - {p}" for p in problems))

    def _level_problems(self) -> list[str]:
        """The levels, and a latent size for each."""
        problems = []
        unknown = [level for level in self.levels if level not in LEVELS]
        if unknown:
            problems.append(f"levels={self.levels}: unknown level(s) {unknown}; allowed: {list(LEVELS)}")
        elif [LEVELS.index(level) for level in self.levels] != sorted({LEVELS.index(level) for level in self.levels}):
            problems.append(f"levels={self.levels}: list each level once, top-down (document, paragraph, sentence)")
        if isinstance(self.latent_size, dict):
            missing = [level for level in self.levels if level not in self.latent_size]
            extra = [level for level in self.latent_size if level not in LEVELS]
            if missing or extra:
                problems.append(
                    f"latent_size={self.latent_size}: give a size for each level in {self.levels} (missing {missing}, unknown {extra})"
                )
        sizes = self.latent_size.values() if isinstance(self.latent_size, dict) else [self.latent_size]
        if not all(isinstance(size, int) and size > 0 for size in sizes):
            problems.append(f"latent_size={self.latent_size}: sizes must be positive integers")
        return problems

    def _injection_problems(self) -> list[str]:
        """How each level reaches the decoder: known ways, and at least one per level."""
        problems = []
        for level, ways in self.latent_injection.items():
            if level not in LEVELS or not set(ways) <= set(INJECTIONS):
                problems.append(
                    f"latent_injection={self.latent_injection}: keys are levels {list(LEVELS)}, values lists of {list(INJECTIONS)}"
                )
                break
        for level in self.levels:
            if not self.latent_injection.get(level):
                problems.append(
                    f"latent_injection has no entry for level {level!r}: the decoder would ignore it; add e.g. {level}: [memory]"
                )
        return problems

    def _choice_problems(self) -> list[str]:
        """The decoder's streams and packing, and the posterior: one of the allowed names each."""
        problems = []
        if self.decoder_context not in DECODER_CONTEXTS:
            problems.append(f"decoder_context={self.decoder_context!r}; allowed: {list(DECODER_CONTEXTS)}")
        elif self.decoder_context == "document" and self.levels:
            problems.append(
                f"decoder_context='document' with levels={self.levels}: the document-context decoder is the flat-LM baseline "
                "(it reads the whole window, so latents have nothing to carry across paragraphs); use levels: [] or "
                "decoder_context='paragraph'"
            )
        elif "sentence" in self.memory_levels and self.decoder_context != "sentence":
            problems.append(
                "latent_injection.sentence includes 'memory' but decoder_context='paragraph': a paragraph stream spans "
                "several sentences; use 'embedding' for the sentence level or decoder_context='sentence'"
            )
        if self.decoder_packing not in DECODER_PACKINGS:
            problems.append(f"decoder_packing={self.decoder_packing!r}; allowed: {list(DECODER_PACKINGS)}")
        if self.posterior not in POSTERIORS:
            problems.append(f"posterior={self.posterior!r}; allowed: {list(POSTERIORS)}")
        return problems

    def _number_problems(self) -> list[str]:
        """Counts, dropout probabilities, initial scales and BN-VAE gammas inside their ranges."""
        problems = []
        for name in ("memory_tokens", "context_layers", "prior_layers", "max_siblings"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)!r}; use a positive integer")
        for name in ("word_dropout", "sentence_drop", "paragraph_drop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name}={getattr(self, name)!r}; use a probability in [0, 1)")
        if not -self.log_scale_bound < self.posterior_log_scale_init < self.log_scale_bound:
            problems.append(
                f"posterior_log_scale_init={self.posterior_log_scale_init}; use a value inside (-log_scale_bound, log_scale_bound) = (-{self.log_scale_bound}, {self.log_scale_bound})"
            )
        if self.layer_projection_std is not None and not self.layer_projection_std >= 0:
            problems.append(
                f"layer_projection_std={self.layer_projection_std!r}; use a std >= 0 (or leave it unset for initializer_range)"
            )
        bad_norm = {k: v for k, v in self.posterior_mean_norm.items() if k not in LEVELS or not 0 <= v <= 2}
        if bad_norm:
            problems.append(
                f"posterior_mean_norm={self.posterior_mean_norm}: keys are levels {list(LEVELS)}, values gammas in [0, 2] (0 = off)"
            )
        return problems

    def _per_level_option_problems(self) -> list[str]:
        """Options that name levels of the model: the latents hidden from the decoder, and the bag-of-words heads."""
        problems = []
        bad_drop = {k: v for k, v in self.decoder_latent_drop.items() if k not in self.levels or not 0 <= v < 1}
        if bad_drop:
            problems.append(
                f"decoder_latent_drop={self.decoder_latent_drop}: keys are levels of the model {self.levels}, values probabilities in [0, 1)"
            )
        below = [level for level in self.levels if level != "document"]
        bad_draw = {k: v for k, v in self.decoder_latent_prior_draw.items() if k not in below or not 0 <= v <= 1}
        if bad_draw:
            problems.append(
                f"decoder_latent_prior_draw={self.decoder_latent_prior_draw}: keys are levels of the model below the "
                f"document {below} (a prior draw of z_doc would say nothing of the document), values shares in [0, 1]"
            )
        if self.decoder_latent_null not in ("zero", "learned"):
            problems.append(f"decoder_latent_null={self.decoder_latent_null!r}; use 'zero' or 'learned'")
        elif self.decoder_latent_null == "learned" and not any(self.decoder_latent_drop.values()):
            problems.append(
                "decoder_latent_null='learned' learns nothing without decoder_latent_drop; give the levels to hide, "
                "e.g. decoder_latent_drop: {document: 0.1}"
            )
        if not set(self.bow_levels) <= set(self.levels):
            problems.append(f"bow_levels={self.bow_levels}: give levels of the model {self.levels}")
        return problems

    def _sub_config_problems(self) -> list[str]:
        """The decoder and encoder configs, and their agreement with the tokenizers."""
        problems = []
        for name, sub in (("decoder", self.decoder), ("encoder", self.encoder)):
            if not isinstance(sub, dict) or "model_type" not in sub:
                problems.append(
                    f"{name}={sub!r}: give a transformers config dict with a 'model_type' (e.g. gpt2 / bert)"
                )
        if isinstance(self.decoder, dict) and self.decoder.get("vocab_size", self.vocab_size) != self.vocab_size:
            problems.append(
                f"decoder.vocab_size={self.decoder.get('vocab_size')} differs from vocab_size={self.vocab_size}; they must match the tokenizer"
            )
        if (
            isinstance(self.encoder, dict)
            and self.encoder.get("vocab_size", self.encoder_token_count) != self.encoder_token_count
        ):
            problems.append(
                f"encoder.vocab_size={self.encoder.get('vocab_size')} differs from the encoder tokenizer's "
                f"{'encoder_vocab_size' if self.own_encoder_tokenizer else 'vocab_size'}={self.encoder_token_count}; they must match"
            )
        if self.own_encoder_tokenizer:
            unset = [
                name
                for name in ("encoder_pad_token_id", "encoder_start_token_id", "encoder_end_token_id")
                if getattr(self, name) is None
            ]
            if unset:
                problems.append(
                    f"encoder_vocab_size={self.encoder_vocab_size} (an encoder tokenizer of its own) needs {unset} too"
                )
        return problems


def _decoder_and_encoder_dicts(decoder: dict | None, encoder: dict | None, vocab_size: int) -> tuple[dict, dict]:
    """Copies of the given decoder and encoder configs, or the defaults: the encoder as wide as the decoder, half as deep."""
    decoder = copy.deepcopy(decoder) if decoder is not None else default_decoder_config(vocab_size)
    if encoder is not None:
        encoder = copy.deepcopy(encoder)
    elif isinstance(decoder, dict) and "model_type" in decoder:
        parsed = _sub_config(decoder)
        encoder = default_encoder_config(
            vocab_size, hidden_size=parsed.hidden_size, num_layers=max(1, parsed.num_hidden_layers // 2)
        )
    else:
        encoder = default_encoder_config(vocab_size)  # the decoder is invalid; validate() says so
    return decoder, encoder


def _bow_levels(bow_levels: list[str] | None, legacy_weights: dict[str, float] | None) -> list[str]:
    """The levels with a bag-of-words head: `bow_levels`, or for configs saved before the weights moved to
    the objective, the levels their `bow_loss_weight` weighted."""
    if bow_levels is not None:
        return list(bow_levels)
    return [level for level, weight in (legacy_weights or {}).items() if weight > 0]


def _sub_config(values: dict) -> PreTrainedConfig:
    """A transformers config from a dict with a model_type (a fresh object: models may change theirs)."""
    return AutoConfig.for_model(**values)
