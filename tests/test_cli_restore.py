"""`restormixer restore` end to end, on generated files with a tiny model."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
import tifffile
import torch
from PIL import Image
from typer.testing import CliRunner

from restormixer_cli.cli import app

from .conftest import SUBPROCESS_ENV, interrupt_when, textured_image

runner = CliRunner()


def save_rgb(path: Path, h=40, w=48, seed=0) -> np.ndarray:
    arr = (textured_image(h, w, seed) * 255).round().astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return arr


def restore(*args: str):
    return runner.invoke(app, ["restore", *args])


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    save_rgb(root / "a.png", seed=1)
    save_rgb(root / "trip" / "b.jpg", seed=2)
    save_rgb(root / "trip" / "deep" / "c.webp", seed=3)
    return root


def test_folder_is_mirrored_into_output(photos, tiny_weights, tmp_path):
    out = tmp_path / "out"
    result = restore(str(photos), "-o", str(out), "--weights", str(tiny_weights), "--suffix", "_r")
    assert result.exit_code == 0, result.output
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert made == ["a_r.png", "trip/b_r.jpg", "trip/deep/c_r.webp"]
    assert "restore summary" in result.output
    with Image.open(out / "a_r.png") as img:
        assert img.size == (48, 40)


def test_files_globs_and_extension_choice(photos, tiny_weights, tmp_path):
    out = tmp_path / "out"
    result = restore(str(photos / "a.png"), str(photos / "trip" / "*.jpg"), "-o", str(out),
                     "--weights", str(tiny_weights), "--ext", "tif", "--quiet")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.tif", "b.tif"]


def test_never_overwrites_inputs(photos, tiny_weights):
    result = restore(str(photos), "-o", str(photos), "--weights", str(tiny_weights))
    assert result.exit_code == 1
    assert "would overwrite the input" in result.output
    result = restore(str(photos), "-o", str(photos), "--weights", str(tiny_weights), "--suffix", "_clean")
    assert result.exit_code == 0, result.output
    assert (photos / "a_clean.png").exists()


def test_existing_outputs_error_skip_or_overwrite(photos, tiny_weights, tmp_path):
    out = tmp_path / "out"
    args = [str(photos / "a.png"), "-o", str(out), "--weights", str(tiny_weights)]
    assert restore(*args).exit_code == 0
    stamp = (out / "a.png").stat().st_mtime_ns
    again = restore(*args)
    assert again.exit_code == 1 and "--skip-existing" in again.output
    skipped = restore(*args, "--skip-existing")
    assert skipped.exit_code == 0 and "skipped" in skipped.output
    assert (out / "a.png").stat().st_mtime_ns == stamp
    assert restore(*args, "--overwrite").exit_code == 0
    assert restore(*args, "--overwrite", "--skip-existing").exit_code != 0


def test_bad_files_are_reported_and_the_run_goes_on(photos, tiny_weights, tmp_path):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (photos / "empty.jpg").write_bytes(b"")
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    result = restore(str(photos), "-o", str(out), "--weights", str(tiny_weights), "--json", str(report))
    assert result.exit_code == 1
    assert "2 of 5 file(s) failed" in result.output
    assert not (out / "broken.png").exists() and not (out / "empty.jpg").exists()
    data = json.loads(report.read_text())
    statuses = {Path(f["input"]).name: f["status"] for f in data["files"]}
    assert statuses == {"a.png": "done", "b.jpg": "done", "c.webp": "done", "broken.png": "failed", "empty.jpg": "failed"}
    assert data["summary"] == {"done": 3, "skipped": 0, "failed": 2}


def test_outputs_that_cannot_be_scored_fail_the_run_as_in_eval(tmp_path, tiny_weights):
    """One output has its ground truth (the .png, not the unrelated .bmp beside it), one has none
    and one has two of other extensions: all are restored, and the run says two were not scored."""
    clean, noisy = tmp_path / "clean", tmp_path / "noisy"
    for name in ("a", "b", "c"):
        save_rgb(noisy / f"{name}.png", seed=1)
    save_rgb(clean / "a.png", seed=1)
    save_rgb(clean / "a.bmp", seed=2)
    save_rgb(clean / "c.jpg", seed=1)
    save_rgb(clean / "c.bmp", seed=1)
    report = tmp_path / "r.json"
    result = restore(str(noisy), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--gt", str(clean),
                     "--json", str(report))
    assert result.exit_code == 1
    assert "2 of 3 output(s) could not be scored" in result.output
    assert "no ground truth found" in result.output and "several ground truths of that name" in result.output
    files = {Path(f["input"]).name: f for f in json.loads(report.read_text())["files"]}
    assert files["a.png"]["ground_truth"].endswith("a.png") and files["a.png"]["psnr"] > 25
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]


def test_ground_truth_scores_and_comparison_pictures(tmp_path, tiny_weights):
    clean = tmp_path / "clean"
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    for i in range(2):
        arr = save_rgb(clean / f"img{i}.png", seed=i)
        noise = np.random.default_rng(i).normal(0, 10, arr.shape)
        Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8)).save(noisy / f"img{i}.png")
    report = tmp_path / "r.json"
    result = restore(str(noisy), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--gt", str(clean),
                     "--compare", str(tmp_path / "cmp"), "--json", str(report))
    assert result.exit_code == 0, result.output
    assert "PSNR" in result.output and "mean PSNR" in result.output
    data = json.loads(report.read_text())
    files = data["files"]
    assert all(f["psnr"] > 10 and 0 < f["ssim"] <= 1 for f in files)
    assert data["mean"]["count"] == 2
    assert data["mean"]["psnr"] == pytest.approx(np.mean([f["psnr"] for f in files]))
    with Image.open(tmp_path / "cmp" / "img0.png") as picture:
        assert picture.width > 3 * 48 and picture.height > 40
    # The scores are those `restormixer eval` computes on the written files.
    evaluated = runner.invoke(app, ["eval", "--pred", str(tmp_path / "out"), "--gt", str(clean), "--json", str(tmp_path / "e.json")])
    assert evaluated.exit_code == 0
    by_name = {i["name"]: i for i in json.loads((tmp_path / "e.json").read_text())["images"]}
    for f in files:
        assert by_name[Path(f["input"]).stem]["psnr"] == pytest.approx(f["psnr"], abs=1e-9)


def test_grayscale_alpha_and_sixteen_bit_survive(tmp_path, tiny_weights):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray((textured_image(32, 32)[..., 0] * 255).astype(np.uint8), "L").save(src / "gray.png")
    rgba = np.dstack([(textured_image(32, 32) * 255).astype(np.uint8), np.full((32, 32), 77, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(src / "alpha.png")
    tifffile.imwrite(src / "deep.tif", (textured_image(32, 32) * 65535).astype(np.uint16))
    out = tmp_path / "out"
    result = restore(str(src), "-o", str(out), "--weights", str(tiny_weights))
    assert result.exit_code == 0, result.output
    with Image.open(out / "gray.png") as g, Image.open(out / "alpha.png") as a:
        assert g.mode == "L"
        assert a.mode == "RGBA" and np.all(np.asarray(a)[..., 3] == 77)
    deep = tifffile.imread(out / "deep.tif")
    assert deep.dtype == np.uint16 and len(np.unique(deep)) > 256


@pytest.mark.parametrize(
    "args,message",
    [
        (["--tile", "-5"], "tile size"),
        (["--task", "nonsense"], "Invalid value for '--task'"),
        (["--device", "quantum"], "unknown device"),
        (["--precision", "fp8"], "Invalid value for '--precision'"),
        (["--ext", "gif"], "Invalid value for '--ext'"),
        (["--device", "cpu", "--precision", "fp16"], "fp16 is not supported on CPU"),
    ],
)
def test_invalid_options_fail_before_any_work(photos, tiny_weights, tmp_path, args, message):
    weights = [] if "--task" in args else ["--weights", str(tiny_weights)]
    result = restore(str(photos), "-o", str(tmp_path / "out"), *weights, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "out").exists()


def test_missing_inputs_and_weights(tmp_path, tiny_weights):
    assert "no such file or folder" in restore(str(tmp_path / "nope.png"), "--weights", str(tiny_weights)).output
    (tmp_path / "empty").mkdir()
    assert "contains no images" in restore(str(tmp_path / "empty"), "--weights", str(tiny_weights)).output
    save_rgb(tmp_path / "x.png")
    result = restore(str(tmp_path / "x.png"), "--weights", str(tmp_path / "missing.safetensors"))
    assert result.exit_code == 1 and "no such weights file" in result.output
    empty = restore(str(tmp_path / "x.png"), "-o", str(tmp_path / "out"), "--weights", "")  # not the default task
    assert empty.exit_code == 1 and "the weights path is empty" in empty.output and not (tmp_path / "out").exists()


def test_without_a_task_the_default_task_restores(tmp_path, tiny_weights, monkeypatch):
    from restormixer_cli.hub import registry as registry_module, resolve
    from restormixer_cli.hub.registry import Task

    save_rgb(tmp_path / "x.png")
    tasks = {"all": Task(task="all", description="a", available=True, embedded="all", default=True),
             "other": Task(task="other", description="o", available=True, embedded="other")}
    monkeypatch.setattr(Task, "embedded_path", property(lambda self: tiny_weights))
    for module in (registry_module, resolve):
        monkeypatch.setattr(module, "load_registry", lambda path=None: tasks)
    result = restore(str(tmp_path / "x.png"), "-o", str(tmp_path / "out"), "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["settings"]["task"] == "all"
    tasks["all"] = Task(task="all", description="a", available=True, embedded="all")
    result = restore(str(tmp_path / "x.png"), "-o", str(tmp_path / "out2"))
    assert result.exit_code == 2 and "give --task" in result.output


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_leaves_no_partial_files_and_resumes(tmp_path, tiny_weights, sig, code):
    """Ctrl-C and a plain kill both end with the summary and report, complete files only."""
    src = tmp_path / "src"
    for i in range(8):
        save_rgb(src / f"img{i}.png", 192, 192, seed=i)
    out, report = tmp_path / "out", tmp_path / "report.json"
    cmd = [sys.executable, "-m", "restormixer_cli", "restore", str(src), "-o", str(out), "--weights", str(tiny_weights),
           "--tile", "64", "--quiet", "--json", str(report)]
    returned, output = interrupt_when(
        cmd, lambda: out.exists() and any(p.suffix == ".png" and not p.name.startswith(".") for p in out.iterdir()),
        sig=sig)
    assert returned == code, output
    assert "--skip-existing" in output
    assert json.loads(report.read_text())["summary"]["done"] >= 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary leftovers
    done = {p.name for p in out.iterdir()}
    for name in done:
        with Image.open(out / name) as img:
            img.load()  # every file that exists is complete
    resumed = subprocess.run(cmd + ["--skip-existing"], env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert len(list(out.iterdir())) == 8
    assert json.loads(report.read_text())["summary"]["skipped"] == len(done)



def test_a_signal_right_after_the_first_output_always_ends_with_summary_and_report(tmp_path, tiny_weights):
    """Ctrl-C or SIGTERM sent the instant the first output appears, 16 times: every run stops with
    its own status (130, 143), prints its summary, writes its report (to a file or standard output)
    naming every output it wrote, and leaves complete outputs only. The signal used to escape the
    run now and then, losing the report, and SIGTERM then ended with 130."""
    src, runs = tmp_path / "src", 16
    for i in range(24):  # enough work that the signal lands mid-run even on a loaded machine
        save_rgb(src / f"img{i}.png", 96, 96, seed=i)
    done = subprocess.run([sys.executable, str(Path(__file__).parent / "signal_runs.py"), str(runs), str(src),
                           str(tiny_weights), str(tmp_path)], env=SUBPROCESS_ENV, capture_output=True, text=True,
                          timeout=600)
    outcomes = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(outcomes) == runs, done.stderr[-3000:]
    for outcome in outcomes:
        assert outcome["code"] == {signal.SIGINT: 130, signal.SIGTERM: 143}[outcome["signal"]], outcome
        assert outcome["report"] is not None and "restore summary" in outcome["printed"], outcome
        assert "interrupted after" in outcome["printed"], outcome
        assert not [name for name in outcome["files"] if name.startswith(".")], outcome  # no partial file
        reported = [Path(f["output"]).name for f in outcome["report"]["files"] if f["status"] == "done"]
        assert sorted(reported) == outcome["files"] and reported, outcome  # every output written is reported

def test_stale_temporary_files_are_removed_by_the_next_run(tmp_path, tiny_weights):
    save_rgb(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    stale, fresh = out / ".a.x1y2z3ab.restormixer-part.png", out / ".b.q9w8e7cd.restormixer-part.png"
    for path in (stale, fresh):
        path.write_bytes(b"half an image")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert restore(str(tmp_path / "in"), "-o", str(out), "--weights", str(tiny_weights), "--quiet").exit_code == 0
    assert not stale.exists() and fresh.exists()  # a young one may belong to a writer still running


def test_long_file_names_are_written(tmp_path, tiny_weights):
    name = "x" * 250 + ".png"
    save_rgb(tmp_path / "in" / name)
    result = restore(str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / name).exists()


def test_overlap_that_leaves_no_stride_is_refused(tmp_path, tiny_weights):
    save_rgb(tmp_path / "in" / "a.png")
    result = restore(str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                     "--tile", "32", "--tile-overlap", "28")
    assert result.exit_code == 2 and "more than 3/4 of the tile size" in result.output


def test_full_disk_stops_the_run_with_one_line(photos, tiny_weights, tmp_path, monkeypatch):
    import errno

    def no_space(path, image, quality):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("restormixer_cli.inference.files.write_image", no_space)
    result = restore(str(photos), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights))
    assert result.exit_code == 1
    assert "disk full while writing" in result.output
    assert "1 of 3 file(s) failed" in result.output  # stopped at the first file


def test_output_file_for_a_single_input(photos, tiny_weights, tmp_path):
    target = tmp_path / "result.jpg"
    result = restore(str(photos / "a.png"), "-o", str(target), "--weights", str(tiny_weights), "--quiet")
    assert result.exit_code == 0, result.output
    with Image.open(target) as img:
        assert img.format == "JPEG" and img.size == (48, 40)
    result = restore(str(photos), "-o", str(tmp_path / "many.png"), "--weights", str(tiny_weights))
    assert result.exit_code == 1 and "exactly one input" in result.output


def test_an_output_ending_in_a_slash_is_a_folder_whatever_its_name(photos, tiny_weights, tmp_path):
    result = restore(str(photos / "a.png"), "-o", f"{tmp_path / 'best.jpg'}/", "--weights", str(tiny_weights))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "best.jpg" / "a.png").is_file()


def test_json_report_to_stdout(photos, tiny_weights, tmp_path):
    done = subprocess.run([sys.executable, "-m", "restormixer_cli", "restore", str(photos / "a.png"), "-o",
                           str(tmp_path / "out"), "--weights", str(tiny_weights), "--json", "-"],
                          env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["done"] == 1
    assert not (tmp_path / "-").exists()


def test_usage_errors_exit_2(photos, tiny_weights, tmp_path):
    assert restore(str(photos), "--task", "nonexistent").exit_code == 2
    for tiling in (["--tile", "-5"], ["--tile", "3"], ["--batch-size", "0"], ["--tile-overlap", "-1"]):
        assert restore(str(photos), "--weights", str(tiny_weights), *tiling).exit_code == 2
    (tmp_path / "clip.mp4").write_bytes(b"not decoded: refused by name")
    video = restore(str(tmp_path / "clip.mp4"), "--weights", str(tiny_weights), "-o", "-")
    assert video.exit_code == 2 and "not a video or animation" in video.output and "stdout" not in video.output
    frames = [Image.new("RGB", (16, 16), (40 * i, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "moving.webp", save_all=True, append_images=frames[1:], duration=100)
    animation = restore(str(tmp_path / "moving.webp"), "--weights", str(tiny_weights), "-o", "-")
    assert animation.exit_code == 2 and "not a video or animation" in animation.output  # as a GIF is
    both = restore(str(photos / "a.png"), "--weights", str(tiny_weights), "-o", "-", "--json", "-")
    assert both.exit_code == 2 and "both write to standard output" in both.output
    assert restore(str(photos), "--weights", str(tiny_weights), "--skip-existing", "--overwrite").exit_code == 2
    assert restore(str(photos), "--weights", str(tiny_weights), "--ext", "gif").exit_code == 2
    assert restore(str(photos), "--weights", str(tiny_weights), "--precision", "fp8").exit_code == 2
    assert restore(str(photos), "--weights", str(tiny_weights), "--gt", str(photos), "--crop-border", "-1").exit_code == 2
    if not torch.cuda.is_available():  # a device this machine lacks: the command line is wrong here
        lacking = restore(str(photos), "--weights", str(tiny_weights), "--device", "cuda")
        assert lacking.exit_code == 2 and "CUDA is not available" in lacking.output



USAGE_ERRORS = [  # INPUT stands for an image that exists
    ["restore", "INPUT", "--tile", "-1"], ["restore", "INPUT", "--batch-size", "0"],
    ["restore", "INPUT", "--task", "sr", "--scale", "5"], ["restore", "INPUT", "--task", "derain", "--scale", "2"],
    ["restore", "INPUT", "--device", "banana"], ["restore", "INPUT", "--device", "cpu", "--precision", "fp16"],
    ["restore", "INPUT", "--y-channel"], ["restore", "INPUT", "--crop-border", "4"],
    ["serve", "--device", "banana"], ["serve", "--tile", "-1"],
    ["restore", "INPUT", "--threads", "-1"], ["restore", "INPUT", "--engine", "ray", "--threads", "2"],
    ["serve", "--threads", "-1"],
]
_RUN_EACH = """
import json, sys
from restormixer_cli.cli import main
codes = []
for argv in json.loads(sys.argv[1]):
    sys.argv = ["restormixer", *argv]
    try:
        main()
    except SystemExit as exc:
        codes.append(exc.code)
