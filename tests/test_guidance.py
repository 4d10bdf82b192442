"""Latent guidance (`doc_hvae.guidance`): the rule, its branches in the decoding loop, the nulls, bad settings."""

from __future__ import annotations

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from test_generation import (
    LAYERS_INJECTION,
    SMALL,
    THREE_LEVELS,
    batch_of,
    lively_model,
    make_rows,
    set_stop,
    tiny_model,
)

from doc_hvae.generation import LatentPlan, SamplingConfig, decode_documents, generate_in_style, seeded_generator
from doc_hvae.guidance import LatentGuidance

INF = float("-inf")

# Every decoder context and injection: memory (prefix), embedding and layers.
CASES = [
    (THREE_LEVELS, "paragraph", None),
    (THREE_LEVELS, "sentence", None),
    (THREE_LEVELS, "paragraph", LAYERS_INJECTION),
    (THREE_LEVELS, "sentence", LAYERS_INJECTION),
    (["document"], "paragraph", {"document": ["memory"]}),
    (["document", "sentence"], "paragraph", {"document": ["embedding"], "sentence": ["embedding"]}),
]
IDS = [
    "paragraph-context",
    "sentence-context",
    "paragraph-layers",
    "sentence-layers",
    "document-memory",
    "document-embedding",
]


def model_for(levels, context, injection):
    return lively_model(levels, decoder_context=context, **({"latent_injection": injection} if injection else {}))


def document_plan(model, count: int = 4, seed: int = 3) -> LatentPlan:
    """Fixed, far-apart z_doc (norm about 3x the prior's), so the document latent moves the decoder."""
    g = torch.Generator().manual_seed(seed)
    return LatentPlan(
        num_documents=count, document=3 * torch.randn(count, model.config.latent_dim("document"), generator=g)
    )


# ---------------------------------------------------------------------------------------------
# The rule


def guidance_of(scales, plausibility=0.0, levels=("document", "paragraph")):
    return LatentGuidance(tiny_model(list(levels)), scales, plausibility=plausibility)


def test_the_rule_is_l_u_plus_g_times_the_difference_on_log_probabilities():
    guidance = guidance_of({"document": 3.0})
    conditional, unconditional = torch.randn(2, 5), torch.randn(2, 5)
    guided = guidance.combine(torch.cat([conditional, unconditional]))
    lc, lu = conditional.log_softmax(-1), unconditional.log_softmax(-1)
    torch.testing.assert_close(guided, lu + 3.0 * (lc - lu))
    # g = 0 is the unconditional branch: the branch order matters.
    torch.testing.assert_close(guidance_of({"document": 0.0}).combine(torch.cat([conditional, unconditional])), lu)


def test_two_guided_levels_add_their_terms_in_one_call():
    guidance = guidance_of({"document": 2.0, "paragraph": 4.0})
    assert guidance.levels == ["document", "paragraph"] and guidance.branches == 3
    c, u_doc, u_par = (torch.randn(2, 6) for _ in range(3))
    guided = guidance.combine(torch.cat([c, u_doc, u_par]))
    lc, ld, lp = c.log_softmax(-1), u_doc.log_softmax(-1), u_par.log_softmax(-1)
    torch.testing.assert_close(guided, lc + 1.0 * (lc - ld) + 3.0 * (lc - lp))


def test_a_level_at_scale_one_runs_no_branch():
    assert guidance_of({"document": 1.0, "paragraph": 2.0}).levels == ["paragraph"]
    assert LatentGuidance.from_sampling(tiny_model(), SamplingConfig(guidance={"document": 1.0})) is None


