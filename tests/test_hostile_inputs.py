"""Inputs that used to crash, silently mangle a run or clutter its output: decompression bombs,
animations and multi-page files, floating-point TIFFs, 16-bit grayscale training images,
unreadable training files, tifffile's metadata, newlines in file names."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

from restormixer_cli.cli import app
from restormixer_cli.io.images import ImageReadError, read_image, read_rgb
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
