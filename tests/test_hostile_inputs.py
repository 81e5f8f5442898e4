"""Inputs that used to crash, silently mangle a run or clutter its output: decompression bombs,
animations and multi-page files, floating-point TIFFs, 16-bit grayscale training images,
unreadable training files, tifffile's metadata, newlines in file names."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

from restormixer_cli.cli import app
from restormixer_cli.io.images import ImageReadError, read_image, read_rgb, write_image
from restormixer_cli.training.data import load_training_images

from .conftest import SUBPROCESS_ENV
from .test_cli_restore import save_rgb

runner = CliRunner()


def png_bomb(path: Path, width: int = 50_000, height: int = 50_000) -> None:
    """A tiny PNG whose header claims a huge image (its data is a few zero rows)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * (width + 1) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def test_decompression_bomb_is_one_line_and_the_run_goes_on(tmp_path, tiny_weights):
    folder = tmp_path / "in"
    save_rgb(folder / "good.png")
    png_bomb(folder / "bomb.png")
    assert (folder / "bomb.png").stat().st_size < 2000
    with pytest.raises(ImageReadError, match="over the limit"):
        read_image(folder / "bomb.png")
    report = tmp_path / "report.json"
    result = runner.invoke(app, ["restore", str(folder), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                                 "--json", str(report)])
    assert result.exit_code == 1
    assert "bomb.png" in result.output and "over the limit" in result.output and "Traceback" not in result.output
    assert (tmp_path / "out" / "good.png").exists() and report.exists()
    result = runner.invoke(app, ["eval", "--pred", str(folder), "--gt", str(folder)])
    assert "over the limit" in result.output and "Traceback" not in result.output
    with pytest.raises(ValueError, match="bomb.png.*over the limit"):
        load_training_images([folder])


def test_max_pixels_can_be_raised_or_lowered(tmp_path, tiny_weights):
    save_rgb(tmp_path / "in" / "a.png", h=40, w=48)
    small = runner.invoke(app, ["restore", str(tmp_path / "in"), "-o", str(tmp_path / "o1"),
                                "--weights", str(tiny_weights), "--max-pixels", "1000"])
    assert small.exit_code == 1 and "over the limit" in small.output
    assert read_image(tmp_path / "in" / "a.png", max_pixels=None).size == (48, 40)


@pytest.mark.parametrize("kind", ["tif16", "tif8", "tif16_gray_alpha"])
def test_files_of_several_pages_are_refused_clearly(tmp_path, tiny_weights, kind):
    """(Animated GIF and WebP files are restored as animations: tests/test_video.py.)"""
    frames = [(np.full((16, 16, 3), v, np.uint8)) for v in (10, 200)]
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "pages.tif"
    stack = np.stack(frames).astype(np.uint16) * 257 if kind != "tif8" else np.stack(frames)
    if kind == "tif16_gray_alpha":  # a layout Pillow cannot open
        tifffile.imwrite(path, stack[..., :2], photometric="minisblack", extrasamples=[2])
    else:
        tifffile.imwrite(path, stack, photometric="rgb")
    with pytest.raises(ImageReadError, match="2 frames or pages"):
        read_image(path)
    result = runner.invoke(app, ["restore", str(folder), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)])
    assert result.exit_code == 1 and "2 frames or pages" in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.*"))


def test_training_reader_keeps_sixteen_bit_grayscale(tmp_path):
    values = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    tifffile.imwrite(tmp_path / "g16.tif", values)
    for name in ("g16.png", "g16.tif"):
        rgb = read_rgb(tmp_path / name)
        assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
        np.testing.assert_allclose(rgb[..., 0], values / 257, atol=1)


def test_unreadable_training_image_is_named(tmp_path):
    save_rgb(tmp_path / "clean" / "ok.png")
    (tmp_path / "clean" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ValueError, match="broken.png"):
        load_training_images([tmp_path / "clean"])


def test_inputs_that_cannot_be_listed_or_read_are_each_named(tmp_path, tiny_weights, permissions_hold):
    """A folder without permission (below an input folder, or where a pattern looks) and a file
    without permission: each is a failed line saying so, the rest is restored, the run exits 1."""
    src, more, out = tmp_path / "in", tmp_path / "more", tmp_path / "out"
    for path in (src / "a.png", src / "private" / "b.png", src / "locked.png", more / "c.png", more / "secret" / "d.png"):
        save_rgb(path)
    (src / "clip.mp4").write_bytes(b"never read")
    closed = [src / "private", src / "locked.png", src / "clip.mp4", more / "secret"]
    for path in closed:
        path.chmod(0)
    try:
        done = subprocess.run([sys.executable, "-m", "restormixer_cli", "restore", str(src), str(more / "**" / "*.png"),
                               "-o", str(out), "--weights", str(tiny_weights), "--json", str(tmp_path / "r.json")],
                              env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300, **permissions_hold)
    finally:
        for path in closed:
            path.chmod(0o755)
    assert done.returncode == 1, done.stderr
    failed = sorted(line for line in done.stderr.splitlines() if line.startswith("failed "))
    assert failed == [f"failed {src / 'clip.mp4'}: cannot read the file (permission denied)",
                      f"failed {src / 'locked.png'}: cannot read the file (permission denied)",
                      f"failed {src / 'private'}: cannot list the folder (permission denied)",
                      f"failed {more / 'secret'}: cannot list the folder (permission denied)"]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]
    assert json.loads((tmp_path / "r.json").read_text())["summary"] == {"done": 2, "skipped": 0, "failed": 4}


