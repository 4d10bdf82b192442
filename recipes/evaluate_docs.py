#!/usr/bin/env python
"""Evaluate a trained DocHVAE (or flat LM) on a split: every metric of docs/metrics.md.

The recipe is `doc_hvae.recipes.evaluate_docs` (also installed as the `doc-hvae-evaluate` command);
`python recipes/evaluate_docs.py --help` shows its usage.
"""

from doc_hvae.recipes.evaluate_docs import run

if __name__ == "__main__":
    run()
