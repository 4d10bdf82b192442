"""The Python API (`doc_hvae.DocHVAEPipeline`) over a saved export folder, and the README's example.

The folder is what a training run exports (model, tokenizer, train_config.yaml), built here from a
tiny untrained model on a small pydoc corpus: the tests check plumbing and numbers that must agree,
not quality.
"""

from __future__ import annotations

import re

import pytest
import torch
from transformers.generation import LogitsProcessor

from conftest import EXPORT_LIMITS, REPO_ROOT, export_folder
from doc_hvae import DocHVAEPipeline

LIMITS = EXPORT_LIMITS
TEXTS = [
    "The list type is a mutable sequence. You can append items to it.\n\nSlicing a list returns a new list.",
    "A function definition binds a name to a function object. Default values are evaluated once.",
]


@pytest.fixture(scope="module")
def three_level(tmp_path_factory) -> str:
    return export_folder(tmp_path_factory, ["document", "paragraph", "sentence"])


@pytest.fixture(scope="module")
def flat(tmp_path_factory) -> str:
    return export_folder(tmp_path_factory, [])


@pytest.fixture(scope="module")
def sentence_only(tmp_path_factory) -> str:
    return export_folder(tmp_path_factory, ["sentence"])


def test_from_pretrained_takes_the_training_limits_and_encode_gives_latents_per_unit(three_level):
    pipe = DocHVAEPipeline.from_pretrained(three_level, device="cpu")
    assert pipe.limits.max_paragraph_tokens == LIMITS["max_paragraph_tokens"]
    latents = pipe.encode(TEXTS)
    rows = pipe.rows(TEXTS)
    assert latents.document.shape == (2, 8)
    assert [p.shape[0] for p in latents.paragraphs] == [len(row["paragraphs"]) for row in rows] == [2, 1]
    assert [[s.shape[0] for s in document] for document in latents.sentences] == [
        [len(p) for p in row["paragraphs"]] for row in rows
    ]
    # Means are deterministic; samples are not.
    assert torch.equal(pipe.encode(TEXTS).document, latents.document)
    assert not torch.equal(pipe.encode(TEXTS, mode="sample").document, latents.document)


def test_generation_returns_text_and_the_latents_it_was_decoded_from(three_level):
    pipe = DocHVAEPipeline.from_pretrained(three_level, device="cpu")
    latents = pipe.encode(TEXTS)
    styled = pipe.generate_in_style(latents, per_text=2, seed=0, max_paragraphs=2, max_tokens=12)
    assert [generated.reference for generated in styled] == [0, 0, 1, 1]  # one flat list, in reference order
    for generated in styled:
        assert isinstance(generated.text, str) and generated.step is None
        assert torch.equal(
            generated.latents["document"], latents.document[generated.reference]
        )  # z_doc from the reference
        assert generated.latents["paragraph"].shape[0] == len(generated.document.paragraphs)
        assert generated.latents["sentence"].shape[0] >= len(
            generated.document.paragraphs
        )  # >= one sentence begun per paragraph
    # The same z_doc given directly decodes the same documents with the same seed.
    again = pipe.generate_in_style(latents.document, per_text=2, seed=0, max_paragraphs=2, max_tokens=12)
    assert [g.text for g in again] == [g.text for g in styled]
    # Reconstruction decodes from the text's own latents at every level, named as encode's `latents_of` names them.
    rebuilt = pipe.reconstruct(TEXTS, seed=0, max_tokens=12)
    assert set(rebuilt[0].latents) == set(latents.latents_of(0)) == {"document", "paragraph", "sentence"}
    assert torch.equal(rebuilt[0].latents["document"], latents.latents_of(0)["document"])
    assert latents.latents_of(0)["sentence"].shape[0] == sum(s.shape[0] for s in latents.sentences[0])
    assert torch.equal(rebuilt[0].latents["paragraph"], latents.paragraphs[0])
    assert torch.equal(rebuilt[1].latents["sentence"][:1], latents.sentences[1][0][:1])
    swapped = pipe.swap(TEXTS, seed=0, max_tokens=12)
    assert torch.equal(swapped[0].latents["document"], latents.document[1])
    assert torch.equal(swapped[0].latents["paragraph"], latents.paragraphs[0])
    path = pipe.interpolate(TEXTS[0], TEXTS[1], steps=3, seed=0, max_paragraphs=1, max_tokens=12)
    assert [generated.step for generated in path] == [0, 1, 2]
    assert torch.allclose(path[1].latents["document"], latents.document.mean(0), atol=1e-6)
    assert len(pipe.sample(3, seed=0, max_paragraphs=1, max_tokens=8)) == 3
    # Best of N keeps the reference's z_doc and one document per request; reconstruction has nothing to choose.
    best = pipe.generate_in_style(latents, per_text=1, seed=0, max_paragraphs=2, max_tokens=12, candidates=3)
    assert [g.reference for g in best] == [0, 1] and torch.equal(best[1].latents["document"], latents.document[1])
    with pytest.raises(ValueError, match="candidates=3"):
        pipe.reconstruct(TEXTS, seed=0, max_tokens=12, candidates=3)


