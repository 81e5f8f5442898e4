"""`info`, `models`, `--version`, `python -m restormixer_cli`, and the CUDA out-of-memory retry."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

import restormixer_cli
from restormixer_cli import __version__
from restormixer_cli.cli import app
from restormixer_cli.io.formats import OUTPUT_EXTENSIONS
from restormixer_cli.serve import create_app
from restormixer_cli.inference.engine import InferenceSettings, Restorer

from .conftest import SUBPROCESS_ENV, textured_image
from .test_cli_restore import _RUN_EACH

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def test_info_reports_versions_devices_and_scan_backend(monkeypatch):
    monkeypatch.delenv("RESTORMIXER_SCAN", raising=False)
    result = runner.invoke(app, ["info", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["restormixer"] == __version__
    assert report["scan"]["cpu"] == "numba" and report["scan"]["requested"] == "auto"
    assert "cpu" in report["devices"]
    assert torch.__version__.startswith(report["packages"]["torch"].split("+")[0])
    monkeypatch.setenv("RESTORMIXER_SCAN", "torch")
    assert "torch" in runner.invoke(app, ["info"]).output
    monkeypatch.setenv("RESTORMIXER_SCAN", "nonsense")
    bad = runner.invoke(app, ["info"])
    assert bad.exit_code == 1 and "unknown selective-scan backend" in bad.output


def test_models_lists_every_task():
    result = runner.invoke(app, ["models"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for task in ("denoise", "derain", "desnow", "auto (default)"):
        assert task in result.output
    assert "picks per photo" in result.output and "not downloaded" not in result.output


def test_models_answers_without_loading_pytorch(tmp_path):
    """`models` and `models --json` read the registry and the hub cache only: importing PyTorch was
    most of their time."""
    done = subprocess.run([sys.executable, "-c", _RUN_EACH, json.dumps([["models"], ["models", "--json"]])],
                          env=SUBPROCESS_ENV, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert json.loads(done.stdout.splitlines()[-1]) == {"codes": [0, 0], "pytorch loaded": False}, done.stderr


def test_help_prints_every_option_text_as_written():
    """Square brackets in option help (`restormixer-cli[ray]`, `repo_id[@revision]`) are text, not Rich markup."""
    for name, command in typer.main.get_command(app).commands.items():
        shown = re.sub(r"[\s│]+", "", runner.invoke(app, [name, "--help"], env={"COLUMNS": "2000"}).output)
        for param in command.params:
            if param.help:
                assert re.sub(r"\s+", "", param.help.replace("\\[", "[")) in shown, (name, param.name)


def test_one_description_in_pyproject_readme_help_and_the_http_api():
    description = restormixer_cli.DESCRIPTION
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^description = "(.*)"$', pyproject, re.MULTILINE).group(1) == description
    assert description in " ".join((ROOT / "README.md").read_text().split())
    assert description in " ".join(runner.invoke(app, ["--help"], env={"COLUMNS": "2000"}).output.split())
    assert create_app(["denoise"], device="cpu").description.startswith(description)


def test_the_restore_synopsis_names_every_option_and_output_format():
    text = (ROOT / "docs" / "restoring.md").read_text()
    synopsis = text[text.index("    restormixer restore INPUT...") :].split("\n\n")[0]
    restore = typer.main.get_command(app).commands["restore"]
    missing = [p.opts[0] for p in restore.params if p.opts[0].startswith("--") and p.name != "help"
               and not any(re.search(rf"{re.escape(opt)}\b", synopsis) for opt in p.opts)]
    assert missing == []
    assert re.search(r"--ext ([a-z|]+)", synopsis).group(1).split("|") == list(OUTPUT_EXTENSIONS)


def test_version_and_module_entry_point():
    assert __version__ in runner.invoke(app, ["--version"]).output
    done = subprocess.run([sys.executable, "-m", "restormixer_cli", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "restore" in done.stdout


class OutOfMemoryAboveSize(Restorer):
    """Pretends to be a CUDA device that runs out of memory on tiles larger than 64 pixels."""

    def _forward(self, batch, dtype):
        if batch.shape[-1] > 64:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return batch.clone()


def test_cuda_out_of_memory_halves_the_tile_and_retries():
    notices = []
    settings = InferenceSettings(device=torch.device("cuda"), tile=256, overlap=8)
    restorer = OutOfMemoryAboveSize(torch.nn.Identity(), settings, notices.append)
    image = torch.rand(3, 200, 200)
    assert torch.allclose(restorer.restore(image), image)
    assert restorer.tile == 64
    assert notices == ["out of GPU memory with tile 256; retrying with tile 128",
                       "out of GPU memory with tile 128; retrying with tile 64"]


def _benchmark(name: str) -> Path:
    return Path(__file__).parent.parent / "benchmarks" / name


def test_training_benchmark_runs_every_variant():
    done = subprocess.run([sys.executable, str(_benchmark("training_speed.py")), "--tiny", "--patches", "16", "--batch",
                           "1", "--warmup", "0", "--steps", "1"],
                          env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("tiny")]
    assert len(rows) == 4 and rows[0].endswith("1.00x")


def test_noise_kinds_benchmark_tells_removed_noise_from_kept_noise(tmp_path):
    for i in range(2):
        Image.fromarray((textured_image(48, 64, seed=i) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    done = subprocess.run([sys.executable, str(_benchmark("denoise_noise_kinds.py")), "--clean", str(tmp_path),
                           "--sigmas", "15"], env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {line.split(" | ")[0].strip("| "): line for line in done.stdout.splitlines() if line.startswith("| ")}
    assert set(rows) >= {"noise:15", "grey-noise:15", "camera-noise"}
    noisy_psnr = float(rows["noise:15"].split(" | ")[1])
    assert 20 < noisy_psnr < 30  # sigma 15 on the 0-255 scale: about 24.6 dB
    spec = importlib.util.spec_from_file_location("denoise_noise_kinds", _benchmark("denoise_noise_kinds.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    clean, noise = np.full((8, 8, 3), 0.5), np.random.default_rng(0).normal(0, 0.1, (8, 8, 3))
    assert bench.noise_kept(clean + noise, clean + noise, clean) == pytest.approx(1.0)
    assert bench.noise_kept(clean + noise, clean, clean) == 0.0


def test_probe_threshold_benchmark_finds_synthetic_snow_and_not_on_clean_photos(tmp_path):
    for i in range(2):
        Image.fromarray((textured_image(160, 200, seed=i) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    done = subprocess.run([sys.executable, str(_benchmark("probe_thresholds.py")), "--clean", str(tmp_path),
                           "--degrade", "snow", "--json", str(tmp_path / "out.json")],
                          env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "out.json").read_text())
    clean, snowy = results[tmp_path.name], results[f"{tmp_path.name} snow"]
    assert clean["probed"] == snowy["probed"] == 2
    assert clean["snowy"] == clean["rainy"] == 0
    assert min(snowy["snow_amounts"]) > max(clean["snow_amounts"])


def test_sr_upsampler_benchmark_trains_and_scores_both_variants(tmp_path):
    spec = importlib.util.spec_from_file_location("sr_upsampler", _benchmark("sr_upsampler.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from restormixer_cli.model import RestorMixer
    from restormixer_cli.resize import upscale

    small = torch.rand(1, 3, 12, 20)
    with torch.no_grad():  # its tail starts at zero: the enlargement is bicubic's, at every scale
        model = bench.PixelShuffleSR(RestorMixer(base_channel=8, num_blocks=(2, 2, 2)))
        assert all(torch.equal(model(small, s), upscale(small, s)) for s in bench.SCALES)
    for folder, size in (("train", 200), ("val", 40)):
        (tmp_path / folder).mkdir()
        Image.fromarray((textured_image(size, size) * 255).astype(np.uint8)).save(tmp_path / folder / "a.png")
    runs = [tmp_path / "bicubic", tmp_path / "pixel-shuffle"]
    for run in runs:
        subprocess.run([sys.executable, str(_benchmark("sr_upsampler.py")), "train", "--variant", run.name,
                        "--batch", "1", "--train", str(tmp_path / "train"), "--minutes", "0.01", "--out", str(run)],
                       env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300, check=True)
    done = subprocess.run([sys.executable, str(_benchmark("sr_upsampler.py")), "score", *map(str, runs),
                           "--val", str(tmp_path / "val"), "--scales", "2", "--recalibrate", str(tmp_path / "train")],
                          env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert line["scale"] == 2 and line["bicubic time"].startswith("1.00x")
    assert all(10 < line[key] < 100 for key in ("bicubic interpolation", "bicubic", "pixel-shuffle"))
