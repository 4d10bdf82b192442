#!/usr/bin/env python
"""Fit a document prior to where a trained model's documents are, for prior samples.

The recipe is `doc_hvae.recipes.fit_prior` (also installed as the `doc-hvae-fit-prior` command);
`python recipes/fit_prior.py --help` shows its usage.
"""

from doc_hvae.recipes.fit_prior import run

if __name__ == "__main__":
    run()
