"""`doc_hvae.generation`: ancestral decoding, its bounds, the KV cache, and the four uses of posteriors.

Tiny untrained models. Where a test needs the decoder to behave a certain way (end sentences,
never stop, follow its latents), it sets a few weights by hand and says why; nothing in the
library is patched.
"""

from __future__ import annotations

import os
from dataclasses import replace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from torch import nn

import doc_hvae.generation as generation
from doc_hvae.config import DocHVAEConfig, default_decoder_config, default_encoder_config
from doc_hvae.data.batching import DocCollator
from doc_hvae.data.tokenizer import train_bpe_tokenizer
from doc_hvae.generation import (
    GeneratedDocument,
    LatentPlan,
    SamplingConfig,
    decode_documents,
    document_latents,
    document_text,
    generate_in_style,
    interpolate,
    posterior_latents,
    reconstruct,
    sample_prior,
    seeded_generator,
    swap,
)
from doc_hvae.modeling import DocHVAE

V = 40
SENTENCE_END, PARAGRAPH_END = 2, 4  # the config defaults
THREE_LEVELS = ["document", "paragraph", "sentence"]


def tiny_model(levels=THREE_LEVELS, seed: int = 0, tie: bool = True, **kwargs) -> DocHVAE:
    decoder = default_decoder_config(V, 32, 2, 2)
    if not tie:
        decoder["tie_word_embeddings"] = False
    torch.manual_seed(seed)
    kwargs.setdefault(
        "decoder_context", "paragraph"
    )  # the loop's paragraph streams; sentence streams are asked for explicitly
    config = DocHVAEConfig(
        levels=levels,
        latent_size=8,
        vocab_size=V,
        decoder=decoder,
        encoder=default_encoder_config(V, 32, 1, 2),
        **kwargs,
    )
    return DocHVAE(config).eval()


def set_output_bias(model: DocHVAE, bias: dict[int, float]) -> None:
    """Give the LM head a bias (GPT-2's has none): a large one forces the token distribution."""
    old = model.decoder.lm.lm_head
    head = nn.Linear(old.in_features, old.out_features, bias=True)
    with torch.no_grad():
        head.weight.copy_(old.weight)
        head.bias.zero_()
        for token, value in bias.items():
            head.bias[token] = value
    model.decoder.lm.lm_head = head


def lively_model(levels=THREE_LEVELS, **kwargs) -> DocHVAE:
    """An untrained decoder whose greedy output depends on context and latents and ends sentences.

    At initialisation (std 0.02, tied embeddings) greedy decoding repeats <s> forever, which would
    make cache-vs-no-cache comparisons vacuous. Large random weights, an untied head and a bias
    towards the boundary tokens give varied streams with several sentences and paragraphs.
    """
    model = tiny_model(levels, tie=False, **kwargs)
    with torch.no_grad():
        for parameter in model.decoder.lm.parameters():
            if parameter.dim() >= 2:
                parameter.normal_(0, 1.0)
        layer_projections = model.decoder.layers.projections if model.decoder.layers is not None else []
        for projection in [*model.decoder.memory.values(), *model.decoder.embedding.values(), *layer_projections]:
            projection.weight.normal_(0, 1.0)
        if model.decoder.layers is not None:
            model.decoder.layers.gates.fill_(1.0)  # open the per-layer injection
    set_output_bias(model, {SENTENCE_END: 10.0, PARAGRAPH_END: 3.0})
    return model


def set_stop(model: DocHVAE, logit: float) -> None:
    """Make the stop head's answer constant: sigmoid(+50) = always stop, sigmoid(-50) = never."""
    with torch.no_grad():
        model.stop_head.head.weight.zero_()
        model.stop_head.head.bias.fill_(logit)


def make_rows(shapes=((2, 1), (3,), (1, 1, 2))) -> list[dict]:
    g = torch.Generator().manual_seed(0)
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
            {"id": f"doc{d}", "paragraphs": paragraphs, "num_words": sum(len(s) for p in paragraphs for s in p)}
        )
    return rows


