"""Anti-collapse options of the latent levels: BN-VAE mean normalisation and posterior initialisation."""

import pytest
import torch

from doc_hvae import DocHVAE, DocHVAEConfig
from doc_hvae.config import default_decoder_config, default_encoder_config
from doc_hvae.data.batching import DocCollator
from doc_hvae.modeling.latents import PosteriorMeanNorm

V = 64


def make_model(**kwargs) -> DocHVAE:
    torch.manual_seed(0)
    config = DocHVAEConfig(
        levels=["document", "paragraph", "sentence"],
        latent_size=8,
        vocab_size=V,
        decoder=default_decoder_config(V, 32, 1, 2),
        encoder=default_encoder_config(V, 32, 1, 2),
        **kwargs,
    )
    return DocHVAE(config)


def rows(n_documents: int) -> list[dict]:
    generator = torch.Generator().manual_seed(1)
    documents = []
    for d in range(n_documents):
        paragraphs = [
            [
                torch.randint(
                    5, V, (int(torch.randint(3, 9, (1,), generator=generator)),), generator=generator
                ).tolist()
                for _ in range(3)
            ]
            for _ in range(2)
        ]
        documents.append({"id": str(d), "paragraphs": paragraphs, "num_words": 10})
    return documents


def test_mean_norm_gives_every_dimension_the_fixed_spread_in_training():
    norm = PosteriorMeanNorm(dim=4, gamma=0.5).train()
    generator = torch.Generator().manual_seed(0)
    means = (
        torch.randn(64, 4, generator=generator) * torch.tensor([0.1, 1.0, 10.0, 0.0]) + 3.0
    )  # small, unit, large and no spread (eps=1e-5 floors below ~3e-3)
    out = norm(means)
    spread = out.std(0, unbiased=False)
    assert torch.allclose(spread[:3], torch.full((3,), 0.5), atol=1e-3)  # whatever the raw spread
    assert torch.allclose(out.mean(0), torch.zeros(4), atol=1e-5)  # centred (shift starts at 0)
    # The normalisation is scale-invariant, so training cannot shrink the spread through its input.
    # Up to the eps floor, which scales the small-spread column by sqrt(1 + eps / var) ~ 1 + 5e-4.
    assert torch.allclose(norm(means * 1000.0)[:, :3], out[:, :3], rtol=2e-3, atol=1e-4)


def test_mean_norm_uses_running_statistics_in_eval_and_for_single_units():
    norm = PosteriorMeanNorm(dim=2, gamma=1.0, momentum=1.0).train()
    batch = torch.tensor([[0.0, 10.0], [2.0, 30.0]])
    norm(batch)  # momentum 1: the running statistics become this batch's
    assert torch.allclose(norm.running_mean, torch.tensor([1.0, 20.0]))
    assert torch.allclose(norm.running_var, torch.tensor([1.0, 100.0]))
    single = torch.tensor([[3.0, 40.0]])
    expected = (single - torch.tensor([1.0, 20.0])) / torch.sqrt(torch.tensor([1.0, 100.0]) + norm.eps)
    assert torch.allclose(norm(single), expected, atol=1e-5)  # one unit: no batch statistics to take
    norm.eval()
    assert torch.allclose(norm(single), expected, atol=1e-5)


def test_model_with_mean_norm_keeps_posterior_means_apart():
    model = make_model(posterior_mean_norm={"document": 0.5, "sentence": 0.3}).train()
    assert model.latent_levels["paragraph"].mean_norm is None
    batch = DocCollator.for_model(model.config)(rows(6))
    output = model(batch, return_latents=True)
    for level, gamma in (("document", 0.5), ("sentence", 0.3)):
        means = output.latents[level].posterior.mean
        assert torch.allclose(means.std(0, unbiased=False), torch.full((8,), gamma), atol=0.02), level
    (output.recon_nll + sum(k.sum() for k in output.kl.values())).backward()
    assert model.latent_levels["document"].mean_norm.shift.grad is not None
    # Saved and loaded with the running statistics.
    assert "latent_levels.document.mean_norm.running_var" in model.state_dict()