class BanTokens(LogitsProcessor):
    """A user's processor: bans tokens and records the histories it was shown."""

    def __init__(self, banned: list[int]):
        self.banned, self.seen = banned, []

    def __call__(self, input_ids, scores):
        self.seen.append(input_ids.clone())
        scores[:, self.banned] = float("-inf")
        return scores


def test_user_logits_processors_see_the_stream_and_shape_the_tokens(three_level):
    pipe = DocHVAEPipeline.from_pretrained(three_level, device="cpu")
    free = pipe.sample(4, seed=0, max_paragraphs=2, max_tokens=16)
    common = max(
        range(pipe.model.config.vocab_size),
        key=lambda t: sum(s.count(t) for g in free for p in g.document.paragraphs for s in p),
    )
    assert any(common in s for g in free for p in g.document.paragraphs for s in p)
    ban = BanTokens([common])
    constrained = pipe.sample(4, seed=0, max_paragraphs=2, max_tokens=16, logits_processors=[ban])
    assert not any(common in s for g in constrained for p in g.document.paragraphs for s in p)
    assert ban.seen and all(int(ids[0, 0]) == pipe.model.config.bos_token_id for ids in ban.seen)
    assert [ids.shape[1] for ids in ban.seen[:3]] == [1, 2, 3]  # one more token of history per step


def test_score_agrees_with_the_model_and_keeps_the_text_order(three_level, flat):
    lm = DocHVAEPipeline.from_pretrained(flat, device="cpu")
    scores = lm.score(TEXTS, iw_samples=3)
    # A flat LM's NLL is exact: the ELBO and IW numbers are the same, and equal the model's own sums.
    batch = lm.batch(TEXTS)
    with torch.no_grad():
        output = lm.model.eval()(batch)
    exact = (output.document_recon_nll + output.document_stop_nll).tolist()
    for entry, value in zip(scores, exact):
        assert entry["nll_elbo"] == pytest.approx(value, rel=1e-5) and entry["nll_iw"] == pytest.approx(value, rel=1e-5)
    assert [s["nll_elbo"] for s in lm.score(TEXTS[::-1], iw_samples=0)] == pytest.approx(
        [s["nll_elbo"] for s in scores][::-1], rel=1e-5
    )
    assert "nll_iw" not in lm.score(TEXTS, iw_samples=0)[0]

    hvae = DocHVAEPipeline.from_pretrained(three_level, device="cpu")
    first, second = hvae.score(TEXTS, iw_samples=20, seed=0), hvae.score(TEXTS, iw_samples=20, seed=0)
    assert first == second  # seeded
    # The IW bound is tighter than the ELBO of a single sample, here summed over the texts.
    assert sum(s["nll_iw"] for s in first) < sum(s["nll_elbo"] for s in first)
    assert first[0]["tokens"] == hvae.rows(TEXTS)[0]["num_tokens"]


def test_bad_inputs_get_clear_errors(three_level, flat):
    pipe = DocHVAEPipeline.from_pretrained(three_level, device="cpu")
    with pytest.raises(ValueError, match="texts is empty"):
        pipe.encode([])
    with pytest.raises(TypeError, match=r"texts\[1\] is a int"):
        pipe.encode(["fine text.", 3])
    with pytest.raises(ValueError, match="empty after segmentation"):
        pipe.encode(["   \n\n  "])
    with pytest.raises(TypeError, match="unknown sampling setting.*temprature"):
        pipe.sample(1, temprature=0.5)
    with pytest.raises(ValueError, match=r"z_doc has shape \(2, 3\)"):
        pipe.generate_in_style(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="donors"):
        pipe.swap(TEXTS, donors=[0, 5])
    with pytest.raises(ValueError, match="needs a document level"):
        DocHVAEPipeline.from_pretrained(flat, device="cpu").generate_in_style(TEXTS)
    with pytest.raises(FileNotFoundError, match="no model at"):
        DocHVAEPipeline.from_pretrained(str(REPO_ROOT / "no-such-folder"))


