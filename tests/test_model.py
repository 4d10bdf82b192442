"""DocHVAE on tiny configs (CPU): every level subset, reference agreement, packing, causality, I/O."""

import itertools
import shutil

import pytest
import torch
from transformers import AutoConfig, AutoModel, BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

import doc_hvae  # noqa: F401  (registers the Auto classes)
from doc_hvae import DocHVAE, DocHVAEConfig
from doc_hvae.config import DEFAULT_INJECTION, LEVELS, default_decoder_config, default_encoder_config
from doc_hvae.data.batching import DocCollator
from doc_hvae.modeling.decoder import decoder_layers
from doc_hvae.modeling.distributions import DiagonalGaussian
from doc_hvae.modeling.encoder import EncoderFeatures
from doc_hvae.modeling.latents import LevelOutput

V = 64  # vocabulary: 0 pad, 1 <s>, 2 </s>, 3 <unk>, 4 </p>, content ids 5..63
PAD, BOS, SENTENCE_END, UNK, PARAGRAPH_END = 0, 1, 2, 3, 4

DOCS = [
    {
        "id": "a",
        "paragraphs": [[[10, 11, 12], [13, 14]], [[15, 16, 17, 18]], [[19, 20], [21, 22, 23], [24]]],
        "num_words": 15,
    },
    {"id": "b", "paragraphs": [[[30, 31]], [[32, 33, 34], [35, 36], [37]]], "num_words": 8},
    {"id": "c", "paragraphs": [[[40, 41, 42, 43, 44, 45]]], "num_words": 6},
]
NUM_UNITS = {"document": 3, "paragraph": 6, "sentence": 11}
# Global unit ids of DOCS (documents, then paragraphs and sentences numbered in order).
DOC_A_PARAGRAPHS = [0, 1, 2]
PARAGRAPH_2_SENTENCES = [3, 4, 5]  # doc a, third paragraph

SENTENCE_INJECTION = {"document": ["memory"], "paragraph": ["memory", "embedding"], "sentence": ["memory", "embedding"]}
LEVEL_SUBSETS = [[]] + [list(c) for r in (1, 2, 3) for c in itertools.combinations(LEVELS, r)]


def make_config(levels=LEVELS, decoder_context="paragraph", posterior="plain", dropout=True, **kwargs) -> DocHVAEConfig:
    decoder = default_decoder_config(V, 32, 2, 2)
    encoder = default_encoder_config(V, 32, 1, 2)
    if not dropout:  # no RNG use inside the transformers: isolates the model's own dropout options
        decoder.update(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        encoder.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    kwargs.setdefault("latent_injection", SENTENCE_INJECTION if decoder_context == "sentence" else DEFAULT_INJECTION)
    # No BN-VAE and a unit posterior std unless a test asks: the mechanisms in isolation (the library's defaults add both).
    kwargs.setdefault("posterior_mean_norm", {})
    kwargs.setdefault("posterior_log_scale_init", 0.0)
    return DocHVAEConfig(
        levels=list(levels),
        latent_size=8,
        vocab_size=V,
        decoder=decoder,
        encoder=encoder,
        decoder_context=decoder_context,
        posterior=posterior,
        **kwargs,
    )


def make_model(config: DocHVAEConfig, seed: int = 0) -> DocHVAE:
    torch.manual_seed(seed)
    return DocHVAE(config)


def unzero_prior_heads(model: DocHVAE, std: float = 0.3) -> None:
    """Prior heads start at zero (so priors start at N(0, I) and their networks get no gradient);
    give them random weights so that what the priors depend on becomes visible."""
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for module in model.modules():
            if getattr(module, "_zero_init", False):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * std)
        if model.decoder.layers is not None:
            model.decoder.layers.gates.copy_(torch.randn(model.decoder.layers.gates.shape, generator=generator) * std)


def collate(config, docs=DOCS, **kwargs):
    return DocCollator.for_model(config, **kwargs)(docs)