def batch_of(model: DocHVAE, rows):
    return DocCollator.for_model(model.config)(rows)


def content_tokens(paragraph) -> int:
    return sum(len(s) for s in paragraph)


class PlanRecorder:
    """Wraps decode_documents (as seen by the generation functions) to record the plans they build."""

    def __init__(self, monkeypatch):
        self.plans = []
        real = generation.decode_documents

        def recording(model, plan, sampling, generator=None, use_cache=True):
            self.plans.append(plan)
            return real(model, plan, sampling, generator, use_cache)

        monkeypatch.setattr(generation, "decode_documents", recording)


SMALL = dict(max_tokens=8, max_paragraphs=3, max_sentences=3)


# ---------------------------------------------------------------------------------------------
# Seeds


def test_sample_prior_is_reproducible_with_a_seeded_generator():
    model = tiny_model()
    sampling = SamplingConfig(temperature=1.0, **SMALL)
    first = sample_prior(model, 3, sampling, seeded_generator(0))
    again = sample_prior(model, 3, sampling, seeded_generator(0))
    other = sample_prior(model, 3, sampling, seeded_generator(1))
    assert len(first) == 3 and all(isinstance(d, GeneratedDocument) for d in first)
    assert first == again
    assert first != other


def test_latent_temperature_zero_gives_every_document_the_prior_means():
    """Greedy tokens and latent temperature 0: every latent is its prior mean, so all documents agree."""
    model = lively_model()
    frozen = SamplingConfig(temperature=0.0, latent_temperature={level: 0.0 for level in THREE_LEVELS}, **SMALL)
    documents = sample_prior(model, 4, frozen, seeded_generator(0))
    assert all(d == documents[0] for d in documents[1:])
    free = sample_prior(model, 4, SamplingConfig(temperature=0.0, **SMALL), seeded_generator(0))
    assert any(d != free[0] for d in free[1:]), "with sampled latents the greedy documents should differ"


# ---------------------------------------------------------------------------------------------
# The KV cache


LAYERS_INJECTION = {"document": ["memory", "layers"], "paragraph": ["layers"], "sentence": ["embedding", "layers"]}


@pytest.mark.parametrize(
    "levels, context, injection",
    [
        (THREE_LEVELS, "paragraph", None),
        (THREE_LEVELS, "sentence", None),
        ([], "paragraph", None),
        (THREE_LEVELS, "paragraph", LAYERS_INJECTION),
        (THREE_LEVELS, "sentence", LAYERS_INJECTION),
    ],
    ids=["paragraph-context", "sentence-context", "flat-lm", "paragraph-context-layers", "sentence-context-layers"],
)
def test_cached_decoding_matches_decoding_without_cache(levels, context, injection):
    model = lively_model(levels, decoder_context=context, **({"latent_injection": injection} if injection else {}))
    paragraphs = []
    for temperature in (0.0, 1.0):  # greedy, and sampling from the same generator state
        sampling = SamplingConfig(temperature=temperature, max_tokens=16, max_paragraphs=3, max_sentences=4)
        cached = decode_documents(model, LatentPlan(num_documents=5), sampling, seeded_generator(0), use_cache=True)
        uncached = decode_documents(model, LatentPlan(num_documents=5), sampling, seeded_generator(0), use_cache=False)
        assert cached == uncached, f"temperature {temperature}"
        paragraphs += [paragraph for document in cached for paragraph in document.paragraphs]
    # Not vacuous: the streams have content and some paragraph switches sentences mid-stream.
    assert any(len(paragraph) > 1 for paragraph in paragraphs)
    assert any(content_tokens(paragraph) > 2 for paragraph in paragraphs)