def test_the_readme_example_runs(three_level, capsys):
    readme = (REPO_ROOT / "README.md").read_text()
    match = re.search(r"<!-- python-api-example -->\s*```python\n(.*?)```", readme, re.S)
    assert match, "README.md has no Python API example block"
    code = match.group(1)
    assert len(code.strip().splitlines()) <= 30
    exec(code.replace("outputs/quickstart/final", three_level), {})
    printed = capsys.readouterr().out
    assert printed.strip(), "the README example prints the generated documents"


def test_sampling_types_come_from_the_package_and_a_generated_text_prints_short(three_level):
    from doc_hvae import LatentPlan, SamplingConfig

    pipe = DocHVAEPipeline.from_pretrained(three_level, device="cpu")
    assert isinstance(pipe.sampling, SamplingConfig) and isinstance(pipe.encode(TEXTS), LatentPlan)
    generated = pipe.sample(1, seed=0, max_paragraphs=2, max_tokens=40)[0]
    shown = repr(generated)
    assert len(shown) < 200 and "tensor(" not in shown and "document=[8]" in shown, shown


def test_bad_values_at_the_pipeline_entry_points_get_one_clear_message(three_level):
    pipe = DocHVAEPipeline.from_pretrained(three_level, device="cpu")
    with pytest.raises(TypeError, match="texts is a int; give a str or a list of str"):
        pipe.encode(42)
    with pytest.raises(TypeError, match=r"texts is a bytes.*decode"):
        pipe.encode(b"A list is a sequence.")
    with pytest.raises(ValueError, match="mode='bogus'; use 'mean'"):
        pipe.encode(TEXTS, mode="bogus")
    with pytest.raises(ValueError, match="num_documents='2'"):
        pipe.sample("2")
    with pytest.raises(ValueError, match="temperatures >= 0"):
        pipe.sample(1, latent_temperature={"document": -0.5})
    with pytest.raises(TypeError, match="top_p='0.9' is a str"):
        pipe.sample(1, top_p="0.9")
    with pytest.raises(ValueError, match="iw_samples=-1"):
        pipe.score(TEXTS, iw_samples=-1)
    with pytest.raises(ValueError, match="at least 2 documents"):
        pipe.swap(TEXTS[:1])
    with pytest.raises(ValueError, match=r"latent_temperature\['document'\] has no effect in style generation"):
        pipe.generate_in_style(TEXTS, latent_temperature={"document": 0.5})
    # One number for latent_temperature applies to every level: at 0 every level takes its prior's mean.
    frozen = pipe.sample(2, seed=0, latent_temperature=0.0, temperature=0.0, max_paragraphs=1, max_tokens=8)
    assert torch.equal(frozen[0].latents["document"], frozen[1].latents["document"])


def test_shared_noise_makes_outputs_differ_only_by_what_was_changed(three_level):
    pipe = DocHVAEPipeline.from_pretrained(three_level, device="cpu")
    short = dict(max_paragraphs=2, max_tokens=12)
    same = pipe.interpolate(TEXTS[0], TEXTS[0], steps=3, seed=0, shared_noise=True, **short)
    assert len({generated.text for generated in same}) == 1, "a text interpolated with itself gives identical documents"
    drawn = pipe.interpolate(TEXTS[0], TEXTS[0], steps=3, seed=0, **short)
    assert len({generated.text for generated in drawn}) > 1, "without it each step draws its own noise (not vacuous)"
    # Style: the k-th document of every reference shares its noise; two copies of one reference agree document by document.
    groups = pipe.generate_in_style([TEXTS[1], TEXTS[1]], per_text=2, seed=3, shared_noise=True, **short)
    assert [g.text for g in groups[:2]] == [g.text for g in groups[2:]] and groups[0].text != groups[1].text
    swapped = pipe.swap([TEXTS[0], TEXTS[0]], seed=0, shared_noise=True, **short)
    assert swapped[0].text == swapped[1].text


LONG = "\n\n".join(
    f"Paragraph {i} says that a list holds items. It can grow by one item." for i in range(10)
)  # 10 paragraphs: 3 windows of <= 4