@pytest.mark.parametrize("scale", [1.5, 5.0, 100.0, 1e6])
def test_large_scales_never_give_nan_or_an_empty_distribution(scale):
    """-inf in either branch: a token the conditional branch bans stays banned; one only the
    unconditional branch bans takes its conditional value; every row keeps a finite token."""
    conditional = torch.tensor([[0.0, 1.0, INF, 2.0], [INF, INF, 0.5, INF], [3.0, -1.0, 0.0, 0.0]])
    unconditional = torch.tensor([[INF, 1.0, 0.0, INF], [0.0, 1.0, INF, 2.0], [INF, INF, INF, 5.0]])
    for plausibility in (0.0, 0.1, 0.9):
        guided = guidance_of({"document": scale}, plausibility).combine(torch.cat([conditional, unconditional]))
        assert not guided.isnan().any()
        assert torch.isfinite(guided).any(-1).all(), "every row keeps at least one token"
        assert (guided[torch.isinf(conditional)] == INF).all(), "tokens the conditional branch bans stay banned"
        probabilities = guided.softmax(-1)
        assert torch.isfinite(probabilities).all() and torch.allclose(probabilities.sum(-1), torch.ones(3))
    # Row 1: the only token the conditional branch allows is unbanned by the other branch: it stays, at probability 1.
    assert guidance_of({"document": scale}).combine(torch.cat([conditional, unconditional]))[1].softmax(-1)[2] == 1.0


def test_the_plausibility_cut_keeps_tokens_near_the_conditional_best():
    conditional = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    unconditional = torch.log(torch.tensor([[0.7, 0.2, 0.05, 0.05]]))
    guided = guidance_of({"document": 10.0}, plausibility=0.25).combine(torch.cat([conditional, unconditional]))
    kept = torch.isfinite(guided[0]).tolist()
    assert kept == [True, True, True, False]  # p_c >= 0.25 * 0.5 keeps 0.5, 0.3 and 0.15
    without = guidance_of({"document": 10.0}).combine(torch.cat([conditional, unconditional]))
    assert torch.isfinite(without).all()


# ---------------------------------------------------------------------------------------------
# In the decoding loop


@pytest.mark.parametrize("levels, context, injection", CASES, ids=IDS)
def test_scale_one_decodes_the_same_tokens_as_no_guidance(levels, context, injection):
    model = model_for(levels, context, injection)
    for temperature in (0.0, 1.0):
        plain = SamplingConfig(temperature=temperature, **SMALL)
        unit = SamplingConfig(temperature=temperature, guidance={"document": 1.0}, **SMALL)
        expected = decode_documents(model, document_plan(model), plain, seeded_generator(0))
        assert decode_documents(model, document_plan(model), unit, seeded_generator(0)) == expected


@pytest.mark.parametrize("context", ["paragraph", "sentence"])
@pytest.mark.parametrize("injection", ["memory", "embedding", "layers"])
def test_the_unconditional_branch_decodes_as_the_null_latent(context, injection):
    """g = 0 leaves only the unconditional branch: its tokens must be those of the plain decoder
    given the null (zero) z_doc, and (not vacuous) differ from the conditional ones. Fails if the
    unconditional rows carried the real latents. A document level only (the levels below would be
    drawn from z_doc's own prior in one decoding and from the null's in the other), one paragraph, greedy."""
    model = lively_model(["document"], decoder_context=context, latent_injection={"document": [injection]})
    set_stop(model, 50.0)
    greedy = dict(temperature=0.0, max_tokens=12, max_paragraphs=1, max_sentences=3)
    plan = document_plan(model)
    null = LatentPlan(num_documents=plan.num_documents, document=torch.zeros_like(plan.document))
    unconditional = decode_documents(model, plan, SamplingConfig(guidance={"document": 0.0}, **greedy))
    assert unconditional == decode_documents(model, null, SamplingConfig(**greedy))
    assert unconditional != decode_documents(model, plan, SamplingConfig(**greedy))


