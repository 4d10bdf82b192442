"""How a benchmark ends: its numbers as JSON and its table as Markdown under one folder, the table printed."""

from __future__ import annotations

import json
from pathlib import Path


def save_results(output: str | Path, results, table: list[str]) -> None:
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "results.json").write_text(json.dumps(results, indent=2))
    (output / "results.md").write_text("\n".join(table) + "\n")
    print("\n" + "\n".join(table))