@pytest.mark.parametrize("context", ["paragraph", "sentence"])
@pytest.mark.parametrize("guidance", [{}, {"document": 3.0, "paragraph": 2.0}], ids=["unguided", "guided"])
def test_a_document_decodes_the_same_in_a_batch_as_alone(context, guidance, monkeypatch):
    """Finished streams leave the decoder's rows (and its KV cache) mid-batch. Greedy, with every latent fixed
    (z_doc by the plan, the levels below at their prior means), each document of a batch must be what it is
    decoded alone: fails if a remaining row takes another stream's cache or latents, or another branch's."""
    model = lively_model(decoder_context=context)
    set_output_bias(model, {SENTENCE_END: 10.0, PARAGRAPH_END: 20.0})  # streams that end far apart
    calls = []  # (rows, positions already cached) of every decoder call
    step = model.decoder.step

    def recording(inputs, positions, *args):
        calls.append((inputs.shape[0], int(positions[0, 0])))
        return step(inputs, positions, *args)

    monkeypatch.setattr(model.decoder, "step", recording)
    sampling = SamplingConfig(
        temperature=0.0, latent_temperature=0.0, guidance=guidance, max_tokens=16, max_paragraphs=2, max_sentences=4
    )
    z_doc = 2 * torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
    batched = decode_documents(model, LatentPlan(num_documents=6, document=z_doc), sampling)
    alone = [
        decode_documents(model, LatentPlan(num_documents=1, document=z_doc[b : b + 1]), sampling)[0] for b in range(6)
    ]
    assert batched == alone
    # Not vacuous: the batch dropped rows in the middle of a stream (a call after the first with fewer rows).
    assert any(rows < before and cached > 0 for (before, _), (rows, cached) in zip(calls, calls[1:]))


# ---------------------------------------------------------------------------------------------
# Bounds


@pytest.mark.parametrize("context", ["paragraph", "sentence"])
def test_sampled_documents_respect_every_bound(context):
    model = tiny_model(decoder_context=context)
    sampling = SamplingConfig(temperature=1.0, max_tokens=6, max_paragraphs=2, max_sentences=2)
    documents = sample_prior(model, 6, sampling, seeded_generator(0))
    for document in documents:
        assert 1 <= len(document.paragraphs) <= 2
        for paragraph in document.paragraphs:
            assert 1 <= len(paragraph) <= 2
            if context == "paragraph":
                # Emitted tokens = content + boundaries; only a sentence cut by the bound has none.
                assert content_tokens(paragraph) + len(paragraph) - 1 <= 6
            else:
                assert all(len(sentence) <= 6 for sentence in paragraph)
            # Boundaries split the stream; they never appear inside a sentence.
            assert not any(t in (SENTENCE_END, PARAGRAPH_END) for sentence in paragraph for t in sentence)


@pytest.mark.parametrize("levels", [THREE_LEVELS, []], ids=["three-levels", "flat-lm"])
def test_the_stop_head_decides_the_paragraph_count_up_to_max_paragraphs(levels):
    model = tiny_model(levels)
    sampling = SamplingConfig(temperature=1.0, max_tokens=4, max_paragraphs=3, max_sentences=2)
    set_stop(model, -50.0)  # never stops: the bound ends every document
    assert [len(d.paragraphs) for d in sample_prior(model, 3, sampling, seeded_generator(0))] == [3, 3, 3]
    set_stop(model, 50.0)  # always stops after the first paragraph
    assert [len(d.paragraphs) for d in sample_prior(model, 3, sampling, seeded_generator(0))] == [1, 1, 1]


@pytest.mark.parametrize("context", ["paragraph", "sentence"])
def test_max_sentences_ends_a_paragraph(context):
    """A decoder that always says end-of-sentence (then end-of-paragraph) gets exactly max_sentences."""
    model = tiny_model(decoder_context=context)
    set_output_bias(model, {SENTENCE_END: 100.0, PARAGRAPH_END: 50.0})
    documents = sample_prior(
        model, 2, SamplingConfig(temperature=1.0, max_tokens=10, max_paragraphs=2, max_sentences=3), seeded_generator(0)
    )
    paragraphs = [p for d in documents for p in d.paragraphs]
    assert paragraphs and all(p == [[], [], []] for p in paragraphs), paragraphs


