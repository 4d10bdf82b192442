"""KL control: beta schedules, staggering, free bits and the assembled loss, against hand computations."""

import pytest
import torch
from pydantic import ValidationError

from doc_hvae import DocHVAE, DocHVAEConfig
from doc_hvae.config import LEVELS, default_decoder_config, default_encoder_config
from doc_hvae.data.batching import DocCollator
from doc_hvae.objectives import (
    BetaSchedule,
    FreeBits,
    Objective,
    beta_at,
    free_bits_kl,
    kl_balance_coefficients,
    objective_loss,
)

# ---------------------------------------------------------------------------------------------
# beta(step)


def test_constant_schedule():
    schedule = BetaSchedule(kind="constant", start=0.0, end=0.7)
    assert [beta_at(step, schedule) for step in (0, 1, 10_000)] == [0.7, 0.7, 0.7]


def test_constant_schedule_respects_offset_and_stagger():
    schedule = BetaSchedule(kind="constant", start=0.0, end=0.7, offset_steps=100)
    assert beta_at(99, schedule) == 0.0
    assert beta_at(100, schedule) == pytest.approx(0.7)
    objective = Objective(beta=BetaSchedule(kind="constant", end=1.0), stagger_steps=100)
    document, _ = objective.for_level("document", list(LEVELS))
    assert beta_at(0, document) == 0.0  # bottom-up: the document level is charged last


def test_linear_schedule():
    schedule = BetaSchedule(kind="linear", start=0.2, end=1.0, warmup_steps=100)
    assert beta_at(0, schedule) == pytest.approx(0.2)
    assert beta_at(50, schedule) == pytest.approx(0.6)
    assert beta_at(75, schedule) == pytest.approx(0.8)
    assert beta_at(100, schedule) == pytest.approx(1.0)
    assert beta_at(5_000, schedule) == pytest.approx(1.0)
    assert beta_at(10, BetaSchedule(kind="linear", start=0.3, end=0.9, warmup_steps=0)) == pytest.approx(0.9)


def test_linear_schedule_with_offset():
    schedule = BetaSchedule(kind="linear", start=0.0, end=1.0, warmup_steps=100, offset_steps=40)
    assert beta_at(0, schedule) == 0.0
    assert beta_at(39, schedule) == 0.0
    assert beta_at(40, schedule) == 0.0
    assert beta_at(90, schedule) == pytest.approx(0.5)
    assert beta_at(140, schedule) == pytest.approx(1.0)


def test_cyclical_schedule():
    schedule = BetaSchedule(kind="cyclical", start=0.0, end=1.0, cycle_steps=100, ramp_fraction=0.5, num_cycles=2)
    # First cycle: ramp over 50 steps, then a plateau.
    assert beta_at(0, schedule) == 0.0
    assert beta_at(25, schedule) == pytest.approx(0.5)
    assert beta_at(50, schedule) == pytest.approx(1.0)
    assert beta_at(99, schedule) == pytest.approx(1.0)
    # Second cycle starts again from `start`.
    assert beta_at(100, schedule) == 0.0
    assert beta_at(110, schedule) == pytest.approx(0.2)
    assert beta_at(175, schedule) == pytest.approx(1.0)
    # After num_cycles it stays at `end`.
    assert beta_at(200, schedule) == pytest.approx(1.0)
    assert beta_at(210, schedule) == pytest.approx(1.0)
    assert beta_at(10_000, schedule) == pytest.approx(1.0)
    # Without num_cycles it keeps cycling.
    endless = schedule.model_copy(update={"num_cycles": None})
    assert beta_at(210, endless) == pytest.approx(0.2)
    assert beta_at(10_025, endless) == pytest.approx(0.5)


def test_cyclical_schedule_with_offset_and_start():
    schedule = BetaSchedule(kind="cyclical", start=0.1, end=0.5, cycle_steps=40, ramp_fraction=0.25, offset_steps=20)
    assert beta_at(0, schedule) == pytest.approx(0.1)
    assert beta_at(20, schedule) == pytest.approx(0.1)
    assert beta_at(25, schedule) == pytest.approx(0.3)  # 5 of 10 ramp steps
    assert beta_at(30, schedule) == pytest.approx(0.5)
    assert beta_at(60, schedule) == pytest.approx(0.1)  # next cycle


def test_schedule_rejects_invalid_values():
    with pytest.raises(ValidationError, match="ramp_fraction"):
        BetaSchedule(kind="cyclical", ramp_fraction=0.0)
    with pytest.raises(ValidationError, match="kind"):
        BetaSchedule(kind="sigmoid")
    with pytest.raises(ValidationError, match="warmup"):
        BetaSchedule(warmup_steps=100, warmup=3)  # unknown key: refused, not ignored


# ---------------------------------------------------------------------------------------------
# Per-level schedules


