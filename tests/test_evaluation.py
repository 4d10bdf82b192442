"""`doc_hvae.evaluation`: the report of docs/metrics.md on tiny models and a handful of documents.

The models are untrained (or have hand-scaled posteriors): the tests check the bookkeeping and
the relations every report must satisfy, not the values of a trained model. The estimators
themselves are checked against closed forms in test_estimators.py.
"""

from __future__ import annotations

import math
import os
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import datasets
import pytest
import torch

import doc_hvae.evaluation as evaluation
from doc_hvae.config import DocHVAEConfig, default_decoder_config, default_encoder_config
from doc_hvae.data.batching import DocCollator, TokenBudgetBatchSampler
from doc_hvae.data.tokenizer import train_bpe_tokenizer
from doc_hvae.evaluation import (
    DEFINITIONS,
    EvalSettings,
    evaluate,
    format_report,
    mutual_information,
    reconstruction_bleu,
)
from doc_hvae.generation import GeneratedDocument
from doc_hvae.modeling import DocHVAE
from doc_hvae.modeling.distributions import DiagonalGaussian

V = 40
THREE_LEVELS = ["document", "paragraph", "sentence"]
SECTION_5_LEVEL_FIELDS = (
    "units",
    "latent_dim",
    "kl_per_document",
    "kl_per_unit",
    "kl_per_token",
    "kl_share_of_rate",
    "kl_per_dimension",
    "active_units",
    "active_units_sweep",
    "posterior_mean_variance",
    "mutual_information",
    "mutual_information_ceiling",
    "recon_ppl_with_prior",
    "prior_substitution_delta_ppl",
    "information_use_nats_per_document",
    "information_use_percent_ppl",
)
SECTION_5_METRICS = (
    "tokens",
    "NLL (ELBO)",
    "NLL (IW, k)",
    "PPL",
    "KL per level",
    "AU per level",
    "MI per level",
    "information use",
    "prior substitution (delta PPL)",
)
TIMING_KEYS = ("seconds", "documents_per_second")


def tiny_config(levels, vocab_size: int = V, latent_size: int = 8, **kwargs) -> DocHVAEConfig:
    return DocHVAEConfig(
        levels=levels,
        latent_size=latent_size,
        vocab_size=vocab_size,
        decoder=default_decoder_config(vocab_size, 32, 2, 2),
        encoder=default_encoder_config(vocab_size, 32, 1, 2),
        **kwargs,
    )


def tiny_model(levels, seed: int = 0, **kwargs) -> DocHVAE:
    torch.manual_seed(seed)
    return DocHVAE(tiny_config(levels, **kwargs)).eval()


def with_counts(row: dict) -> dict:
    row["num_tokens"] = sum(len(s) + 1 for p in row["paragraphs"] for s in p)
    return row


def make_rows(shapes=((2, 1), (3,), (1, 1, 2), (2, 2), (1,)), seed: int = 0) -> list[dict]:
    """Documents with the given sentences-per-paragraph, random content ids (no special ids)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for d, shape in enumerate(shapes):
        paragraphs = [
            [
                torch.randint(5, V, (int(torch.randint(1, 5, (1,), generator=g)),), generator=g).tolist()
                for _ in range(n)
            ]
            for n in shape
        ]
        rows.append(
            with_counts(
                {"id": f"doc{d}", "paragraphs": paragraphs, "num_words": sum(len(s) for p in paragraphs for s in p)}
            )
        )
    return rows


def quiet_evaluate(model, dataset, settings, **kwargs) -> dict:
    """evaluate() without the (expected) small-sample MI warnings of a 5-document set."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return evaluate(model, dataset, DocCollator.for_model(model.config), settings, show_progress=False, **kwargs)


def without_timing(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in TIMING_KEYS}


@pytest.fixture(scope="module")
def rows():
    return make_rows()


@pytest.fixture(scope="module")
def dataset(rows):
    return datasets.Dataset.from_list(rows)


@pytest.fixture(scope="module")
def model():
    return tiny_model(THREE_LEVELS)


@pytest.fixture(scope="module")
def report(model, dataset):
    return quiet_evaluate(model, dataset, EvalSettings(iw_samples=50, iw_chunk=25, seed=0))


# ---------------------------------------------------------------------------------------------
# The report of a three-level model