def assert_outputs_close(a, b, atol=1e-5, rtol=1e-5):
    """Same ELBO terms; NLLs compared per token (sums over ~40 tokens carry float32 rounding)."""
    torch.testing.assert_close(a.recon_nll / a.num_tokens, b.recon_nll / b.num_tokens, rtol=0, atol=atol)
    torch.testing.assert_close(a.stop_nll, b.stop_nll, rtol=rtol, atol=atol)
    torch.testing.assert_close(a.document_recon_nll, b.document_recon_nll, rtol=rtol, atol=atol)
    assert a.kl.keys() == b.kl.keys()
    for level in a.kl:
        torch.testing.assert_close(a.kl[level], b.kl[level], rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------------------------
# Every configuration: shapes, finite losses, gradients everywhere


@pytest.mark.parametrize("posterior", ["plain", "residual"])
@pytest.mark.parametrize("decoder_context", ["paragraph", "sentence"])
@pytest.mark.parametrize("levels", LEVEL_SUBSETS, ids=lambda levels: "+".join(levels) or "flat")
def test_every_level_subset_trains(levels, decoder_context, posterior):
    config = make_config(levels, decoder_context, posterior, bow_levels=list(levels))
    model = make_model(config)
    unzero_prior_heads(model)
    model.train()
    batch = collate(config)
    torch.manual_seed(1)
    output = model(batch)

    assert torch.isfinite(output.loss) and torch.isfinite(output.recon_nll) and torch.isfinite(output.stop_nll)
    assert output.recon_nll > 0 and output.stop_nll > 0
    assert output.num_tokens == sum(len(s) + 1 for d in DOCS for p in d["paragraphs"] for s in p) == 40
    assert (output.num_documents, output.num_paragraphs, output.num_sentences) == (3, 6, 11)
    assert list(output.kl) == levels
    for level in levels:
        kl = output.kl[level]
        assert kl.shape == (NUM_UNITS[level], config.latent_dim(level))
        assert torch.isfinite(kl).all()
        assert (kl >= -1e-6).all()
        assert kl.sum() > 0
    assert set(output.bow_nll) == set(levels)
    expected_loss = (
        output.recon_nll + output.stop_nll + sum((k.sum() for k in output.kl.values()), torch.tensor(0.0))
    ) / 40
    torch.testing.assert_close(output.loss, expected_loss)

    (output.loss + sum(output.bow_nll.values()) / output.num_tokens).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    # The modules this test exists for are really there (so "no missing gradient" is not vacuous).
    names = [name for name, _ in model.named_parameters()]
    for level in levels:
        assert any(n.startswith(f"latent_levels.{level}.posterior_net.") for n in names)
        if level != "document":
            assert any(n.startswith(f"latent_levels.{level}.prior_net.") for n in names)
            assert any(n.startswith(f"latent_levels.{level}.prior_head.") for n in names)
        assert any(n.startswith(f"bow_heads.{level}.") for n in names)
    for level in config.memory_levels:
        assert f"decoder.memory.{level}.weight" in names
    for level in config.embedding_levels:
        assert f"decoder.embedding.{level}.weight" in names
    if decoder_context == "sentence" and "sentence" in levels:
        assert "decoder.memory.sentence.weight" in names


def test_bow_heads_get_no_gradient_without_their_loss():
    config = make_config(bow_levels=["document"])
    model = make_model(config)
    model(collate(config)).loss.backward()
    assert model.bow_heads["document"].weight.grad is None


# ---------------------------------------------------------------------------------------------
# Agreement with the plain transformers LM: packing and masks


def reference_streams(decoder_context: str) -> list[list[int]]:
    """The decoder's token streams, built independently of the collator."""
    streams = []
    for doc in DOCS:
        for paragraph in doc["paragraphs"]:
            ends = [SENTENCE_END] * (len(paragraph) - 1) + [PARAGRAPH_END]
            if decoder_context == "paragraph":
                streams.append([BOS] + [t for sentence, end in zip(paragraph, ends) for t in [*sentence, end]])
            else:
                streams.extend([BOS, *sentence, end] for sentence, end in zip(paragraph, ends))
    return streams


@pytest.mark.parametrize("decoder_context", ["paragraph", "sentence"])
def test_flat_model_matches_gpt2_lm_loss(decoder_context):
    config = make_config([], decoder_context)
    model = make_model(config).eval()
    batch = collate(config)
    assert batch.decoder_input_ids.shape[0] < len(reference_streams(decoder_context))  # streams really share rows

    streams = reference_streams(decoder_context)
    width = max(map(len, streams))
    input_ids = torch.tensor([s + [PAD] * (width - len(s)) for s in streams])
    attention_mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in streams])
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    with torch.no_grad():
        output = model(batch)
        reference = model.decoder.lm(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
    assert output.num_tokens == int((labels[:, 1:] != -100).sum())
    torch.testing.assert_close(output.recon_nll / output.num_tokens, reference, rtol=0, atol=1e-5)


@pytest.mark.parametrize("decoder_context", ["paragraph", "sentence"])
def test_packing_does_not_change_the_result(decoder_context):
    config = make_config(LEVELS, decoder_context)
    model = make_model(config).eval()
    unzero_prior_heads(model)
    batches = [collate(config, min_row_length=n, row_multiple=8) for n in (8, 24, 512)]
    assert len({b.decoder_input_ids.shape for b in batches}) == 3  # three different packings
    assert len({b.decoder_input_ids.shape[0] for b in batches}) > 1  # ... not only longer rows
    assert len({b.encoder_input_ids.shape for b in batches}) == 3
    with torch.no_grad():
        outputs = [model(b, latent_mode="mean") for b in batches]
    for other in outputs[1:]:
        assert_outputs_close(outputs[0], other)


def test_documents_in_a_batch_do_not_interact():
    config = make_config(LEVELS)
    model = make_model(config).eval()
    unzero_prior_heads(model)
    changed = [dict(doc) for doc in DOCS]
    changed[1]["paragraphs"] = [[[50, 51]], [[52, 53, 54], [55, 56], [57]]]  # doc b: same shape, other tokens
    with torch.no_grad():
        base = model(collate(config), latent_mode="mean", return_latents=True)
        other = model(collate(config, docs=changed), latent_mode="mean", return_latents=True)
    keep = {"document": [0, 2], "paragraph": [0, 1, 2, 5], "sentence": [0, 1, 2, 3, 4, 5, 10]}
    moved = {"document": [1], "paragraph": [3, 4], "sentence": [6, 7, 8, 9]}
    for level in LEVELS:
        a, b = base.latents[level], other.latents[level]
        torch.testing.assert_close(a.z[keep[level]], b.z[keep[level]], rtol=0, atol=1e-5)
        torch.testing.assert_close(a.prior.mean[keep[level]], b.prior.mean[keep[level]], rtol=0, atol=1e-5)
        assert not torch.allclose(a.z[moved[level]], b.z[moved[level]], atol=1e-4)
    torch.testing.assert_close(base.document_recon_nll[[0, 2]], other.document_recon_nll[[0, 2]], rtol=0, atol=1e-5)
    assert abs(base.document_recon_nll[1] - other.document_recon_nll[1]) > 1e-4


# ---------------------------------------------------------------------------------------------
# Causal priors


def forward_with_features(model, batch, features):
    with torch.no_grad():
        return model(batch, latent_mode="mean", return_latents=True, encoder_features=features)


def assert_prior_rows(a, b, same, different):
    torch.testing.assert_close(a.prior.mean[same], b.prior.mean[same], rtol=0, atol=1e-6)
    torch.testing.assert_close(a.prior.log_scale[same], b.prior.log_scale[same], rtol=0, atol=1e-6)
    for row in different:
        assert (a.prior.mean[row] - b.prior.mean[row]).abs().max() > 1e-4


@pytest.mark.parametrize("posterior", ["plain", "residual"])
def test_paragraph_prior_is_causal(posterior):
    """Changing paragraph k's latent (through its encoder feature) changes the priors of the
    later paragraphs of its document only: p(z_par[j] | z_doc, z_par[<j])."""
    config = make_config(LEVELS, posterior=posterior)
    model = make_model(config).eval()
    unzero_prior_heads(model)
    batch = collate(config)
    with torch.no_grad():
        features = model.encoder(batch)
    base = forward_with_features(model, batch, features)
    paragraph = features.paragraph.clone()
    paragraph[1] += 3.0  # doc a, second paragraph
    out = forward_with_features(model, batch, EncoderFeatures(features.sentence, paragraph, features.document))

    a, b = base.latents["paragraph"], out.latents["paragraph"]
    assert (a.z[1] - b.z[1]).abs().max() > 1e-3  # the latent really moved
    assert_prior_rows(a, b, same=[0, 1, 3, 4, 5], different=[2])
    torch.testing.assert_close(a.z[[0, 3, 4, 5]], b.z[[0, 3, 4, 5]], rtol=0, atol=1e-6)
    torch.testing.assert_close(base.latents["document"].z, out.latents["document"].z)


@pytest.mark.parametrize("posterior", ["plain", "residual"])
def test_sentence_prior_is_causal(posterior):
    """p(z_sen[j, i] | z_par[j], z_sen[j, <i]): sentence k's latent reaches later sentences of its paragraph only."""
    config = make_config(LEVELS, posterior=posterior)
    model = make_model(config).eval()
    unzero_prior_heads(model)
    batch = collate(config)
    with torch.no_grad():
        features = model.encoder(batch)
    base = forward_with_features(model, batch, features)
    sentence = features.sentence.clone()
    sentence[PARAGRAPH_2_SENTENCES[1]] += 3.0
    out = forward_with_features(model, batch, EncoderFeatures(sentence, features.paragraph, features.document))

    a, b = base.latents["sentence"], out.latents["sentence"]
    assert (a.z[4] - b.z[4]).abs().max() > 1e-3
    others = [s for s in range(NUM_UNITS["sentence"]) if s != 5]
    assert_prior_rows(a, b, same=others, different=[5])
    # Upper levels are untouched.
    for level in ("document", "paragraph"):
        torch.testing.assert_close(base.latents[level].z, out.latents[level].z)


def test_priors_depend_on_the_parent():
    """Moving z_doc moves every paragraph prior of that document (and nothing in the others)."""
    config = make_config(LEVELS)
    model = make_model(config).eval()
    unzero_prior_heads(model)
    batch = collate(config)
    with torch.no_grad():
        features = model.encoder(batch)
    base = forward_with_features(model, batch, features)
    document = features.document.clone()
    document[0] += 3.0
    out = forward_with_features(model, batch, EncoderFeatures(features.sentence, features.paragraph, document))
    assert_prior_rows(base.latents["paragraph"], out.latents["paragraph"], same=[3, 4, 5], different=DOC_A_PARAGRAPHS)


def test_document_prior_is_standard_normal():
    config = make_config(LEVELS)
    model = make_model(config).eval()
    unzero_prior_heads(model)
    with torch.no_grad():
        output = model(collate(config), return_latents=True)
    prior = output.latents["document"].prior
    assert prior.mean.shape == (3, 8)
    assert (prior.mean == 0).all() and (prior.log_scale == 0).all()
    # ...while the conditional priors below are not.
    assert output.latents["paragraph"].prior.mean.abs().max() > 1e-3


def test_prior_heads_start_at_standard_normal():
    config = make_config(LEVELS)
    model = make_model(config).eval()
    with torch.no_grad():
        output = model(collate(config), return_latents=True)
    for level in LEVELS:
        assert (output.latents[level].prior.mean == 0).all() and (output.latents[level].prior.log_scale == 0).all()


# ---------------------------------------------------------------------------------------------
# Saving and loading


def saved_model(tmp_path):
    config = make_config(LEVELS, posterior="residual", bow_levels=["sentence"])
    model = make_model(config)
    unzero_prior_heads(model)  # a reload that re-initialised the prior heads would show
    model.eval()
    model.save_pretrained(tmp_path)
    return model


def test_save_pretrained_writes_safetensors_and_auto_classes_resolve(tmp_path):
    model = saved_model(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert (tmp_path / "config.json").is_file()

    auto_config = AutoConfig.from_pretrained(tmp_path)
    assert type(auto_config) is DocHVAEConfig and auto_config.model_type == "doc_hvae"
    for key in (
        "levels",
        "latent_injection",
        "posterior",
        "bow_levels",
        "decoder",
        "encoder",
        "latent_size",
        "decoder_context",
    ):
        assert getattr(auto_config, key) == getattr(model.config, key), key
    auto_model = AutoModel.from_pretrained(tmp_path)
    assert type(auto_model) is DocHVAE
    expected, actual = model.state_dict(), auto_model.state_dict()
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


def test_save_and_load_round_trip_is_exact(tmp_path):
    model = saved_model(tmp_path)
    loaded = DocHVAE.from_pretrained(tmp_path).eval()
    # GPT-2's output layer is tied to its input embedding: it must come back as that tie, not random.
    assert torch.equal(model.decoder.lm.lm_head.weight, loaded.decoder.lm.lm_head.weight)
    lm = loaded.decoder.lm
    assert lm.get_output_embeddings().weight is lm.get_input_embeddings().weight  # still tied, as before saving

    batch = collate(model.config)
    with torch.no_grad():
        torch.manual_seed(7)
        a = model(batch)
        torch.manual_seed(7)
        b = loaded(batch)
    assert_outputs_close(a, b, atol=0, rtol=0)
    assert torch.equal(a.bow_nll["sentence"], b.bow_nll["sentence"])


def build_from_parts(tmp_path):
    torch.manual_seed(3)
    gpt2 = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=V,
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=128,
            bos_token_id=BOS,
            eos_token_id=SENTENCE_END,
            pad_token_id=PAD,
        )
    )
    bert = BertModel(
        BertConfig(
            vocab_size=V,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
            pad_token_id=PAD,
        )
    )
    gpt2.save_pretrained(tmp_path / "decoder")
    bert.save_pretrained(tmp_path / "encoder")
    model = DocHVAE.from_pretrained_parts(
        make_config(LEVELS), decoder=tmp_path / "decoder", encoder=tmp_path / "encoder"
    )
    return model, gpt2, bert


