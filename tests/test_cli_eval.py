"""`restormixer eval`: pairing, reporting, and the numbers themselves."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import numpy as np
import pytest
import tifffile
import torch
from PIL import Image
from typer.testing import CliRunner

from restormixer_cli.cli import app
from restormixer_cli.metrics import psnr, ssim
from restormixer_cli.metrics.evaluate import EvalSettings

from .conftest import textured_image
from .video_clips import encode

runner = CliRunner()


def write(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def folders(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    rng = np.random.default_rng(0)
    for i, name in enumerate(["a", "b", "sub/c"]):
        clean = (textured_image(40, 48, seed=i) * 255).round().astype(np.uint8)
        write(gt / f"{name}.png", clean)
        noisy = np.clip(clean + rng.normal(0, 8, clean.shape), 0, 255).round().astype(np.uint8)
        ext = ".tif" if name == "b" else ".png"  # extensions may differ between the folders
        write(pred / f"{name}_restored{ext}", noisy)
    return gt, pred


def test_pairs_by_stem_and_suffix_and_writes_reports(folders, tmp_path):
    gt, pred = folders
    result = runner.invoke(app, ["eval", "--pred", str(pred), "--gt", str(gt), "--suffix", "_restored",
                                 "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r.csv")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert set(data) >= {"settings", "images", "mean", "count"}
    assert sorted(i["name"] for i in data["images"]) == ["a", "b", "sub/c"]
    assert data["count"] == 3
    assert data["mean"]["psnr"] == pytest.approx(np.mean([i["psnr"] for i in data["images"]]))
    rows = list(csv.reader(open(tmp_path / "r.csv")))
    assert rows[0] == ["name", "psnr", "ssim", "error"] and rows[-1][0] == "mean" and len(rows) == 5


def test_scores_match_the_metric_functions(folders):
    gt, pred = folders
    result = runner.invoke(app, ["eval", "--pred", str(pred), "--gt", str(gt), "--suffix", "_restored",
                                 "--y-channel", "--crop-border", "4", "--json", str(pred.parent / "r.json")])
    assert result.exit_code == 0
    score = {i["name"]: i for i in json.loads((pred.parent / "r.json").read_text())["images"]}["a"]
    a = torch.from_numpy(np.array(Image.open(pred / "a_restored.png"))).permute(2, 0, 1).double()
    b = torch.from_numpy(np.array(Image.open(gt / "a.png"))).permute(2, 0, 1).double()
    assert score["psnr"] == pytest.approx(psnr(a, b, 4, True), abs=1e-9)
    assert score["ssim"] == pytest.approx(ssim(a, b, 4, True), abs=1e-12)


def test_unpaired_and_mismatched_files_are_listed_not_resized(folders, tmp_path):
    gt, pred = folders
    write(pred / "extra_restored.png", np.zeros((40, 48, 3), np.uint8))
    write(gt / "lonely.png", np.zeros((40, 48, 3), np.uint8))
    write(pred / "size_restored.png", np.zeros((40, 40, 3), np.uint8))
    write(gt / "size.png", np.zeros((40, 48, 3), np.uint8))
    result = runner.invoke(app, ["eval", "--pred", str(pred), "--gt", str(gt), "--suffix", "_restored",
                                 "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 1  # the mean is over fewer pairs than there are
    assert "error: 1 of 4 pair(s) could not be scored" in result.output
    assert "unpaired prediction: extra_restored.png" in result.output
    assert "unpaired ground truth: lonely.png" in result.output
    assert "size: size mismatch" in result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["count"] == 3 and data["errors"] == 1


def test_mod_crop_scores_originals_whose_sides_are_not_a_multiple_of_the_scale(tmp_path):
    """Super-resolution test sets ship originals such as Set14's 250x361 comic, whose x4 inputs were
    made from their top-left 248x360: ``--mod-crop 4`` scores that crop, images and videos alike."""
    truth = (textured_image(61, 50) * 255).round().astype(np.uint8)
    pred = np.clip(truth[:60, :48] + np.random.default_rng(0).normal(0, 8, (60, 48, 3)), 0, 255).round().astype(np.uint8)
    write(tmp_path / "g" / "comic.png", truth)
    write(tmp_path / "p" / "comic.png", pred)
    frames = np.stack([truth, 255 - truth])
    encode(tmp_path / "g" / "clip.mkv", frames, output_args=("-c:v", "ffv1"))
    encode(tmp_path / "p" / "clip.mkv", frames[:, :60, :48], output_args=("-c:v", "ffv1"))
    args = ["eval", "--pred", str(tmp_path / "p"), "--gt", str(tmp_path / "g"), "--y-channel", "--crop-border", "4"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and "comic: size mismatch: prediction 48x60, ground truth 50x61" in refused.output
    result = runner.invoke(app, [*args, "--mod-crop", "4", "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    scores = {i["name"]: i for i in data["images"]}
    a = torch.from_numpy(pred).permute(2, 0, 1).double()
    b = torch.from_numpy(truth[:60, :48]).permute(2, 0, 1).double()
    assert scores["comic"]["psnr"] == pytest.approx(psnr(a, b, 4, True), abs=1e-9)
    assert scores["comic"]["ssim"] == pytest.approx(ssim(a, b, 4, True), abs=1e-12)
    assert scores["clip"]["frame_psnr"] == ["inf", "inf"]  # each frame cropped as an image is
    assert scores["comic"]["gt_crop"] == scores["clip"]["gt_crop"] == "50x61 to 48x60"
    assert data["settings"]["mod_crop"] == 4


def test_ground_truth_of_the_same_extension_wins_and_ambiguity_is_not_guessed(tmp_path):
    """gt/ holds dup.png (identical to the prediction) and an unrelated dup.bmp: dup.png is the pair.
    A dup.jpg prediction has two candidates and neither extension: it stays unpaired."""
    arr = (textured_image(32, 32) * 255).astype(np.uint8)
    write(tmp_path / "p" / "dup.png", arr)
    write(tmp_path / "g" / "dup.png", arr)
    write(tmp_path / "g" / "dup.bmp", 255 - arr)
    write(tmp_path / "p" / "_restored.png", arr)  # nothing left of the name once the suffix goes
    write(tmp_path / "g" / "other.png", arr)
    result = runner.invoke(app, ["eval", "--pred", str(tmp_path / "p"), "--gt", str(tmp_path / "g"),
                                 "--suffix", "_restored", "--json", str(tmp_path / "r.json")])
    data = json.loads((tmp_path / "r.json").read_text())
    assert [(i["name"], i["psnr"]) for i in data["images"]] == [("dup", "inf")]
    assert "unpaired prediction: _restored.png" in result.output
    (tmp_path / "p" / "dup.png").rename(tmp_path / "p" / "dup.jpg")
    ambiguous = runner.invoke(app, ["eval", "--pred", str(tmp_path / "p"), "--gt", str(tmp_path / "g")])
    assert "unpaired prediction: _restored.png, dup.jpg" in ambiguous.output


def test_identical_images_are_infinite_and_counted(tmp_path):
    arr = (textured_image(32, 32) * 255).astype(np.uint8)
    write(tmp_path / "p" / "x.png", arr)
    write(tmp_path / "g" / "x.png", arr)
    result = runner.invoke(app, ["eval", "--pred", str(tmp_path / "p"), "--gt", str(tmp_path / "g"),
                                 "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0
    assert "inf" in result.output and "1 infinite" in result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["images"][0]["psnr"] == "inf" and data["infinite_psnr"] == 1


def test_sixteen_bit_images_use_the_full_range(tmp_path):
    base = (textured_image(32, 32) * 65535).astype(np.uint16)
    (tmp_path / "g").mkdir()
    (tmp_path / "p").mkdir()
    tifffile.imwrite(tmp_path / "g" / "x.tif", base)
    tifffile.imwrite(tmp_path / "p" / "x.tif", np.clip(base.astype(np.int64) + 257, 0, 65535).astype(np.uint16))
    result = runner.invoke(app, ["eval", "--pred", str(tmp_path / "p"), "--gt", str(tmp_path / "g")])
    assert result.exit_code == 0
    assert "16-bit images scored" in result.output
    # An offset of 257/65535 is one 8-bit level: PSNR = 20 log10(255) except where clipped.
    assert "48.1" in result.output or "48.0" in result.output


def test_nothing_paired_is_an_error(tmp_path):
    write(tmp_path / "p" / "x.png", np.zeros((16, 16, 3), np.uint8))
    write(tmp_path / "g" / "y.png", np.zeros((16, 16, 3), np.uint8))
    result = runner.invoke(app, ["eval", "--pred", str(tmp_path / "p"), "--gt", str(tmp_path / "g")])
    assert result.exit_code == 1 and "no image pairs" in result.output
    missing = runner.invoke(app, ["eval", "--pred", str(tmp_path / "nope"), "--gt", str(tmp_path / "g")])
    assert missing.exit_code == 1 and "no such folder" in missing.output


def test_reports_to_stdout(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.full((16, 16, 3), 100, np.uint8)).save(folder / "a.png")
    for option, check in (("--json", lambda out: json.loads(out)["count"] == 1),
                          ("--csv", lambda out: out.splitlines()[0] == "name,psnr,ssim,error")):
        done = subprocess.run([sys.executable, "-m", "restormixer_cli", "eval", "--pred", str(folder), "--gt", str(folder),
                               option, "-"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and check(done.stdout), done.stdout + done.stderr
    assert not (tmp_path / "-").exists() and not (folder / "-").exists()


def test_usage_errors_exit_2_and_colliding_reports_are_named(folders, tmp_path):
    """Both reports on standard output would be JSON and CSV run together: refused before any work."""
    gt, pred = folders
    args = ["eval", "--pred", str(pred), "--gt", str(gt), "--suffix", "_restored"]
    both = runner.invoke(app, [*args, "--json", "-", "--csv", "-"])
    assert both.exit_code == 2 and "both write to standard output" in both.output and "{" not in both.output
    assert runner.invoke(app, [*args, "--crop-border", "-1"]).exit_code == 2
    for multiple in ("0", "-4"):
        refused = runner.invoke(app, [*args, "--mod-crop", multiple])
        assert refused.exit_code == 2 and "Invalid value" in refused.output
    with pytest.raises(ValueError, match="mod crop"):
        EvalSettings(mod_crop=0)
    same = runner.invoke(app, [*args, "--json", str(tmp_path / "r"), "--csv", str(tmp_path / "r")])
    assert same.exit_code == 1 and "the JSON report and the CSV report would both be written" in same.output
    assert not (tmp_path / "r").exists()


def test_max_pixels_limit_can_be_raised_or_lifted(folders):
    """The error for an image over the limit says to raise it: eval has the option to do so."""
    gt, pred = folders
    args = ["eval", "--pred", str(pred), "--gt", str(gt), "--suffix", "_restored"]
    refused = runner.invoke(app, [*args, "--max-pixels", "1000"])  # the images are 48x40
    assert refused.exit_code == 1 and "over the limit" in refused.output and "max-pixels" in refused.output
    assert runner.invoke(app, [*args, "--max-pixels", "0"]).exit_code == 0
    assert runner.invoke(app, [*args, "--max-pixels", "-1"]).exit_code == 2
