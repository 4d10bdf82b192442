#!/usr/bin/env python
"""Prepare a corpus: read, segment, train (or load) a tokenizer, tokenize, cut into windows, save.

    python data_scripts/prepare_corpus.py --config data_scripts/configs/wikitext2.yaml [--num-proc 4] [key=value ...]

Writes a `datasets` DatasetDict, the tokenizer, and a statistics report (printed and saved as
statistics.json / statistics.md) to `output_dir`. See doc_hvae.data.prepare for the format.
Documents stream through every stage (the corpus is never in memory); `--num-proc` splits
sentences, tokenizes and windows in that many processes, with the same output as one.
"""

from __future__ import annotations

import argparse
import sys
import time

from doc_hvae.config_loading import ConfigError, load_config
from doc_hvae.data.prepare import PrepareConfig, format_statistics, prepare_corpus


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a corpus YAML (data_scripts/configs/)")
    parser.add_argument(
        "--num-proc",
        type=int,
        default=None,
        help="processes for sentence splitting, tokenization and windowing (default: 1)",
    )
    parser.add_argument(
        "overrides", nargs="*", help="dotted key=value overrides, e.g. output_dir=data/mine tokenizer.vocab_size=16000"
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(PrepareConfig, args.config, args.overrides)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    started = time.perf_counter()
    statistics = prepare_corpus(config, num_proc=args.num_proc)
    print(format_statistics(statistics))
    print(
        f"\nWrote {config.output_dir} (dataset/, tokenizer/, statistics.json, statistics.md) in {time.perf_counter() - started:.1f} s."
    )
    return statistics


if __name__ == "__main__":
    main(sys.argv[1:])
