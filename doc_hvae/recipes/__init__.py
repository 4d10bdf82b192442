"""The command-line recipes: train, evaluate, generate (thin wiring over the library; `recipes/*.py` run them)."""
