"""Training: degradations, data, schedule, loss, resumable runs, export, DDP; tiny configs only."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from restormixer_cli.model.checkpoint import load_weights_file
from restormixer_cli.model.restormixer import build_model
from restormixer_cli.training.config import TrainConfig
from restormixer_cli.training.data import PatchSampler, load_training_images
from restormixer_cli.training.degradations import make_degradation
from restormixer_cli.training.export import dataset_name, export_run, half_precision
from restormixer_cli.training.losses import MultiScaleDualDomainLoss, downscaled_targets
from restormixer_cli.training.trainer import learning_rate, read_metrics, train

from .conftest import SUBPROCESS_ENV, interrupt_when, textured_image


def tiny_run_args(**overrides) -> dict:
    args = dict(base_channel=8, num_blocks=[2, 2, 2], batch=2, patch=32, steps=4, warmup=2, val_every=2,
                ckpt_every=2, val_limit=2, ema=0.9)
    args.update(overrides)
    return args


@pytest.fixture(scope="module")
def image_folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    for i in range(3):
        clean = (textured_image(48, 56, seed=i) * 255).astype(np.uint8)
        for folder in ("clean", "val", "paired/target"):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(clean).save(root / folder / f"{i}.png")
        (root / "paired/input").mkdir(exist_ok=True)
        noisy = np.clip(clean + np.random.default_rng(i).normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / "paired/input" / f"{i}.png")
    return {name: root / name for name in ("clean", "val", "paired")}


@pytest.mark.parametrize("name", ["noise:25", "blind-noise", "camera-noise", "rain", "light-rain", "snow", "haze",
                                  "low-light", "jpeg", "mixed", "rain+haze"])
def test_degradations_are_seeded_and_sane(name):
    clean = textured_image(64, 64)
    degrade = make_degradation(name)
    a = degrade(clean, np.random.default_rng(5))
    b = degrade(clean, np.random.default_rng(5))
    c = degrade(clean, np.random.default_rng(6))
    assert a.shape == clean.shape and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    strength = np.mean([np.abs(degrade(clean, np.random.default_rng(i)) - clean).mean() for i in range(4)])
    assert strength > 0.005  # some draws are light on purpose (a few flakes, sigma near 0)
    if name in ("rain", "light-rain", "snow", "camera-noise", "haze", "low-light", "jpeg", "rain+haze"):
        assert a.min() >= 0 and a.max() <= 1
    if name in ("rain", "light-rain", "snow", "haze", "rain+haze"):
        assert (a - clean).mean() > 0  # rain, snow and haze add light
    if name == "low-light":
        assert a.mean() < 0.6 * clean.mean()


def test_camera_noise_is_signal_dependent_and_correlated():
    """Gamma lifts the shadows' noise; demosaicing correlates neighbours; chroma noise reduction and
    the colour matrix correlate channels; the result is an 8-bit image."""
    ramp = np.repeat(np.linspace(0.02, 0.98, 256, dtype=np.float32)[None, :, None], 3, axis=2).repeat(256, axis=0)
    noise = np.stack([make_degradation("camera-noise")(ramp, np.random.default_rng([3, i])) - ramp for i in range(8)])
    assert np.allclose(np.round((noise + ramp) * 255), (noise + ramp) * 255, atol=1e-4)
    assert noise[:, :, :64].std() > 1.2 * noise[:, :, -64:].std()
    neighbours = np.corrcoef(noise[..., :-1, 1].ravel(), noise[..., 1:, 1].ravel())[0, 1]
    channels = np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]
    assert neighbours > 0.2 and channels > 0.1


def test_blind_noise_covers_a_range_of_strengths():
    flat = np.full((64, 64, 3), 0.5, np.float32)
    degrade = make_degradation("blind-noise")
    sigmas = [float((degrade(flat, np.random.default_rng(i)) - flat).std() * 255) for i in range(40)]
    assert min(sigmas) < 8 and max(sigmas) > 30


def test_blind_noise_is_sometimes_brightness_only():
    """Noise the same in all channels (a camera's colour noise reduction, a grey photo) is part of the
    mixture, as is noise independent per channel."""
    flat = np.full((64, 64, 3), 0.5, np.float32)
    degrade = make_degradation("blind-noise:50")
    noises = [degrade(flat, np.random.default_rng([3, i])) - flat for i in range(60)]
    correlations = [np.corrcoef(n[..., 0].ravel(), n[..., 1].ravel())[0, 1] for n in noises if n.std() > 0.01]
    assert min(correlations) < 0.1 and max(correlations) > 0.8
    grey = make_degradation("grey-noise:20")(flat, np.random.default_rng(0)) - flat
    assert np.allclose(grey[..., 0], grey[..., 2]) and grey.std() * 255 == pytest.approx(20, rel=0.05)
    assert grey.dtype == np.float32 and all(n.dtype == np.float32 for n in noises)


def test_blind_noise_takes_its_largest_sigma():
    flat = np.full((64, 64, 3), 0.5, np.float32)
    def sigmas(name: str) -> list[float]:
        return [float((make_degradation(name)(flat, np.random.default_rng([7, i])) - flat).std() * 255) for i in range(40)]

    assert max(sigmas("blind-noise:10")) < 15 < 45 < max(sigmas("blind-noise:55"))  # camera noise reaches ~13
    with pytest.raises(ValueError, match="blind-noise:0"):
        make_degradation("blind-noise:0")


def test_rain_shows_over_dark_backgrounds_more_than_bright_ones():
    """Streaks are composited in linear light towards the scene's bright radiance."""
    img = np.zeros((128, 128, 3), np.float32)
    img[:, 64:] = 0.85
    img[:8] = 1.0  # a bright sky sets the radiance of the drops
    diffs = [make_degradation("rain")(img, np.random.default_rng(i)) - img for i in range(6)]
    dark = np.mean([d[8:, :64].mean() for d in diffs])
    bright = np.mean([np.abs(d[8:, 64:]).mean() for d in diffs])
    assert dark > 2 * bright


def test_light_rain_covers_less_of_the_image_than_rain():
    """light-rain draws only the light classic preset: fewer streaked pixels than the full rain mixture."""
    img = np.full((96, 96, 3), 0.3, np.float32)
    covered = {name: np.mean([(make_degradation(name)(img, np.random.default_rng(i)) - img > 0.05).mean()
                              for i in range(24)]) for name in ("rain", "light-rain")}
    assert 0 < covered["light-rain"] < 0.6 * covered["rain"]


def test_haze_veils_the_far_more_than_the_near_and_keeps_contrast_order():
    from restormixer_cli.training.degradations import HazeStyle, haze

    clean = textured_image(128, 128)
    height_only = HazeStyle(relief=(1.0, 1.0))
    hazy = [haze(height_only)(clean, np.random.default_rng(i)) for i in range(6)]
    top = np.mean([np.std(h[:32]) / np.std(clean[:32]) for h in hazy])
    assert 0.05 < top < 1  # contrast is reduced, never erased or inverted
    assert np.corrcoef(hazy[0].ravel(), clean.ravel())[0, 1] > 0.5


def test_mixtures_combine_up_to_three_degradations_in_physical_order_or_leave_the_image():
    from restormixer_cli.training.degradations import compose, haze, jpeg_artifacts

    clean = textured_image(64, 64)
    rng = np.random.default_rng
    assert np.array_equal(make_degradation("haze+jpeg")(clean, rng(1)), compose(haze(), jpeg_artifacts())(clean, rng(1)))
    changes = np.array([np.abs(make_degradation("mixed")(clean, rng(i)) - clean).mean() for i in range(40)])
    unchanged = changes == 0
    assert 0 < unchanged.sum() <= 10  # some good photos, so that the model learns to leave them alone
    assert np.median(changes) > 0.01 and len({round(c, 4) for c in changes}) > 20
    with pytest.raises(ValueError, match="joined by"):
        make_degradation("rain+fog")
    assert make_degradation("none")(clean, rng(0)) is clean
    assert all(np.abs(make_degradation("mixed:0")(clean, rng(i)) - clean).max() > 0 for i in range(20))
    with pytest.raises(ValueError, match="mixed\\[:CLEAN\\]"):
        make_degradation("mixed:2")


def test_snow_has_streaks_along_the_fall_and_large_defocused_discs():
    from scipy import ndimage

    from restormixer_cli.training.degradations import SnowStyle
    from restormixer_cli.training.degradations.snow import _snow_layers

    falling = SnowStyle(streak_chance=1.0, angle_sd=0.0, bokeh_chance=0.0, scale=(1.0, 1.0))
    near = _snow_layers((256, 256), falling, np.random.default_rng(1))[-1]
    along = np.corrcoef(near[:-12].ravel(), near[12:].ravel())[0, 1]
    across = np.corrcoef(near[:, :-12].ravel(), near[:, 12:].ravel())[0, 1]
    assert along > 2 * across
    lens = SnowStyle(streak_chance=0.0, bokeh_chance=1.0, bokeh_density=(60.0, 60.0), scale=(1.0, 1.0))
    discs = _snow_layers((512, 512), lens, np.random.default_rng(2))[-1]
    labels, count = ndimage.label(discs > 0.2 * discs.max())
    sizes = np.bincount(labels.ravel())[1:]
    assert count and np.median(sizes) > np.pi * 5**2  # radius at least about 5 px (6 to 30, softened)


def test_degrade_command_writes_a_paired_folder(tmp_path, image_folders):
    from typer.testing import CliRunner

    from restormixer_cli.cli import app

    out = tmp_path / "pairs"
    result = CliRunner().invoke(app, ["degrade", str(image_folders["clean"]), "--degradation", "rain", "-o", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (out / "input").iterdir())
    assert names == sorted(p.name for p in (out / "target").iterdir()) and names
    first = np.asarray(Image.open(out / "input" / names[0]))
    again = CliRunner().invoke(app, ["degrade", str(image_folders["clean"]), "--degradation", "rain", "-o", str(out)])
    assert again.exit_code == 1 and "exists" in again.output
    again = CliRunner().invoke(app, ["degrade", str(image_folders["clean"]), "--degradation", "rain", "-o", str(out),
                                     "--overwrite"])
    assert again.exit_code == 0 and np.array_equal(np.asarray(Image.open(out / "input" / names[0])), first)
    unknown = CliRunner().invoke(app, ["degrade", str(image_folders["clean"]), "--degradation", "fog", "-o", str(out)])
    assert unknown.exit_code == 2 and "unknown degradation 'fog'" in unknown.output
    for name in ("noise:-5", "noise:nan", "sr:100"):
        out_of_range = CliRunner().invoke(app, ["degrade", str(image_folders["clean"]), "--degradation", name,
                                                "-o", str(tmp_path / "never")])
        assert out_of_range.exit_code == 2 and "is not a number from" in out_of_range.output


def test_degrade_never_loses_or_rereads_its_outputs(image_folders, tmp_path):
    from typer.testing import CliRunner

    from restormixer_cli.cli import app

    def degrade(*args):
        return CliRunner().invoke(app, ["degrade", *args, "--degradation", "rain"])

    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "0.png").write_bytes((image_folders["clean"] / "0.png").read_bytes())
    clash = degrade(str(image_folders["clean"]), str(twin), "-o", str(tmp_path / "pairs"))
    assert clash.exit_code == 1 and "several inputs would be written as 0.png" in clash.output
    assert not (tmp_path / "pairs").exists()
    inside = twin / "val"
    for overwrite in ([], ["--overwrite"]):  # the second run must not take the first one's outputs as inputs
        assert degrade(str(twin), "-o", str(inside), *overwrite).exit_code == 0
    assert sorted(p.relative_to(inside).as_posix() for p in inside.rglob("*.png")) == ["input/0.png", "target/0.png"]
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    Image.fromarray(np.zeros((2, 9, 3), np.uint8)).save(tiny / "strip.png")
    small = CliRunner().invoke(app, ["degrade", str(tiny), "--degradation", "downscale:3", "-o", str(tmp_path / "s")])
    assert small.exit_code == 1 and "smaller than the downscaling factor 3" in small.output


def test_a_pair_that_fails_half_written_leaves_neither_file(tmp_path, monkeypatch):
    from restormixer_cli.training import data

    def failing_encoder(pixels):
        raise OSError("disk full")

    image = (textured_image(16, 16) * 255).astype(np.uint8)
    data.write_degraded_pairs([("a", image)], make_degradation("noise:25"), tmp_path, seed=0)
    monkeypatch.setattr(data, "quantize", failing_encoder)
    with pytest.raises(OSError):
        data.write_degraded_pairs([("b", image)], make_degradation("noise:25"), tmp_path, seed=0)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "input", "input/a.png", "target", "target/a.png"]


