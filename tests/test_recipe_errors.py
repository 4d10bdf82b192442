"""Readable failures: each recipe prints one `error: ...` line for a user's mistake and exits with 2;
the traceback appears only with --debug."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, export_folder


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> str:
    return export_folder(tmp_path_factory, ["document", "paragraph", "sentence"])


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "recipes" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        cwd=REPO_ROOT,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "error: " in result.stderr and expected in result.stderr, result.stderr[-2000:]


def test_a_missing_model_folder(tmp_path):
    assert_one_clear_line(run("evaluate_docs.py", "--model", str(tmp_path / "nowhere")), "no model at")
    assert_one_clear_line(run("generate_docs.py", "--model", str(tmp_path / "nowhere")), "no model at")


def test_a_corrupt_checkpoint(tmp_path, model_folder):
    corrupt = tmp_path / "corrupt"
    shutil.copytree(model_folder, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    assert_one_clear_line(
        run("generate_docs.py", "--model", str(corrupt), "--mode", "prior"), "may be corrupt or incomplete"
    )


def test_bad_reference_files(tmp_path, model_folder):
    binary = tmp_path / "picture.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert_one_clear_line(
        run("generate_docs.py", "--model", model_folder, "--mode", "style", "--reference-file", str(binary)),
        "looks like a binary file",
    )
    assert_one_clear_line(
        run(
            "generate_docs.py",
            "--model",
            model_folder,
            "--mode",
            "style",
            "--reference-file",
            str(tmp_path / "absent.txt"),
        ),
        "is not a file",
    )
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Caf\xe9 au lait est une boisson. Elle est chaude.".encode("latin-1"))
    result = run(
        "generate_docs.py",
        "--model",
        model_folder,
        "--mode",
        "style",
        "--reference-file",
        str(latin),
        "--per-reference",
        "1",
        "--max-paragraphs",
        "1",
        "--max-tokens",
        "8",
        "--output",
        str(tmp_path / "out"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "invalid UTF-8 decoded as latin-1" in result.stdout  # counted and reported, not a crash


def test_debug_shows_the_traceback(tmp_path):
    result = run("evaluate_docs.py", "--model", str(tmp_path / "nowhere"), "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr and "no model at" in result.stderr


def test_a_bad_config_key_in_training(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("data: {prepared_dir: x}\ntraining: {output_dir: y, max_stepz: 3}\n")
    assert_one_clear_line(run("train_docs.py", "--config", str(config)), "max_stepz")


def test_the_console_scripts_are_the_recipes(tmp_path):
    """`pip install` puts doc-hvae-train / -evaluate / -generate / -fit-prior on the PATH; they run the same recipes."""
    script = shutil.which("doc-hvae-evaluate")
    if script is None:
        pytest.skip("the package is not installed with its console scripts (pip install -e .)")
    result = subprocess.run([script, "--model", str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=300)
    assert_one_clear_line(result, "no model at")
    assert shutil.which("doc-hvae-train") and shutil.which("doc-hvae-generate") and shutil.which("doc-hvae-fit-prior")
