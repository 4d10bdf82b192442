#!/usr/bin/env python
"""Generate documents with a trained DocHVAE.

The recipe is `doc_hvae.recipes.generate_docs` (also installed as the `doc-hvae-generate` command);
`python recipes/generate_docs.py --help` shows its usage.
"""

from doc_hvae.recipes.generate_docs import run

if __name__ == "__main__":
    run()
