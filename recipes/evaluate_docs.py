#!/usr/bin/env python
"""Evaluate a trained DocHVAE (or flat LM) on a split: every metric of README "Metrics".

    python recipes/evaluate_docs.py --model outputs/wikitext2/final --split test --k 100 --output outputs/wikitext2/eval_test

Writes report.json (numbers, definitions and settings), report.md, and plots (KL per dimension
and active units per level; KL per level over training when --log is given).

The recipe is `doc_hvae.recipes.evaluate_docs` (also installed as the `doc-hvae-evaluate` command).
"""

from doc_hvae.recipes.evaluate_docs import run

if __name__ == "__main__":
    run()
