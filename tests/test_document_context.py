"""decoder_context="document": the flat-LM baseline that reads the whole window as one stream."""

import pytest
import torch

from doc_hvae import DocHVAE, DocHVAEConfig
from doc_hvae.config import default_decoder_config, default_encoder_config
from doc_hvae.data.batching import IGNORE_INDEX, DocCollator
from doc_hvae.generation import LatentPlan, SamplingConfig, decode_documents, seeded_generator
from doc_hvae.training import check_positions

V = 64
BOS, PARAGRAPH_END, SENTENCE_END = 1, 4, 2
DOCS = [
    {
        "id": "a",
        "paragraphs": [[[10, 11, 12], [13, 14]], [[15, 16, 17, 18]], [[19, 20], [21, 22, 23], [24]]],
        "num_words": 15,
    },
    {"id": "b", "paragraphs": [[[30, 31]], [[32, 33, 34], [35, 36], [37]]], "num_words": 8},
]


def flat_model(context: str, seed: int = 0) -> DocHVAE:
    decoder = {**default_decoder_config(V, 32, 2, 2), "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}
    config = DocHVAEConfig(
        levels=[], vocab_size=V, decoder=decoder, encoder=default_encoder_config(V, 32, 1, 2), decoder_context=context
    )
    torch.manual_seed(seed)
    return DocHVAE(config).eval()


def test_document_streams_predict_the_same_tokens_as_paragraph_streams():
    by_context = {
        context: DocCollator.for_model(flat_model(context).config)(DOCS) for context in ("paragraph", "document")
    }
    paragraph, document = by_context["paragraph"], by_context["document"]
    assert document.num_tokens == paragraph.num_tokens
    assert int(document.decoder_segment.max()) + 1 == len(DOCS)  # one stream per document

    def targets(batch):  # (sentence, token) of every predicted position, sorted
        keep = batch.decoder_labels != IGNORE_INDEX
        return sorted(zip(batch.decoder_sentence[keep].tolist(), batch.decoder_labels[keep].tolist()))

    assert targets(document) == targets(paragraph)
    # The stream of document "a": <s>, then each paragraph after the previous </p>.
    first = document.decoder_input_ids[document.decoder_segment == 0].tolist()
    assert first == [
        BOS,
        10,
        11,
        12,
        SENTENCE_END,
        13,
        14,
        PARAGRAPH_END,
        15,
        16,
        17,
        18,
        PARAGRAPH_END,
        19,
        20,
        SENTENCE_END,
        21,
        22,
        23,
        SENTENCE_END,
        24,
        PARAGRAPH_END,
    ]


def test_document_context_nll_is_the_lms_own_loss_on_the_whole_stream():
    model = flat_model("document")
    batch = DocCollator.for_model(model.config)(DOCS)
    streams = [batch.decoder_input_ids[batch.decoder_segment == d].tolist() for d in range(len(DOCS))]
    with torch.no_grad():
        ours = model(batch).recon_nll
        reference = sum(
            model.decoder.lm(input_ids=torch.tensor([s]), labels=torch.tensor([s])).loss * (len(s) - 1) for s in streams
        )
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-4)


def test_document_context_is_for_the_flat_lm_only():
    with pytest.raises(ValueError, match="flat-LM baseline"):
        DocHVAEConfig(
            levels=["document"], vocab_size=V, decoder=default_decoder_config(V, 32, 1, 2), decoder_context="document"
        )


def test_positions_are_checked_against_the_window_length():
    config = flat_model("document").config  # n_positions 1024
    check_positions(config, {"max_sentence_tokens": 32, "max_paragraph_tokens": 128, "max_window_tokens": 1000})
    with pytest.raises(ValueError, match="max_window_tokens"):
        check_positions(config, {"max_sentence_tokens": 32, "max_paragraph_tokens": 128, "max_window_tokens": 1500})


def lively(model: DocHVAE) -> DocHVAE:
    """Random large weights and a bias to the boundary tokens: varied streams with several paragraphs."""
    with torch.no_grad():
        for parameter in model.decoder.lm.parameters():
            if parameter.dim() >= 2:
                parameter.normal_(0, 1.0)
        model.decoder.lm.lm_head.weight = torch.nn.Parameter(torch.randn(V, 32))
        model.decoder.lm.lm_head.bias = torch.nn.Parameter(torch.zeros(V))
        model.decoder.lm.lm_head.bias[[SENTENCE_END, PARAGRAPH_END]] = 4.0
        model.stop_head.head.weight.zero_()
        model.stop_head.head.bias.fill_(-1.0)  # stop with probability 0.27 after each paragraph
    return model


def test_generation_continues_one_stream_across_paragraphs():
    model = lively(flat_model("document"))
    sampling = SamplingConfig(temperature=1.0, max_tokens=10, max_paragraphs=4, max_sentences=3)
    cached = decode_documents(model, LatentPlan(num_documents=6), sampling, seeded_generator(0), use_cache=True)
    uncached = decode_documents(model, LatentPlan(num_documents=6), sampling, seeded_generator(0), use_cache=False)
    assert cached == uncached
    counts = [len(document.paragraphs) for document in cached]
    assert max(counts) > 1 and max(counts) <= 4  # some documents go on, none past the bound
    for document in cached:
        for paragraph in document.paragraphs:
            assert len(paragraph) <= 3 and sum(len(s) + 1 for s in paragraph) <= 10
    fixed = decode_documents(model, LatentPlan(num_documents=2, num_paragraphs=[3, 1]), sampling, seeded_generator(1))
    assert [len(document.paragraphs) for document in fixed] == [3, 1]
