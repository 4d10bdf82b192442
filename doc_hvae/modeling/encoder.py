"""Bottom-up features: sentences -> paragraphs -> document (README "How it works").

    sentence encoder   bidirectional transformers model over each sentence's tokens -> h_sen (mean-pooled)
    paragraph encoder  transformer over the h_sen of a paragraph -> contextual h_sen', pooled h_par
    document encoder   transformer over the h_par of a document  -> contextual h_par', pooled h_doc

Everything is vectorised over the flattened batch: sentences are packed into rows (one
block-diagonal attention mask), and sibling sequences are padded child lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModel

from ..config import DocHVAEConfig
from ..data.batching import DocBatch


@dataclass
class EncoderFeatures:
    """Contextual features per unit; None for what the model's levels do not need."""

    sentence: torch.Tensor | None  # [N_sen, H] h_sen'
    paragraph: torch.Tensor | None  # [N_par, H] h_par'
    document: torch.Tensor | None  # [B, H] h_doc


def block_attention_mask(segment: torch.Tensor, causal: bool, dtype: torch.dtype) -> torch.Tensor:
    """Additive [R, 1, C, C] mask letting each position attend only inside its own stream.

    `segment` is [R, C] with a stream id per position (-1 = padding). Padding positions attend
    to themselves so no softmax row is empty.
    """
    same = segment[:, :, None] == segment[:, None, :]  # [R, C, C]
    allowed = same & (segment[:, :, None] >= 0)
    if causal:
        allowed = allowed & torch.ones_like(allowed[0]).tril()
    allowed = allowed | torch.eye(segment.shape[1], dtype=torch.bool, device=segment.device)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=segment.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


def segment_mean(values: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Mean of `values` [R, C, H] over positions with the same segment id -> [num_segments, H]."""
    keep = segment >= 0
    flat_values, flat_segment = values[keep], segment[keep]
    total = values.new_zeros(num_segments, values.shape[-1]).index_add_(0, flat_segment, flat_values)
    count = torch.bincount(flat_segment, minlength=num_segments).clamp(min=1).to(values.dtype)
    return total / count[:, None]


class SiblingEncoder(nn.Module):
    """A small transformer over a padded list of sibling features (bidirectional or causal)."""

    def __init__(self, input_size: int, width: int, num_layers: int, max_siblings: int, causal: bool):
        super().__init__()
        self.causal = causal
        self.max_siblings = max_siblings
        self.input = nn.Linear(input_size, width) if input_size > 0 else None
        self.position = nn.Embedding(max_siblings, width)
        layer = nn.TransformerEncoderLayer(
            width, nhead=max(1, width // 64), dim_feedforward=4 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(width), enable_nested_tensor=False)

    def forward(self, inputs: torch.Tensor | None, mask: torch.Tensor) -> torch.Tensor:
        """inputs [G, L, input_size] (or None: positions only), mask [G, L] -> [G, L, width]."""
        positions = torch.arange(mask.shape[1], device=mask.device).clamp(max=self.max_siblings - 1)
        hidden = self.position(positions)[None].expand(mask.shape[0], -1, -1)
        if self.input is not None:
            hidden = hidden + self.input(inputs)
        causal_mask = (
            nn.Transformer.generate_square_subsequent_mask(mask.shape[1], device=mask.device) if self.causal else None
        )
        # Padding sits after the real siblings, so a causal model never sees it; a bidirectional one masks it.
        padding = None if self.causal else ~mask
        return self.layers(hidden, mask=causal_mask, src_key_padding_mask=padding, is_causal=self.causal)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[G, L, H] averaged over the positions where mask [G, L] is True -> [G, H]."""
    weights = mask.to(values.dtype)[..., None]
    return (values * weights).sum(1) / weights.sum(1).clamp(min=1)


def drop_units(features: torch.Tensor, probability: float, training: bool) -> torch.Tensor:
    """Zero whole units' rows at random (sentence / paragraph drop, latents hidden from the decoder)."""
    if not training or probability == 0.0:
        return features
    keep = torch.rand(features.shape[0], 1, device=features.device) >= probability
    return features * keep.to(features.dtype)


class HierarchicalEncoder(nn.Module):
    def __init__(self, config: DocHVAEConfig):
        super().__init__()
        self.config = config
        self.sentence_encoder = AutoModel.from_config(config.encoder_config())
        # An unused pooler would hold parameters without gradients, which DDP rejects.
        if getattr(self.sentence_encoder, "pooler", None) is not None:
            self.sentence_encoder.pooler = None
        width = config.context_width
        levels = set(config.levels)
        self.needs_document_encoder = bool(levels & {"document", "paragraph"})
        self.paragraph_encoder = SiblingEncoder(
            config.encoder_size, width, config.context_layers, config.max_siblings, causal=False
        )
        self.document_encoder = (
            SiblingEncoder(width, width, config.context_layers, config.max_siblings, causal=False)
            if self.needs_document_encoder
            else None
        )

    def forward(self, batch: DocBatch) -> EncoderFeatures:
        config = self.config
        # Sentences: one bidirectional pass over the packed rows, then mean-pool per sentence.
        dtype = next(self.sentence_encoder.parameters()).dtype
        hidden = self.sentence_encoder(
            input_ids=batch.encoder_input_ids,
            attention_mask=block_attention_mask(batch.encoder_segment, causal=False, dtype=dtype),
            position_ids=batch.encoder_position,
        ).last_hidden_state  # [R_enc, C_enc, H_enc]
        h_sentence = segment_mean(hidden, batch.encoder_segment, batch.num_sentences)  # [N_sen, H_enc]
        h_sentence = drop_units(h_sentence, config.sentence_drop, self.training)

        # Paragraphs: contextualise the sentences of each paragraph.
        grouped = h_sentence[batch.paragraph_sentences]  # [N_par, S_max, H_enc]
        mask = batch.paragraph_sentences_mask
        context = self.paragraph_encoder(grouped, mask)  # [N_par, S_max, W]
        sentence_features = context[mask]  # [N_sen, W]: row-major order is sentence-id order
        if self.document_encoder is None:
            return EncoderFeatures(sentence=sentence_features, paragraph=None, document=None)
        h_paragraph = drop_units(masked_mean(context, mask), config.paragraph_drop, self.training)  # [N_par, W]

        # Document: contextualise the paragraphs of each document.
        grouped = h_paragraph[batch.document_paragraphs]  # [B, P_max, W]
        mask = batch.document_paragraphs_mask
        context = self.document_encoder(grouped, mask)  # [B, P_max, W]
        return EncoderFeatures(sentence=sentence_features, paragraph=context[mask], document=masked_mean(context, mask))
