"""Train a DocHVAE (or the flat-LM baseline) with Accelerate.

    accelerate launch recipes/train_docs.py --config recipes/configs/quickstart.yaml [key=value ...] [--resume latest]

One CPU, one GPU or many (`accelerate launch --multi_gpu --num_processes N`); precision from the
launch (`--mixed_precision bf16`) unless the YAML sets training.mixed_precision. Two CPU processes:
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \\
        --mixed_precision no --dynamo_backend no recipes/train_docs.py --config ...
The run is `doc_hvae.trainer.Trainer`; this script wires it to the command line.
"""

from __future__ import annotations

import argparse
import sys

from doc_hvae.cli import HelpFormatter, run_cli
from doc_hvae.config_loading import load_config
from doc_hvae.trainer import Trainer
from doc_hvae.training import TrainConfig


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--config", required=True, help="a YAML file, e.g. recipes/configs/quickstart.yaml")
    parser.add_argument(
        "--resume", default=None, help="'latest' or a checkpoint folder (output_dir/checkpoints/step_...)"
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser.add_argument(
        "overrides", nargs="*", help="dotted key=value overrides, e.g. training.max_steps=200 optim.lr=3e-4"
    )
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    config = load_config(TrainConfig, args.config, args.overrides)
    trainer = Trainer(config, resume=args.resume)
    trainer.train()
    return trainer.finish()


def run(argv=None) -> None:
    """The console script (`doc-hvae-train`): `main` with readable errors."""
    run_cli(main, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    run()