@pytest.mark.parametrize("context", ["paragraph", "sentence"])
def test_max_tokens_cuts_a_stream(context):
    """A decoder that never emits a boundary is cut at max_tokens, which ends the paragraph."""
    model = tiny_model(decoder_context=context)
    set_output_bias(model, {7: 100.0})
    documents = sample_prior(
        model, 2, SamplingConfig(temperature=1.0, max_tokens=5, max_paragraphs=2, max_sentences=3), seeded_generator(0)
    )
    paragraphs = [p for d in documents for p in d.paragraphs]
    assert paragraphs and all(p == [[7] * 5] for p in paragraphs), paragraphs


# ---------------------------------------------------------------------------------------------
# The sentence-latent switch


def test_decoder_receives_the_next_sentence_latent_after_end_of_sentence():
    """decoder_context="paragraph": z_sen must switch inside a stream at every </s>.

    The sentence embedding projection maps latent dimension i to a huge multiple of a one-hot
    hidden direction, and token rows of the (tied) embedding are set to those directions, so each
    sentence's tokens are dictated by its latent: z = e0 says </s>, e1 says token 20, e2 token 21.
    Two plans share the first sentence's latent and differ in the second's.
    """
    model = tiny_model(["sentence"], latent_injection={"sentence": ["embedding"]})
    big = 1000.0
    with torch.no_grad():
        embeddings = model.decoder.lm.get_input_embeddings().weight  # tied with the LM head
        projection = model.decoder.embedding["sentence"]
        projection.weight.zero_()
        projection.bias.zero_()
        for dim, token in enumerate((SENTENCE_END, 20, 21)):
            embeddings[token] = torch.nn.functional.one_hot(torch.tensor(dim), 32).float()
            projection.weight[dim, dim] = big
    e = torch.eye(8)
    plan = LatentPlan(
        num_documents=2, sentences=[[torch.stack([e[0], e[1]])], [torch.stack([e[0], e[2]])]], num_paragraphs=[1, 1]
    )
    greedy = SamplingConfig(temperature=0.0, max_tokens=6, max_paragraphs=1, max_sentences=3)
    first, second = decode_documents(model, plan, greedy, seeded_generator(0))
    assert first.paragraphs[0][0] == second.paragraphs[0][0] == []  # same latent, same first sentence (ends at once)
    assert first.paragraphs[0][1] == [20] * 5
    assert second.paragraphs[0][1] == [21] * 5


# ---------------------------------------------------------------------------------------------
# Posterior-driven generation


@pytest.mark.parametrize("levels", [THREE_LEVELS, []], ids=["three-levels", "flat-lm"])
def test_reconstruct_keeps_the_paragraph_count_of_each_source(levels):
    model = tiny_model(levels)
    rows = make_rows()
    documents = reconstruct(
        model,
        batch_of(model, rows),
        SamplingConfig(temperature=1.0, max_tokens=4, max_sentences=2),
        generator=seeded_generator(0),
    )
    assert [len(d.paragraphs) for d in documents] == [len(r["paragraphs"]) for r in rows] == [2, 1, 3]


def test_sentence_context_reconstruction_keeps_each_paragraph_sentence_count():
    """A decoder that never ends a paragraph writes max_sentences sentences from the prior, but
    reconstructs each source paragraph with as many sentences as it has latents for."""
    model = tiny_model(decoder_context="sentence")
    set_output_bias(model, {SENTENCE_END: 100.0})
    rows = make_rows(((2, 1), (3,), (1, 1, 2)))
    sampling = SamplingConfig(temperature=1.0, max_tokens=4, max_paragraphs=3, max_sentences=5)
    documents = reconstruct(model, batch_of(model, rows), sampling, generator=seeded_generator(0))
    assert [[len(p) for p in d.paragraphs] for d in documents] == [[len(p) for p in r["paragraphs"]] for r in rows]
    prior = sample_prior(model, 2, sampling, seeded_generator(0))
    assert all(len(p) == 5 for d in prior for p in d.paragraphs)