def test_score_covers_every_window_of_a_long_text(flat):
    pipe = DocHVAEPipeline.from_pretrained(flat, device="cpu")
    windows = pipe.windows([LONG])[0]
    assert [row["num_paragraphs"] for row in windows] == [4, 4, 2]
    whole = pipe.score([LONG], iw_samples=0)[0]
    assert whole["windows"] == 3 and whole["tokens"] == sum(row["num_tokens"] for row in windows)
    # A flat LM scores each window exactly: the text's NLL is the sum of its windows' NLLs, each scored as a text of its own.
    parts = ["\n\n".join(LONG.split("\n\n")[start : start + 4]) for start in (0, 4, 8)]
    assert whole["nll_elbo"] == pytest.approx(
        sum(entry["nll_elbo"] for entry in pipe.score(parts, iw_samples=0)), rel=1e-5
    )
    # batch_size changes how many windows go through at once, not the numbers.
    one_at_a_time, all_at_once = (
        pipe.score([LONG, TEXTS[0]], iw_samples=0, batch_size=1),
        pipe.score([LONG, TEXTS[0]], iw_samples=0),
    )
    assert [entry["nll_elbo"] for entry in one_at_a_time] == pytest.approx(
        [entry["nll_elbo"] for entry in all_at_once], rel=1e-5
    )


def test_long_texts_are_encoded_by_their_first_window_with_a_warning_the_mean_or_an_error(three_level):
    pipe = DocHVAEPipeline.from_pretrained(three_level, device="cpu")
    windows = pipe.windows([LONG])[0]
    with pytest.warns(UserWarning, match=r"cut to their first window \(text 0: 3 windows"):
        first = pipe.encode([LONG, TEXTS[0]])
    assert pipe.report.counts["windows past a text's first discarded (long_text='first_window')"] == 2
    assert not any("extra windows made" in reason for reason in pipe.report.counts)  # discarded, not made
    assert [p.shape[0] for p in first.paragraphs] == [4, 2] and first.num_paragraphs == [4, 2]
    # "mean": z_doc is the mean of the windows' z_doc, the lower latents are every window's in order.
    mean = pipe.encode([LONG, TEXTS[0]], long_text="mean", batch_size=2)
    assert pipe.report.counts["long texts encoded over all their windows (long_text='mean')"] == 1
    each = pipe.encode(["\n\n".join(LONG.split("\n\n")[start : start + 4]) for start in (0, 4, 8)])
    assert torch.allclose(mean.document[0], each.document.mean(0), atol=1e-5)
    assert torch.allclose(mean.document[1], first.document[1], atol=1e-5)
    assert mean.paragraphs[0].shape[0] == 10 and len(mean.sentences[0]) == 10 and mean.num_paragraphs == [10, 2]
    assert torch.allclose(mean.paragraphs[0][4:8], each.paragraphs[1], atol=1e-5)
    with pytest.raises(
        ValueError,
        match=r"1 text\(s\) longer than one training window \(256 tokens and 4 paragraphs\): text 0: 3 windows",
    ):
        pipe.encode([TEXTS[0], LONG][1:], long_text="error")
    with pytest.raises(ValueError, match="long_text='all'; use one of"):
        pipe.encode(TEXTS, long_text="all")
    # The report is the last call's: a short text after a long one reports nothing discarded.
    pipe.encode(TEXTS)
    assert not any("discarded" in reason for reason in pipe.report.counts)
    assert sum(row["num_tokens"] for row in windows) > windows[0]["num_tokens"]


def test_continue_text_writes_the_next_paragraphs_from_the_prefix_latents(three_level):
    pipe = DocHVAEPipeline.from_pretrained(three_level, device="cpu")
    prefix = pipe.encode(TEXTS)
    continued = pipe.continue_text(TEXTS, per_text=2, seed=0, max_paragraphs=2, max_tokens=12)
    assert [generated.reference for generated in continued] == [0, 0, 1, 1]
    for generated in continued:
        assert torch.equal(generated.latents["document"], prefix.document[generated.reference])
        # Only the new paragraphs are written, and their latents are the ones drawn after the prefix's.
        assert 1 <= len(generated.document.paragraphs) <= 2
        assert generated.latents["paragraph"].shape[0] == len(generated.document.paragraphs)
    # The first new paragraph's prior is asked at position P (the prefix's paragraph count) with the prefix's latents as its history.
    level = pipe.model.latent_levels["paragraph"]
    calls = []
    original = level.prior_step

    def recording(history, position, parent):
        calls.append((history.clone(), position.clone()))
        return original(history, position, parent)

    level.prior_step = recording
    try:
        pipe.continue_text(TEXTS[0], seed=0, max_paragraphs=1, max_tokens=8)
    finally:
        del level.prior_step
    history, position = calls[-1]
    assert int(position[0]) == prefix.num_paragraphs[0] == 2
    assert torch.allclose(history[0, :2], prefix.paragraphs[0], atol=1e-5)
    # num_return_sequences is per_text under transformers' name; a flat LM cannot be continued this way.
    assert len(pipe.continue_text(TEXTS[0], num_return_sequences=3, seed=0, max_paragraphs=1, max_tokens=6)) == 3


