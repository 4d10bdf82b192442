"""Compare sentence splitters: accuracy on the hand-labelled gold set, speed on real corpora.

Rows:
- the libraries as they are: blingfire (`text_to_sentences`), pysbd (`Segmenter(clean=False)`),
  sentencex (`segment("en", ...)`), and syntok (`segmenter.analyze`) when it is installed;
- doc_hvae's own `split_sentences` with splitter "blingfire" (Bling Fire plus its repairs,
  the project default) and "punctuation" (the rule for lowercased pre-tokenized text).

Accuracy, per gold kind (raw, pretokenized, lowercase_pretokenized), is reported two ways:
- sentence F1: exact-match F1 over sentence spans. A predicted sentence is a true positive
  only if both its start and its end coincide with those of a gold sentence. Spans are
  measured in non-whitespace characters, so a splitter that re-spaces text is not penalised
  and one that cuts inside a token is;
- cases: how many gold texts the splitter segments exactly right.

Speed is characters per second (best of `--repeats` runs) on two inputs, split the way the
corpus readers split them, one call per paragraph or line:
- the first 300k characters of `gutenberg/austen-emma.txt`, as blank-line paragraphs each
  unwrapped to one line;
- the first 2,000 non-blank lines of WikiText-2 `wiki.train.tokens`.

Usage:
    python benchmarks/sentence_splitters.py [--data-dir DIR] [--output results.json]

Without the data directory the accuracy columns are still computed (the gold set ships with
the tests) and the speed columns say "skipped".
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from doc_hvae.data.segmentation import split_sentences, unwrap  # noqa: E402

Splitter = Callable[[str], list[str]]


def _load_gold() -> list[tuple[str, str, str, list[str]]]:
    """GOLD from tests/segmentation_gold.py, loaded by path (tests/ is not a package)."""
    path = REPO_ROOT / "tests" / "segmentation_gold.py"
    spec = importlib.util.spec_from_file_location("segmentation_gold", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.GOLD


def build_splitters() -> tuple[dict[str, Splitter], list[str]]:
    """The splitters to compare, and a note for each library that is not installed.

    Library splitters get whitespace-normalised text (line breaks as spaces), as
    `split_sentences` gives them, so that they are compared on the same input.
    """
    import blingfire

    splitters: dict[str, Splitter] = {
        "blingfire": lambda text: blingfire.text_to_sentences(text).split("\n"),
    }
    missing: list[str] = []
    try:
        import pysbd

        segmenter = pysbd.Segmenter(language="en", clean=False)
        splitters["pysbd"] = segmenter.segment
    except ImportError:
        missing.append("pysbd not installed (pip install pysbd)")
    try:
        import sentencex

        splitters["sentencex"] = lambda text: list(sentencex.segment("en", text))
    except ImportError:
        missing.append("sentencex not installed (pip install sentencex)")
    try:
        import syntok.segmenter as syntok_segmenter

        def syntok_split(text: str) -> list[str]:
            # syntok yields paragraphs of sentences of tokens; each token keeps the whitespace
            # before it (`spacing`), so joining spacing + value gives back the sentence text.
            return [
                "".join(token.spacing + token.value for token in sentence)
                for paragraph in syntok_segmenter.analyze(text)
                for sentence in paragraph
            ]

        splitters["syntok"] = syntok_split
    except ImportError:
        missing.append("syntok not installed (pip install syntok)")
    splitters["doc_hvae blingfire"] = lambda text: split_sentences(text, "blingfire")
    splitters["doc_hvae punctuation"] = lambda text: split_sentences(text, "punctuation")
    return splitters, missing


# ------------------------------------------------------------------------------ accuracy


def _spans(sentences: list[str]) -> set[tuple[int, int]]:
    """(start, end) of each sentence in the text's stream of non-whitespace characters."""
    spans = set()
    position = 0
    for sentence in sentences:
        length = len("".join(sentence.split()))
        if length:
            spans.add((position, position + length))
            position += length
    return spans


def evaluate_accuracy(splitter: Splitter, gold: list, kinds: list[str]) -> dict:
    """Sentence exact-match F1 and exact cases per kind, with the names of failed cases."""
    result = {}
    for kind in kinds:
        tp = n_predicted = n_gold = exact = 0
        failed = []
        cases = [(name, text, sentences) for name, k, text, sentences in gold if k == kind]
        for name, text, gold_sentences in cases:
            predicted = [s for s in splitter(unwrap(text)) if s.strip()]
            predicted_spans, gold_spans = _spans(predicted), _spans(gold_sentences)
            tp += len(predicted_spans & gold_spans)
            n_predicted += len(predicted_spans)
            n_gold += len(gold_spans)
            if predicted_spans == gold_spans:
                exact += 1
            else:
                failed.append(name)
        precision = tp / n_predicted if n_predicted else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result[kind] = {
            "sentence_f1": round(f1, 4),
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "exact_cases": exact,
            "cases": len(cases),
            "failed": failed,
        }
    return result


# --------------------------------------------------------------------------------- speed