def test_reconstruct_does_not_silently_drop_paragraphs_beyond_max_paragraphs():
    model = tiny_model()
    rows = make_rows(((1, 1, 1, 1), (2,)))
    try:
        documents = reconstruct(
            model, batch_of(model, rows), SamplingConfig(max_paragraphs=2, max_tokens=3), generator=seeded_generator(0)
        )
    except ValueError as error:  # a clear error naming the bound is an acceptable fix too
        assert "max_paragraphs" in str(error)
        return
    assert [len(d.paragraphs) for d in documents] == [4, 1]


def test_generate_in_style_decodes_per_reference_documents_from_each_reference_z_doc(monkeypatch):
    model = tiny_model()
    references = batch_of(model, make_rows()[:2])
    recorder = PlanRecorder(monkeypatch)
    groups = generate_in_style(
        model, references, per_reference=3, sampling=SamplingConfig(**SMALL), generator=seeded_generator(0)
    )
    assert [len(group) for group in groups] == [3, 3]
    assert all(isinstance(d, GeneratedDocument) for group in groups for d in group)
    (plan,) = recorder.plans
    z_doc = posterior_latents(model, references)["document"]
    torch.testing.assert_close(plan.document, z_doc.repeat_interleave(3, dim=0))
    assert plan.paragraphs is None and plan.sentences is None  # lower levels from their priors


def test_generate_in_style_rejects_a_model_without_document_level_and_bad_counts():
    no_document = tiny_model(["paragraph", "sentence"])
    with pytest.raises(ValueError, match="document level"):
        generate_in_style(no_document, batch_of(no_document, make_rows()[:1]), 2, SamplingConfig(**SMALL))
    model = tiny_model()
    with pytest.raises(ValueError, match="per_reference=0"):
        generate_in_style(model, batch_of(model, make_rows()[:1]), 0, SamplingConfig(**SMALL))


def test_candidates_keep_of_each_document_the_one_the_encoder_puts_nearest_its_z_doc():
    """Best of N: the candidates are the documents decoded from each z_doc repeated N times (same seed), and the
    one kept has the smallest distance between its re-encoded z_doc and the z_doc it was written from."""
    model = lively_model()
    references = batch_of(model, make_rows()[:2])
    sampling = SamplingConfig(temperature=1.0, **SMALL)
    best = generate_in_style(model, references, 2, replace(sampling, candidates=3), generator=seeded_generator(0))
    z_doc = posterior_latents(model, references)["document"].repeat_interleave(2, dim=0)  # [4, D]
    plan = LatentPlan(num_documents=12, document=z_doc.repeat_interleave(3, dim=0))
    candidates = decode_documents(model, plan, sampling, seeded_generator(0))
    distance = (document_latents(model, [d.as_row() for d in candidates]).view(4, 3, -1) - z_doc.unsqueeze(1)).norm(
        dim=-1
    )
    assert len({tuple(map(tuple, sum(d.paragraphs, []))) for d in candidates}) > 4  # the candidates differ
    kept = [candidates[3 * b + int(n)] for b, n in enumerate(distance.argmin(dim=1))]
    assert [d.paragraphs for d in sum(best, [])] == [d.paragraphs for d in kept]
    assert [d.paragraphs for d in sum(best, [])] != [
        candidates[3 * b + int(n)].paragraphs for b, n in enumerate(distance.argmax(dim=1))
    ]
    # Prior samples: the candidates of a document share one z_doc draw.
    prior = sample_prior(model, 2, replace(sampling, candidates=3), seeded_generator(0))
    assert len(prior) == 2 and not torch.equal(prior[0].latents["document"], prior[1].latents["document"])


