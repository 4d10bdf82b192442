"""The latent-conditioned decoder: any transformers causal LM, fed input embeddings (README "How it works").

Latents enter in three ways, each switchable per level:
    memory     z of a level -> `memory_tokens` vectors placed in the memory slots at the start of
               each stream (prefix embeddings every later token attends to);
    embedding  z of a level -> one vector added to the input embedding of every position that
               predicts a token of that unit (for sentences: of that sentence);
    layers     z of a level -> one vector per decoder layer, added to the residual stream at that
               layer's input for every position that predicts a token of that unit, through a
               scalar gate per layer and level that starts at zero.

Input-layer paths alone are weak: the decoder learns to route around a prefix, and a noisy
sample added to every input embedding costs the LM more than it brings. The `layers` path reaches
every layer directly, and its gates start at zero, so a decoder starts exactly as the flat LM it
is (or was warm-started from). Why a gate and not zero-initialised projections: a projection
matrix that reads a latent carrying nothing yet gets zero-mean gradients, and Adam turns them into
steps of about the learning rate for each of its entries, a random walk that adds a growing
per-document noise vector to the residual stream (measured on the quickstart: +9 PPL from z_doc
alone after 400 steps, none of it information). One scalar per layer and level random-walks far
less, and grows only where reading the latent pays.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModelForCausalLM

from ..config import DocHVAEConfig
from ..data.batching import IGNORE_INDEX, DocBatch
from .encoder import block_attention_mask


@dataclass
class TokenLosses:
    """Per predicted position: its NLL, target token and the sentence the target belongs to."""

    nll: torch.Tensor  # [T]
    target: torch.Tensor  # [T]
    sentence: torch.Tensor  # [T]


def unit_of_sentence(level: str, sentence: torch.Tensor, batch: DocBatch) -> torch.Tensor:
    """Map sentence ids to the ids of the unit of `level` that contains them."""
    if level == "sentence":
        return sentence
    paragraph = batch.sentence_paragraph[sentence]
    return paragraph if level == "paragraph" else batch.paragraph_document[paragraph]


def decoder_layers(lm: nn.Module) -> nn.ModuleList:
    """The list of transformer blocks of a transformers causal LM (GPT-2's `h`, Llama's `layers`, ...)."""
    base = lm.base_model
    for name in ("h", "layers", "block", "blocks"):
        layers = getattr(base, name, None)
        if isinstance(layers, nn.ModuleList) and len(layers) > 0:
            return layers
    raise ValueError(
        f"latent_injection 'layers' needs the decoder's list of blocks, but {type(base).__name__} has none of the attributes "
        "h / layers / block / blocks; use 'memory' or 'embedding' injection for this decoder"
    )


class LayerInjection(nn.Module):
    """Latents added, gated, to the residual stream at the input of every decoder layer.

    Forward pre-hooks on the decoder's blocks add `projections[l](gates[l] * latents)` to the
    hidden states entering block l, where `latents` [R, C, D] are the per-position latents of the
    forward call in progress (set with `feeding`): the concatenated z of every `layers` level, zero
    at positions that predict nothing (memory slots, padding), and `gates[l]` holds one scalar per
    level (zero at initialisation). The hooks work with packed rows and the KV cache alike, since
    they only see the positions of the current call.
    """

    def __init__(self, level_sizes: list[int], hidden_size: int, layers: nn.ModuleList):
        super().__init__()
        # No bias: a zero latent (memory slots, padding) adds nothing.
        self.projections = nn.ModuleList(nn.Linear(sum(level_sizes), hidden_size, bias=False) for _ in layers)
        self.gates = nn.Parameter(
            torch.zeros(len(layers), len(level_sizes))
        )  # the decoder starts exactly as without latents
        self.level_sizes = list(level_sizes)
        self._latents: torch.Tensor | None = None
        for index, layer in enumerate(layers):
            layer.register_forward_pre_hook(functools.partial(self._inject, index))

    def _inject(self, index: int, module: nn.Module, args: tuple):
        if self._latents is None:
            return None
        hidden = args[0]
        gate = torch.cat(
            [g.expand(size) for g, size in zip(self.gates[index], self.level_sizes)]
        )  # [D]: each level's gate over its dims
        gated = self._latents * gate.to(self._latents.dtype)
        return (hidden + self.projections[index](gated).to(hidden.dtype), *args[1:])

    def openings(self, levels: list[str]) -> dict[str, float]:
        """Per level, the mean |gate| over the decoder layers: how far the level's gates have opened."""
        return {level: float(self.gates[:, index].detach().abs().mean()) for index, level in enumerate(levels)}

    @contextlib.contextmanager
    def feeding(self, latents: torch.Tensor | None):
        """Inject `latents` [R, C, D] into every decoder call inside the block."""
        self._latents = latents
        try:
            yield
        finally:
            self._latents = None


