#!/usr/bin/env python
"""Train a DocHVAE (or the flat-LM baseline) with Accelerate.

The recipe is `doc_hvae.recipes.train_docs` (also installed as the `doc-hvae-train` command);
`python recipes/train_docs.py --help` shows its usage.
"""

from doc_hvae.recipes.train_docs import run

if __name__ == "__main__":
    run()