def test_report_counts_documents_tokens_and_words(report, rows):
    assert report["levels"] == THREE_LEVELS
    assert report["documents"] == len(rows)
    # Tokens: content + one boundary per sentence (</s> or </p>), never <s>.
    assert report["tokens"] == sum(r["num_tokens"] for r in rows)
    assert report["words"] == sum(r["num_words"] for r in rows)
    assert report["iw_samples"] == 50


def test_report_has_every_section_5_field_for_every_level(report, rows):
    assert set(report["per_level"]) == set(THREE_LEVELS)
    units = {
        "document": len(rows),
        "paragraph": sum(len(r["paragraphs"]) for r in rows),
        "sentence": sum(len(p) for r in rows for p in r["paragraphs"]),
    }
    for level, entry in report["per_level"].items():
        missing = [name for name in SECTION_5_LEVEL_FIELDS if name not in entry]
        assert not missing, f"{level} lacks {missing}"
        assert entry["units"] == units[level]
        assert entry["latent_dim"] == 8
        assert len(entry["kl_per_dimension"]) == 8 and len(entry["posterior_mean_variance"]) == 8
        assert set(entry["active_units_sweep"]) == {str(t) for t in evaluation.AU_THRESHOLDS}
    # Every kind of number the report carries is defined in the report itself, beside the numbers.
    defined_by = {
        "NLL (ELBO)": report["nll_elbo_per_document"],
        "NLL (IW, k)": report["nll_iw_per_document"],
        "PPL": report["ppl_elbo"],
        "PPL factors": report["ppl_factors"]["reconstruction"],
        **{
            name: [entry[key] for entry in report["per_level"].values()]
            for name, key in (
                ("KL per level", "kl_per_document"),
                ("AU per level", "active_units"),
                ("MI per level", "mutual_information"),
                ("information use", "information_use_nats_per_document"),
                ("prior substitution (delta PPL)", "prior_substitution_delta_ppl"),
            )
        },
    }
    for name in [*defined_by, *SECTION_5_METRICS]:
        assert len(report["definitions"].get(name, "")) > 30, f"the report does not define {name!r}"


def test_perplexities_follow_their_definitions(report):
    assert report["ppl_elbo"] == pytest.approx(math.exp(report["nll_elbo_per_token"]), rel=1e-12)
    assert report["ppl_iw"] == pytest.approx(math.exp(report["nll_iw_per_token"]), rel=1e-12)
    assert report["word_ppl_elbo"] == pytest.approx(
        math.exp(report["nll_elbo_per_document"] * report["documents"] / report["words"]), rel=1e-9
    )
    assert report["recon_ppl"] == pytest.approx(math.exp(report["recon_nll_per_token"]), rel=1e-12)
    # Per document and per token are the same total.
    assert report["nll_elbo_per_document"] * report["documents"] == pytest.approx(
        report["nll_elbo_per_token"] * report["tokens"], rel=1e-9
    )
    assert report["nll_iw_per_document"] * report["documents"] == pytest.approx(
        report["nll_iw_per_token"] * report["tokens"], rel=1e-9
    )
    # -ELBO = reconstruction + stop + every level's KL.
    elbo_total = (
        report["recon_nll_per_token"] * report["tokens"]
        + (report["stop_nll_per_document"] + report["rate_per_document"]) * report["documents"]
    )
    assert report["nll_elbo_per_document"] * report["documents"] == pytest.approx(elbo_total, rel=1e-9)
    # The IW bound (k = 50) is at least as tight as the ELBO, up to the noise of two estimates.
    assert report["nll_iw_per_token"] <= report["nll_elbo_per_token"] + 0.02


def test_kl_accounting_adds_up(report):
    per_level = report["per_level"]
    documents, tokens = report["documents"], report["tokens"]
    assert sum(e["kl_share_of_rate"] for e in per_level.values()) == pytest.approx(1.0, abs=1e-9)
    assert sum(e["kl_per_document"] for e in per_level.values()) * documents == pytest.approx(
        report["rate_per_document"] * documents, rel=1e-9
    )
    for level, e in per_level.items():
        total = e["kl_per_document"] * documents
        assert total > 0, f"{level}: analytic KL of a sampled posterior against its prior is positive"
        assert e["kl_per_unit"] * e["units"] == pytest.approx(total, rel=1e-9)
        assert e["kl_per_token"] * tokens == pytest.approx(total, rel=1e-9)
        assert e["kl_share_of_rate"] == pytest.approx(total / (report["rate_per_document"] * documents), rel=1e-9)
        assert sum(e["kl_per_dimension"]) == pytest.approx(e["kl_per_unit"], rel=1e-6)