def test_from_pretrained_parts(tmp_path):
    model, gpt2, bert = build_from_parts(tmp_path)
    decoder_state, encoder_state = model.decoder.lm.state_dict(), model.encoder.sentence_encoder.state_dict()
    gpt2_state = gpt2.state_dict()
    bert_state = {k: v for k, v in bert.state_dict().items() if not k.startswith("pooler.")}
    assert decoder_state.keys() == gpt2_state.keys()
    for name, value in gpt2_state.items():
        assert torch.equal(decoder_state[name], value), name
    assert encoder_state.keys() == bert_state.keys()
    for name, value in bert_state.items():
        assert torch.equal(encoder_state[name], value), name
    # The checkpoints' architectures replace the config's (n_positions 1024 -> 128, 512 -> 64).
    assert model.config.decoder["n_positions"] == 128 and model.config.encoder["max_position_embeddings"] == 64

    model.eval()
    with torch.no_grad():
        output = model(collate(model.config))
    assert torch.isfinite(output.loss) and output.kl["sentence"].shape == (11, 8)


def test_from_pretrained_parts_round_trip(tmp_path):
    model, _, _ = build_from_parts(tmp_path)
    model.eval()
    batch = collate(model.config)
    with torch.no_grad():
        torch.manual_seed(0)
        before = model(batch)
    model.save_pretrained(tmp_path / "hvae")
    shutil.rmtree(tmp_path / "decoder")
    shutil.rmtree(tmp_path / "encoder")
    loaded = DocHVAE.from_pretrained(tmp_path / "hvae").eval()
    assert loaded.config.decoder["n_positions"] == 128
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    with torch.no_grad():
        torch.manual_seed(0)
        after = loaded(batch)
    assert_outputs_close(before, after, atol=0, rtol=0)


