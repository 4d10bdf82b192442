#!/usr/bin/env python
"""Compare evaluation reports side by side in one Markdown table.

    python benchmarks/compare_reports.py outputs/*/final/eval_test/report.json [--names flat three_level] [--output table.md]

Columns: PPL (ELBO), PPL (IW, k), word PPL, and per level KL per document, active units, MI,
information use (nats per document) and prior substitution (delta PPL). A flat LM has no latents: its ELBO is its exact NLL and its level columns stay empty.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from doc_hvae.config import LEVELS


def _number(value, digits=2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def compare(reports: dict[str, dict]) -> str:
    levels = [level for level in LEVELS if any(level in r.get("per_level", {}) for r in reports.values())]
    header = ["model", "levels", "PPL (ELBO)", "PPL (IW)", "k", "word PPL (IW or ELBO)", "NLL/doc", "rate/doc"]
    for level in levels:
        header += [
            f"{level} KL/doc",
            f"{level} AU",
            f"{level} MI",
            f"{level} info use (nats/doc)",
            f"{level} prior subst. (dPPL)",
        ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in reports.items():
        word = r.get("word_ppl_iw") or r.get("word_ppl_elbo")
        nll = r.get("nll_iw_per_document", r["nll_elbo_per_document"])
        row = [
            name,
            "+".join(r["levels"]) or "none (flat LM)",
            _number(r["ppl_elbo"]),
            _number(r.get("ppl_iw")),
            str(r.get("iw_samples", "-")),
            _number(word, 1),
            _number(nll, 1),
            _number(r.get("rate_per_document"), 1),
        ]
        for level in levels:
            e = r.get("per_level", {}).get(level)
            row += (
                ["-"] * 5
                if e is None
                else [
                    _number(e["kl_per_document"]),
                    f"{e['active_units']}/{e['latent_dim']}",
                    _number(e["mutual_information"], 3),
                    _number(e.get("information_use_nats_per_document"), 2),
                    _number(e.get("prior_substitution_delta_ppl"), 3),
                ]
            )
        lines.append("| " + " | ".join(row) + " |")
    split = {r.get("settings", {}).get("split") for r in reports.values()} - {None}
    lines += [
        "",
        f"Split: {', '.join(sorted(split)) or 'unknown'}. NLL/doc is the IW estimate where available. "
        "Definitions: docs/metrics.md.",
    ]
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", help="report.json files written by recipes/evaluate_docs.py")
    parser.add_argument("--names", nargs="*", default=None, help="a column name per report (default: the model folder)")
    parser.add_argument("--output", default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    if args.names and len(args.names) != len(args.reports):
        raise SystemExit(f"--names has {len(args.names)} names for {len(args.reports)} reports")
    reports = {}
    for i, path in enumerate(args.reports):
        try:
            report = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise SystemExit(f"no report at {path!r}; write one with recipes/evaluate_docs.py") from None
        name = args.names[i] if args.names else report.get("settings", {}).get("model", path)
        reports[name] = report
    table = compare(reports)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