def test_gaussian_noise_has_the_requested_sigma():
    noisy = make_degradation("noise:25")(np.zeros((256, 256, 3), np.float32), np.random.default_rng(0))
    assert noisy.std() * 255 == pytest.approx(25, rel=0.02)
    with pytest.raises(ValueError):
        make_degradation("fog")


def test_reexposed_clean_images_are_dim_targets():
    """With ``exposure`` the clean image is darkened before degradation, in the target as well."""
    img = (textured_image(64, 64) * 200 + 40).astype(np.uint8)
    plain = PatchSampler([], [img], make_degradation("none"), patch=32, seed=1)
    dim = PatchSampler([], [img], make_degradation("none"), patch=32, seed=1, exposure=(0.25, 0.25))
    for i in range(4):
        degraded, target = dim[i]
        assert torch.equal(degraded, target)
        assert 0.4 < float(target.mean() / plain[i][1].mean()) < 0.7  # a quarter of the light, through sRGB's curve
    with pytest.raises(ValueError, match="exposure"):
        TrainConfig(task="denoise", train=["x"], exposure=[1.0, 0.5])


def test_patch_sampler_is_deterministic_and_mixes_sources():
    img = (textured_image(40, 40) * 255).astype(np.uint8)
    sampler = PatchSampler([(img, img)], [img], make_degradation("noise:10"), patch=16, seed=1)
    x1, y1 = sampler[7]
    x2, y2 = sampler[7]
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (3, 16, 16)
    kinds = {torch.equal(*sampler[i]) for i in range(30)}
    assert kinds == {True, False}  # identical pairs (the paired source) and noisy ones both occur


