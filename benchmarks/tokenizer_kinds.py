#!/usr/bin/env python
"""Compare the two tokenizers doc_hvae trains: byte-level BPE (tokenizers) and Unigram LM (sentencepiece).

    python benchmarks/tokenizer_kinds.py [--corpora quickstart wikitext2] [--vocab-size 4000 8000] [--output DIR]

For each corpus (its shipped preparation config) and vocabulary size, both kinds are trained on the
training split's sentences, then measured on the validation split's sentences:
- tokens per word (words as the statistics count them, whitespace-separated),
- sentences that decode back to exactly their text (round trip),
- training and encoding time.
The language-model side of the comparison (word-level PPL of the same flat LM trained on each
tokenization) is `quality_suite.py --suite quickstart_tokenizers`. Results go to DIR (default
outputs/bench/tokenizer_kinds) as JSON and Markdown.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from doc_hvae.config_loading import load_config
from doc_hvae.data.document import SkipReport
from doc_hvae.data.prepare import PrepareConfig, TokenizerConfig, load_documents
from doc_hvae.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_output import save_results  # noqa: E402

CORPORA = {
    "quickstart": ("recipes/configs/quickstart.yaml", "train"),  # a training config: its data.prepare section
    "wikitext2": ("data_scripts/configs/wikitext2.yaml", "prepare"),
}


def preparation_config(corpus: str) -> PrepareConfig:
    path, kind = CORPORA[corpus]
    if kind == "train":
        data = load_config(TrainConfig, REPO / path).data
        return PrepareConfig(**data.prepare.model_dump(), output_dir=data.prepared_dir)
    return load_config(PrepareConfig, REPO / path)


def sentences_of(documents) -> list[str]:
    return [sentence for document in documents for paragraph in document.paragraphs for sentence in paragraph]


def measure(kind: str, vocab_size: int, train: list[str], validation: list[str]) -> dict:
    started = time.perf_counter()
    tokenizer = TokenizerConfig(kind=kind, vocab_size=vocab_size).train(train)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ids = tokenizer(validation, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    encode_seconds = time.perf_counter() - started
    decoded = tokenizer.batch_decode(ids)
    # The byte-level BPE decodes with the leading space of its prefix; both are compared stripped of it.
    exact = sum(text.strip() == sentence.strip() for text, sentence in zip(decoded, validation))
    words = sum(len(sentence.split()) for sentence in validation)
    tokens = sum(len(row) for row in ids)
    return {
        "kind": kind,
        "vocab_size": len(tokenizer),
        "tokens_per_word": tokens / words,
        "round_trip_exact": exact / len(validation),
        "train_seconds": train_seconds,
        "encode_sentences_per_second": len(validation) / encode_seconds,
        "not_round_tripped_examples": [s for s, t in zip(validation, decoded) if t.strip() != s.strip()][:3],
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument("--vocab-size", type=int, nargs="*", default=[4000, 8000])
    parser.add_argument("--output", default=str(REPO / "outputs" / "bench" / "tokenizer_kinds"))
    args = parser.parse_args(argv)

    rows = []
    for corpus in args.corpora:
        report = SkipReport()
        documents = load_documents(preparation_config(corpus).source, report)
        train, validation = sentences_of(documents["train"]), sentences_of(documents.get("validation", []))
        print(f"{corpus}: {len(train):,} training sentences, {len(validation):,} validation sentences", flush=True)
        for vocab_size in args.vocab_size:
            for kind in ("bpe", "unigram"):
                row = {"corpus": corpus, **measure(kind, vocab_size, train, validation)}
                rows.append(row)
                print(
                    f"  {kind} {vocab_size}: {row['tokens_per_word']:.3f} tokens/word, round trip {row['round_trip_exact']:.4f}, "
                    f"trained in {row['train_seconds']:.1f} s",
                    flush=True,
                )

    lines = [
        "| corpus | tokenizer | vocab | tokens / word | round trip (exact) | train (s) | encode (sentences/s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['corpus']} | {row['kind']} | {row['vocab_size']:,} | {row['tokens_per_word']:.3f} | {row['round_trip_exact']:.4f} | "
            f"{row['train_seconds']:.1f} | {row['encode_sentences_per_second']:,.0f} |"
        )
    save_results(args.output, rows, lines)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