def test_active_units_mutual_information_and_level_use_are_consistent(report):
    for level, e in report["per_level"].items():
        variance = torch.tensor(e["posterior_mean_variance"])
        assert e["active_units"] == int((variance > 0.01).sum()) == e["active_units_sweep"]["0.01"]
        sweep = [e["active_units_sweep"][str(t)] for t in sorted(evaluation.AU_THRESHOLDS)]
        assert sweep == sorted(sweep, reverse=True), f"{level}: AU must not grow with the threshold"
        assert e["mutual_information_ceiling"] == pytest.approx(math.log(e["units"]))
        assert e["mutual_information"] <= e["mutual_information_ceiling"] + 1e-9
        assert ("mutual_information_warning" in e) == (e["mutual_information"] < 0)
        assert e["prior_substitution_delta_ppl"] == pytest.approx(
            e["recon_ppl_with_prior"] - report["recon_ppl"], rel=1e-9
        )


def test_evaluation_is_reproducible_with_the_same_seed(model, dataset, report):
    again = quiet_evaluate(model, dataset, EvalSettings(iw_samples=50, iw_chunk=25, seed=0))
    assert without_timing(again) == without_timing(report)
    other = quiet_evaluate(model, dataset, EvalSettings(iw_samples=50, iw_chunk=25, seed=1))
    assert other["nll_elbo_per_token"] != report["nll_elbo_per_token"]
    assert other["tokens"] == report["tokens"]


def test_batching_does_not_change_deterministic_quantities(model, dataset, report):
    """A tiny token budget splits the set into several batches: counts and AU must not move."""
    split = quiet_evaluate(
        model, dataset, EvalSettings(iw_samples=4, iw_chunk=3, max_tokens=12, level_use=False, seed=0)
    )
    for key in ("documents", "tokens", "words"):
        assert split[key] == report[key]
    for level in THREE_LEVELS:
        a, b = split["per_level"][level], report["per_level"][level]
        assert a["units"] == b["units"]
        torch.testing.assert_close(
            torch.tensor(a["posterior_mean_variance"]), torch.tensor(b["posterior_mean_variance"]), rtol=1e-4, atol=1e-9
        )
        assert (
            "prior_substitution_delta_ppl" not in a and "information_use_nats_per_document" not in a
        )  # level_use=False
    assert split["iw_samples"] == 4
    assert math.isfinite(split["nll_iw_per_token"])