def test_learning_rate_schedule():
    cfg = TrainConfig(task="denoise", train=["x"], steps=100, warmup=10, lr=1e-3, min_lr=1e-6)
    assert learning_rate(cfg, 0) == pytest.approx(1e-4)
    assert learning_rate(cfg, 10) == pytest.approx(1e-3)
    assert learning_rate(cfg, 100) == pytest.approx(1e-6)
    assert learning_rate(cfg, 55) < learning_rate(cfg, 30)


def test_loss_is_zero_for_perfect_outputs_and_positive_otherwise():
    target = torch.rand(2, 3, 32, 32)
    loss = MultiScaleDualDomainLoss()
    perfect = downscaled_targets(target)
    assert [p.shape[-1] for p in perfect] == [8, 16, 32]
    value, parts = loss(perfect, target)
    assert float(value) < 1e-5
    worse, _ = loss([p + 0.1 for p in perfect], target)
    assert float(worse) > 0.1 and set(parts) == {"l1", "fft"}


def test_train_resume_and_export(image_folders, tmp_path):
    run = tmp_path / "run"
    config = TrainConfig(task="denoise", train=[str(image_folders["clean"]), str(image_folders["paired"])],
                         val=str(image_folders["val"]), **tiny_run_args())
    scores = train(config, run, torch.device("cpu"))
    assert {"psnr", "ssim", "input_psnr", "input_ssim"} <= set(scores)
    assert {p.name for p in run.iterdir()} >= {"config.json", "checkpoint.pt", "metrics.jsonl", "progress.png"}
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 4
    # Extending the run resumes from step 4 instead of starting again.
    config.steps = 6
    train(config, run, torch.device("cpu"))
    steps = [r["step"] for r in read_metrics(run) if "loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]
    exported = export_run(run, tmp_path / "export")
    assert {p.name for p in exported.iterdir()} == {"model.safetensors", "config.json", "README.md"}
    with pytest.raises(ValueError, match="already holds model.safetensors, config.json, README.md") as refused:
        export_run(run, exported)  # a user's README.md or an earlier export is not replaced unasked
    assert "allow overwriting" in str(refused.value) and "--" not in str(refused.value)  # no flag in Python
    assert export_run(run, exported, overwrite=True) == exported
    with pytest.raises(ValueError, match="is the run folder"):
        export_run(run, run, overwrite=True)
    assert TrainConfig.load(run / "config.json").steps == 6  # the run can still be resumed
    with pytest.raises(ValueError, match="not the configuration of a training run"):
        TrainConfig.load(exported / "config.json")
    assert "PSNR" in (exported / "README.md").read_text()
    model = build_model(load_weights_file(exported))
    assert model.config["base_channel"] == 8


def test_export_command_names_its_overwrite_flag(tmp_path):
    """The refusal to replace an earlier export comes before the run is read: the command line
    names --overwrite where the Python API says "allow overwriting"."""
    from typer.testing import CliRunner

    from restormixer_cli.cli import app

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "README.md").write_text("mine")
    result = CliRunner().invoke(app, ["export", str(tmp_path / "run"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert " ".join(result.output.split()) == (f"error: {tmp_path / 'out'} already holds README.md; "
                                               "pass --overwrite to replace them")
    assert (tmp_path / "out" / "README.md").read_text() == "mine"


def test_a_run_that_enlarges_trains_its_tails_from_same_size_weights(image_folders, tmp_path):
    from restormixer_cli.model import RestorMixer
    from restormixer_cli.training.data import DownscalePatchSampler

    same_size = tmp_path / "same-size"
    RestorMixer(base_channel=8, num_blocks=[2, 2, 2]).save_pretrained(same_size)
    config = TrainConfig(task="sr", train=[str(image_folders["clean"])], val=str(image_folders["val"]),
                         **tiny_run_args(patch=16, upscales=[2, 3], init=str(same_size)))
    assert config.degradation is None and config.val_degradation == "downscale:3"
    scores = train(config, tmp_path / "run", torch.device("cpu"))
    # the tails start at zero: bicubic enlargement, which the validation's input scores are
    assert abs(scores["psnr"] - scores["input_psnr"]) < 3
    model = build_model(load_weights_file(export_run(tmp_path / "run", tmp_path / "export")))
    assert model.upscales == [2, 3]
    assert model(torch.rand(1, 3, 16, 24), scale=3).shape == (1, 3, 48, 72)
    sampler = DownscalePatchSampler([np.zeros((96, 96, 3), np.uint8)], [2, 3, 4], 16, seed=0, items_per_step=4)
    for step in range(6):  # one factor per step: a batch goes through one tail
        shapes = {(tuple(small.shape), tuple(clean.shape)) for small, clean in (sampler[step * 4 + i] for i in range(4))}
        ((small, clean),) = shapes
        assert small == (3, 16, 16) and clean[1] in (32, 48, 64)
    with pytest.raises(ValueError, match="leave degradation unset"):
        TrainConfig(task="sr", train=["x"], degradation="sr", **tiny_run_args(upscales=[2]))


def test_export_stores_the_weights_in_fp16_and_loading_reads_them_as_fp32(image_folders, tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(task="denoise", train=[str(image_folders["clean"])], **tiny_run_args(steps=1)), run,
          torch.device("cpu"))
    half, full = export_run(run, tmp_path / "half"), export_run(run, tmp_path / "full", fp16=False)
    assert {t.dtype for t in load_file(half / "model.safetensors").values() if t.is_floating_point()} == {torch.float16}
    assert {t.dtype for t in load_file(full / "model.safetensors").values() if t.is_floating_point()} == {torch.float32}
    assert (half / "model.safetensors").stat().st_size < 0.6 * (full / "model.safetensors").stat().st_size
    assert "stored in fp16" in (half / "README.md").read_text()
    loaded, exact = load_weights_file(half).state_dict, load_weights_file(full).state_dict
    assert all(loaded[k].dtype == v.dtype and torch.equal(loaded[k], v.half().float()) if v.is_floating_point()
               else torch.equal(loaded[k], v) for k, v in exact.items())


def test_only_weights_within_fp16_range_are_stored_in_fp16():
    state = {"weight": torch.full((2,), 0.5), "large": torch.tensor([1e6]), "count": torch.tensor(3),
             "empty": torch.zeros(0)}
    stored = half_precision(state)
    assert [stored[k].dtype for k in state] == [torch.float16, torch.float32, torch.int64, torch.float16]


def test_validation_images_get_their_own_degradation(image_folders, tmp_path):
    def input_psnr(val_degradation: str | None) -> float:
        config = TrainConfig(task="denoise", train=[str(image_folders["clean"])], val=str(image_folders["val"]),
                             degradation="noise:25", val_degradation=val_degradation, **tiny_run_args(steps=2))
        return train(config, tmp_path / str(val_degradation), torch.device("cpu"))["input_psnr"]

    assert input_psnr(None) < 25  # the training degradation: sigma 25 noise
    assert 25 < input_psnr("noise:5") < 40
    assert math.isinf(input_psnr("none"))


def test_other_model_in_existing_run_folder_is_refused(image_folders, tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(task="denoise", train=[str(image_folders["clean"])], **tiny_run_args(steps=1)), run,
          torch.device("cpu"))
    with pytest.raises(ValueError, match="another task or model"):
        train(TrainConfig(task="denoise", train=[str(image_folders["clean"])], **tiny_run_args(base_channel=16)),
              run, torch.device("cpu"))


def cli_train(run: Path, folders: dict, steps: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "restormixer_cli", "train", "--task", "derain", "--train", str(folders["paired"]),
            "--train", str(folders["clean"]), "--val", str(folders["val"]), "--out", str(run), "--steps", str(steps),
            "--batch", "2", "--patch", "32", "--base-channel", "8", "--num-blocks", "2,2,2", "--val-every", "1000",
            "--ckpt-every", "1000", "--threads", "1", *extra]


def test_ctrl_c_saves_a_checkpoint_and_the_run_resumes(image_folders, tmp_path):
    run = tmp_path / "run"
    code, output = interrupt_when(cli_train(run, image_folders, 10000), lambda: len(read_metrics(run)) >= 3)
    assert code == 130, output
    assert "checkpoint saved" in output
    step = torch.load(run / "checkpoint.pt", weights_only=True)["step"]
    assert step >= 3
    resumed = subprocess.run(cli_train(run, image_folders, step + 2), env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming {run} at step {step}" in resumed.stderr.replace("\n", "")
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == step + 2


def test_ddp_under_torchrun(image_folders, tmp_path):
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "restormixer_cli", *cli_train(run, image_folders, 2)[3:]]
    result = subprocess.run(cmd, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 2
    assert [r["step"] for r in read_metrics(run) if "loss" in r] == [1, 2]  # only rank 0 logs


def test_train_command_reports_bad_configuration(tmp_path, image_folders):
    bad = subprocess.run([*cli_train(tmp_path / "r", image_folders, 2)[:-2], "--patch", "30"], env=SUBPROCESS_ENV,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "multiple of 16" in bad.stderr
    config = tmp_path / "c.json"
    for fields, message in (({"bogus": 1}, "unknown fields bogus"), ({"lr": "fast"}, "lr must be of type float"),
                            ({"seed": 2.5}, "seed must be of type int"), ({"warmup": -1}, "warmup must be 0 or more"), ({"ema": 5}, "ema must lie in [0, 1)"),
                            ([1, 2], "expected a JSON object"), ({"degradation": "noise:-5"}, "not a number from 0")):
        config.write_text(json.dumps(fields))
        bad = subprocess.run([*cli_train(tmp_path / "r", image_folders, 2), "--config", str(config)],
                             env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    assert not (tmp_path / "r" / "config.json").exists()


def test_dataset_names_do_not_reveal_locations():
    assert dataset_name("/home/me/data/rain100h") == "rain100h"
    assert dataset_name("../data/bsds500/train") == "bsds500/train"


def test_failed_start_leaves_the_run_folder_reusable(image_folders, tmp_path):
    run = tmp_path / "run"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    config = TrainConfig(task="denoise", train=[str(broken)], **tiny_run_args())
    with pytest.raises(ValueError, match="bad.png"):
        train(config, run, torch.device("cpu"))
    assert not (run / "config.json").exists()
    fixed = TrainConfig(task="denoise", train=[str(image_folders["clean"])], **tiny_run_args(base_channel=16, steps=1))
    train(fixed, run, torch.device("cpu"))  # another configuration in the same folder is now accepted
    assert TrainConfig.load(run / "config.json").base_channel == 16


def test_bad_patch_and_tiny_validation_images_fail_before_training(image_folders, tmp_path):
    with pytest.raises(ValueError, match="positive multiple of 16"):
        TrainConfig(task="denoise", train=[str(image_folders["clean"])], **tiny_run_args(patch=0))
    tiny_val = tmp_path / "tiny_val"
    tiny_val.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tiny_val / "small.png")
    config = TrainConfig(task="denoise", train=[str(image_folders["clean"])], val=str(tiny_val), **tiny_run_args())
    with pytest.raises(ValueError, match="small.*at least 11x11"):
        train(config, tmp_path / "run", torch.device("cpu"))
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_resume_after_a_hard_kill_logs_each_step_once(image_folders, tmp_path):
    run = tmp_path / "run"
    config = TrainConfig(task="denoise", train=[str(image_folders["clean"])], **tiny_run_args(steps=4, val_limit=0))
    train(config, run, torch.device("cpu"))
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["step"] = 2  # as if killed (kill -9) after logging steps 3 and 4 but before their checkpoint
    torch.save(state, run / "checkpoint.pt")
    train(config, run, torch.device("cpu"))
    steps = [r["step"] for r in read_metrics(run) if "loss" in r]
    assert steps == [1, 2, 3, 4]


def test_training_checkpoint_as_weights_gives_the_ema(image_folders, tmp_path):
    run = tmp_path / "run"
    config = TrainConfig(task="denoise", train=[str(image_folders["clean"])], **tiny_run_args(steps=2, ema=0.5))
    train(config, run, torch.device("cpu"))
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    loaded = load_weights_file(run / "checkpoint.pt").state_dict
    key = next(k for k, v in state["model"].items() if v.is_floating_point() and not torch.equal(v, state["ema"][k]))
    assert torch.equal(loaded[key], state["ema"][key])
    exported = load_weights_file(export_run(run, tmp_path / "export")).state_dict
    assert torch.equal(exported[key], loaded[key].half().float())  # stored in fp16, read back as fp32


def test_each_ddp_process_trains_on_its_own_gpu():
    from restormixer_cli.training.trainer import Distributed, process_device

    cuda = torch.device("cuda")
    assert process_device(cuda, Distributed(rank=5, world=8, local_rank=1)) == torch.device("cuda", 1)
    assert process_device(torch.device("cuda", 0), Distributed()) == torch.device("cuda", 0)
    assert process_device(torch.device("cpu"), Distributed(rank=1, world=2, local_rank=1)) == torch.device("cpu")


def test_batch_workers_give_the_same_stream(image_folders, tmp_path):
    """Worker processes synthesise exactly the batches the training process would."""
    from restormixer_cli.training.trainer import Trainer

    paired, clean = load_training_images([image_folders["clean"]])
    sampler = PatchSampler(paired, clean, make_degradation("rain"), patch=32, seed=3)
    streams = []
    for workers in (0, 2):
        config = TrainConfig(task="derain", train=[], **tiny_run_args(workers=workers))
        trainer = Trainer(config, tmp_path / f"w{workers}", torch.device("cpu"))
        trainer.step = 5
        batches = trainer._batches(sampler)
        streams.append([next(batches) for _ in range(3)])
    for (a, b), (c, d) in zip(*streams):
        assert torch.equal(a, c) and torch.equal(b, d)
    assert torch.equal(streams[0][0][0][0], sampler[5 * 2][0])


def test_gpu_training_script_dry_run(tmp_path):
    """The prepared GPU command, tested without a GPU: pack, train every task briefly, loadable outputs."""
    data = tmp_path / "data"
    for folder in ("bsds500/train", "bsds500/test", "clean_sun80", "rain100h/input", "rain100h/target"):
        (data / folder).mkdir(parents=True)
        Image.fromarray((textured_image(72, 96, seed=len(folder)) * 255).astype(np.uint8)).save(data / folder / "1.png")
    script = Path(__file__).parent.parent / "scripts" / "gpu_train.py"
    env = {**SUBPROCESS_ENV, "PYTHONPATH": str(script.parent.parent)}
    for args in (["pack", "--data", str(data), "--out", str(tmp_path / "pack")],
                 ["run", "--pack", str(tmp_path / "pack"), "--out", str(tmp_path / "out"), "--dry-run"]):
        done = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    files = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert len(files) <= 8 and "summary.json" in files
    for task in ("denoise", "derain", "desnow"):
        assert build_model(load_weights_file(tmp_path / "out" / task)).config["base_channel"] == 8
