"""The prepared GPU check (scripts/gpu_check.py), run end to end without a GPU in its dry-run mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import SUBPROCESS_ENV


def test_gpu_check_script_dry_run(tmp_path):
    """Tiny model and sizes on the CPU: every part runs, one summary file comes back."""
    script = Path(__file__).parent.parent / "scripts" / "gpu_check.py"
    env = {**SUBPROCESS_ENV, "PYTHONPATH": str(script.parent.parent)}
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--dry-run"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["dry_run"] and summary["errors"] == {}
    assert summary["environment"]["scan_backend"] == "torch"
    assert summary["cuda_tests"]["returncode"] == 0 and "skipped" in summary["cuda_tests"]["summary"]
    scans = [(r["scan"], r["pass"]) for r in summary["scan_speed"]]
    assert scans == [("torch", "forward"), ("torch", "forward+backward")]
    runs = summary["throughput"]
    assert {(r["precision"], r["size"]) for r in runs} == {(p, s) for p in ("fp32", "fp16", "bf16") for s in (64, 128)}
    assert all(r["mp_per_s"] > 0 for r in runs)
    assert {r["channels_last"] for r in runs if r["size"] == 64} == {False, True}
    for precision in ("fp16", "bf16"):
        assert summary["precision_psnr"][precision]["psnr_vs_fp32_db"] > 35
    assert "skipped" in summary["oom_retry"]