def test_the_pipeline_is_callable_and_takes_transformers_names(three_level, flat, sentence_only):
    pipe = DocHVAEPipeline.from_pretrained(three_level, device="cpu")
    short = dict(seed=0, max_paragraphs=1, max_tokens=8)
    assert [g.text for g in pipe(TEXTS, mode="style", per_text=2, **short)] == [
        g.text for g in pipe.generate_in_style(TEXTS, per_text=2, **short)
    ]
    assert [g.text for g in pipe(TEXTS[0], num_return_sequences=2, **short)] == [
        g.text for g in pipe.generate_in_style(TEXTS[0], per_text=2, **short)
    ]
    assert len(pipe(mode="sample", num_return_sequences=3, **short)) == 3
    assert [g.step for g in pipe(TEXTS, mode="interpolate", steps=3, **short)] == [0, 1, 2]
    assert pipe(TEXTS, mode="encode").document.shape == (2, 8)
    assert len(pipe(TEXTS, mode="continue", **short)) == 2
    with pytest.raises(ValueError, match="mode='stlye'.*did you mean 'style'"):
        pipe(TEXTS, mode="stlye")
    with pytest.raises(ValueError, match="takes no texts"):
        pipe(TEXTS, mode="sample")
    with pytest.raises(ValueError, match="per_text=2 and num_return_sequences=3 disagree"):
        pipe(TEXTS, per_text=2, num_return_sequences=3)
    with pytest.raises(TypeError, match="num_return_sequences applies to"):
        pipe.reconstruct(TEXTS, num_return_sequences=2)
    with pytest.raises(ValueError, match="flat LM"):
        DocHVAEPipeline.from_pretrained(flat, device="cpu").continue_text(TEXTS)
    with pytest.raises(ValueError, match=r"it needs a document level"):
        DocHVAEPipeline.from_pretrained(sentence_only, device="cpu").continue_text(TEXTS)
    # max_new_tokens bounds the whole document, as in generate().
    long = pipe.sample(3, seed=0, max_paragraphs=3, max_tokens=20, temperature=1.0)
    cut = pipe.sample(3, seed=0, max_paragraphs=3, max_tokens=20, temperature=1.0, max_new_tokens=15)
    assert max(sum(len(s) for p in g.document.paragraphs for s in p) for g in long) > 15  # the bound bites
    assert all(sum(len(s) for p in g.document.paragraphs for s in p) <= 15 for g in cut)
    with pytest.raises(ValueError, match="max_new_tokens=0"):
        pipe.sample(1, max_new_tokens=0)
    with pytest.raises(ValueError, match=r"per_text=0; give a positive int \(documents per reference\)"):
        pipe.generate_in_style(TEXTS, per_text=0)
    with pytest.raises(ValueError, match="batch_size=0"):
        pipe.score(TEXTS, batch_size=0)


def test_from_pretrained_takes_a_hub_id_from_the_offline_cache(three_level, tmp_path, monkeypatch):
    import shutil

    # The Hugging Face cache layout: models--user--name/{refs/main, snapshots/<commit>/...}.
    repo = tmp_path / "hub" / "models--someone--doc-hvae-tiny"
    commit = "0" * 40
    shutil.copytree(three_level, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    pipe = DocHVAEPipeline.from_pretrained("someone/doc-hvae-tiny", device="cpu")
    assert torch.equal(
        pipe.encode(TEXTS).document, DocHVAEPipeline.from_pretrained(three_level, device="cpu").encode(TEXTS).document
    )
    with pytest.raises(FileNotFoundError, match="no model at 'someone/missing': not a local folder"):
        DocHVAEPipeline.from_pretrained("someone/missing")
