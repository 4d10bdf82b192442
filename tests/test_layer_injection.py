"""Per-layer latent injection (`latent_injection: layers`): the decoder starts as a flat LM, every
layer is reached, packed rows and the KV cache agree, and any causal LM with reachable blocks works
(GPT-2 and a tiny Llama)."""

import pytest
import torch

from doc_hvae import DocHVAE, DocHVAEConfig
from doc_hvae.config import LEVELS, default_encoder_config
from doc_hvae.data.batching import DocCollator
from doc_hvae.generation import LatentPlan, SamplingConfig, decode_documents, seeded_generator
from doc_hvae.modeling.decoder import decoder_layers

V = 64
DOCS = [
    {
        "id": "a",
        "paragraphs": [[[10, 11, 12], [13, 14]], [[15, 16, 17, 18]], [[19, 20], [21, 22, 23], [24]]],
        "num_words": 15,
    },
    {"id": "b", "paragraphs": [[[30, 31]], [[32, 33, 34], [35, 36], [37]]], "num_words": 8},
    {"id": "c", "paragraphs": [[[40, 41, 42, 43, 44, 45]]], "num_words": 6},
]
LAYERS_ONLY = {level: ["layers"] for level in LEVELS}
DECODERS = {
    "gpt2": {
        "model_type": "gpt2",
        "n_embd": 32,
        "n_layer": 2,
        "n_head": 2,
        "n_positions": 128,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
    },
    "llama": {
        "model_type": "llama",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 128,
    },
}


def make_model(decoder="gpt2", injection=None, levels=LEVELS, seed=0, **kwargs) -> DocHVAE:
    config = DocHVAEConfig(
        levels=list(levels),
        latent_size=8,
        vocab_size=V,
        decoder={**DECODERS[decoder], "vocab_size": V},
        encoder=default_encoder_config(V, 32, 1, 2),
        latent_injection=injection or LAYERS_ONLY,
        **kwargs,
    )
    torch.manual_seed(seed)
    return DocHVAE(config).eval()


def randomise_injection(model: DocHVAE, std: float = 0.5) -> None:
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        model.decoder.layers.gates.fill_(1.0)  # open
        for projection in model.decoder.layers.projections:
            projection.weight.copy_(torch.randn(projection.weight.shape, generator=generator) * std)


def collate(model, docs=DOCS, **kwargs):
    return DocCollator.for_model(model.config, **kwargs)(docs)