@pytest.mark.parametrize("levels, context, injection", CASES, ids=IDS)
def test_guided_decoding_is_the_same_with_and_without_the_kv_cache(levels, context, injection):
    model = model_for(levels, context, injection)
    guided = {"document": 3.0, **({"paragraph": 2.0} if "paragraph" in levels else {})}
    sampling = SamplingConfig(
        temperature=1.0, guidance=guided, guidance_plausibility=0.05, max_tokens=12, max_paragraphs=3, max_sentences=3
    )
    plain = SamplingConfig(temperature=1.0, max_tokens=12, max_paragraphs=3, max_sentences=3)
    changed = []
    for seed in range(3):
        cached = decode_documents(model, document_plan(model), sampling, seeded_generator(seed), use_cache=True)
        assert cached == decode_documents(
            model, document_plan(model), sampling, seeded_generator(seed), use_cache=False
        )
        changed.append(cached != decode_documents(model, document_plan(model), plain, seeded_generator(seed)))
    assert any(changed), "guidance at g = 3 should change what the decoder writes"


def test_generate_in_style_takes_the_guidance_of_its_sampling_config():
    model = lively_model()
    batch = batch_of(model, make_rows())
    plain = generate_in_style(model, batch, 2, SamplingConfig(temperature=0.0, **SMALL))
    guided = generate_in_style(model, batch, 2, SamplingConfig(temperature=0.0, guidance={"document": 4.0}, **SMALL))
    assert [len(group) for group in guided] == [2, 2, 2]
    assert guided != plain


# ---------------------------------------------------------------------------------------------
# Nulls and bad settings


def test_a_learned_null_is_trained_in_place_of_hidden_latents_and_used_as_the_guidance_null():
    model = tiny_model(decoder_latent_drop={"document": 0.5}, decoder_latent_null="learned")
    null = model.decoder.null_latents["document"]
    assert null.shape == (8,) and (null == 0).all(), "a learned null starts as the zero null"
    with torch.no_grad():
        null.fill_(0.7)
    model.train()
    torch.manual_seed(0)
    z = torch.randn(64, 8)
    hidden = model.decoder.hide_units("document", z, 0.5)
    replaced = (hidden == 0.7).all(-1)
    assert 10 < int(replaced.sum()) < 54 and torch.equal(hidden[~replaced], z[~replaced])
    model.eval()
    assert torch.equal(model.decoder.hide_units("document", z, 0.5), z), "nothing is hidden at evaluation"
    guidance = LatentGuidance(model, {"document": 2.0}, null="learned")
    assert torch.equal(guidance.expand_latents({"document": z[:3]})["document"][3:], torch.full((3, 8), 0.7))
    # The null gets gradients from the reconstruction loss of the documents it stands in for.
    model.train()
    model(batch_of(model, make_rows() * 8)).recon_nll.backward()
    assert null.grad is not None


@pytest.mark.parametrize(
    "kwargs, named",
    [
        (dict(guidance={"document": -1.0}), "guidance="),
        (dict(guidance={"document": float("inf")}), "guidance="),
        (dict(guidance={"document": "3"}), "guidance="),
        (dict(guidance_null="mean"), "guidance_null"),
        (dict(guidance_plausibility=1.0), "guidance_plausibility"),
        (dict(guidance_plausibility=-0.1), "guidance_plausibility"),
    ],
)
def test_sampling_config_rejects_bad_guidance(kwargs, named):
    with pytest.raises(ValueError, match=named):
        SamplingConfig(**kwargs)


def test_guidance_that_the_model_cannot_follow_is_refused_with_one_message():
    with pytest.raises(ValueError, match=r"level\(s\) \['paragraph'\].*levels are \['document', 'sentence'\]"):
        decode_documents(
            tiny_model(["document", "sentence"]), LatentPlan(1), SamplingConfig(guidance={"paragraph": 2.0}, **SMALL)
        )
    with pytest.raises(ValueError, match="flat LM"):
        decode_documents(tiny_model([]), LatentPlan(1), SamplingConfig(guidance={"document": 2.0}, **SMALL))
    with pytest.raises(ValueError, match="trained without a learned null.*guidance_null='zero'"):
        decode_documents(
            tiny_model(), LatentPlan(1), SamplingConfig(guidance={"document": 2.0}, guidance_null="learned", **SMALL)
        )
    with pytest.raises(ValueError, match="decoder_latent_null"):
        tiny_model(decoder_latent_null="learned")  # nothing hidden, nothing learned