# ---------------------------------------------------------------------------------------------
# Config validation


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"levels": ["document", "word"]}, ["levels", "word"]),
        ({"levels": ["sentence", "document"]}, ["levels", "sentence", "document"]),
        ({"levels": ["paragraph", "paragraph"]}, ["levels", "paragraph"]),
        (
            {"latent_injection": {"sentence": ["memory"], "document": ["memory"], "paragraph": ["memory"]}},
            ["latent_injection", "memory", "decoder_context"],
        ),
        ({"posterior": "gaussian"}, ["posterior", "'gaussian'"]),
        ({"decoder_context": "document"}, ["decoder_context", "'document'"]),
        ({"word_dropout": 1.5}, ["word_dropout", "1.5"]),
        ({"sentence_drop": -0.1}, ["sentence_drop", "-0.1"]),
        ({"paragraph_drop": 1.0}, ["paragraph_drop", "1.0"]),
        ({"decoder_latent_drop": {"sentence": 1.0}}, ["decoder_latent_drop", "1.0"]),
        ({"levels": ["document"], "decoder_latent_drop": {"sentence": 0.5}}, ["decoder_latent_drop", "sentence"]),
        ({"decoder_latent_prior_draw": {"document": 0.5}}, ["decoder_latent_prior_draw", "below the document"]),
        ({"decoder_latent_prior_draw": {"sentence": 1.5}}, ["decoder_latent_prior_draw", "[0, 1]"]),
        ({"latent_size": {"document": 8, "paragraph": 8}}, ["latent_size", "sentence"]),
        ({"latent_size": 0}, ["latent_size", "0"]),
        ({"levels": ["sentence"], "bow_levels": ["document"]}, ["bow_levels", "document"]),
        ({"memory_tokens": 0}, ["memory_tokens", "0"]),
        ({"decoder_packing": "varlen"}, ["decoder_packing", "'varlen'", "position_ids"]),
        ({"layer_projection_std": -0.1}, ["layer_projection_std", "-0.1"]),
        (
            {"latent_injection": {"document": ["memory"], "paragraph": ["prefix"], "sentence": ["embedding"]}},
            ["latent_injection", "prefix"],
        ),
    ],
    ids=lambda value: str(value)[:40] if isinstance(value, dict) else None,
)
def test_config_rejects_invalid_values(kwargs, expected):
    base = {
        "latent_size": 8,
        "vocab_size": V,
        "decoder": default_decoder_config(V, 32, 2, 2),
        "encoder": default_encoder_config(V, 32, 1, 2),
        "decoder_context": "paragraph",
    }
    with pytest.raises(ValueError) as error:
        DocHVAEConfig(**{**base, **kwargs})
    message = str(error.value)
    for fragment in expected:
        assert fragment in message, (fragment, message)