@pytest.mark.parametrize("decoder", list(DECODERS))
def test_layer_injection_starts_exactly_as_the_flat_lm(decoder):
    """Closed gates: the same decoder weights give the same NLL with and without latents."""
    hierarchical = make_model(decoder)
    flat = make_model(decoder, levels=[], injection={})
    flat.decoder.lm.load_state_dict(hierarchical.decoder.lm.state_dict())
    assert torch.equal(hierarchical.decoder.layers.gates, torch.zeros(2, 3))  # layers x levels
    assert all(
        float(p.weight.detach().abs().sum()) > 0 for p in hierarchical.decoder.layers.projections
    )  # only the gates are closed
    with torch.no_grad():
        ours, reference = hierarchical(collate(hierarchical)), flat(collate(flat))
    assert ours.num_tokens == reference.num_tokens
    torch.testing.assert_close(ours.recon_nll, reference.recon_nll, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("decoder", list(DECODERS))
def test_every_layer_is_reached_and_trained(decoder):
    model = make_model(decoder).train()
    blocks = decoder_layers(model.decoder.lm)
    assert len(model.decoder.layers.projections) == len(blocks) == 2
    output = model(collate(model))
    output.recon_nll.backward()
    # Closed gates get gradient (dL/dg = <dL/dh, W z>) at every layer and level, so training can open
    # them; the projections get none until their gate opens.
    gates = model.decoder.layers.gates.grad
    assert gates.shape == (2, 3) and bool((gates != 0).all()), gates
    assert all(float(p.weight.grad.abs().sum()) == 0 for p in model.decoder.layers.projections)
    with torch.no_grad():
        model.decoder.layers.gates.fill_(0.1)
    model.zero_grad()
    model(collate(model)).recon_nll.backward()
    for index, projection in enumerate(model.decoder.layers.projections):
        assert float(projection.weight.grad.abs().sum()) > 0, f"layer {index} projection has no gradient once open"


@pytest.mark.parametrize("decoder", list(DECODERS))
def test_each_level_changes_the_prediction_through_the_layers(decoder):
    model = make_model(decoder)
    randomise_injection(model)
    batch = collate(model)
    with torch.no_grad():
        z = {level: out.z for level, out in model(batch, latent_mode="mean", return_latents=True).latents.items()}
        own = model.decoder(batch, z).nll
        for level in LEVELS:
            changed = model.decoder(batch, {**z, level: z[level] + 1.0}).nll
            assert not torch.allclose(own, changed), f"{level} does not reach the decoder"


@pytest.mark.parametrize("decoder", list(DECODERS))
def test_packing_does_not_change_the_result(decoder):
    model = make_model(
        decoder,
        injection={"document": ["memory", "layers"], "paragraph": ["layers"], "sentence": ["embedding", "layers"]},
    )
    randomise_injection(model)
    batches = [collate(model, min_row_length=n, row_multiple=8) for n in (8, 512)]
    assert batches[0].decoder_input_ids.shape != batches[1].decoder_input_ids.shape
    with torch.no_grad():
        a, b = (model(batch, latent_mode="mean") for batch in batches)
    torch.testing.assert_close(a.document_recon_nll, b.document_recon_nll, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("decoder", list(DECODERS))
def test_packing_by_position_ids_equals_the_block_mask(decoder):
    """decoder_packing="position_ids" (no mask: the varlen path of flash-attention kernels) gives the
    NLL of the block-masked path, token by token, for rows that pack several streams."""
    injection = {"document": ["memory", "layers"], "paragraph": ["layers"], "sentence": ["embedding", "layers"]}
    masked = make_model(decoder, injection=injection)
    randomise_injection(masked)
    by_position = make_model(decoder, injection=injection, decoder_packing="position_ids")
    by_position.load_state_dict(masked.state_dict())
    batch = collate(masked, min_row_length=512)  # everything in few long rows
    assert int(batch.decoder_segment.max()) + 1 > batch.decoder_input_ids.shape[0], "rows must pack several streams"
    z = {
        level: torch.randn(n, 8, generator=torch.Generator().manual_seed(3))
        for level, n in (
            ("document", batch.num_documents),
            ("paragraph", batch.num_paragraphs),
            ("sentence", batch.num_sentences),
        )
    }
    with torch.no_grad():
        reference, ours = masked.decoder(batch, z).nll, by_position.decoder(batch, z).nll
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
    # Without the mask and without restarting positions the streams would see each other: the test can fail.
    streams_see_each_other = batch.decoder_position.clone()
    with torch.no_grad():
        batch.decoder_position = (
            torch.arange(streams_see_each_other.shape[1]).clamp(max=127).expand_as(streams_see_each_other).contiguous()
        )
        leaked = by_position.decoder(batch, z).nll
        batch.decoder_position = streams_see_each_other
    assert not torch.allclose(leaked, reference, atol=1e-3)


@pytest.mark.parametrize("decoder", list(DECODERS))
def test_cached_generation_matches_uncached(decoder):
    model = make_model(
        decoder, injection={"document": ["memory", "layers"], "paragraph": ["layers"], "sentence": ["layers"]}
    )
    randomise_injection(model, std=2.0)
    sampling = SamplingConfig(temperature=1.0, max_tokens=12, max_paragraphs=2, max_sentences=3)
    cached = decode_documents(model, LatentPlan(num_documents=3), sampling, seeded_generator(0), use_cache=True)
    uncached = decode_documents(model, LatentPlan(num_documents=3), sampling, seeded_generator(0), use_cache=False)
    assert cached == uncached
    assert sum(document.num_tokens for document in cached) > 6  # not vacuous


def test_generation_feeds_the_layers_the_latents_training_does():
    """Teacher-forced check: the logits of the generation step equal the training forward's at every position."""
    model = make_model(
        "gpt2",
        injection={"document": ["memory", "layers"], "paragraph": ["layers"], "sentence": ["layers"]},
        levels=["document", "paragraph", "sentence"],
    )
    randomise_injection(model)
    doc = {"id": "a", "paragraphs": [[[10, 11, 12]]], "num_words": 3}  # one paragraph, one sentence
    batch = collate(model, [doc])
    with torch.no_grad():
        z = {level: out.z for level, out in model(batch, latent_mode="mean", return_latents=True).latents.items()}
        training_nll = model.decoder(batch, z).nll  # [4]: 10, 11, 12, </p>
        decoder = model.decoder
        memory = decoder.memory_vectors({"document": z["document"]})  # [1, 1, H]
        latents = {level: z[level] for level in ("document", "paragraph", "sentence")}
        tokens = torch.tensor([[model.config.bos_token_id, 10, 11, 12]])
        embeds = torch.cat([memory, decoder.lm.get_input_embeddings()(tokens)], dim=1)
        layer = decoder.layer_latents(latents)[:, None].expand(1, 4, -1)
        layer = torch.cat([layer.new_zeros(1, 1, layer.shape[-1]), layer], dim=1)
        logits = [decoder.step(embeds[:, : t + 1], torch.arange(t + 1)[None], layer[:, : t + 1]) for t in range(1, 5)]
        targets = torch.tensor([10, 11, 12, model.config.paragraph_end_token_id])
        step_nll = torch.stack(
            [torch.nn.functional.cross_entropy(step, targets[i : i + 1]) for i, step in enumerate(logits)]
        )
    torch.testing.assert_close(step_nll, training_nll, rtol=1e-5, atol=1e-5)


def test_a_decoder_without_reachable_blocks_is_refused():
    class NoBlocks(torch.nn.Module):
        base_model = torch.nn.Linear(2, 2)

    with pytest.raises(ValueError, match="h / layers / block / blocks"):
        decoder_layers(NoBlocks())


def test_projection_std_sets_the_initial_scale():
    default = make_model()
    wide = make_model(layer_projection_std=0.5)
    for model, std in ((default, default.config.initializer_range), (wide, 0.5)):
        weights = torch.cat([p.weight.detach().flatten() for p in model.decoder.layers.projections])
        assert abs(float(weights.std()) - std) < 0.15 * std, (float(weights.std()), std)
    assert torch.equal(wide.decoder.layers.gates, torch.zeros(2, 3)), "a wider projection still starts closed"


def test_open_gates_over_zero_projections_start_flat_and_learn_at_once():
    """The ungated variant (layer_gate_init=1, layer_projection_std=0): the projections, not the gates, get gradient first."""
    model = make_model(layer_gate_init=1.0, layer_projection_std=0.0).train()
    assert torch.equal(model.decoder.layers.gates, torch.ones(2, 3))
    output = model(collate(model))
    output.recon_nll.backward()
    assert all(float(p.weight.grad.abs().sum()) > 0 for p in model.decoder.layers.projections)
    assert float(model.decoder.layers.gates.grad.abs().sum()) == 0.0  # d/dg of W (g z) is W z = 0