def test_guided_log_probabilities_are_normalised_before_temperature():
    """The rule works on log-probabilities, so shifting a branch's logits by a constant changes nothing."""
    guidance = guidance_of({"document": 3.0})
    c, u = torch.randn(1, 7), torch.randn(1, 7)
    torch.testing.assert_close(guidance.combine(torch.cat([c, u])), guidance.combine(torch.cat([c + 5.0, u - math.pi])))


# ---------------------------------------------------------------------------------------------
# Everywhere a user samples: a config's recommended sampling, the recipe's flags, the pipeline


def test_a_training_config_s_sampling_is_checked_at_load():
    from doc_hvae.config_loading import validate_config
    from doc_hvae.errors import ConfigError
    from doc_hvae.training import TrainConfig

    base = {"data": {"prepared_dir": "d"}, "training": {"output_dir": "o"}}
    config = validate_config(TrainConfig, {**base, "sampling": {"guidance": {"document": 3.0}, "temperature": 0.8}})
    assert config.sampling == {"guidance": {"document": 3.0}, "temperature": 0.8}
    with pytest.raises(ConfigError, match="guidanse"):
        validate_config(TrainConfig, {**base, "sampling": {"guidanse": {"document": 3.0}}})
    with pytest.raises(ConfigError, match="guidance="):
        validate_config(TrainConfig, {**base, "sampling": {"guidance": {"document": -2}}})


def test_the_recipe_and_the_pipeline_start_from_the_model_s_recommended_sampling(tmp_path_factory):
    import yaml

    from conftest import export_folder
    from doc_hvae import DocHVAEPipeline
    from doc_hvae.generation import DEFAULT_SAMPLING
    from doc_hvae.recipes import generate_docs

    folder = export_folder(tmp_path_factory, THREE_LEVELS)
    config_file = os.path.join(folder, "train_config.yaml")
    saved = yaml.safe_load(open(config_file))
    with open(config_file, "w") as file:
        yaml.safe_dump({**saved, "sampling": {"guidance": {"document": 3.0}, "top_p": 0.9}}, file)

    args = generate_docs.parse_args(["--model", folder])
    recommended = generate_docs.sampling_config(args, generate_docs.recommended_sampling(folder))
    assert (recommended.guidance, recommended.top_p, recommended.temperature) == (
        {"document": 3.0},
        0.9,
        DEFAULT_SAMPLING["temperature"],
    )
    flags = generate_docs.parse_args(
        [
            "--model",
            folder,
            "--guidance",
            "document=1.5",
            "paragraph=2",
            "--top-p",
            "0.8",
            "--guidance-plausibility",
            "0.1",
        ]
    )
    given = generate_docs.sampling_config(flags, generate_docs.recommended_sampling(folder))
    assert (given.guidance, given.top_p, given.guidance_plausibility) == ({"document": 1.5, "paragraph": 2.0}, 0.8, 0.1)
    with pytest.raises(SystemExit, match="LEVEL=FLOAT"):
        generate_docs.sampling_config(generate_docs.parse_args(["--model", folder, "--guidance", "document"]))

    pipe = DocHVAEPipeline.from_pretrained(folder, device="cpu")
    assert pipe.sampling.guidance == {"document": 3.0} and pipe.sampling.top_p == 0.9
    text = "A list is a mutable sequence. It grows.\n\nSlicing returns a new list."
    guided = pipe.generate_in_style(text, per_text=1, seed=0, max_paragraphs=1, max_tokens=10)
    assert (
        guided[0].text
        == pipe.generate_in_style(
            text, per_text=1, seed=0, max_paragraphs=1, max_tokens=10, guidance={"document": 3.0}
        )[0].text
    )
