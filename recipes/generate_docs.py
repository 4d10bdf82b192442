#!/usr/bin/env python
"""Generate documents with a trained DocHVAE.

    python recipes/generate_docs.py --model outputs/wikitext2/final --mode prior --num-documents 4
    python recipes/generate_docs.py --model M --mode style --references 0 5 9 --per-reference 3
    python recipes/generate_docs.py --model M --mode style --reference-file my_text.txt
    python recipes/generate_docs.py --model M --mode reconstruct --references 0 1
    python recipes/generate_docs.py --model M --mode interpolate --references 0 1 --level document --steps 5
    python recipes/generate_docs.py --model M --mode swap --references 0 1      (each keeps its lower latents, takes the other's z_doc)
    python recipes/generate_docs.py --model M --mode style-consistency --references-count 20 --per-reference 5

References are windows of a prepared split (by index, --split, default test) or raw text files.
Writes readable text (paragraphs separated by blank lines) and JSON lines with the settings.

The recipe is `doc_hvae.recipes.generate_docs` (also installed as the `doc-hvae-generate` command).
"""

from doc_hvae.recipes.generate_docs import run

if __name__ == "__main__":
    run()
