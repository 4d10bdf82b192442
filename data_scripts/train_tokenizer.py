#!/usr/bin/env python
"""Train a tokenizer (byte-level BPE, or tokenizer.kind=unigram for sentencepiece's Unigram LM) on a corpus's training split, with the document special tokens.

    python data_scripts/train_tokenizer.py --config data_scripts/configs/wikitext2.yaml --output tokenizers/wikitext2 [key=value ...]

The folder loads with `AutoTokenizer.from_pretrained(folder)`; pass it to prepare_corpus.py as
`tokenizer.pretrained=<folder>` to share one tokenizer between corpora. (prepare_corpus.py trains
one itself when no pretrained tokenizer is given.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from doc_hvae.config_loading import ConfigError, load_config
from doc_hvae.data.document import SkipReport
from doc_hvae.data.prepare import PrepareConfig, read_documents, sentences_of


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a corpus YAML (its source and tokenizer sections are used)")
    parser.add_argument("--output", required=True, help="folder to save the tokenizer to")
    parser.add_argument("--num-proc", type=int, default=None, help="processes for sentence splitting (default: 1)")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. tokenizer.vocab_size=16000")
    args = parser.parse_args(argv)
    try:
        config = load_config(PrepareConfig, args.config, [*args.overrides, f"output_dir={args.output}"])
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    started = time.perf_counter()
    report = SkipReport()
    with tempfile.TemporaryDirectory(prefix="doc_hvae-tokenizer-") as work_dir:  # documents stream through Arrow files
        documents = read_documents(config.source, report, work_dir, show_progress=True, num_proc=args.num_proc)["train"]
        tokenizer = config.tokenizer.train(sentences_of(documents))
    tokenizer.save_pretrained(args.output)
    print(
        f"Trained a {len(tokenizer):,}-token {config.tokenizer.kind} tokenizer on {len(documents):,} training documents "
        f"in {time.perf_counter() - started:.1f} s; saved to {args.output}.\nSkipped or changed while reading:\n{report.format()}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
