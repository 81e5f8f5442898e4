"""The installed `restormixer` console script, as a shell user runs it: pipes, exit codes, reports."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from restormixer_cli import __version__

from .conftest import SUBPROCESS_ENV
from .test_cli_restore import save_rgb

SCRIPT = Path(sys.executable).parent / "restormixer"
pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="the package is not installed with its console script")


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], input=stdin, env=SUBPROCESS_ENV, capture_output=True, timeout=300)


def test_pipe_from_standard_input_to_standard_output(tmp_path, tiny_weights):
    """cat a.jpg | restormixer restore - --weights W -o - > b.jpg"""
    save_rgb(tmp_path / "a.jpg")
    done = run("restore", "-", "--weights", str(tiny_weights), "-o", "-", stdin=(tmp_path / "a.jpg").read_bytes())
    assert done.returncode == 0, done.stderr.decode()
    with Image.open(io.BytesIO(done.stdout)) as img:
        assert img.format == "JPEG" and img.size == (48, 40)


def test_output_file_quality_and_report_on_standard_output(tmp_path, tiny_weights):
    source = tmp_path / "in" / "photo[red].png"  # Rich markup in a name is printed as it is
    save_rgb(source)
    target = tmp_path / "small.jpg"
    done = run("restore", str(source), "-o", str(target), "--weights", str(tiny_weights), "--quality", "40",
               "--json", "-")
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["restormixer"] == __version__ and len(report["weights_sha256"]) == 64
    assert report["settings"]["quality"] == 40 and report["files"][0]["output"] == str(target)
    assert "photo[red].png" in done.stderr.decode()
    big = tmp_path / "big.jpg"
    assert run("restore", str(source), "-o", str(big), "--weights", str(tiny_weights), "--quiet").returncode == 0
    assert target.stat().st_size < big.stat().st_size  # quality 40 against the default 95


def test_choices_and_usage_errors(tmp_path):
    save_rgb(tmp_path / "a.png")
    helped = run("restore", "--help")
    assert helped.returncode == 0
    for choice in ("denoise", "derain", "desnow", "bf16", "webp"):
        assert choice in helped.stdout.decode()
    wrong = run("restore", str(tmp_path / "a.png"), "--task", "dehaze")
    assert wrong.returncode == 2 and b"dehaze" in wrong.stderr
    models = run("models", "--json")
    assert models.returncode == 0 and {"denoise", "derain", "desnow"} <= json.loads(models.stdout).keys()