def test_iw_copies_see_their_own_encoder_features(model, rows):
    """The IW pass tiles a batch `copies` times and tiles the encoder features to match."""
    collator = DocCollator.for_model(model.config)
    batch = collator(rows)
    features = model.encoder(batch)
    with torch.no_grad():
        single = model(batch, latent_mode="mean", encoder_features=features)
        tiled = model(collator(rows * 3), latent_mode="mean", encoder_features=evaluation._repeat_features(features, 3))
    torch.testing.assert_close(
        tiled.document_recon_nll.view(3, -1), single.document_recon_nll.expand(3, -1), rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(
        tiled.document_stop_nll.view(3, -1), single.document_stop_nll.expand(3, -1), rtol=1e-4, atol=1e-4
    )


def test_iw_nll_lies_between_the_exact_nll_and_the_elbo(dataset):
    """A model whose decoder and stop head ignore the latents has a known exact NLL.

    With the latent projections and the stop head's input zeroed, p(x | z) = p(x) for every z, so
    the exact -log p(x) is the reconstruction + stop NLL of any sample, the ELBO exceeds it by the
    whole rate, and the IW estimate -log mean_k p(z_k) / q(z_k | x) + exact lies between the two.
    Sharp, off-prior posteriors (scaled posterior heads) make the rate several nats.
    """
    model = tiny_model(THREE_LEVELS, seed=1)
    with torch.no_grad():
        for level in model.latent_levels.values():
            level.posterior_net[-1].weight.mul_(3)  # posterior heads start at std 1/sqrt(fan_in)
        for projection in [*model.decoder.memory.values(), *model.decoder.embedding.values()]:
            projection.weight.zero_()
            projection.bias.zero_()
        model.stop_head.net.input.weight.zero_()
    report = quiet_evaluate(model, dataset, EvalSettings(iw_samples=50, iw_chunk=25, level_use=False))
    documents, tokens = report["documents"], report["tokens"]
    exact = report["recon_nll_per_token"] * tokens + report["stop_nll_per_document"] * documents
    iw = report["nll_iw_per_document"] * documents
    elbo = report["nll_elbo_per_document"] * documents
    assert report["rate_per_document"] > 1.0
    assert elbo == pytest.approx(exact + report["rate_per_document"] * documents, rel=1e-9)
    # IW is an upper bound on the exact NLL in expectation; one estimate may dip below it a little.
    assert exact - 1.0 < iw < elbo - 0.05 * tokens, (exact, iw, elbo)


def test_empty_split_is_rejected(model):
    with pytest.raises(ValueError, match="empty"):
        evaluate(
            model,
            datasets.Dataset.from_list([]),
            DocCollator.for_model(model.config),
            EvalSettings(),
            show_progress=False,
        )


# ---------------------------------------------------------------------------------------------
# The flat language model


def test_flat_lm_report_has_perplexities_and_a_note_but_no_latent_metrics(dataset):
    model = tiny_model([])
    report = quiet_evaluate(model, dataset, EvalSettings(iw_samples=50))
    assert report["levels"] == []
    assert "per_level" not in report
    assert "no latents" in report["note"]
    for key in ("ppl_elbo", "word_ppl_elbo", "nll_elbo_per_token", "recon_ppl"):
        assert math.isfinite(report[key])
    assert not [
        key
        for key in report
        if any(part in key for part in ("kl", "active", "mutual", "information_use", "prior_substitution"))
    ]
    assert "rate_per_document" not in report  # no latents, no rate
    # No latents: the ELBO is the exact NLL, and "IW" is the same number with k = 1.
    assert report["iw_samples"] == 1
    assert report["nll_iw_per_token"] == pytest.approx(report["nll_elbo_per_token"], rel=1e-6)
    text = format_report(report)
    assert report["note"] in text and "| level |" not in text


# ---------------------------------------------------------------------------------------------
# A negative MI estimate (too few units) is flagged, in the report and as a Python warning


def negative_mi_inputs():
    """Two document units whose samples make E[log q(z|x)] - E[log q(z)] negative."""
    mean = torch.tensor([[0.0], [0.0]])
    log_scale = torch.tensor([[0.0], [math.log(0.1)]])
    z = torch.tensor([[0.0], [0.3]])  # unit 0 sits on unit 1's sharp peak; unit 1's sample is 3 sigma out
    return mean, log_scale, z


def test_negative_mutual_information_warns_and_is_reported():
    mean, log_scale, z = negative_mi_inputs()
    mi = mutual_information(DiagonalGaussian(mean, log_scale), z)
    assert mi < -0.5
    accumulator = evaluation.EvaluationAccumulator(tiny_config(["document"], latent_size=1))
    accumulator.totals.update(
        {"documents": 2, "tokens": 10, "words": 6, "recon_nll": 20.0, "stop_nll": 1.0, "kl/document": 0.5}
    )
    accumulator.kl_units["document"] = 2
    accumulator.kl_per_dim["document"] += 0.25
    accumulator.means["document"].append(mean)
    accumulator.posteriors["document"].append((mean, log_scale, z))
    accumulator.add_iw_nll(torch.tensor([10.0, 10.0]))
    accumulator.add_prior_substitution("document", 21.0)
    with pytest.warns(UserWarning, match="negative MI estimate"):
        report = accumulator.compute(iw_samples=5)
    entry = report["per_level"]["document"]
    assert entry["mutual_information"] == pytest.approx(mi)
    assert "negative MI" in entry["mutual_information_warning"] and "2 units" in entry["mutual_information_warning"]
    assert "Warning (document)" in format_report(report)


# ---------------------------------------------------------------------------------------------
# Markdown


def test_format_report_renders_the_level_table_and_the_definitions(report):
    text = format_report(report, title="Tiny")
    lines = text.splitlines()
    assert lines[0] == "## Tiny"
    header = next(i for i, line in enumerate(lines) if line.startswith("| level |"))
    assert lines[header + 1].startswith("|---|")
    level_rows = lines[header + 2 : header + 2 + len(THREE_LEVELS)]
    assert [row.split("|")[1].strip() for row in level_rows] == THREE_LEVELS
    # Every row has as many cells as the header.
    assert all(row.count("|") == lines[header].count("|") for row in level_rows)
    assert f"| ppl_elbo | {report['ppl_elbo']:,.3f} |" in lines
    assert "Definitions:" in lines
    for name, definition in DEFINITIONS.items():
        assert f"- **{name}**: {definition}" in lines


# ---------------------------------------------------------------------------------------------
# Reconstruction BLEU


SENTENCES = [
    "The cat sat on the mat.",
    "A dog ran in the park.",
    "Rain fell all day long.",
    "We read books at night.",
    "The sun rose over the hills.",
    "Birds sang in the trees.",
]


@pytest.fixture(scope="module")
def tokenized():
    tokenizer = train_bpe_tokenizer(SENTENCES * 3, vocab_size=300, min_frequency=1)

    def encode(i):
        return tokenizer.encode(SENTENCES[i], add_special_tokens=False)

    # One paragraph each: an untrained model's greedy paragraph runs to the 512-token bound, so
    # every extra paragraph costs 512 decoding steps.
    rows = [
        with_counts({"id": "a", "paragraphs": [[encode(0), encode(1), encode(2)]], "num_words": 15}),
        with_counts({"id": "b", "paragraphs": [[encode(3), encode(4), encode(5)]], "num_words": 16}),
    ]
    return tokenizer, datasets.Dataset.from_list(rows)


def test_reconstruction_bleu_is_a_corpus_bleu_score(tokenized):
    tokenizer, dataset = tokenized
    model = tiny_model(THREE_LEVELS, vocab_size=len(tokenizer))
    result = reconstruction_bleu(model, dataset, DocCollator.for_model(model.config), tokenizer, num_documents=2)
    assert 0.0 <= result["bleu"] <= 100.0
    assert result["documents"] == 2
    assert "tok:13a" in result["signature"]


def test_reconstruction_bleu_pairs_each_reconstruction_with_its_source(tokenized, monkeypatch):
    """With a perfect reconstruction the score must be 100: hypotheses and references line up."""
    tokenizer, dataset = tokenized
    model = tiny_model(THREE_LEVELS, vocab_size=len(tokenizer))
    collator = DocCollator.for_model(model.config)
    calls = []

    def perfect(model, batch, sampling, mode="mean", generator=None):
        calls.append((batch.document_ids, sampling.temperature))
        by_id = {row["id"]: row["paragraphs"] for row in dataset}
        return [GeneratedDocument(by_id[i]) for i in batch.document_ids]

    monkeypatch.setattr(evaluation, "reconstruct", perfect)
    result = reconstruction_bleu(model, dataset, collator, tokenizer, num_documents=2)
    assert result["bleu"] == pytest.approx(100.0)
    assert calls == [(["a", "b"], 0.0)]  # one greedy batch of both documents


# ---------------------------------------------------------------------------------------------
# Information use: latents of other documents in the decoder


def test_other_document_units_take_the_next_documents_unit_at_the_same_position(model, rows):
    batch = DocCollator.for_model(model.config)(rows)
    document_of = {
        "document": torch.arange(batch.num_documents),
        "paragraph": batch.paragraph_document,
        "sentence": batch.sentence_document,
    }
    position_of = {"paragraph": batch.paragraph_position, "sentence": batch.sentence_position}
    for level in THREE_LEVELS:
        donors = evaluation.other_document_units(level, batch)
        owner, donor_owner = document_of[level], document_of[level][donors]
        assert bool((donor_owner != owner).all()), f"{level}: a unit kept a latent of its own document"
        assert donor_owner.tolist() == ((owner + 1) % batch.num_documents).tolist()
        if level in position_of:
            # Same position where the donor document has it, else its last.
            donor_count = (
                torch.bincount(document_of[level], minlength=batch.num_documents)[donor_owner]
                if level == "paragraph"
                else None
            )
            if donor_count is not None:
                assert (
                    position_of[level][donors].tolist() == torch.minimum(position_of[level], donor_count - 1).tolist()
                )
    single = DocCollator.for_model(model.config)(rows[:1])
    assert evaluation.other_document_units("document", single) is None


def test_information_use_is_zero_for_a_decoder_that_ignores_the_latents(dataset):
    model = tiny_model(THREE_LEVELS, seed=2)
    with torch.no_grad():
        for projection in [*model.decoder.memory.values(), *model.decoder.embedding.values()]:
            projection.weight.zero_()
            projection.bias.zero_()
    report = quiet_evaluate(model, dataset, EvalSettings(iw_samples=0))
    for level, e in report["per_level"].items():
        assert e["information_use_nats_per_document"] == pytest.approx(0.0, abs=1e-4), level
        assert e["information_use_percent_ppl"] == pytest.approx(0.0, abs=1e-3), level


def test_information_use_follows_the_nll_difference(model, rows, report):
    """The report's number is the swapped-minus-own reconstruction NLL of the same sample, per document."""
    batch = DocCollator.for_model(model.config)(rows)
    with torch.no_grad():
        z = {level: out.z for level, out in model(batch, latent_mode="mean", return_latents=True).latents.items()}
        nll = evaluation.information_use_nll(model, batch, z)
        for level in THREE_LEVELS:
            swapped = model.decoder(
                batch, {**z, level: z[level][evaluation.other_document_units(level, batch)]}
            ).nll.sum()
            assert nll[level] == pytest.approx(float(swapped), rel=1e-6)
        assert nll["own"] == pytest.approx(float(model.decoder(batch, z).nll.sum()), rel=1e-6)
    for e in report["per_level"].values():
        percent = 100 * (math.exp(e["information_use_nats_per_document"] * report["documents"] / report["tokens"]) - 1)
        assert e["information_use_percent_ppl"] == pytest.approx(percent, rel=1e-6, abs=1e-9)


def test_ppl_factors_multiply_to_the_elbo_perplexity(report):
    product = math.prod(report["ppl_factors"].values())
    assert product == pytest.approx(report["ppl_elbo"], rel=1e-9)
    assert set(report["ppl_factors"]) == {"reconstruction", "stop", *THREE_LEVELS}


def test_validation_metrics_report_information_use_per_level(model, rows):
    batch = DocCollator.for_model(model.config)(rows)
    metrics = evaluation.validation_metrics(model, [batch])
    for level in THREE_LEVELS:
        assert math.isfinite(metrics[f"val/information_use/{level}"])


def test_validation_training_and_the_final_report_agree_on_the_same_batch_and_sample(model, dataset, rows):
    """One accumulator behind both: training's validation and the final report give the same numbers for
    the same documents and posterior sample (the report's extra passes come after the sample)."""
    report = quiet_evaluate(model, dataset, EvalSettings(iw_samples=0, max_tokens=10**6, seed=3))
    (in_report_order,) = TokenBudgetBatchSampler(
        dataset["num_tokens"], max_tokens=10**6, shuffle=False
    )  # one batch, by length
    torch.manual_seed(3)
    metrics = evaluation.validation_metrics(
        model, [DocCollator.for_model(model.config)([rows[i] for i in in_report_order])]
    )
    assert metrics["val/ppl_elbo"] == pytest.approx(report["ppl_elbo"], rel=1e-12)
    assert metrics["val/recon_ppl"] == pytest.approx(report["recon_ppl"], rel=1e-12)
    for level, entry in report["per_level"].items():
        assert metrics[f"val/kl/{level}"] == pytest.approx(entry["kl_per_document"], rel=1e-12)
        assert metrics[f"val/active_units/{level}"] == entry["active_units"]
        assert metrics[f"val/information_use/{level}"] == pytest.approx(
            entry["information_use_nats_per_document"], rel=1e-9
        )


def test_document_scores_sum_to_the_report_s_elbo(model, dataset, rows):
    """Per-document scores (DocHVAEPipeline.score) and the report come from the same sums."""
    settings = EvalSettings(iw_samples=0, max_tokens=10**6, level_use=False, seed=5)
    report = quiet_evaluate(model, dataset, settings)
    scores = evaluation.document_nll(model, rows, DocCollator.for_model(model.config), settings)["elbo"]
    assert float(scores.sum()) == pytest.approx(
        report["nll_elbo_per_document"] * report["documents"], rel=1e-6
    )  # float32 sums


def test_label_accuracy_is_reported_where_documents_have_labels(model):
    labelled = [{**row, "label": "ab"[i % 2]} for i, row in enumerate(make_rows())]
    report = quiet_evaluate(model, datasets.Dataset.from_list(labelled), EvalSettings(iw_samples=0))
    entry = report["per_level"]["document"]
    assert 0.0 <= entry["label_accuracy_1nn"] <= 1.0
    assert entry["majority_label_share"] == pytest.approx(3 / 5)
    assert "label accuracy" in format_report(report)


def test_nearest_neighbour_label_accuracy():
    latents = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    assert evaluation.nearest_neighbour_label_accuracy(latents, ["a", "a", "b", "b"]) == 1.0
    assert evaluation.nearest_neighbour_label_accuracy(latents, ["a", "b", "a", "b"]) == 0.0