def test_floating_point_tiffs_are_refused_by_name(tmp_path, tiny_weights):
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "linear.tif", np.random.default_rng(0).random((16, 16, 3)).astype(np.float32))
    Image.fromarray(np.zeros((16, 16), np.float32), "F").save(folder / "depth.tif")
    for name in ("linear.tif", "depth.tif"):
        with pytest.raises(ImageReadError, match="floating-point images are not supported"):
            read_image(folder / name)
    result = runner.invoke(app, ["restore", str(folder), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)])
    assert result.exit_code == 1 and result.output.count("floating-point images are not supported") == 2


def test_tifffile_remarks_on_metadata_stay_out_of_the_output(tmp_path, tiny_weights):
    """tifffile writes its own software name and a shape record; copying them made tifffile log
    warnings into the run's output."""
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, (np.random.default_rng(0).random((3, 16, 16)) * 65535).astype(np.uint16),
                     photometric="rgb", planarconfig="separate")
    result = subprocess.run([sys.executable, "-m", "restormixer_cli", "restore", str(path), "-o",
                             str(tmp_path / "out"), "--weights", str(tiny_weights), "-q"],
                            env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "tifffile" not in result.stdout + result.stderr
    assert tifffile.imread(tmp_path / "out" / "planar.tif").shape == (16, 16, 3)


def test_a_newline_in_a_file_name_stays_on_one_line(tmp_path, tiny_weights):
    save_rgb(tmp_path / "in" / "two\nlines.png")
    (tmp_path / "in" / "bad\nname.png").write_text("not an image")
    result = runner.invoke(app, ["restore", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                 "--weights", str(tiny_weights)])
    assert result.exit_code == 1
    assert any(line.startswith("failed ") and line.endswith("bad\\nname.png: not an image file, or a format "
                                                             "that cannot be read") for line in result.output.splitlines())
    assert (tmp_path / "out" / "two\nlines.png").exists()


def _jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif.update({274: 6, 270: "description", 271: "Camera", 282: 72.0, 283: 72.0, 296: 2, 305: "software"})
    exif.get_ifd(0x8769).update({0xA002: 16, 0xA003: 12, 0x829A: 0.01})
    exif.get_ifd(0x8825).update({1: "N", 2: (1.0, 2.0, 3.0)})
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(
        buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def test_damaged_exif_never_stops_a_read_or_a_write(tmp_path):
    """Random byte changes inside the EXIF block: every file reads (or fails in one line) and writes back."""
    original = _jpeg_with_exif()
    start = original.find(b"Exif\x00\x00")
    end = start - 2 + int.from_bytes(original[start - 2:start], "big")
    rng = np.random.default_rng(0)
    path, out = tmp_path / "damaged.jpg", tmp_path / "out.jpg"
    read = 0
    for _ in range(300):
        damaged = bytearray(original)
        for position in rng.integers(start + 6, end, rng.integers(1, 7)):
            damaged[position] = rng.integers(0, 256)
        path.write_bytes(bytes(damaged))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's remarks on corrupt EXIF
            try:
                image = read_image(path)
            except ImageReadError:
                continue
            write_image(out, image)
        read += 1
    assert read > 200


def test_an_orientation_tag_with_two_values_is_ignored(tmp_path):
    path = tmp_path / "two.tif"
    pixels = np.arange(24 * 32 * 3, dtype=np.uint16).reshape(24, 32, 3)
    tifffile.imwrite(path, pixels, photometric="rgb", extratags=[(274, "H", 2, (6, 6), True)])
    assert np.array_equal(np.round(read_image(path).pixels * 65535), pixels)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_colour_key_transparency_is_kept(tmp_path, tiny_weights, mode):
    """PNG's tRNS chunk for RGB and grey images: one colour stands for 'transparent'."""
    pixels = np.random.default_rng(1).integers(1, 255, (24, 32, 3), dtype=np.uint8)
    pixels[4:12, 4:20] = 0
    image = Image.fromarray(pixels).convert(mode)
    image.save(tmp_path / "key.png", transparency=(0, 0, 0) if mode == "RGB" else 0)
    data = read_image(tmp_path / "key.png")
    assert data.alpha is not None and (data.alpha == 0).sum() == 8 * 16
    result = runner.invoke(app, ["restore", str(tmp_path / "key.png"), "-o", str(tmp_path / "out"),
                                 "--weights", str(tiny_weights)])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "key.png") as written:
        assert (np.asarray(written.convert("RGBA"))[..., 3] == 0).sum() == 8 * 16


def test_a_camera_jpeg_with_extra_pictures_is_read_as_its_first(tmp_path):
    first, preview = (Image.fromarray(np.full((16, 24, 3), v, np.uint8)) for v in (40, 200))
    first.save(tmp_path / "camera.jpg", format="MPO", save_all=True, append_images=[preview])
    assert abs(read_image(tmp_path / "camera.jpg").pixels.mean() * 255 - 40) < 2