def test_config_accepts_the_documented_presets():
    for levels in LEVEL_SUBSETS:
        assert make_config(levels).levels == levels
    config = make_config(["sentence"], "sentence", latent_injection={"sentence": ["memory"]})
    assert config.memory_levels == ["sentence"] and config.num_memory_slots == 1


# ---------------------------------------------------------------------------------------------
# Forward options


def test_prior_levels_replace_one_level_only():
    config = make_config(LEVELS)
    model = make_model(config).eval()
    unzero_prior_heads(model)
    batch = collate(config)
    with torch.no_grad():
        torch.manual_seed(0)
        posterior = model(batch, latent_mode="mean", return_latents=True)
        torch.manual_seed(0)
        prior = model(batch, latent_mode="mean", prior_levels=("paragraph",), return_latents=True)
    assert abs(posterior.recon_nll - prior.recon_nll) > 1e-4
    torch.testing.assert_close(prior.latents["document"].z, posterior.latents["document"].z, rtol=0, atol=0)
    torch.testing.assert_close(prior.kl["document"], posterior.kl["document"], rtol=0, atol=0)
    assert (prior.kl["paragraph"] == 0).all() and posterior.kl["paragraph"].sum() > 0
    assert not torch.allclose(prior.latents["paragraph"].z, posterior.latents["paragraph"].z)

    with pytest.raises(ValueError, match="word"):
        model(batch, prior_levels=("word",))
    flat = make_model(make_config([])).eval()
    with pytest.raises(ValueError, match="sentence"):
        flat(collate(flat.config), prior_levels=("sentence",))
    with pytest.raises(ValueError, match="'median'"):
        model(batch, latent_mode="median")


