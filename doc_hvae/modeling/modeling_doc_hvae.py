"""DocHVAE: document, paragraph and sentence latents over an autoregressive transformer decoder.

The generative story (README "How it works"), for a document with paragraphs j and sentences i:

    z_doc          ~ N(0, I)
    z_par[j]       ~ p(z_par[j] | z_doc, z_par[<j])            causal over paragraphs
    stop[j]        ~ p(stop | z_doc, z_par[<=j])                is j the last paragraph?
    z_sen[j, i]    ~ p(z_sen[j, i] | z_par[j], z_sen[j, <i])    causal over sentences
    tokens of j    ~ p(w | w_<t, z_doc, z_par[j], z_sen[j, i(t)])

Any top-down subset of the levels is a config; with none it is a flat LM over paragraph streams
(plus the stop head), the baseline every result is compared against. `forward` returns the
terms of the ELBO kept apart; the objective (KL schedules, free bits) lives in `objectives.py`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ..config import DocHVAEConfig
from ..data.batching import DocBatch
from .decoder import LatentDecoder, LayerInjection, TokenLosses, unit_of_sentence
from .distributions import DiagonalGaussian
from .encoder import EncoderFeatures, HierarchicalEncoder
from .latents import LatentLevel, LevelOutput, StopHead


@dataclass
class DocHVAEOutput(ModelOutput):
    """The terms of the ELBO for a batch, kept apart, with the counts needed to normalise them.

    Sums are over the batch (nats). `loss` is the plain negative ELBO per token (beta = 1, no free
    bits, no auxiliary loss): a convenience; training builds its own loss from the parts.
    """

    loss: torch.Tensor | None = None
    recon_nll: torch.Tensor | None = None  # sum over predicted tokens
    stop_nll: torch.Tensor | None = None  # sum over paragraphs
    kl: dict[str, torch.Tensor] | None = None  # per level: [units, latent dims], analytic KL(q || p)
    bow_nll: dict[str, torch.Tensor] | None = None  # per level with a bag-of-words head: sum over content tokens
    document_recon_nll: torch.Tensor | None = None  # [B]
    document_stop_nll: torch.Tensor | None = None  # [B]
    num_tokens: int | None = None
    num_sentences: int | None = None
    num_paragraphs: int | None = None
    num_documents: int | None = None
    latents: dict[str, LevelOutput] | None = None


def in_eval_mode(function):
    """Run `function(model, ...)` with the model in eval mode, then restore the mode it had."""

    @functools.wraps(function)
    def wrapper(model, *args, **kwargs):
        was_training = model.training
        model.eval()
        try:
            return function(model, *args, **kwargs)
        finally:
            model.train(was_training)

    return wrapper


class DocHVAEPreTrainedModel(PreTrainedModel):
    config_class = DocHVAEConfig
    base_model_prefix = "doc_hvae"
    main_input_name = "batch"
    supports_gradient_checkpointing = True  # the decoder's and the sentence encoder's blocks (transformers layers)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        # Prior heads start at zero so every conditional prior starts as N(0, I) (VDVAE, NVAE).
        if getattr(module, "_zero_init", False):
            init.zeros_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        if getattr(module, "_fan_in_init", False):
            init.normal_(module.weight, mean=0.0, std=module.weight.shape[1] ** -0.5)
        if isinstance(module, LatentDecoder):
            for null in module.null_latents.values():
                init.zeros_(null)  # a learned null starts as the zero null
        if isinstance(module, LayerInjection):
            init.constant_(
                module.gates, self.config.layer_gate_init
            )  # 0 by default: the decoder starts as the flat LM it is
            if (
                self.config.layer_projection_std is not None
            ):  # else they keep the initializer_range normal of every Linear
                for projection in module.projections:
                    init.normal_(projection.weight, mean=0.0, std=self.config.layer_projection_std)
        # Posterior heads output [mean, log_scale]: the log-scale half of the bias sets the initial std.
        if getattr(module, "_log_scale_init", 0.0):
            init.constant_(module.bias[module.bias.shape[0] // 2 :], module._log_scale_init)


class DocHVAE(DocHVAEPreTrainedModel):
    def __init__(self, config: DocHVAEConfig):
        super().__init__(config)
        self.encoder = HierarchicalEncoder(config) if config.levels else None
        # Every level's posterior reads a contextual encoder feature of width context_width.
        self.latent_levels = nn.ModuleDict(
            {level: LatentLevel(config, level, config.context_width) for level in config.levels}
        )
        self.stop_head = StopHead(config)
        self.decoder = LatentDecoder(config)
        self.bow_heads = nn.ModuleDict(
            {level: nn.Linear(config.latent_dim(level), config.vocab_size) for level in config.bow_levels}
        )
        # Not a parameter: a density over z_doc fitted after training, for prior samples
        # (doc_hvae.document_prior); load_model reads it from the folder where one was saved.
        self.fitted_document_prior = None
        self.post_init()

    def post_init(self):
        super().post_init()
        # transformers collects tied weights (GPT-2's lm_head = wte) from direct sub-models only;
        # ours sit deeper (decoder.lm), and without this from_pretrained would leave lm_head random.
        for name, module in self.named_modules():
            if name and isinstance(module, PreTrainedModel) and "." in name:
                self.all_tied_weights_keys.update(
                    {f"{name}.{k}": f"{name}.{v}" for k, v in module.all_tied_weights_keys.items()}
                )

    # ------------------------------------------------------------------ generation steps (one unit at a time)
    def prior_step(
        self, level: str, history: torch.Tensor, position: torch.Tensor, parent_z: torch.Tensor | None
    ) -> DiagonalGaussian:
        """p(z_k | parent, z_<k) of `level` at k = position[g] for G groups, from the latents drawn so far,
        history [G, L, D], and the groups' parent latents [G, Dp] (None at the top)."""
        return self.latent_levels[level].prior_step(history, position, parent_z)

    def stop_probability(self, latents: dict[str, torch.Tensor], groups: int, count: int) -> torch.Tensor:
        """[G] P(paragraph `count` - 1 is the last) for G documents whose first `count` paragraphs are
        drawn, from z_doc [G, D] and paragraph latents [G, >= count, D] (those the stop head reads)."""
        return self.stop_head.last_probability(latents, groups, count)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        batch: DocBatch,
        latent_mode: str = "sample",
        prior_levels: tuple[str, ...] = (),
        temperature: float = 1.0,
        return_latents: bool = False,
        encoder_features: EncoderFeatures | None = None,
    ) -> DocHVAEOutput:
        """Score a batch: posterior samples top-down, then the stop head and the decoder.

        Args:
            latent_mode: "sample" (reparameterised posterior samples) or "mean" (posterior means).
            prior_levels: levels whose latents are drawn from their prior instead (parents still
                from the posterior); used by the level-use metric.
            temperature: scales the std of every latent sample.
            encoder_features: precomputed `self.encoder(batch)`, to score several samples of one
                batch with a single encoder pass.
        """
        self._check_forward_request(batch, latent_mode, prior_levels)

        latents: dict[str, LevelOutput] = {}
        if self.config.levels:
            features = encoder_features if encoder_features is not None else self.encoder(batch)
            latents = self.infer_latents(batch, features, latent_mode, prior_levels, temperature)
        z = {level: out.z for level, out in latents.items()}

        stop_nll = self._stop_nll(batch, z)
        tokens = self.decoder(batch, self._decoder_latents(batch, latents))
        token_document = batch.sentence_document[tokens.sentence]
        document_recon_nll = tokens.nll.new_zeros(batch.num_documents).index_add(0, token_document, tokens.nll)
        document_stop_nll = stop_nll.new_zeros(batch.num_documents).index_add(0, batch.paragraph_document, stop_nll)

        bow_nll = self._bag_of_words_nll(batch, z, tokens)

        kl = {level: out.kl for level, out in latents.items()}
        recon_nll, stop_total = tokens.nll.sum(), stop_nll.sum()
        total_kl = sum((k.sum() for k in kl.values()), recon_nll.new_zeros(()))
        return DocHVAEOutput(
            loss=(recon_nll + stop_total + total_kl) / max(batch.num_tokens, 1),
            recon_nll=recon_nll,
            stop_nll=stop_total,
            kl=kl,
            bow_nll=bow_nll,
            document_recon_nll=document_recon_nll,
            document_stop_nll=document_stop_nll,
            num_tokens=batch.num_tokens,
            num_sentences=batch.num_sentences,
            num_paragraphs=batch.num_paragraphs,
            num_documents=batch.num_documents,
            latents=latents if return_latents else None,
        )

    def _stop_nll(self, batch: DocBatch, z: dict[str, torch.Tensor]) -> torch.Tensor:
        """[P] the stop head's NLL of every paragraph: is paragraph j the last one of its document?"""
        stop_logits = self.stop_head(z, batch.paragraph_document, batch.siblings("paragraph"))
        return F.binary_cross_entropy_with_logits(
            stop_logits.float(), batch.is_last_paragraph.float(), reduction="none"
        )

    def _decoder_latents(self, batch: DocBatch, latents: dict[str, LevelOutput]) -> dict[str, torch.Tensor]:
        """The latents the decoder reads. In training, per level: a prior draw for the documents picked by
        `decoder_latent_prior_draw`, then units hidden by `decoder_latent_drop`."""
        shares = self.config.decoder_latent_prior_draw if self.training else {}
        picked = torch.rand(batch.num_documents, device=self.device) if any(shares.values()) else None
        z = {}
        for level, out in latents.items():
            value = out.z
            if shares.get(level, 0.0) > 0:
                # Generation in a reference's style reads prior draws below z_doc: train the decoder on them.
                drawn = (picked < shares[level])[batch.unit_document(level)]
                value = torch.where(drawn[:, None], out.prior.rsample(), value)
            # Latents hidden from the decoder must be made up for by the levels above.
            z[level] = self.decoder.hide_units(level, value, self.config.decoder_latent_drop.get(level, 0.0))
        return z

    def _check_forward_request(self, batch: DocBatch, latent_mode: str, prior_levels: tuple[str, ...]) -> None:
        """Reject prior levels the model lacks, an unknown latent mode, and a batch collated for another model."""
        unknown = [level for level in prior_levels if level not in self.config.levels]
        if unknown:
            raise ValueError(
                f"prior_levels={list(prior_levels)}: the model has no level(s) {unknown}; its levels are {self.config.levels}"
            )
        if latent_mode not in ("sample", "mean"):
            raise ValueError(f"latent_mode={latent_mode!r}; use 'sample' or 'mean'")
        config = self.config
        if (batch.num_memory_slots, batch.decoder_context) != (config.num_memory_slots, config.decoder_context) or (
            config.levels and batch.encoder_input_ids.numel() == 0
        ):
            raise ValueError(
                f"the batch was collated for another model (memory slots {batch.num_memory_slots}, context {batch.decoder_context!r}, "
                f"encoder rows {batch.encoder_input_ids.numel() > 0}); collate with DocCollator.for_model(model.config)"
            )

    def _bag_of_words_nll(
        self, batch: DocBatch, z: dict[str, torch.Tensor], tokens: TokenLosses
    ) -> dict[str, torch.Tensor]:
        """Per level with a bag-of-words head: the summed NLL of the content tokens of each unit under its latent's head."""
        bow_nll = {}
        is_content = (tokens.target != self.config.sentence_end_token_id) & (
            tokens.target != self.config.paragraph_end_token_id
        )
        for level, head in self.bow_heads.items():
            # The level's latent predicts, order-free, every content token of its unit.
            log_probs = F.log_softmax(head(z[level]).float(), dim=-1)  # [U, V]
            unit = unit_of_sentence(level, tokens.sentence[is_content], batch)
            bow_nll[level] = -log_probs[unit, tokens.target[is_content]].sum()
        return bow_nll

    def infer_latents(
        self,
        batch: DocBatch,
        features: EncoderFeatures,
        latent_mode: str = "sample",
        prior_levels: tuple[str, ...] = (),
        temperature: float = 1.0,
        down_to: str | None = None,
    ) -> dict[str, LevelOutput]:
        """The latents of every level, top-down (each level conditioned on its parent's sample);
        stops after level `down_to` when given."""
        latents: dict[str, LevelOutput] = {}
        for level in self.config.levels:
            parent = self.config.parent_level(level)
            parent_z = latents[parent].z[batch.parent_index(level, parent)] if parent else None
            latents[level] = self.latent_levels[level](
                getattr(features, level),
                parent_z,
                batch.siblings(level),
                mode="prior" if level in prior_levels else latent_mode,
                temperature=temperature,
            )
            if level == down_to:
                break
        return latents

    @torch.no_grad()
    @in_eval_mode
    def recalibrate_posterior_norms(self, batches: list[DocBatch], seed: int = 0) -> dict[str, int]:
        """Set each BN-VAE level's statistics to the exact eval-mode moments of its posterior means.

        Training normalises with batch statistics and keeps running averages for evaluation, but
        those averages lag an encoder that moves at every step and are taken with dropout on: in
        eval mode they can sit several standard deviations away from the means they normalise,
        which reads as a KL of hundreds of nats per document (precise BN, Wu & Johnson 2021).
        Levels are done top-down, so each sees its parents already recalibrated. The model's mode
        and the global random state are left as they were. Returns the units seen per level.
        """
        levels = [level for level in self.config.levels if self.latent_levels[level].mean_norm is not None]
        if not levels:
            return {}
        seen = {}
        device = self.device
        features = [self.encoder(batch) for batch in batches]
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            for level in levels:
                torch.manual_seed(seed)
                norm = self.latent_levels[level].mean_norm
                norm.start_collecting()
                for batch, batch_features in zip(batches, features):
                    self.infer_latents(batch, batch_features, down_to=level)
                seen[level] = norm.finish_collecting()
        return seen

    # ------------------------------------------------------------------ building from checkpoints
    @classmethod
    def from_pretrained_parts(
        cls,
        config: DocHVAEConfig,
        decoder: str | os.PathLike | None = None,
        encoder: str | os.PathLike | None = None,
    ) -> DocHVAE:
        """Build a model whose decoder and/or sentence encoder start from transformers checkpoints.

        `decoder` may also be a saved DocHVAE (e.g. the flat LM trained on the same corpus): its
        decoder is taken, so a hierarchical model with `layers` injection (gates closed at
        initialisation) starts exactly as that LM (warm start). The checkpoints' configs replace `config.decoder` / `config.encoder` (so `save_pretrained`
        and `from_pretrained` rebuild the same architecture without them), and their weights are
        copied in. Token embeddings are resized to the tokenizer's size, special tokens included
        (`config.vocab_size`; the encoder's `config.encoder_vocab_size` when it has a tokenizer of its own).
        """
        paths = {"decoder": decoder, "encoder": encoder}
        pretrained = {}
        if decoder is not None:
            if AutoConfig.from_pretrained(decoder).model_type == DocHVAEConfig.model_type:
                source = cls.from_pretrained(decoder)
                if source.config.vocab_size != config.vocab_size:
                    raise ValueError(
                        f"decoder {str(decoder)!r} is a DocHVAE with vocabulary {source.config.vocab_size}, this model's is "
                        f"{config.vocab_size}: warm-start from a model trained on the same prepared corpus (same tokenizer)"
                    )
                pretrained["decoder"] = source.decoder.lm
            else:
                pretrained["decoder"] = AutoModelForCausalLM.from_pretrained(decoder)
        if encoder is not None:
            pretrained["encoder"] = AutoModel.from_pretrained(encoder)
        for name, model in pretrained.items():
            model.resize_token_embeddings(config.encoder_token_count if name == "encoder" else config.vocab_size)
            part_config = model.config.to_dict()
            part_config["model_type"] = model.config.model_type
            setattr(config, name, part_config)
            setattr(config, f"{name}_init_from", str(paths[name]))  # provenance only
        config.validate()
        model = cls(config)
        if "decoder" in pretrained:
            model.decoder.lm.load_state_dict(pretrained["decoder"].state_dict())
        if "encoder" in pretrained and model.encoder is not None:
            missing, unexpected = model.encoder.sentence_encoder.load_state_dict(
                pretrained["encoder"].state_dict(), strict=False
            )
            # The pooler was removed on purpose (unused); anything else missing is an error.
            if [key for key in missing if not key.startswith("pooler.")] or [
                key for key in unexpected if not key.startswith("pooler.")
            ]:
                raise ValueError(
                    f"encoder checkpoint {str(encoder)!r} does not match: missing {missing}, unexpected {unexpected}"
                )
        return model


def register_auto_classes() -> None:
    """Make `AutoConfig`/`AutoModel` resolve model_type "doc_hvae" (idempotent)."""
    try:
        AutoConfig.register("doc_hvae", DocHVAEConfig)
    except ValueError:
        pass  # already registered
    try:
        AutoModel.register(DocHVAEConfig, DocHVAE)
    except ValueError:
        pass
