"""The code passes the ruff lint configured in pyproject.toml (pyflakes, pycodestyle, import order,
bugbear, pyupgrade) and keeps ruff's format: undefined names and loop-closure bugs fail the test run,
not a user's run."""

import shutil
import subprocess
import sys

import pytest

from conftest import REPO_ROOT


def ruff(*args: str) -> subprocess.CompletedProcess:
    """`python -m ruff *args` over the repository (skips the test where ruff is not installed)."""
    installed = (
        shutil.which("ruff") is not None
        or subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True).returncode == 0
    )
    if not installed:
        pytest.skip("ruff is not installed (pip install -e '.[test]' installs it)")
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, str(REPO_ROOT)], capture_output=True, text=True, cwd=REPO_ROOT
    )


def test_ruff_finds_nothing():
    result = ruff("check", "--output-format", "concise")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-1000:]


def test_the_code_keeps_its_format():
    """ruff format at pyproject.toml's 120 columns; `ruff format .` fixes a failure."""
    result = ruff("format", "--check")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-1000:]


def test_import_doc_hvae_stays_light():
    """The Python API does not pull in the training stack, the style judges or the plotting and demo libraries."""
    heavy = [
        "sklearn",
        "matplotlib",
        "gradio",
        "doc_hvae.training",
        "doc_hvae.trainer",
        "doc_hvae.style",
        "doc_hvae.plots",
    ]
    code = f"import sys, doc_hvae; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", result.stdout


def test_the_cli_helpers_stay_light():
    """Every recipe imports doc_hvae.cli to end with one error line: it does not pull in the training run or the export
    (their errors live in doc_hvae.errors). accelerate itself is imported by transformers' model loading, not by us."""
    heavy = ["sklearn", "matplotlib", "doc_hvae.training", "doc_hvae.trainer", "doc_hvae.export"]
    code = f"import sys, doc_hvae.cli; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", result.stdout