def test_mean_mode_is_deterministic_and_sample_mode_is_not():
    config = make_config(LEVELS)
    model = make_model(config).eval()
    unzero_prior_heads(model)  # also opens the per-layer injection's gates, so z reaches the decoder
    batch = collate(config)
    with torch.no_grad():
        torch.manual_seed(0)
        mean_a = model(batch, latent_mode="mean")
        torch.manual_seed(1)
        mean_b = model(batch, latent_mode="mean")
        torch.manual_seed(0)
        sample_a = model(batch)
        torch.manual_seed(1)
        sample_b = model(batch)
    assert_outputs_close(mean_a, mean_b, atol=0, rtol=0)
    assert not torch.equal(sample_a.recon_nll, sample_b.recon_nll)


@pytest.mark.parametrize("option", ["word_dropout", "sentence_drop", "paragraph_drop"])
def test_dropout_options_act_in_training_only(option):
    reference_model = make_model(make_config(LEVELS, dropout=False))
    model = DocHVAE(make_config(LEVELS, dropout=False, **{option: 0.5}))
    model.load_state_dict(reference_model.state_dict())
    unzero_prior_heads(model)
    unzero_prior_heads(reference_model)
    batch = collate(model.config)

    def run(m, train):
        m.train(train)
        torch.manual_seed(0)
        with torch.no_grad():
            return m(batch, latent_mode="mean")

    off_train = run(reference_model, True)
    assert_outputs_close(off_train, run(reference_model, False), atol=1e-6)  # nothing else is random
    on_train = run(model, True)
    assert abs(on_train.recon_nll - off_train.recon_nll) > 1e-4
    assert_outputs_close(run(model, False), off_train, atol=1e-6)


