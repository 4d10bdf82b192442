#!/usr/bin/env python
"""Train a DocHVAE (or the flat-LM baseline) with Accelerate.

    accelerate launch recipes/train_docs.py --config recipes/configs/quickstart.yaml [key=value ...] [--resume latest]

One CPU, one GPU or many (`accelerate launch --multi_gpu --num_processes N`); precision from the
launch (`--mixed_precision bf16`) unless the YAML sets training.mixed_precision. Two CPU processes:
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \\
        --mixed_precision no --dynamo_backend no recipes/train_docs.py --config ...
The run is `doc_hvae.trainer.Trainer`; this script wires it to the command line.

The recipe is `doc_hvae.recipes.train_docs` (also installed as the `doc-hvae-train` command).
"""

from doc_hvae.recipes.train_docs import run

if __name__ == "__main__":
    run()