class LatentDecoder(nn.Module):
    def __init__(self, config: DocHVAEConfig):
        super().__init__()
        self.config = config
        self.lm = AutoModelForCausalLM.from_config(config.decoder_config())
        hidden = config.hidden_size
        self.memory = nn.ModuleDict(
            {
                level: nn.Linear(config.latent_dim(level), config.memory_tokens * hidden)
                for level in config.memory_levels
            }
        )
        self.embedding = nn.ModuleDict(
            {level: nn.Linear(config.latent_dim(level), hidden) for level in config.embedding_levels}
        )
        level_sizes = [config.latent_dim(level) for level in config.layer_levels]
        self.layers = LayerInjection(level_sizes, hidden, decoder_layers(self.lm)) if config.layer_levels else None
        self.max_positions = getattr(self.lm.config, "max_position_embeddings", None) or getattr(
            self.lm.config, "n_positions", None
        )
        # What a latent hidden in training (decoder_latent_drop) becomes: a trained vector per level
        # with decoder_latent_null="learned" (the null of latent guidance), else zero (nothing injected).
        learned = config.decoder_latent_null == "learned"
        self.null_latents = nn.ParameterDict(
            {
                level: nn.Parameter(torch.zeros(config.latent_dim(level)))
                for level, p in config.decoder_latent_drop.items()
                if learned and p > 0
            }
        )

    def hide_units(self, level: str, z: torch.Tensor, probability: float) -> torch.Tensor:
        """Training: each unit's latent [U, D] replaced by the level's null with `probability`."""
        if not self.training or probability == 0.0:
            return z
        hidden = torch.rand(z.shape[0], 1, device=z.device) < probability
        null = self.null_latents[level].to(z.dtype) if level in self.null_latents else z.new_zeros(())
        return torch.where(hidden, null, z)

    # ------------------------------------------------------------------ pieces shared with generation
    def memory_vectors(self, latents: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """[S, m, H] memory of S streams, from each memory level's z already gathered per stream [S, D]."""
        if not self.config.memory_levels:
            return None
        parts = []
        for level in self.config.memory_levels:
            z = latents[level]
            parts.append(self.memory[level](z).view(z.shape[0], self.config.memory_tokens, -1))
        return torch.cat(parts, dim=1)

    def latent_embedding(self, latents: dict[str, torch.Tensor]) -> torch.Tensor | float:
        """Sum over embedding levels of the projected z, each already gathered per position [..., D]."""
        total = 0.0
        for level in self.config.embedding_levels:
            total = total + self.embedding[level](latents[level])
        return total

    def layer_latents(self, latents: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The input of the per-layer injection: the z of every `layers` level, gathered per position
        [..., D] and concatenated; None without such levels."""
        if self.layers is None:
            return None
        return torch.cat([latents[level] for level in self.config.layer_levels], dim=-1)

    def feeding_layers(self, layer_latents: torch.Tensor | None):
        """A context in which decoder calls get `layer_latents` through the per-layer injection."""
        return self.layers.feeding(layer_latents) if self.layers is not None else contextlib.nullcontext()

    def position_inputs(
        self, tokens: torch.Tensor, latents: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Generation: the inputs of one new position per stream, from its input tokens [A] and each
        position level's latents [A, D] (those of the sentence the next token belongs to): the input
        embedding [A, 1, H] and the per-layer latents [A, 1, D] (None without layer injection)."""
        embeds = self.lm.get_input_embeddings()(tokens) + self.latent_embedding(latents)
        layer = self.layer_latents(latents)
        return embeds[:, None], None if layer is None else layer[:, None]

    def step(
        self, inputs_embeds: torch.Tensor, position_ids: torch.Tensor, layer_latents: torch.Tensor | None, cache=None
    ) -> torch.Tensor:
        """One decoding call over new positions [A, L, H] (KV-cached when `cache` is given): the
        logits of the last position [A, V]. `layer_latents` [A, L, D] feed the per-layer injection."""
        with self.feeding_layers(layer_latents):
            output = self.lm(
                inputs_embeds=inputs_embeds, position_ids=position_ids, cache=cache, use_cache=cache is not None
            )
        return output.logits[:, -1]

    # ------------------------------------------------------------------ training / scoring
    def forward(self, batch: DocBatch, z: dict[str, torch.Tensor]) -> TokenLosses:
        """NLL of every predicted token of the batch, given each level's latents z [U_level, D]."""
        config = self.config
        ids, segment, position = batch.decoder_input_ids, batch.decoder_segment, batch.decoder_position
        if self.max_positions is not None and batch.longest_decoder_stream > self.max_positions:
            raise ValueError(
                f"a decoder stream has {batch.longest_decoder_stream} positions but the decoder allows {self.max_positions}; "
                "prepare the corpus with a lower limits.max_paragraph_tokens (or use decoder_context='sentence')"
            )
        m = batch.num_memory_slots
        if self.training and config.word_dropout > 0:
            # Only content and boundary inputs after <s> are dropped; <s> and memory slots stay.
            droppable = (position > m) & (segment >= 0)
            dropped = droppable & (torch.rand(ids.shape, device=ids.device) < config.word_dropout)
            ids = ids.masked_fill(dropped, config.unk_token_id)
        embeds = self.lm.get_input_embeddings()(ids)  # [R, C, H]

        if m:
            per_stream = {
                "document": z["document"][batch.stream_document] if "document" in z else None,
                "paragraph": z["paragraph"][batch.stream_paragraph]
                if "paragraph" in z
                else None,  # not with document context
                "sentence": z.get("sentence"),  # sentence memory implies one stream per sentence
            }
            memory = self.memory_vectors(per_stream)  # [S, m, H]
            is_memory = (position < m) & (segment >= 0)
            gathered = memory[segment.clamp(min=0), position.clamp(max=m - 1)]  # [R, C, H]
            embeds = torch.where(is_memory[..., None], gathered, embeds)

        layer_latents = None
        if config.position_levels:
            # Every position that predicts a token of sentence i gets z_sen[j, i], z_par[j], z_doc.
            sentence = batch.decoder_sentence
            has_target = (sentence >= 0)[..., None].to(embeds.dtype)  # memory slots and padding get nothing
            per_position = {
                level: z[level][unit_of_sentence(level, sentence.clamp(min=0), batch)]
                for level in config.position_levels
            }
            embeds = embeds + self.latent_embedding(per_position) * has_target
            if self.layers is not None:
                layer_latents = self.layer_latents(per_position) * has_target  # [R, C, D]

        # Streams packed in a row are kept apart by a block mask, or (decoder_packing="position_ids") by
        # their positions alone, each stream restarting at 0, which transformers turns into varlen attention.
        mask = (
            None
            if config.decoder_packing == "position_ids"
            else block_attention_mask(segment, causal=True, dtype=embeds.dtype)
        )
        with self.feeding_layers(layer_latents):
            hidden = self.lm.base_model(
                inputs_embeds=embeds, attention_mask=mask, position_ids=position, use_cache=False
            ).last_hidden_state  # [R, C, H]
        # Project only the positions that predict something: memory slots and padding cost no logits.
        predicts = batch.decoder_labels != IGNORE_INDEX
        logits = self.lm.get_output_embeddings()(hidden[predicts])  # [T, V]
        target = batch.decoder_labels[predicts]
        nll = F.cross_entropy(logits.float(), target, reduction="none")
        return TokenLosses(nll=nll, target=target, sentence=batch.decoder_sentence[predicts])
