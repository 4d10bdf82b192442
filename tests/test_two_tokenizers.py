"""A sentence encoder with a tokenizer of its own: a BERT-style encoder over a GPT-2-style decoder.

Both start from tiny local checkpoints that the test writes, with different vocabularies (a
WordPiece tokenizer for the encoder, a byte-level BPE for the decoder). The corpus is prepared with
both tokenizers; the model trains a few steps with the training recipe, is evaluated, generates,
and serves the Python API, which decodes with the decoder's tokenizer.
"""

import math

import pytest
import torch
from tokenizers import BertWordPieceTokenizer
from transformers import BertConfig, BertModel, BertTokenizerFast, GPT2Config, GPT2LMHeadModel

from doc_hvae import DocHVAEPipeline
from doc_hvae.data.batching import DocCollator
from doc_hvae.data.document import SkipReport
from doc_hvae.data.prepare import PrepareConfig, PreparedCorpus, prepare_corpus
from doc_hvae.data.readers import read_corpus
from doc_hvae.data.tokenizer import train_bpe_tokenizer
from doc_hvae.modeling.loading import load_model
from doc_hvae.recipes import evaluate_docs, generate_docs, train_docs

SOURCE = {"reader": "pydoc", "max_documents": 20, "split_fractions": {"validation": 0.2, "test": 0.1}}
LIMITS = {
    "max_sentence_tokens": 32,
    "max_paragraph_sentences": 8,
    "max_paragraph_tokens": 128,
    "max_window_paragraphs": 4,
    "max_window_tokens": 256,
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Tiny local 'pretrained' checkpoints: (GPT-2-style decoder folder, BERT-style encoder folder)."""
    root = tmp_path_factory.mktemp("checkpoints")
    sentences = [s for doc in read_corpus("pydoc", report=SkipReport()) for p in doc.paragraphs for s in p][:4000]
    gpt2_tokenizer = train_bpe_tokenizer(sentences, vocab_size=450)
    gpt2_tokenizer.save_pretrained(root / "gpt2")
    GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(gpt2_tokenizer),
            n_embd=32,
            n_layer=1,
            n_head=2,
            n_positions=256,
            bos_token_id=1,
            eos_token_id=2,
        )
    ).save_pretrained(root / "gpt2")
    wordpiece = BertWordPieceTokenizer(lowercase=False)
    wordpiece.train_from_iterator(sentences, vocab_size=700, min_frequency=1, show_progress=False)
    bert_tokenizer = BertTokenizerFast(
        tokenizer_object=wordpiece._tokenizer,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=64,
        do_lower_case=False,
    )
    bert_tokenizer.save_pretrained(root / "bert")
    BertModel(
        BertConfig(
            vocab_size=len(bert_tokenizer),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=256,
        )
    ).save_pretrained(root / "bert")
    return root / "gpt2", root / "bert"


@pytest.fixture(scope="module")
def corpus(checkpoints, tmp_path_factory):
    gpt2, bert = checkpoints
    output = tmp_path_factory.mktemp("corpus")
    prepare_corpus(
        PrepareConfig(
            source=SOURCE,
            tokenizer={"pretrained": str(gpt2)},
            encoder_tokenizer={"pretrained": str(bert)},
            limits=LIMITS,
            output_dir=str(output),
        ),
        show_progress=False,
    )
    return output


@pytest.fixture(scope="module")
def trained(checkpoints, corpus, tmp_path_factory):
    gpt2, bert = checkpoints
    output = tmp_path_factory.mktemp("run")
    train_docs.main(
        [
            "--config",
            "recipes/configs/quickstart.yaml",
            f"data.prepared_dir={corpus}",
            "data.prepare=null",
            "data.max_tokens=512",
            f"model.decoder_name_or_path={gpt2}",
            f"model.encoder_name_or_path={bert}",
            "model.config.latent_size=8",
            f"training.output_dir={output}",
            "training.max_steps=4",
            "training.eval_every=4",
            "training.save_every=4",
            "training.log_every=1",
            "training.iw_samples=0",
            "training.num_samples=1",
            "training.sample_max_tokens=16",
            "training.tensorboard=false",
            "data.max_validation_documents=4",
        ]
    )
    return output / "final"


def test_each_sentence_is_in_both_tokenizations(corpus):
    prepared = PreparedCorpus(corpus)
    assert len(prepared.encoder_tokenizer) != len(prepared.tokenizer)
    assert type(prepared.encoder_tokenizer).__name__.startswith("BertTokenizer")
    compared = 0
    for row in prepared.dataset["train"].select(range(10)):
        assert [len(p) for p in row["encoder_paragraphs"]] == [len(p) for p in row["paragraphs"]]
        for decoder_ids, encoder_ids in zip(
            (s for p in row["paragraphs"] for s in p), (s for p in row["encoder_paragraphs"] for s in p)
        ):
            text = prepared.tokenizer.decode(decoder_ids)
            # WordPiece splits at punctuation and drops spaces: compare the text without whitespace.
            assert prepared.encoder_tokenizer.decode(encoder_ids).replace(" ", "").replace("##", "") == "".join(
                text.split()
            ), text
            assert max(encoder_ids, default=0) < len(prepared.encoder_tokenizer)
            compared += 1
    assert compared > 50


def test_the_collator_feeds_the_encoder_its_own_ids(trained, corpus):
    model = load_model(trained)
    prepared = PreparedCorpus(corpus)
    config = model.config
    assert config.encoder_vocab_size == len(prepared.encoder_tokenizer) != config.vocab_size == len(prepared.tokenizer)
    assert model.encoder.sentence_encoder.get_input_embeddings().num_embeddings == len(prepared.encoder_tokenizer)
    rows = list(prepared.dataset["validation"].select(range(2)))
    batch = DocCollator.for_model(config)(rows)
    cls, sep = prepared.encoder_tokenizer.cls_token_id, prepared.encoder_tokenizer.sep_token_id
    starts = (batch.encoder_position == 0) & (batch.encoder_segment >= 0)  # the first position of each sentence
    assert bool((batch.encoder_input_ids[starts] == cls).all()) and int((batch.encoder_input_ids == sep).sum()) == int(
        starts.sum()
    )
    with pytest.raises(ValueError, match="no encoder_paragraphs.*encoder_tokenizer"):
        DocCollator.for_model(config)([{key: value for key, value in rows[0].items() if key != "encoder_paragraphs"}])
    with torch.no_grad():
        output = model(batch)
    assert math.isfinite(float(output.recon_nll))


def test_trains_evaluates_and_generates(trained, corpus, tmp_path):
    losses = [record for record in (trained.parent / "log.jsonl").read_text().splitlines() if '"loss"' in record]
    assert len(losses) == 4
    assert (trained / "encoder_tokenizer" / "tokenizer.json").is_file()
    report = evaluate_docs.main(
        [
            "--model",
            str(trained),
            "--split",
            "test",
            "--k",
            "2",
            "--max-documents",
            "2",
            "--output",
            str(tmp_path / "eval"),
        ]
    )
    assert math.isfinite(report["ppl_elbo"]) and math.isfinite(report["ppl_iw"])
    records = generate_docs.main(
        [
            "--model",
            str(trained),
            "--mode",
            "style",
            "--references",
            "0",
            "--per-reference",
            "1",
            "--max-tokens",
            "24",
            "--output",
            str(tmp_path / "samples"),
        ]
    )
    assert len(records) == 1 and records[0]["text"].strip()
    assert "[CLS]" not in records[0]["text"] and "##" not in records[0]["text"]  # decoded with the decoder's tokenizer


def test_the_python_api_encodes_with_the_encoder_tokenizer(trained):
    pipeline = DocHVAEPipeline.from_pretrained(trained, device="cpu")
    assert type(pipeline.encoder_tokenizer).__name__.startswith("BertTokenizer")
    texts = [
        "The for statement iterates over a sequence. It runs once per item.",
        "A module is a file of definitions.\n\nIt can be imported.",
    ]
    rows = pipeline.rows(texts)
    assert all("encoder_paragraphs" in row for row in rows)
    plan = pipeline.encode(texts)
    assert plan.document.shape == (2, 8)
    generated = pipeline.generate_in_style(texts[0], per_text=1, seed=0, max_tokens=24)
    assert generated[0].text.strip() and "[SEP]" not in generated[0].text
    with pytest.raises(ValueError, match="encoder_tokenizer"):
        DocHVAEPipeline(pipeline.model, pipeline.tokenizer)


def test_the_encoder_tokenizer_can_be_trained_on_the_corpus(tmp_path):
    """encoder_tokenizer without `pretrained`: one of its own kind and size, trained on the training split."""
    statistics = prepare_corpus(
        PrepareConfig(
            source=SOURCE,
            tokenizer={"vocab_size": 500},
            encoder_tokenizer={"kind": "unigram", "vocab_size": 400},
            limits=LIMITS,
            output_dir=str(tmp_path),
        ),
        show_progress=False,
    )
    prepared = PreparedCorpus(tmp_path)
    assert statistics["encoder_vocab_size"] == len(prepared.encoder_tokenizer) != len(prepared.tokenizer)
    assert type(prepared.encoder_tokenizer.backend_tokenizer.model).__name__ == "Unigram"
    row = prepared.dataset["train"][0]
    first = row["paragraphs"][0][0]
    assert (
        prepared.encoder_tokenizer.decode(row["encoder_paragraphs"][0][0]) == prepared.tokenizer.decode(first).strip()
    )