def test_candidates_refuse_plans_and_models_they_cannot_rank():
    model = tiny_model()
    rows = make_rows()[:2]
    best_of_two = SamplingConfig(candidates=2, **SMALL)
    with pytest.raises(ValueError, match=r"candidates=2 .*fixes \['paragraphs', 'sentences', 'num_paragraphs'\]"):
        reconstruct(model, batch_of(model, rows), best_of_two)
    no_document = tiny_model(["paragraph", "sentence"])
    with pytest.raises(ValueError, match="no document level"):
        sample_prior(no_document, 1, best_of_two)


@pytest.mark.parametrize("level", THREE_LEVELS)
def test_interpolate_returns_steps_documents_between_the_two_endpoints(level, monkeypatch):
    model = tiny_model()
    rows = make_rows(((2, 1), (1, 3, 1)))
    pair = batch_of(model, rows)
    recorder = PlanRecorder(monkeypatch)
    documents = interpolate(
        model, pair, level, steps=3, sampling=SamplingConfig(**SMALL), generator=seeded_generator(0)
    )
    assert len(documents) == 3
    (plan,) = recorder.plans
    assert plan.num_documents == 3
    means = posterior_latents(model, pair)
    if level == "document":
        torch.testing.assert_close(plan.document[0], means["document"][0])
        torch.testing.assert_close(plan.document[-1], means["document"][1])
        torch.testing.assert_close(plan.document[1], means["document"].mean(0))
    else:
        # The document latent is the first document's; units are paired by position (2 paragraphs).
        torch.testing.assert_close(plan.document, means["document"][:1].expand(3, -1))
        assert plan.num_paragraphs == [2, 2, 2]
        assert [len(d.paragraphs) for d in documents] == [2, 2, 2]
    if level == "paragraph":
        torch.testing.assert_close(plan.paragraphs[0], means["paragraph"][[0, 1]])
        torch.testing.assert_close(plan.paragraphs[-1], means["paragraph"][[2, 3]])
    if level == "sentence":
        # Paragraph 0: 2 vs 1 sentences -> 1 pair; paragraph 1: 1 vs 3 -> 1 pair. Sentences 0..2 | 3..7.
        assert [s.shape[0] for s in plan.sentences[0]] == [1, 1]
        torch.testing.assert_close(plan.sentences[0][1][0], means["sentence"][2])
        torch.testing.assert_close(plan.sentences[-1][1][0], means["sentence"][4])


def test_interpolate_validates_its_arguments():
    model = tiny_model(["document", "sentence"])
    rows = make_rows()
    sampling = SamplingConfig(**SMALL)
    with pytest.raises(ValueError, match="'paragraph' is not a level"):
        interpolate(model, batch_of(model, rows[:2]), "paragraph", 3, sampling)
    with pytest.raises(ValueError, match="exactly 2 documents, got 3"):
        interpolate(model, batch_of(model, rows), "document", 3, sampling)
    with pytest.raises(ValueError, match="steps=1"):
        interpolate(model, batch_of(model, rows[:2]), "document", 1, sampling)


def test_swap_takes_z_doc_from_the_donors_and_keeps_the_structure(monkeypatch):
    model = tiny_model()
    rows = make_rows()
    batch = batch_of(model, rows)
    recorder = PlanRecorder(monkeypatch)
    documents = swap(model, batch, donors=[2, 0, 0], sampling=SamplingConfig(**SMALL), generator=seeded_generator(0))
    assert [len(d.paragraphs) for d in documents] == [2, 1, 3]
    (plan,) = recorder.plans
    means = posterior_latents(model, batch)
    torch.testing.assert_close(plan.document, means["document"][[2, 0, 0]])
    torch.testing.assert_close(plan.paragraphs[0], means["paragraph"][[0, 1]])  # own paragraphs kept