def test_decoder_latent_drop_hides_latents_from_the_decoder_only_in_training():
    reference_model = make_model(make_config(LEVELS, dropout=False))
    model = DocHVAE(make_config(LEVELS, dropout=False, decoder_latent_drop={"sentence": 0.5}))
    model.load_state_dict(reference_model.state_dict())
    for m in (model, reference_model):
        unzero_prior_heads(m)  # open gates: z reaches the decoder
    batch = collate(model.config)

    def run(m, train):
        m.train(train)
        torch.manual_seed(0)
        with torch.no_grad():
            return m(batch, latent_mode="mean")

    reference, dropped = run(reference_model, True), run(model, True)
    assert abs(dropped.recon_nll - reference.recon_nll) > 1e-4  # the decoder saw other sentence latents
    for level in LEVELS:  # the latents themselves, and so the KL, are untouched
        torch.testing.assert_close(dropped.kl[level], reference.kl[level], atol=0, rtol=0)
    assert_outputs_close(run(model, False), run(reference_model, False), atol=1e-6)


def test_decoder_latent_prior_draw_gives_the_decoder_prior_draws_only_in_training():
    reference_model = make_model(make_config(LEVELS, dropout=False))
    model = DocHVAE(make_config(LEVELS, dropout=False, decoder_latent_prior_draw={"sentence": 1.0}))
    model.load_state_dict(reference_model.state_dict())
    for m in (model, reference_model):
        unzero_prior_heads(m)
    batch = collate(model.config)

    def run(m, train):
        m.train(train)
        torch.manual_seed(0)
        return m(batch, latent_mode="mean")

    reference, drawn = run(reference_model, True), run(model, True)
    assert abs(drawn.recon_nll - reference.recon_nll) > 1e-4  # the decoder read other sentence latents
    for level in LEVELS:  # the posteriors, and so the KL, are untouched
        torch.testing.assert_close(drawn.kl[level], reference.kl[level], atol=0, rtol=0)
    # The reconstruction now trains the sentence prior (it made the latents the decoder read).
    prior_head = model.latent_levels["sentence"].prior_head.weight
    grad = torch.autograd.grad(drawn.recon_nll, prior_head)[0]
    assert grad.abs().sum() > 0
    reference_grad = torch.autograd.grad(
        reference.recon_nll, reference_model.latent_levels["sentence"].prior_head.weight, allow_unused=True
    )[0]
    assert reference_grad is None or reference_grad.abs().sum() == 0
    with torch.no_grad():
        assert_outputs_close(run(model, False), run(reference_model, False), atol=1e-6)


def test_decoder_latent_prior_draw_picks_whole_documents_at_every_level_at_once():
    model = DocHVAE(make_config(LEVELS, decoder_latent_prior_draw={"paragraph": 0.5, "sentence": 0.5})).train()
    batch = collate(model.config)
    counts = {"document": batch.num_documents, "paragraph": batch.num_paragraphs, "sentence": batch.num_sentences}

    def level_output(level, count):  # posterior samples 0, prior draws exactly 7
        zeros = torch.zeros(count, model.config.latent_dim(level))
        prior = DiagonalGaussian(zeros + 7.0, torch.full_like(zeros, -30.0))
        return LevelOutput(z=zeros, posterior=prior, prior=prior, kl=zeros)

    seen = set()
    for seed in range(20):
        torch.manual_seed(seed)
        z = model._decoder_latents(batch, {level: level_output(level, n) for level, n in counts.items()})
        assert (z["document"] == 0).all()  # the document level reads its posterior sample
        drawn = {}
        for level in ("paragraph", "sentence"):
            per_unit = (z[level] - 7.0).abs().amax(-1) < 1e-3
            assert (per_unit | (z[level] == 0).all(-1)).all()  # a prior draw or the posterior sample, whole
            document = batch.unit_document(level)
            drawn[level] = [bool(per_unit[document == d].all()) for d in range(batch.num_documents)]
            assert drawn[level] == [bool(per_unit[document == d].any()) for d in range(batch.num_documents)]
        assert drawn["paragraph"] == drawn["sentence"]  # one pick per document for both levels
        seen.update(drawn["sentence"])
    assert seen == {True, False}
    model.eval()
    z = model._decoder_latents(batch, {level: level_output(level, n) for level, n in counts.items()})
    assert all((value == 0).all() for value in z.values())


def test_a_batch_collated_for_another_model_is_refused():
    three_level = make_model(make_config(LEVELS))
    flat_batch = collate(make_config([]))  # no memory slots, no encoder rows
    with pytest.raises(ValueError, match="collated for another model"):
        three_level(flat_batch)


# ---------------------------------------------------------------------------------------------
# Warm start: the decoder of a saved flat LM