def offsets(objective: Objective, levels) -> dict[str, int]:
    return {level: objective.for_level(level, list(levels))[0].offset_steps for level in levels}


def test_stagger_bottom_up_charges_the_document_level_last():
    objective = Objective(beta=BetaSchedule(offset_steps=5), stagger_steps=100, stagger_order="bottom_up")
    assert offsets(objective, LEVELS) == {"document": 205, "paragraph": 105, "sentence": 5}
    assert offsets(objective, ["document", "sentence"]) == {"document": 105, "sentence": 5}
    schedule, _ = objective.for_level("document", list(LEVELS))
    assert beta_at(204, schedule) == 0.0 and beta_at(205 + 500, schedule) == pytest.approx(0.5)


def test_stagger_top_down_charges_the_document_level_first():
    objective = Objective(stagger_steps=100, stagger_order="top_down")
    assert offsets(objective, LEVELS) == {"document": 0, "paragraph": 100, "sentence": 200}


def test_no_stagger_by_default():
    assert offsets(Objective(), LEVELS) == {"document": 0, "paragraph": 0, "sentence": 0}


def test_per_level_overrides_win():
    objective = Objective(
        stagger_steps=100,
        free_bits=FreeBits(mode="dimension", nats=0.25),
        levels={
            "document": {"beta": {"kind": "constant", "end": 0.3, "offset_steps": 7}},
            "sentence": {"free_bits": {"mode": "unit", "nats": 2.0}},
        },
    )
    document_beta, document_free_bits = objective.for_level("document", list(LEVELS))
    assert document_beta.kind == "constant" and document_beta.offset_steps == 7  # no stagger on an override
    assert document_free_bits == FreeBits(mode="dimension", nats=0.25)
    sentence_beta, sentence_free_bits = objective.for_level("sentence", list(LEVELS))
    assert sentence_beta == BetaSchedule()  # default schedule, sentence is first bottom-up: offset 0
    assert sentence_free_bits == FreeBits(mode="unit", nats=2.0)
    paragraph_beta, _ = objective.for_level("paragraph", list(LEVELS))
    assert paragraph_beta.offset_steps == 100


def test_unknown_objective_level_is_rejected():
    with pytest.raises(ValidationError, match="word"):
        Objective(levels={"word": {}})
    with pytest.raises(ValidationError, match="stagger_order"):
        Objective(stagger_order="sideways")


# ---------------------------------------------------------------------------------------------
# Free bits


KL = torch.tensor([[0.1, 2.0], [0.3, 0.5], [0.2, 3.5]])  # [units=3, dims=2]; raw total 6.6


def charged_and_grad(mode: str, nats: float):
    kl = KL.clone().requires_grad_(True)
    charged = free_bits_kl(kl, FreeBits(mode=mode, nats=nats))
    charged.backward()
    return charged.item(), kl.grad


def test_free_bits_per_dimension():
    # Batch means per dimension: (0.2, 2.0); hinge at 0.5 -> (0.5, 2.0); times 3 units.
    charged, grad = charged_and_grad("dimension", 0.5)
    assert charged == pytest.approx(3 * (0.5 + 2.0))
    torch.testing.assert_close(grad, torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]))


def test_free_bits_per_unit():
    # Unit totals: (2.1, 0.8, 3.7); hinge at 1.0 -> (2.1, 1.0, 3.7).
    charged, grad = charged_and_grad("unit", 1.0)
    assert charged == pytest.approx(2.1 + 1.0 + 3.7)
    torch.testing.assert_close(grad, torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]))


def test_free_bits_per_level():
    # Mean unit total 2.2: below a 3-nat threshold the level is free (3 units x 3 nats, no gradient) ...
    charged, grad = charged_and_grad("level", 3.0)
    assert charged == pytest.approx(9.0)
    assert (grad == 0).all()
    # ... above a 1-nat threshold it pays the raw total with the raw gradient.
    charged, grad = charged_and_grad("level", 1.0)
    assert charged == pytest.approx(6.6)
    torch.testing.assert_close(grad, torch.ones_like(KL))


@pytest.mark.parametrize("mode, nats", [("none", 5.0), ("dimension", 0.0), ("unit", 0.0), ("level", 0.0)])
def test_free_bits_off_is_the_raw_sum(mode, nats):
    charged, grad = charged_and_grad(mode, nats)
    assert charged == pytest.approx(6.6)
    torch.testing.assert_close(grad, torch.ones_like(KL))


def test_free_bits_are_never_below_the_raw_kl():
    generator = torch.Generator().manual_seed(0)
    kl = torch.rand(16, 8, generator=generator) * 2
    for mode in ("dimension", "unit", "level"):
        for nats in (0.1, 1.0, 10.0):
            assert free_bits_kl(kl, FreeBits(mode=mode, nats=nats)) >= kl.sum() - 1e-5