@pytest.mark.parametrize("donors", [[0, 1], [0, 1, 3], [-1, 0, 1], [0, 1, 2, 0]])
def test_swap_rejects_invalid_donors(donors):
    model = tiny_model()
    with pytest.raises(ValueError, match="donors="):
        swap(model, batch_of(model, make_rows()), donors, SamplingConfig(**SMALL))


def test_swap_needs_a_document_level():
    model = tiny_model(["paragraph", "sentence"])
    with pytest.raises(ValueError, match="document level"):
        swap(model, batch_of(model, make_rows()), [0, 1, 2], SamplingConfig(**SMALL))


# ---------------------------------------------------------------------------------------------
# Settings and edge cases


@pytest.mark.parametrize(
    "bad, named",
    [
        ({"temperature": -0.5}, "temperature=-0.5"),
        ({"top_k": -1}, "top_k=-1"),
        ({"top_p": 0.0}, "top_p=0.0"),
        ({"top_p": 1.5}, "top_p=1.5"),
        ({"max_paragraphs": 0}, "max_paragraphs=0"),
        ({"max_sentences": 0}, "max_sentences=0"),
        ({"max_tokens": -3}, "max_tokens=-3"),
        ({"candidates": 0}, "candidates=0"),
    ],
)
def test_sampling_config_rejects_bad_values(bad, named):
    with pytest.raises(ValueError, match=named):
        SamplingConfig(**bad)


def test_sampling_config_accepts_the_edges():
    config = SamplingConfig(
        temperature=0.0,
        top_k=0,
        top_p=1.0,
        max_paragraphs=1,
        max_sentences=1,
        max_tokens=1,
        latent_temperature={"document": 0.5},
    )
    assert config.latent_temperature_of("document") == 0.5
    assert config.latent_temperature_of("sentence") == 1.0


def test_decode_documents_rejects_zero_documents():
    with pytest.raises(ValueError, match="num_documents=0"):
        decode_documents(tiny_model(), LatentPlan(num_documents=0), SamplingConfig())


def test_top_k_one_and_tiny_top_p_are_greedy():
    """With every latent and paragraph count fixed (a flat LM), truncation to one token is argmax."""
    model = lively_model([])
    plan = LatentPlan(num_documents=3, num_paragraphs=[2, 1, 2])
    greedy = decode_documents(model, plan, SamplingConfig(temperature=0.0, **SMALL), seeded_generator(0))
    for truncation in ({"top_k": 1}, {"top_p": 1e-6}):
        truncated = decode_documents(
            model, plan, SamplingConfig(temperature=1.3, **truncation, **SMALL), seeded_generator(1)
        )
        assert truncated == greedy, truncation
    sampled = decode_documents(model, plan, SamplingConfig(temperature=5.0, **SMALL), seeded_generator(1))
    assert sampled != greedy


# ---------------------------------------------------------------------------------------------
# Text


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer(
        ["The cat sat on the mat.", "A dog ran in the park.", "Rain fell all day long."] * 3,
        vocab_size=300,
        min_frequency=1,
    )


def test_document_text_joins_sentences_with_spaces_and_paragraphs_with_a_blank_line(tokenizer):
    def encode(text):
        return tokenizer.encode(text, add_special_tokens=False)

    document = GeneratedDocument(
        [[encode("The cat sat on the mat."), encode("A dog ran in the park.")], [encode("Rain fell all day long.")]]
    )
    assert (
        document_text(document, tokenizer)
        == "The cat sat on the mat. A dog ran in the park.\n\nRain fell all day long."
    )
    # Empty sentences and paragraphs leave no stray spaces or blank lines; special tokens are skipped.
    sparse = GeneratedDocument(
        [[[]], [encode("Rain fell all day long."), [SENTENCE_END]], [[], encode("The cat sat on the mat.")]]
    )
    assert document_text(sparse, tokenizer) == "Rain fell all day long.\n\nThe cat sat on the mat."