def test_warm_start_from_a_saved_flat_lm_starts_exactly_there(tmp_path):
    flat = make_model(make_config([], dropout=False), seed=3).eval()
    flat.save_pretrained(tmp_path / "flat")
    layers_only = {level: ["layers"] for level in LEVELS}
    config = make_config(LEVELS, dropout=False, latent_injection=layers_only)
    model = DocHVAE.from_pretrained_parts(config, decoder=tmp_path / "flat").eval()
    for name, value in flat.decoder.lm.state_dict().items():
        torch.testing.assert_close(model.decoder.lm.state_dict()[name], value, rtol=0, atol=0)
    with torch.no_grad():  # closed per-layer gates: the same predictions as the flat LM
        torch.testing.assert_close(
            model(collate(config)).recon_nll, flat(collate(flat.config)).recon_nll, rtol=1e-6, atol=1e-5
        )


def test_warm_start_refuses_a_model_of_another_vocabulary(tmp_path):
    other = DocHVAEConfig(
        levels=[],
        vocab_size=V + 8,
        decoder=default_decoder_config(V + 8, 32, 2, 2),
        encoder=default_encoder_config(V + 8, 32, 1, 2),
    )
    DocHVAE(other).save_pretrained(tmp_path / "other")
    with pytest.raises(ValueError, match="same prepared corpus"):
        DocHVAE.from_pretrained_parts(make_config(LEVELS), decoder=tmp_path / "other")


def test_layers_injection_is_a_valid_config_value_and_typos_are_not():
    config = make_config(
        LEVELS, latent_injection={"document": ["memory", "layers"], "paragraph": ["layers"], "sentence": ["embedding"]}
    )
    assert config.layer_levels == ["document", "paragraph"]
    assert config.position_levels == ["document", "paragraph", "sentence"]
    with pytest.raises(ValueError, match="layers"):
        make_config(
            LEVELS, latent_injection={"document": ["layer"], "paragraph": ["memory"], "sentence": ["embedding"]}
        )


# ---------------------------------------------------------------------------------------------
# Gradient checkpointing


def decoder_forwards(model, step, checkpointing=True) -> int:
    """Forward calls of the modules inside the decoder's blocks during one `step` (recomputation adds some)."""
    (model.activation_checkpointing_enable if checkpointing else model.activation_checkpointing_disable)()
    calls = []
    handles = [
        module.register_forward_hook(lambda *args: calls.append(1))
        for block in decoder_layers(model.decoder.lm)
        for module in block.children()
    ]
    step()
    for handle in handles:
        handle.remove()
    return len(calls)


@pytest.mark.parametrize("decoder", ["gpt2", "llama"])
def test_gradient_checkpointing_gives_the_same_loss_and_gradients(decoder):
    """Recomputed blocks (the decoder's and the sentence encoder's) must see the per-layer latents
    again: the injection hooks run outside the checkpointed forward."""
    config = make_config()
    if decoder == "llama":
        config = DocHVAEConfig(
            **{
                **config.to_diff_dict(),
                "decoder": {
                    "model_type": "llama",
                    "vocab_size": V,
                    "hidden_size": 32,
                    "intermediate_size": 64,
                    "num_hidden_layers": 2,
                    "num_attention_heads": 2,
                    "num_key_value_heads": 1,
                    "max_position_embeddings": 128,
                },
            }
        )
    model = make_model(config)
    unzero_prior_heads(model)  # open gates and live priors: every path carries gradient
    batch = collate(model.config)

    def loss_and_gradients():
        model.zero_grad()
        torch.manual_seed(1)  # the same posterior samples and dropout masks in both runs
        output = model(batch)
        loss = output.recon_nll + output.stop_nll + sum(kl.sum() for kl in output.kl.values())
        loss.backward()
        return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    model.train()
    reference_loss, reference = loss_and_gradients()
    model.activation_checkpointing_enable()
    assert (
        model.decoder.lm.base_model.gradient_checkpointing
        and model.encoder.sentence_encoder.encoder.layer[0].gradient_checkpointing
    )
    checkpointed_loss, checkpointed = loss_and_gradients()
    assert decoder_forwards(model, loss_and_gradients) > decoder_forwards(
        model, loss_and_gradients, checkpointing=False
    ), "recomputed"
    torch.testing.assert_close(checkpointed_loss, reference_loss, rtol=0, atol=1e-5)
    assert checkpointed.keys() == reference.keys() and any("layers.gates" in name for name in reference)
    for name in reference:
        torch.testing.assert_close(checkpointed[name], reference[name], rtol=1e-5, atol=1e-5, msg=name)
