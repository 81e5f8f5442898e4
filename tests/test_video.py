"""Videos and animations through `restormixer restore` and `restormixer eval`: small clips made on
the fly (a few frames, 64-128 px), checked with ffmpeg's own view of the files."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
from PIL import Image, ImageSequence
from typer.testing import CliRunner

from restormixer_cli.api import load_restorer, restore_paths
from restormixer_cli.cli import app
from restormixer_cli.inference.engine import InferenceSettings, Restorer
from restormixer_cli.io.ffmpeg import Process
from restormixer_cli.io.video import probe_clip, read_clip
from restormixer_cli.signals import sigterm_as_interrupt

from .conftest import SUBPROCESS_ENV, interrupt_when, make_tiny_model
from .video_clips import (container_duration, decode, encode, extract_frames, frame_times, header, packets,
                          rainy_frames, sine_wav, video_stream)

runner = CliRunner()


def restore(*args: str):
    return runner.invoke(app, ["restore", *args])


@pytest.fixture
def rainy_clip(tmp_path) -> Path:
    """8 frames of 96x64 under synthetic rain at 12 fps, with a sine tone as AAC audio."""
    tone = sine_wav(tmp_path / "tone.wav", 8 / 12)
    folder = tmp_path / "clips"
    folder.mkdir()
    return encode(folder / "rain.mp4", rainy_frames(8, 64, 96), audio=tone,
                  output_args=("-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"))


def test_rainy_clip_round_trips_with_audio_frames_rate_and_duration(rainy_clip, tmp_path):
    out, report = tmp_path / "out", tmp_path / "report.json"
    result = restore(str(rainy_clip), "--task", "derain", "--device", "cpu", "-o", str(out), "--json", str(report))
    assert result.exit_code == 0, result.output
    restored = out / "rain.mp4"
    assert frame_times(restored) == frame_times(rainy_clip)  # frame count, rate and timing
    assert len(frame_times(restored)) == 8
    assert container_duration(restored) == container_duration(rainy_clip)
    assert packets(restored, "a") == packets(rainy_clip, "a")  # the audio packets, byte for byte
    assert all(fact in video_stream(restored) for fact in (", 96x64", "h264", "yuv420p"))
    before, after = decode(rainy_clip), decode(restored)
    assert after.shape == before.shape and np.abs(after.astype(int) - before).mean() > 1  # the frames were restored
    entry = json.loads(report.read_text())["files"][0]
    assert entry["frames"] == 8 and entry["frame_rate"] == 12 and entry["duration"] == pytest.approx(8 / 12)
    assert entry["fps"] == pytest.approx(8 / entry["seconds"]) and entry["status"] == "done"
    assert "8 frames" in result.output and "fps" in result.output


def test_audio_a_container_cannot_hold_is_re_encoded(rainy_clip, tmp_path, tiny_weights):
    """AAC cannot go into WebM, Opus not into AVI: such audio is re-encoded (with a note), not lost
    and not a failed write; an animation has no sound (a note says so)."""
    webm = tmp_path / "rain.webm"
    result = restore(str(rainy_clip), "--weights", str(tiny_weights), "-o", str(webm))
    assert result.exit_code == 0, result.output
    assert "audio re-encoded with libopus: webm cannot hold aac" in result.output
    assert re.search(r"Audio: opus", header(webm))
    avi = tmp_path / "rain.avi"
    result = restore(str(webm), "--weights", str(tiny_weights), "-o", str(avi))
    assert result.exit_code == 0, result.output
    assert re.search(r"Audio: mp3", header(avi))
    result = restore(str(rainy_clip), "--weights", str(tiny_weights), "-o", str(tmp_path / "rain.mkv"))
    assert "re-encoded" not in result.output and re.search(r"Audio: aac", header(tmp_path / "rain.mkv"))  # copied
    gif = restore(str(rainy_clip), "--weights", str(tiny_weights), "-o", str(tmp_path / "rain.gif"))
    assert gif.exit_code == 0 and "audio dropped: animations have no sound" in gif.output


def test_frames_are_restored_upright_and_rotation_colour_and_ten_bits_are_kept(tmp_path, tiny_weights, monkeypatch):
    frames = (rainy_frames(4, 64, 96).astype(np.uint16) * 257)
    clip = encode(tmp_path / "phone.mov", frames, input_args=("-noautorotate", "-display_rotation", "90"),
                  output_args=("-vf", "scale=out_color_matrix=bt709:out_range=tv,setparams=color_primaries=bt709:"
                               "color_trc=bt709", "-colorspace", "bt709", "-color_range", "tv", "-c:v", "libx264",
                               "-pix_fmt", "yuv420p10le"))
    assert "yuv420p10le(tv, bt709, progressive), 96x64" in video_stream(clip)
    seen: list[torch.Tensor] = []
    restorer = load_restorer(weights=str(tiny_weights), device="cpu")
    original = restorer.restore_batch
    monkeypatch.setattr(restorer, "restore_batch", lambda images, on_tile=None: seen.append(images) or original(images))
    [result] = restore_paths(str(clip), tmp_path / "out", restorer)
    assert result.status == "done", result.error
    upright = decode(clip, deep=True)  # as a player shows it: 96 high, 64 wide
    assert upright.shape == (4, 96, 64, 3)
    given = torch.cat(seen).permute(0, 2, 3, 1).numpy() * 65535
    # The model saw upright frames (up to chroma upsampling before or after turning them), not upside down ones.
    error, upside_down = np.abs(given - upright).mean(), np.abs(given - upright[:, ::-1, ::-1]).mean()
    assert error < 0.01 * 65535 and error < upside_down / 10, (error, upside_down)
    restored = tmp_path / "out" / "phone.mov"
    stream = video_stream(restored)
    assert "yuv420p10le(tv, bt709, progressive), 96x64" in stream  # stored as the input was
    assert "rotation of 90.00 degrees" in stream
    assert decode(restored, deep=True).shape == (4, 96, 64, 3)
    assert (result.width, result.height) == (64, 96) and not result.notes


def test_anamorphic_pixels_keep_their_aspect_ratio(tmp_path, tiny_weights):
    """DV and HDV footage stores wide pictures in narrow frames: the sample aspect ratio (SAR) must
    travel, or players show the restored video squeezed. A quarter turn of the frames swaps it."""
    source = tmp_path / "src"
    source.mkdir()
    encode(source / "wide.mp4", rainy_frames(2, 48, 64), output_args=("-vf", "setsar=4/3", "-c:v", "libx264"))
    encode(source / "phone.mov", rainy_frames(2, 48, 64), input_args=("-noautorotate", "-display_rotation", "90"),
           output_args=("-vf", "setsar=4/3", "-c:v", "libx264"))
    assert "SAR 4:3" in video_stream(source / "wide.mp4")
    result = restore(str(source), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--scale", "2")
    assert result.exit_code == 0, result.output
    assert "128x96 [SAR 4:3 DAR 16:9]" in video_stream(tmp_path / "out" / "wide.mp4")
    assert "[SAR 4:3" in video_stream(tmp_path / "out" / "phone.mov")  # stored turned, as the input was
    upright = restore(str(source / "phone.mov"), "-o", str(tmp_path / "upright.avi"), "--weights", str(tiny_weights))
    assert upright.exit_code == 0, upright.output
    assert "SAR 3:4" in video_stream(tmp_path / "upright.avi")  # AVI has no rotation: frames stored upright


def test_corrupt_truncated_and_variable_rate_videos_fail_in_one_line_and_skip_existing_resumes(tmp_path, tiny_weights):
    folder = tmp_path / "clips"
    folder.mkdir()
    good = encode(folder / "good.mkv", rainy_frames(4, 64, 64))
    for suffix in ("mp4", "mkv"):  # the index at the end of an MP4 is missing; an MKV just ends early
        data = encode(tmp_path / f"whole.{suffix}", rainy_frames(6, 64, 64)).read_bytes()
        (folder / f"truncated.{suffix}").write_bytes(data[: len(data) // 2])
    (folder / "garbage.webm").write_bytes(b"\x1aE\xdf\xa3 not really a video" * 20)
    encode(folder / "vfr.mkv", rainy_frames(6, 64, 64), output_args=(
        "-vf", "setpts='if(lt(N,3),N,3+(N-3)*3)/12/TB'", "-fps_mode", "vfr", "-c:v", "libx264"))
    out, report = tmp_path / "out", tmp_path / "report.json"
    args = [str(folder), "-o", str(out), "--weights", str(tiny_weights), "--json", str(report)]
    result = restore(*args)
    assert result.exit_code == 1 and "4 of 5 file(s) failed" in result.output
    lines = {line.split(":")[0]: line for line in result.output.splitlines() if line.startswith("failed ")}
    bad = ("truncated.mp4", "truncated.mkv", "garbage.webm", "vfr.mkv")
    assert set(lines) == {f"failed {folder / name}" for name in bad}
    assert all("corrupt or truncated video" in lines[f"failed {folder / name}"] for name in bad[:3])
    assert "variable frame rate" in lines[f"failed {folder / 'vfr.mkv'}"]
    assert sorted(p.name for p in out.iterdir()) == ["good.mkv"]  # nothing partial, no temporary files
    assert len(frame_times(out / "good.mkv")) == 4 == len(frame_times(good))
    again = restore(*args, "--skip-existing")
    assert again.exit_code == 1 and f"skipped {folder / 'good.mkv'}" in again.output
    assert json.loads(report.read_text())["summary"] == {"done": 0, "skipped": 1, "failed": 4}


def transparent_frames(count: int = 3, height: int = 32, width: int = 40) -> np.ndarray:
    """RGBA frames whose alpha ramps from transparent (left) to opaque (right)."""
    ramp = np.broadcast_to(np.linspace(0, 255, width).round().astype(np.uint8), (count, height, width))
    return np.concatenate([rainy_frames(count, height, width), ramp[..., None]], axis=3)


def alpha_of(path: Path) -> np.ndarray:
    info = probe_clip(path)
    return np.stack([frame.alpha for frame in read_clip(path, info)]) if info.alpha else np.empty(0)


@pytest.mark.parametrize("output, options, kept", [
    ("same.webm", (), "close"),  # VP9's alpha side stream, read with libvpx
    ("vp9.mkv", (), "close"),  # an alpha source picks VP9 in Matroska
    ("lossless.mp4", ("--codec", "ffv1"), "exact"),
    ("player.mp4", (), None),  # H.264 has no alpha: dropped, with a note saying what keeps it
])
def test_alpha_is_kept_where_the_container_and_encoder_can_hold_it(tmp_path, tiny_weights, output, options, kept):
    source = encode(tmp_path / "src.mkv", transparent_frames(), output_args=("-c:v", "ffv1", "-pix_fmt", "bgra"))
    expected = alpha_of(source)
    assert expected.shape == (3, 32, 40) and expected[:, :, 0].max() == 0 and expected[:, :, -1].min() == 1
    result = restore(str(source), "-o", str(tmp_path / output), "--weights", str(tiny_weights), *options)
    assert result.exit_code == 0, result.output
    alpha = alpha_of(tmp_path / output)
    if kept is None:
        assert "alpha channel dropped: libx264 in mp4 cannot store it (--codec ffv1 keeps it)" in result.output
        assert alpha.size == 0
    else:
        assert "note:" not in result.output
        assert np.abs(alpha - expected).max() <= (0 if kept == "exact" else 12 / 255)


def test_alpha_of_a_prores_4444_source_and_super_resolution(tmp_path, tiny_weights):
    source = encode(tmp_path / "src.mov", transparent_frames(),
                    output_args=("-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", "yuva444p10le"))
    result = restore(str(source), "-o", str(tmp_path / "big.webm"), "--weights", str(tiny_weights), "--scale", "2")
    assert result.exit_code == 0, result.output
    alpha = alpha_of(tmp_path / "big.webm")
    assert alpha.shape == (3, 64, 80)  # upscaled alone, as for images
    assert alpha[:, :, :4].max() < 0.1 and alpha[:, :, -4:].min() > 0.9


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_ffmpeg_starts_leaves_no_ffmpeg_running(tmp_path, monkeypatch, sig):
    """Ctrl-C (or SIGTERM, as restore turns it into one) just after the fork, before Popen holds the
    child's pid: the signal is handled once the child is known, and the child is killed and reaped,
    so it cannot write (to a temporary file its caller then removes) after the run has stopped."""
    fork_exec = subprocess._fork_exec

    def signalled_during_fork(*args):
        pid = fork_exec(*args)
        if threading.current_thread() is threading.main_thread():  # this test's Popen, not another thread's
            monkeypatch.setattr(subprocess, "_fork_exec", fork_exec)
            signal.raise_signal(sig)
        return pid

    ffmpeg = Process(["-f", "lavfi", "-i", "testsrc=size=64x64:rate=10", "-t", "30", "-y", str(tmp_path / "late.mp4")])
    monkeypatch.setattr(subprocess, "_fork_exec", signalled_during_fork)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own: Ray's tests replace it
    try:
        with sigterm_as_interrupt(), pytest.raises(KeyboardInterrupt), ffmpeg:
            pass
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not [child for child in psutil.Process().children() if "ffmpeg" in child.name()]


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_leaves_no_partial_video(tmp_path, tiny_weights, sig, code):
    src = tmp_path / "src"
    src.mkdir()
    encode(src / "a.mp4", rainy_frames(2, 64, 64))
    encode(src / "b.mp4", rainy_frames(16, 128, 128, seed=1))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "restormixer_cli", "restore", str(src), "-o", str(out), "--weights", str(tiny_weights),
           "--tile", "64", "--quiet"]
    returned, output = interrupt_when(cmd, lambda: (out / "a.mp4").exists(), sig=sig)
    assert returned == code, output
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4"]  # b's temporary file is gone
    assert len(frame_times(out / "a.mp4")) == 2
    resumed = subprocess.run(cmd + ["--skip-existing", "--tile", "0"], env=SUBPROCESS_ENV, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert len(frame_times(out / "b.mp4")) == 16


def test_eval_of_video_pairs_equals_eval_of_their_extracted_frames(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    for folder in (pred, gt):
        folder.mkdir()
    for name, count, seed in (("street", 6, 1), ("drone", 9, 2)):
        encode(gt / f"{name}.mkv", rainy_frames(count, 64, 80, seed), output_args=("-c:v", "ffv1"))
        encode(pred / f"{name}.mp4", rainy_frames(count, 64, 80, seed + 10))  # lossy H.264 against lossless FFV1
    frames = {side: tmp_path / f"{side}_frames" for side in ("pred", "gt")}
    for side, folder in (("pred", pred), ("gt", gt)):
        for video in folder.iterdir():
            extract_frames(video, frames[side] / video.stem)
    reports = {}
    for label, a, b in (("videos", pred, gt), ("frames", frames["pred"], frames["gt"])):
        result = runner.invoke(app, ["eval", "--pred", str(a), "--gt", str(b), "--json", str(tmp_path / f"{label}.json")])
        assert result.exit_code == 0, result.output
        reports[label] = json.loads((tmp_path / f"{label}.json").read_text())
    videos, stills = reports["videos"], reports["frames"]
    assert [v["name"] for v in videos["images"]] == ["drone", "street"]
    for video in videos["images"]:
        per_frame = [s["psnr"] for s in stills["images"] if s["name"].startswith(video["name"] + "/")]
        assert video["frame_psnr"] == per_frame and len(per_frame) in (6, 9)
        assert video["psnr"] == pytest.approx(np.mean(per_frame), abs=1e-12)
    assert videos["count"] == stills["count"] == 15
    assert videos["mean"] == stills["mean"]


@pytest.mark.parametrize("ext", ["gif", "webp"])
def test_animation_keeps_its_transparency(tmp_path, tiny_weights, ext):
    """A hole that moves from frame to frame stays a hole, in the right place in every frame."""
    frames, holes = [], []
    for i, rgb in enumerate(rainy_frames(3, 48, 64)):
        hole = np.zeros((48, 64), bool)
        hole[4 + 10 * i: 20 + 10 * i, 8:40] = True
        frames.append(Image.fromarray(np.dstack([rgb, np.where(hole, 0, 255).astype(np.uint8)]), "RGBA"))
        holes.append(hole)
    src = tmp_path / f"anim.{ext}"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, loop=0,
                   **({"disposal": 2} if ext == "gif" else {"lossless": True}))
    result = restore(str(src), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights))
    assert result.exit_code == 0, result.output
    assert "transparency" not in result.output
    with Image.open(tmp_path / "out" / f"anim.{ext}") as img:
        written = [np.asarray(frame.convert("RGBA"))[..., 3] for frame in ImageSequence.Iterator(img)]
    assert len(written) == 3
    for alpha, hole in zip(written, holes):
        assert np.array_equal(alpha < 128, hole)


@pytest.mark.parametrize("ext", ["gif", "webp"])
def test_animation_round_trip_keeps_frames_durations_and_loop(tmp_path, tiny_weights, ext):
    frames = [Image.fromarray(f) for f in rainy_frames(5, 64, 72)]
    durations = [80, 120, 200, 80, 160]
    src = tmp_path / f"anim.{ext}"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=durations, loop=3)
    result = restore(str(src), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights))
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / f"anim.{ext}") as img:
        assert img.n_frames == 5 and img.size == (72, 64) and img.info["loop"] == 3
        written = []
        for frame in ImageSequence.Iterator(img):
            frame.load()
            written.append(frame.info["duration"])
        assert written == durations


def test_compare_and_ground_truth_write_a_side_by_side_video(rainy_clip, tmp_path, tiny_weights):
    gt = tmp_path / "gt"
    gt.mkdir()
    encode(gt / "rain.mkv", rainy_frames(8, 64, 96, seed=5), output_args=("-c:v", "ffv1"))
    report = tmp_path / "r.json"
    result = restore(str(rainy_clip), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--gt", str(gt),
                     "--compare", str(tmp_path / "cmp"), "--json", str(report))
    assert result.exit_code == 0, result.output
    entry = json.loads(report.read_text())["files"][0]
    assert len(entry["frame_psnr"]) == len(entry["frame_ssim"]) == 8
    assert entry["psnr"] == pytest.approx(np.mean(entry["frame_psnr"]))
    side_by_side = decode(tmp_path / "cmp" / "rain.mp4")
    assert side_by_side.shape[0] == 8 and side_by_side.shape[2] > 3 * 96  # input | restored | ground truth
    assert frame_times(tmp_path / "cmp" / "rain.mp4") == frame_times(rainy_clip)


def test_codec_and_crf_choices(tmp_path, tiny_weights):
    src = tmp_path / "src"
    src.mkdir()
    encode(src / "a.mkv", rainy_frames(3, 64, 64))
    encode(src / "b.webm", rainy_frames(3, 64, 64), output_args=("-c:v", "libvpx-vp9"))
    result = restore(str(src), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--codec", "ffv1")
    assert result.exit_code == 0, result.output
    assert "ffv1" in video_stream(tmp_path / "out" / "a.mkv")
    assert "vp9" in video_stream(tmp_path / "out" / "b.webm") and "webm cannot hold ffv1" in result.output
    sizes = {}
    for crf in ("40", "10"):
        restore(str(src / "a.mkv"), "-o", str(tmp_path / f"crf{crf}.mkv"), "--weights", str(tiny_weights), "--crf", crf)
        sizes[crf] = (tmp_path / f"crf{crf}.mkv").stat().st_size
    assert sizes["10"] > sizes["40"]
    assert restore(str(src), "--weights", str(tiny_weights), "--crf", "52").exit_code == 2
    assert restore(str(src), "--weights", str(tiny_weights), "--codec", "mjpeg").exit_code == 2
    wrong = restore(str(src / "a.mkv"), "-o", str(tmp_path / "a.png"), "--weights", str(tiny_weights))
    assert wrong.exit_code == 1 and "is a video or animation: it cannot be written to" in wrong.output


@pytest.mark.parametrize("tile", [0, 32])
def test_restore_batch_equals_restoring_each_frame(tile):
    frames = torch.rand(3, 3, 48, 64)
    restorer = Restorer(make_tiny_model(), InferenceSettings(tile=tile, overlap=8, batch_size=2))
    batched = restorer.restore_batch(frames)
    single = torch.stack([restorer.restore(frame) for frame in frames])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)