print(json.dumps({"codes": codes, "pytorch loaded": "torch" in sys.modules}))
"""


def test_usage_errors_answer_before_pytorch_loads(tmp_path):
    """A bad device, precision, tile, batch size or scale, and scoring options without --gt: each is a
    usage error (2) in one line, found before PyTorch is imported (which took 4-10 s first)."""
    save_rgb(tmp_path / "a.png")
    cases = [[str(tmp_path / "a.png") if arg == "INPUT" else arg for arg in case] for case in USAGE_ERRORS]
    done = subprocess.run([sys.executable, "-c", _RUN_EACH, json.dumps(cases)], env=SUBPROCESS_ENV, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert json.loads(done.stdout.splitlines()[-1]) == {"codes": [2] * len(cases), "pytorch loaded": False}, done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == len(cases) and all(line.startswith("error: ") for line in errors), errors
    assert "--gt" in errors[6] and "--gt" in errors[7] and "banana" in errors[4] and "fp16" in errors[5]


def test_threads_limit_the_model_to_that_many_cpu_threads(photos, tiny_weights, tmp_path):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        result = restore(str(photos), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--threads", "1",
                         "--json", str(tmp_path / "report.json"))
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
        assert json.loads((tmp_path / "report.json").read_text())["settings"]["threads"] == 1
    finally:
        torch.set_num_threads(before)


def test_an_output_file_and_ext_that_disagree_are_refused(photos, tiny_weights, tmp_path):
    conflict = restore(str(photos / "a.png"), "--weights", str(tiny_weights), "-o", str(tmp_path / "x.png"),
                       "--ext", "jpg")
    assert conflict.exit_code == 1 and "name different formats" in conflict.output
    assert not (tmp_path / "x.png").exists()
    agree = restore(str(photos / "a.png"), "--weights", str(tiny_weights), "-o", str(tmp_path / "x.jpeg"),
                    "--ext", "jpg")
    assert agree.exit_code == 0 and (tmp_path / "x.jpeg").exists()


def test_standard_input_to_standard_output(photos, tiny_weights):
    data = (photos / "a.png").read_bytes()
    done = subprocess.run([sys.executable, "-m", "restormixer_cli", "restore", "-", "--weights", str(tiny_weights),
                           "-o", "-"], input=data, env=SUBPROCESS_ENV, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    with Image.open(io.BytesIO(done.stdout)) as img:
        assert img.format == "PNG" and img.size == (48, 40)
    said = done.stderr.decode()
    assert "standard input -> standard output" in said and "restormixer-" not in said  # no scratch folder
    bad = subprocess.run([sys.executable, "-m", "restormixer_cli", "restore", "-", "--weights", str(tiny_weights),
                          "-o", "-"], input=b"not an image", env=SUBPROCESS_ENV, capture_output=True, timeout=300)
    assert bad.returncode == 1 and b"not a PNG" in bad.stderr and bad.stdout == b""


def test_report_says_what_produced_the_results(photos, tiny_weights, tmp_path):
    import hashlib

    from restormixer_cli import __version__

    report = tmp_path / "r.json"
    assert restore(str(photos / "a.png"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--device", "cpu",
                   "--json", str(report)).exit_code == 0
    data = json.loads(report.read_text())
    assert data["restormixer"] == __version__ and data["device"] == "cpu" and data["precision"] == "float32"
    assert data["weights_sha256"] == hashlib.sha256((tiny_weights / "model.safetensors").read_bytes()).hexdigest()
    assert data["scan_backend"] in ("numba", "torch")
    models = json.loads(runner.invoke(app, ["models", "--json"]).output)
    assert {"denoise", "derain", "desnow"} <= set(models) and models["derain"]["sha256"]


def test_quality_sets_jpeg_and_webp_compression(photos, tiny_weights, tmp_path):
    sizes = {}
    for quality in ("30", "95"):
        out = tmp_path / f"q{quality}"
        result = restore(str(photos / "a.png"), "-o", str(out), "--weights", str(tiny_weights), "--ext", "jpg",
                         "--quality", quality, "--quiet")
        assert result.exit_code == 0, result.output
        sizes[quality] = (out / "a.jpg").stat().st_size
    assert sizes["30"] < sizes["95"]
    assert restore(str(photos), "--weights", str(tiny_weights), "--quality", "0").exit_code == 2


def test_phone_photos_heic_and_avif_are_found_restored_and_converted(tmp_path, tiny_weights):
    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[0x010F] = "Phone"  # Make
    (tmp_path / "in").mkdir()
    Image.fromarray(save_rgb(tmp_path / "in" / "shot.avif")).save(tmp_path / "in" / "IMG_0001.HEIC", format="HEIF",
                                                                  exif=exif.tobytes())
    result = restore(str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                     "--quality", "80")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "IMG_0001.heic") as heic, Image.open(tmp_path / "out" / "shot.avif") as avif:
        assert (heic.format, heic.size, avif.format, avif.size) == ("HEIF", (48, 40), "AVIF", (48, 40))
        assert heic.getexif().get(0x010F) == "Phone"
    converted = restore(str(tmp_path / "in" / "IMG_0001.HEIC"), "-o", str(tmp_path / "jpg"), "--ext", "jpg",
                        "--weights", str(tiny_weights))
    assert converted.exit_code == 0, converted.output
    with Image.open(tmp_path / "jpg" / "IMG_0001.jpg") as jpg:
        assert jpg.format == "JPEG" and jpg.getexif().get(0x010F) == "Phone"
