"""`restormixer demo` on the sample photos, with a tiny model standing in for the embedded checkpoints."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from restormixer_cli.cli import app
from restormixer_cli.hub import registry as registry_module
from restormixer_cli.hub.registry import Task

pytest.importorskip("skimage")


def test_demo_restores_samples_and_prints_metrics(tmp_path, tiny_weights, monkeypatch):
    fake = {"auto": Task(task="auto", description="a", available=True, kind="router", default=True),
            "all-in-one": Task(task="all-in-one", description="g", available=True, embedded="g"),
            "denoise": Task(task="denoise", description="d", available=True, embedded="d", degradation="noise:25"),
            "derain": Task(task="derain", description="r", available=True, embedded="r", degradation="rain", y_channel=True),
            "desnow": Task(task="desnow", description="w", available=True, embedded="w", degradation="snow"),
            "sr": Task(task="sr", description="s", available=True, embedded="s", degradation="sr", y_channel=True,
                       scales=(2, 4))}
    monkeypatch.setattr(registry_module, "load_registry", lambda path=None: fake)
    monkeypatch.setattr("restormixer_cli.cli.demo_run.load_registry", lambda: fake)
    monkeypatch.setattr(Task, "embedded_path", property(lambda self: tiny_weights))
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo")], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "PSNR Y (dB)" in result.output and "PSNR RGB (dB)" in result.output and "sr x2" in result.output
    assert result.output.count("default") >= 2 and "denoise x" in result.output  # noisy photos go to denoise
    for task in ("denoise", "derain", "desnow", "sr"):
        folder = tmp_path / "demo" / task
        assert len(list((folder / "restored").glob("*.png"))) == 4
        assert len(list((folder / "compare").glob("*.png"))) == 4
        assert len(list((folder / "default").glob("*.png"))) == (0 if task == "sr" else 4)
