"""The latent-conditioned decoder: any transformers causal LM, fed input embeddings (DESIGN section 3).

Latents enter in two ways:
    memory     z of a level -> `memory_tokens` vectors placed in the memory slots at the start of
               each stream (prefix embeddings every later token attends to);
    embedding  z of a level -> one vector added to the input embedding of every position that
               predicts a token of that unit (for sentences: of that sentence).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM

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


class LatentDecoder(nn.Module):
    def __init__(self, config: DocHVAEConfig):
        super().__init__()
        self.config = config
        self.lm = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config.decoder))
        hidden = config.hidden_size
        self.memory = nn.ModuleDict(
            {level: nn.Linear(config.latent_dim(level), config.memory_tokens * hidden) for level in config.memory_levels}
        )
        self.embedding = nn.ModuleDict({level: nn.Linear(config.latent_dim(level), hidden) for level in config.embedding_levels})
        self.max_positions = getattr(self.lm.config, "max_position_embeddings", None) or getattr(self.lm.config, "n_positions", None)

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
            stream_paragraph = batch.stream_paragraph
            per_stream = {
                "document": z.get("document")[batch.paragraph_document[stream_paragraph]] if "document" in z else None,
                "paragraph": z.get("paragraph")[stream_paragraph] if "paragraph" in z else None,
                "sentence": z.get("sentence"),  # sentence memory implies one stream per sentence
            }
            memory = self.memory_vectors(per_stream)  # [S, m, H]
            is_memory = (position < m) & (segment >= 0)
            gathered = memory[segment.clamp(min=0), position.clamp(max=m - 1)]  # [R, C, H]
            embeds = torch.where(is_memory[..., None], gathered, embeds)

        if config.embedding_levels:
            sentence = batch.decoder_sentence
            has_target = sentence >= 0
            per_position = {level: z[level][unit_of_sentence(level, sentence.clamp(min=0), batch)] for level in config.embedding_levels}
            embeds = embeds + self.latent_embedding(per_position) * has_target[..., None].to(embeds.dtype)

        hidden = self.lm.base_model(
            inputs_embeds=embeds,
            attention_mask=block_attention_mask(segment, causal=True, dtype=embeds.dtype),
            position_ids=position,
        ).last_hidden_state  # [R, C, H]
        # Project only the positions that predict something: memory slots and padding cost no logits.
        predicts = batch.decoder_labels != IGNORE_INDEX
        logits = self.lm.get_output_embeddings()(hidden[predicts])  # [T, V]
        target = batch.decoder_labels[predicts]
        nll = F.cross_entropy(logits.float(), target, reduction="none")
        return TokenLosses(nll=nll, target=target, sentence=batch.decoder_sentence[predicts])
