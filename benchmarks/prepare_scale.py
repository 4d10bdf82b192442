#!/usr/bin/env python
"""Peak memory and wall time of corpus preparation as the corpus grows: WikiText-2 train, 1x / 4x / 16x.

    python benchmarks/prepare_scale.py [--scales 1 4 16] [--num-proc 1 2]

Each scale is WikiText-2's training file written that many times over, every copy's article titles
made distinct (" = Title (copy 2) = "), so it is that many times more documents, not repeats; the
validation and test files are WikiText-2's own. Each preparation (`data_scripts/configs/wikitext2.yaml`:
read, segment, train the BPE tokenizer, tokenize, window, save) runs in its own process; its memory
is sampled every 0.1 s over the process and its workers together as proportional set size (PSS:
resident memory, a page shared by k processes counted 1/k in each), and the anonymous part of it
(the processes' own memory, without the pages of memory-mapped Arrow files and libraries), and as
RSS summed over the processes (exact for one process; with workers it counts shared pages once per
process). Results: a Markdown table and JSON under --output.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_output import save_results  # noqa: E402

WIKITEXT = REPO.parent / "shared" / "data" / "wikitext-2" / "tokenized"
TITLE = re.compile(r"^ = (?P<title>[^=].*?) = $")


def write_scaled_train(scale: int, path: Path) -> int:
    """WikiText-2 train `scale` times, article titles of copy k suffixed " (copy k)"; returns its bytes."""
    lines = (WIKITEXT / "wiki.train.tokens").read_text(encoding="utf-8").split("\n")
    with open(path, "w", encoding="utf-8") as handle:
        for copy in range(1, scale + 1):
            for line in lines:
                match = TITLE.match(line)
                handle.write((f" = {match['title']} (copy {copy}) = " if match and copy > 1 else line) + "\n")
    return path.stat().st_size


def process_tree(pid: int) -> list[int]:
    pids, index = [pid], 0
    while index < len(pids):
        try:
            for task in Path(f"/proc/{pids[index]}/task").iterdir():
                pids += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
        index += 1
    return pids


def memory_kib(pids: list[int]) -> tuple[int, int, int]:
    """(PSS, anonymous PSS, RSS) in KiB, summed over `pids`. PSS is the measure across processes:
    forked workers share their parent's pages, and summed RSS counts those once per process."""
    pss = anonymous = rss = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        fields = dict(line.split(":", 1) for line in rollup.splitlines()[1:] if ":" in line)
        pss += int(fields.get("Pss", "0 kB").split()[0])
        anonymous += int(fields.get("Pss_Anon", "0 kB").split()[0])
        rss += int(fields.get("Rss", "0 kB").split()[0])
    return pss, anonymous, rss


PREPARE = """
import sys
from doc_hvae.config_loading import load_config
from doc_hvae.data.prepare import PrepareConfig, prepare_corpus
config = load_config(PrepareConfig, "data_scripts/configs/wikitext2.yaml", sys.argv[2:])
statistics = prepare_corpus(config, show_progress=False, num_proc=int(sys.argv[1]) or None)
print("WINDOWS", statistics["splits"]["train"]["windows"], statistics["splits"]["train"]["source_documents"])
"""


def measure(train_file: Path, output_dir: Path, num_proc: int) -> dict:
    command = [
        sys.executable,
        "-c",
        PREPARE,
        str(num_proc),
        f"source.paths.train={train_file}",
        f"output_dir={output_dir}",
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_pss = peak_anonymous = peak_rss = 0
    while process.poll() is None:
        pss, anonymous, rss = memory_kib(process_tree(process.pid))
        peak_pss, peak_anonymous, peak_rss = max(peak_pss, pss), max(peak_anonymous, anonymous), max(peak_rss, rss)
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    output = process.stdout.read()
    if process.returncode != 0:
        raise SystemExit(f"preparation failed ({process.returncode}):\n{output[-3000:]}")
    windows, documents = next(line for line in output.splitlines() if line.startswith("WINDOWS")).split()[1:]
    return {
        "seconds": seconds,
        "peak_pss_mib": peak_pss / 1024,
        "peak_anonymous_mib": peak_anonymous / 1024,
        "peak_rss_mib": peak_rss / 1024,
        "train_windows": int(windows),
        "train_documents": int(documents),
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="*", default=[1, 4, 16])
    parser.add_argument("--num-proc", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--output", default=str(REPO / "outputs" / "bench" / "prepare_scale"))
    args = parser.parse_args(argv)
    if not (WIKITEXT / "wiki.train.tokens").is_file():
        raise SystemExit(f"{WIKITEXT} is absent: this benchmark reads WikiText-2 from ../shared/data")

    rows = []
    with tempfile.TemporaryDirectory(prefix="prepare-scale-") as scratch:
        for scale in args.scales:
            train_file = Path(scratch) / f"wiki.train.x{scale}.tokens"
            size = write_scaled_train(scale, train_file)
            for num_proc in args.num_proc:
                row = {
                    "scale": scale,
                    "train_mb": size / 1e6,
                    "num_proc": num_proc,
                    **measure(train_file, Path(scratch) / f"prepared-x{scale}-p{num_proc}", num_proc),
                }
                rows.append(row)
                print(
                    f"{scale:>3}x ({row['train_mb']:.0f} MB, {row['train_documents']:,} articles), {num_proc} process(es): "
                    f"{row['seconds']:.1f} s, peak PSS {row['peak_pss_mib']:,.0f} MiB (anonymous {row['peak_anonymous_mib']:,.0f}, "
                    f"RSS {row['peak_rss_mib']:,.0f})",
                    flush=True,
                )

    base = {row["num_proc"]: row for row in rows if row["scale"] == min(args.scales)}
    lines = [
        "| scale | train text (MB) | training articles | processes | wall (s) | time / 1x | peak PSS (MiB) | PSS / 1x | "
        "peak anonymous PSS (MiB) | peak RSS, summed (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        first = base[row["num_proc"]]
        lines.append(
            f"| {row['scale']}x | {row['train_mb']:.0f} | {row['train_documents']:,} | {row['num_proc']} | {row['seconds']:.1f} | "
            f"{row['seconds'] / first['seconds']:.1f} | {row['peak_pss_mib']:,.0f} | {row['peak_pss_mib'] / first['peak_pss_mib']:.2f} | "
            f"{row['peak_anonymous_mib']:,.0f} | {row['peak_rss_mib']:,.0f} |"
        )
    save_results(args.output, rows, lines)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