def load_speed_inputs(data_dir: Path, emma_chars: int, wikitext_lines: int) -> dict[str, list[str]]:
    """Emma paragraphs (unwrapped) up to `emma_chars`, and the first WikiText-2 train lines."""
    emma_text = (data_dir / "gutenberg" / "austen-emma.txt").read_text(encoding="utf-8")
    paragraphs, total = [], 0
    for block in emma_text.split("\n\n"):
        paragraph = unwrap(block)
        if not paragraph:
            continue
        paragraph = paragraph[: emma_chars - total]
        paragraphs.append(paragraph)
        total += len(paragraph)
        if total >= emma_chars:
            break
    lines = []
    with open(data_dir / "wikitext-2" / "tokenized" / "wiki.train.tokens", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                lines.append(line.strip())
                if len(lines) == wikitext_lines:
                    break
    return {"emma": paragraphs, "wikitext": lines}


def measure_speed(splitter: Splitter, texts: list[str], repeats: int) -> dict:
    """Characters per second, best of `repeats` runs (one run only if a run takes over 10 s)."""
    chars = sum(len(text) for text in texts)
    best = float("inf")
    sentences = 0
    for _ in range(repeats):
        start = time.perf_counter()
        sentences = sum(len(splitter(text)) for text in texts)
        best = min(best, time.perf_counter() - start)
        if best > 10:
            break
    return {"chars": chars, "seconds": round(best, 4), "chars_per_s": round(chars / best), "sentences": sentences}


# -------------------------------------------------------------------------------- report


def _format_rate(value: float | None) -> str:
    if value is None:
        return "skipped"
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    return f"{value / 1e3:.0f}k"


def markdown_table(results: dict, kinds: list[str]) -> str:
    short = {"raw": "raw", "pretokenized": "pretok", "lowercase_pretokenized": "lower pretok"}
    header = ["splitter"]
    for kind in kinds:
        header += [f"F1 {short[kind]}", f"exact {short[kind]}"]
    header += ["Emma chars/s", "WikiText chars/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for name, result in results.items():
        row = [name]
        for kind in kinds:
            accuracy = result["accuracy"][kind]
            row += [f"{accuracy['sentence_f1']:.3f}", f"{accuracy['exact_cases']}/{accuracy['cases']}"]
        for corpus in ("emma", "wikitext"):
            speed = result["speed"].get(corpus)
            row.append(_format_rate(speed["chars_per_s"] if speed else None))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=REPO_ROOT.parent / "shared" / "data",
        help="folder holding gutenberg/ and wikitext-2/ (default: ../shared/data from the repo root)",
    )
    parser.add_argument("--output", type=Path, default=None, help="write all results as JSON here")
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per splitter and corpus; the best counts")
    parser.add_argument("--emma-chars", type=int, default=300_000)
    parser.add_argument("--wikitext-lines", type=int, default=2_000)
    args = parser.parse_args(argv)

    gold = _load_gold()
    kinds = ["raw", "pretokenized", "lowercase_pretokenized"]
    splitters, missing = build_splitters()
    for note in missing:
        print(f"note: {note}; its row is left out")

    speed_inputs: dict[str, list[str]] | None = None
    if args.data_dir.is_dir():
        speed_inputs = load_speed_inputs(args.data_dir, args.emma_chars, args.wikitext_lines)
    else:
        print(f"note: data dir {args.data_dir} not found; speed skipped (accuracy needs no data)")

    results = {}
    for name, splitter in splitters.items():
        speed = {}
        if speed_inputs is not None:
            speed = {corpus: measure_speed(splitter, texts, args.repeats) for corpus, texts in speed_inputs.items()}
        results[name] = {"accuracy": evaluate_accuracy(splitter, gold, kinds), "speed": speed}

    print()
    print(markdown_table(results, kinds))
    print()
    print("Sentence F1: exact-match F1 over sentence spans (both ends must match a gold sentence);")
    print(
        "exact: gold texts segmented entirely right. Speed: best of", args.repeats, "runs, one call per paragraph/line."
    )
    if speed_inputs is not None:
        print(
            f"Emma: {sum(map(len, speed_inputs['emma'])):,} chars in {len(speed_inputs['emma']):,} paragraphs; "
            f"WikiText-2 train: {sum(map(len, speed_inputs['wikitext'])):,} chars in {len(speed_inputs['wikitext']):,} lines."
        )
    print("\nFailed gold cases:")
    for name, result in results.items():
        failed = {kind: acc["failed"] for kind, acc in result["accuracy"].items() if acc["failed"]}
        print(f"- {name}: " + ("; ".join(f"{kind}: {', '.join(cases)}" for kind, cases in failed.items()) or "none"))

    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "metric": "sentence exact-match F1 over spans in non-whitespace characters; exact = whole text right",
            "python": platform.python_version(),
            "machine": platform.machine(),
            "data_dir": str(args.data_dir),
            "skipped": missing + ([] if speed_inputs is not None else ["speed: data dir not found"]),
            "gold_cases": {kind: sum(1 for _, k, _, _ in gold if k == kind) for kind in kinds},
            "results": results,
        }
        args.output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