def test_free_bits_decay_linearly_to_the_raw_kl():
    free_bits = FreeBits(mode="dimension", nats=0.5, decay_offset_steps=100, decay_steps=50)
    assert [free_bits.nats_at(step) for step in (0, 99, 100, 125, 150, 1000)] == pytest.approx(
        [0.5, 0.5, 0.5, 0.25, 0.0, 0.0]
    )
    # Halfway the first dimension's batch mean (0.2) is below the 0.25 hinge; after the decay it pays its raw KL.
    assert free_bits_kl(KL, free_bits, step=125).item() == pytest.approx(3 * (0.25 + 2.0))
    assert free_bits_kl(KL, free_bits, step=150).item() == pytest.approx(6.6)
    assert FreeBits(nats=0.5, decay_offset_steps=10).nats_at(10) == 0.0  # no decay steps: off at once
    assert FreeBits(nats=0.5).nats_at(10**6) == 0.5  # no offset: never decays
    with pytest.raises(ValidationError, match="decay_offset_steps"):
        FreeBits(nats=0.5, decay_steps=50)  # a decay with no start would be ignored silently


def test_free_bits_on_no_units():
    assert free_bits_kl(torch.zeros(0, 4), FreeBits(mode="dimension", nats=1.0)).item() == 0.0


# ---------------------------------------------------------------------------------------------
# The assembled loss on a real model output

V = 64
DOCS = [
    {"id": "a", "paragraphs": [[[10, 11, 12], [13, 14]], [[15, 16, 17, 18]]], "num_words": 9},
    {"id": "b", "paragraphs": [[[20, 21]], [[22, 23, 24], [25, 26], [27]], [[28, 29]]], "num_words": 11},
]


def test_objective_loss_matches_a_hand_computation():
    config = DocHVAEConfig(
        latent_size=8,
        vocab_size=V,
        decoder=default_decoder_config(V, 32, 2, 2),
        encoder=default_encoder_config(V, 32, 1, 2),
        bow_levels=["paragraph"],
    )
    torch.manual_seed(0)
    model = DocHVAE(config).eval()
    with torch.no_grad():  # posteriors far from the N(0, I) start, so the KL terms weigh in the loss
        for level in model.latent_levels.values():
            level.posterior_net[-1].weight.normal_(0.0, 3.0)
    batch = DocCollator.for_model(config)(DOCS)
    output = model(batch)
    # Thresholds inside the range of the KLs, so that the hinge is active for some dims/units only.
    dim_nats = output.kl["sentence"].detach().mean(0).median().item()
    unit_nats = output.kl["document"].detach().sum(-1).mean().item()
    objective = Objective(
        beta=BetaSchedule(kind="linear", start=0.0, end=1.0, warmup_steps=100),
        free_bits=FreeBits(mode="dimension", nats=dim_nats),
        stagger_steps=20,
        levels={"document": {"free_bits": {"mode": "unit", "nats": unit_nats}}},
        bow_loss_weight={"paragraph": 0.5},
    )
    step = 50
    loss, logs = objective_loss(output, objective, step, config.levels)

    betas = {"sentence": 0.5, "paragraph": 0.3, "document": 0.1}  # bottom-up stagger: offsets 0, 20, 40
    charged = {
        "sentence": 8 * output.kl["sentence"].mean(0).clamp(min=dim_nats).sum(),
        "paragraph": 5 * output.kl["paragraph"].mean(0).clamp(min=dim_nats).sum(),
        "document": output.kl["document"].sum(-1).clamp(min=unit_nats).sum(),
    }
    for level in LEVELS:
        assert charged[level] > output.kl[level].sum()  # free bits are active ...
    assert (output.kl["sentence"].mean(0) > dim_nats).any()  # ... but not everywhere
    assert (output.kl["document"].sum(-1) > unit_nats).any()
    assert output.kl["sentence"].shape == (8, 8) and output.kl["paragraph"].shape == (5, 8)
    aux = 0.5 * output.bow_nll["paragraph"]
    assert aux > 0
    expected = (
        output.recon_nll + output.stop_nll + aux + sum(betas[level] * charged[level] for level in LEVELS)
    ) / output.num_tokens
    torch.testing.assert_close(loss, expected)
    kl_part = sum(betas[level] * charged[level] for level in LEVELS)
    assert kl_part > 0.1 * (output.recon_nll + output.stop_nll)  # a wrong KL term would show in the loss
    torch.testing.assert_close(
        loss * output.num_tokens - output.recon_nll - output.stop_nll - aux, kl_part, rtol=1e-4, atol=1e-4
    )
    assert loss.requires_grad

    for level in LEVELS:
        assert logs[f"beta/{level}"] == pytest.approx(betas[level])
        torch.testing.assert_close(logs[f"kl_raw/{level}"], output.kl[level].sum().detach() / 2)
        torch.testing.assert_close(logs[f"kl_free_bits/{level}"], charged[level].detach() / 2)
        assert not logs[f"kl_raw/{level}"].requires_grad
    torch.testing.assert_close(logs["loss"], expected.detach())
    torch.testing.assert_close(logs["recon_nll_per_token"], output.recon_nll.detach() / output.num_tokens)
    torch.testing.assert_close(logs["stop_nll_per_document"], output.stop_nll.detach() / 2)
    torch.testing.assert_close(logs["bow_nll/paragraph"], output.bow_nll["paragraph"].detach() / output.num_tokens)
    # Free bits change what is charged, not what is logged as raw KL.
    assert logs["kl_free_bits/document"] >= logs["kl_raw/document"]