def test_recalibration_sets_exact_eval_mode_statistics_top_down_and_keeps_state():
    model = make_model(posterior_mean_norm={"document": 0.5, "paragraph": 0.5, "sentence": 0.3}).train()
    collate = DocCollator.for_model(model.config)
    batches = [collate(rows(4)), collate(rows(6)[2:])]
    for level in model.config.levels:  # stale statistics, as after fast-moving training with dropout on
        model.latent_levels[level].mean_norm.running_mean.fill_(5.0)
    # What each level's norm sees in eval mode once its parents are recalibrated:
    inputs = {level: [] for level in model.config.levels}
    hooks = [
        model.latent_levels[level].mean_norm.register_forward_hook(
            lambda m, args, out, level=level: inputs[level].append(args[0])
        )
        for level in model.config.levels
    ]
    rng_before = torch.get_rng_state()
    seen = model.recalibrate_posterior_norms(batches)
    for hook in hooks:
        hook.remove()
    assert seen == {"document": 8, "paragraph": 16, "sentence": 48}
    assert model.training and torch.equal(torch.get_rng_state(), rng_before)
    for level in model.config.levels:
        # A level first runs in its own pass (top-down: its parents are already recalibrated).
        values = torch.cat(inputs[level][: len(batches)]).double()
        norm = model.latent_levels[level].mean_norm
        assert torch.allclose(norm.running_mean.double(), values.mean(0), atol=1e-5), level
        assert torch.allclose(norm.running_var.double(), values.var(0, unbiased=False), atol=1e-5), level
    # Eval mode now normalises the same inputs to (about) the spread gamma training gives them.
    model.eval()
    with torch.no_grad():
        means = torch.cat([model(batch, return_latents=True).latents["document"].posterior.mean for batch in batches])
    assert means.std(0, unbiased=False).mean().item() == pytest.approx(0.5, rel=0.05)


def test_recalibration_needs_two_units():
    model = make_model(posterior_mean_norm={"document": 0.5})
    with pytest.raises(ValueError, match="saw 1 unit"):
        model.recalibrate_posterior_norms([DocCollator.for_model(model.config)(rows(1))])


def test_posterior_initialisation_options():
    model = make_model(posterior_log_scale_init=-2.0)
    head = model.latent_levels["sentence"].posterior_net[-1]
    assert torch.all(head.bias[8:] == -2.0) and torch.all(head.bias[:8] == 0.0)
    # Variance-preserving init of the posterior MLP (std 1/sqrt(fan_in)), not transformers' 0.02.
    first = model.latent_levels["sentence"].posterior_net[0]
    assert first.weight.std().item() == pytest.approx(first.weight.shape[1] ** -0.5, rel=0.1)
    # And the prior heads still start at zero (every prior starts as N(0, I)).
    assert torch.count_nonzero(model.latent_levels["sentence"].prior_head.weight) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"posterior_mean_norm": {"chapter": 0.5}},
        {"posterior_mean_norm": {"document": -1}},
        {"posterior_log_scale_init": -9.0},
    ],
)
def test_invalid_anti_collapse_options_are_rejected(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        make_model(**kwargs)


def test_prior_step_and_stop_step_equal_the_training_pass_unit_by_unit():
    """Generation draws one unit at a time with the levels' and the stop head's own step methods:
    at every position they give what the whole-batch pass gives for the same latents."""
    model = make_model().eval()
    with torch.no_grad():
        for level in ("paragraph", "sentence"):  # priors that are not N(0, I) at init
            model.latent_levels[level].prior_head.weight.normal_(0, 0.5)
        batch = DocCollator.for_model(model.config)(rows(3))
        output = model(batch, return_latents=True)
        z = {level: out.z for level, out in output.latents.items()}
        level = model.latent_levels["paragraph"]
        siblings = batch.siblings("paragraph")
        history = siblings.group(z["paragraph"])  # [documents, paragraphs, D]
        whole = output.latents["paragraph"].prior
        for k in range(history.shape[1]):
            step = level.prior_step(history, torch.full((history.shape[0],), k), z["document"])
            units = siblings.children[:, k]
            assert torch.allclose(step.mean, whole.mean[units], atol=1e-5) and torch.allclose(
                step.log_scale, whole.log_scale[units], atol=1e-5
            )
        top = model.latent_levels["document"].prior_step(z["document"][:, None], torch.zeros(3, dtype=torch.long), None)
        assert torch.equal(top.mean, torch.zeros_like(z["document"])) and torch.equal(
            top.log_scale, torch.zeros_like(z["document"])
        )

        logits = model.stop_head(z, batch.paragraph_document, siblings)
        for count in range(1, history.shape[1] + 1):
            probability = model.stop_head.last_probability({"document": z["document"], "paragraph": history}, 3, count)
            assert torch.allclose(probability, torch.sigmoid(logits[siblings.children[:, count - 1]]), atol=1e-6)