def test_objective_loss_without_latents_is_the_lm_loss():
    config = DocHVAEConfig(
        levels=[],
        vocab_size=V,
        decoder=default_decoder_config(V, 32, 2, 2),
        encoder=default_encoder_config(V, 32, 1, 2),
    )
    torch.manual_seed(0)
    model = DocHVAE(config).eval()
    output = model(DocCollator.for_model(config)(DOCS))
    loss, logs = objective_loss(output, Objective(), step=0, model_levels=[])
    torch.testing.assert_close(loss, (output.recon_nll + output.stop_nll) / output.num_tokens)
    torch.testing.assert_close(loss, output.loss)
    assert not any(key.startswith(("kl_raw/", "beta/")) for key in logs)


# ---------------------------------------------------------------------------------------------
# KL balancing (NVAE)


def test_kl_balance_coefficients_follow_the_kl_per_variable_and_average_one():
    kl = {
        "document": torch.full((2, 4), 1.0),
        "paragraph": torch.full((6, 4), 0.1),
        "sentence": torch.full((12, 4), 0.0),
    }
    coefficients = kl_balance_coefficients(kl)
    assert sum(float(c) for c in coefficients.values()) / 3 == pytest.approx(1.0)
    per_variable = {"document": 1.01, "paragraph": 0.11, "sentence": 0.01}
    mean = sum(per_variable.values()) / 3
    for level, value in per_variable.items():
        assert float(coefficients[level]) == pytest.approx(value / mean)
    assert not coefficients["document"].requires_grad


def test_kl_balancing_weights_the_kl_during_the_warm_up_only():
    kl = {
        "document": torch.full((2, 4), 1.0, requires_grad=True),
        "sentence": torch.full((6, 4), 0.1, requires_grad=True),
    }
    output = type(
        "Output",
        (),
        {
            "num_tokens": 10,
            "num_documents": 2,
            "recon_nll": torch.tensor(5.0),
            "stop_nll": torch.tensor(1.0),
            "kl": kl,
            "bow_nll": {},
        },
    )()
    plain = Objective(beta=BetaSchedule(kind="linear", warmup_steps=10))
    balanced = plain.model_copy(update={"kl_balancing": True})
    coefficients = kl_balance_coefficients(kl)
    levels = ["document", "sentence"]
    # At step 5, beta = 0.5 for both levels: each KL is weighted by its coefficient.
    loss, logs = objective_loss(output, balanced, 5, levels)
    expected = (6.0 + 0.5 * sum(float(coefficients[level]) * float(kl[level].detach().sum()) for level in levels)) / 10
    assert float(loss.detach()) == pytest.approx(expected)
    assert float(logs["kl_balance/document"]) > 1 > float(logs["kl_balance/sentence"])
    # After the warm-up (beta = 1) balancing is off: the same loss as without it.
    assert float(objective_loss(output, balanced, 20, levels)[0].detach()) == pytest.approx(
        float(objective_loss(output, plain, 20, levels)[0].detach())
    )


def test_bag_of_words_weights_live_in_the_objective_and_need_a_head():
    with pytest.raises(ValueError, match="bow_loss_weight"):
        Objective(bow_loss_weight={"chapter": 1.0})
    config = DocHVAEConfig(
        latent_size=8,
        vocab_size=V,
        decoder=default_decoder_config(V, 32, 2, 2),
        encoder=default_encoder_config(V, 32, 1, 2),
    )
    torch.manual_seed(0)
    output = DocHVAE(config).eval()(DocCollator.for_model(config)(DOCS))
    with pytest.raises(ValueError, match="no bag-of-words head"):
        objective_loss(output, Objective(bow_loss_weight={"document": 1.0}), 0, config.levels)
    # Weight 0 is off and needs no head.
    loss, _ = objective_loss(output, Objective(bow_loss_weight={"document": 0.0}), 0, config.levels)
    assert torch.isfinite(loss)
