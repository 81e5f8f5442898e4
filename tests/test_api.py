"""The Python API takes the images people hold and gives back the same kind."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import restormixer_cli
from restormixer_cli.inference.engine import InferenceSettings, Restorer, prepare_model
from restormixer_cli.inference.files import OutputOptions
from restormixer_cli.io.images import ImageReadError

from .conftest import make_tiny_model, textured_image
from .test_cli_restore import save_rgb


@pytest.fixture(scope="module")
def restorer() -> Restorer:
    settings = InferenceSettings(tile=0)
    return Restorer(prepare_model(make_tiny_model(), settings), settings)


@pytest.fixture(scope="module")
def reference(restorer) -> np.ndarray:
    """The float RGB result every other kind must reproduce (within its quantisation)."""
    return restorer(textured_image(24, 32))


def test_float_array(restorer, reference):
    assert reference.dtype == np.float32 and reference.shape == (24, 32, 3)
    assert 0 <= reference.min() and reference.max() <= 1


@pytest.mark.parametrize("dtype, scale", [(np.uint8, 255), (np.uint16, 65535), (np.dtype(">u2"), 65535)])
def test_integer_arrays_keep_their_dtype_and_scale(restorer, reference, dtype, scale):
    image = np.round(textured_image(24, 32) * scale).astype(dtype)
    out = restorer(image)
    assert out.dtype == dtype and out.shape == image.shape
    np.testing.assert_allclose(out / scale, reference, atol=2 / 255)


def test_pil_images_of_every_mode(restorer, reference):
    rgb = Image.fromarray(np.round(textured_image(24, 32) * 255).astype(np.uint8))
    out = restorer(rgb)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (32, 24)
    np.testing.assert_allclose(np.asarray(out) / 255, reference, atol=2 / 255)
    rgba = rgb.copy()
    rgba.putalpha(Image.new("L", rgb.size, 77))
    out = restorer(rgba)
    assert out.mode == "RGBA" and np.all(np.asarray(out)[..., 3] == 77)
    sixteen = Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 257)
    modes = {"L": rgb.convert("L"), "LA": rgb.convert("LA"), "P": rgb.convert("P"), "CMYK": rgb.convert("CMYK"),
             "1": rgb.convert("1"), "I;16": sixteen, "I": sixteen.convert("I"),
             "F": Image.fromarray(np.asarray(rgb.convert("L"), np.float32) / 255, "F"),
             "LAB": rgb.convert("LAB"), "La": rgba.convert("La"), "RGBa": rgba.convert("RGBa")}
    for mode, converted in modes.items():
        out = restorer(converted)
        assert out.size == (32, 24)
        assert out.mode == {"P": "RGB", "CMYK": "RGB", "1": "L", "LAB": "RGB", "La": "LA", "RGBa": "RGBA"}.get(mode, mode)
    assert np.all(np.asarray(restorer(modes["RGBa"]))[..., 3] == 77)
    colour_key = rgb.copy()
    colour_key.info["transparency"] = tuple(np.asarray(rgb)[0, 0].tolist())  # PNG's tRNS: one colour is transparent
    assert restorer(colour_key).mode == "RGBA"
    gray = np.asarray(restorer(modes["L"]), np.float64) / 255
    np.testing.assert_allclose(np.asarray(restorer(modes["F"])), gray, atol=1 / 255)  # F is L in [0, 1] floats
    np.testing.assert_allclose(np.asarray(restorer(modes["I"])) / 65535, gray, atol=1 / 255)


def test_gray_and_alpha_arrays(restorer):
    gray = restorer(np.round(textured_image(24, 32)[..., 0] * 255).astype(np.uint8))
    assert gray.shape == (24, 32)
    rgba = np.dstack([textured_image(24, 32), np.full((24, 32), 0.25, np.float32)])
    out = restorer(rgba)
    assert out.shape == (24, 32, 4) and np.allclose(out[..., 3], 0.25)



@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_float_alpha_comes_back_exactly(restorer, dtype):
    """Alpha passes through unchanged in the array's own dtype (float64 alpha lost up to 3e-8 in float32)."""
    rng = np.random.default_rng(0)
    rgba = np.dstack([textured_image(24, 32), rng.random((24, 32))]).astype(dtype)
    out = restorer(rgba)
    assert out.dtype == dtype and out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    np.testing.assert_allclose(out[..., :3], restorer(rgba[..., :3]), atol=1e-3)

def test_tensors_single_and_batched(restorer, reference):
    chw = torch.from_numpy(textured_image(24, 32)).permute(2, 0, 1)
    out = restorer(chw)
    assert isinstance(out, torch.Tensor) and out.shape == chw.shape and out.dtype == chw.dtype
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), reference, atol=1e-5)
    batch = restorer(torch.stack([chw, chw]))
    assert batch.shape == (2, 3, 24, 32) and torch.allclose(batch[0], batch[1])


def test_paths_and_refusals(restorer, tmp_path):
    save_rgb(tmp_path / "a.png", 24, 32)
    assert restorer(tmp_path / "a.png").size == (32, 24)
    assert restorer(str(tmp_path / "a.png")).size == (32, 24)
    with pytest.raises(TypeError, match="cannot restore a list"):
        restorer([1, 2, 3])
    with pytest.raises(TypeError, match="int64"):
        restorer(np.zeros((8, 8, 3), np.int64))
    with pytest.raises(ValueError, match="shape"):
        restorer(np.zeros((8, 8, 5), np.float32))
    with pytest.raises(TypeError, match="float tensor"):
        restorer(torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ImageReadError, match="no such file"):
        restorer(tmp_path / "missing.png")


def test_the_bytes_of_an_image_file_come_back_as_a_file_of_the_same_format(restorer, reference):
    """As rembg's remove(bytes): an encoded image in, the restored file's bytes out, metadata kept."""
    photo = Image.fromarray(np.round(textured_image(24, 32) * 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    for fmt in ("PNG", "JPEG", "WEBP"):
        encoded = io.BytesIO()
        photo.save(encoded, format=fmt, exif=exif.tobytes(), **({"quality": 100} if fmt != "PNG" else {}))
        restored = restorer(bytearray(encoded.getvalue()) if fmt == "WEBP" else encoded.getvalue())
        assert isinstance(restored, bytes)
        with Image.open(io.BytesIO(restored)) as out:
            assert out.format == fmt and out.size == (32, 24) and out.getexif()[0x010F] == "Camera maker"
            if fmt == "PNG":
                np.testing.assert_allclose(np.asarray(out) / 255, reference, atol=1 / 255)
    with pytest.raises(ImageReadError, match="not an image"):
        restorer(b"not an image")


@pytest.mark.parametrize("image, words", [
    (np.full((8, 8, 3), 200.0, np.float32), "must lie in \\[0, 1\\], not 200..200 \\(0-255 values: divide by 255\\)"),
    (torch.full((3, 8, 8), -1.0), "must lie in \\[0, 1\\], not -1..-1"),
    (np.full((8, 8), np.nan, np.float32), "NaN or infinite"),
    (np.zeros((0, 8, 3), np.uint8), "empty \\(8x0 pixels\\)"),
    (Image.new("RGB", (0, 0)), "empty"),
    (torch.zeros(0, 3, 8, 8), "empty \\(shape \\(0, 3, 8, 8\\)\\)"),
    (torch.rand(3, 0, 8), "empty"),
    (Image.fromarray(np.full((8, 8), 70000, np.int32), "I"), "0..65535"),
])
def test_bad_pixels_are_refused_before_the_model(restorer, image, words):
    with pytest.raises(ValueError, match=words):
        restorer(image)


def test_float_overshoot_from_resampling_is_clipped(restorer, reference):
    overshoot = textured_image(24, 32) * 1.08 - 0.04  # within the slack: clipped, not refused
    assert restorer(overshoot).shape == reference.shape


def test_top_level_entry_points(tiny_weights, tmp_path):
    image = np.round(textured_image(24, 32) * 255).astype(np.uint8)
    out = restormixer_cli.restore(image, weights=str(tiny_weights), device="cpu")
    assert out.dtype == np.uint8 and out.shape == image.shape
    with pytest.raises(ValueError, match="scale must be 1 or more, not 0"):  # not taken as 1
        restormixer_cli.restore(image, weights=str(tiny_weights), device="cpu", scale=0)
    for empty in ({"weights": ""}, {"task": ""}):  # neither means "the default task"
        with pytest.raises(ValueError, match="empty|unknown task ''"):
            restormixer_cli.restore(image, device="cpu", **empty)
    save_rgb(tmp_path / "in" / "one.png")
    restorer = restormixer_cli.load_restorer(weights=str(tiny_weights), device="cpu")
    results = restormixer_cli.restore_paths(tmp_path / "in" / "one.png", tmp_path / "out", restorer)
    assert [r.status for r in results] == ["done"] and (tmp_path / "out" / "one.png").exists()
    assert set(restormixer_cli.__all__) <= set(dir(restormixer_cli)) | set(restormixer_cli._LAZY)
    assert restormixer_cli.OutputOptions is OutputOptions  # restore_paths' options, from the top level


def test_restore_paths_shares_the_command_lines_pipeline(restorer, tmp_path, monkeypatch):
    """Its own output folder inside the input folder is skipped; a full disk and Ctrl-C stop the run
    with an exception, and stale temporary files of a killed run are cleaned up."""
    import errno
    import os
    import time

    for name in ("a.png", "b.png"):
        save_rgb(tmp_path / "in" / name)
    out = tmp_path / "in" / "restored"
    assert [r.status for r in restormixer_cli.restore_paths(tmp_path / "in", out, restorer)] == ["done", "done"]
    stale = out / ".a.k3j9x0ab.restormixer-part.png"  # what a killed writer leaves
    stale.write_bytes(b"half a file")
    os.utime(stale, (time.time() - 3600,) * 2)
    done = restormixer_cli.restore_paths(tmp_path / "in", out, restorer, OutputOptions(existing="overwrite"))
    assert len(done) == 2 and not stale.exists()

    def no_space(path, image, quality):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("restormixer_cli.inference.files.write_image", no_space)
    with pytest.raises(OSError, match="disk full"):
        restormixer_cli.restore_paths(tmp_path / "in", tmp_path / "full", restorer)

    def interrupt(path, image, quality):
        raise KeyboardInterrupt

    monkeypatch.setattr("restormixer_cli.inference.files.write_image", interrupt)
    with pytest.raises(KeyboardInterrupt):
        restormixer_cli.restore_paths(tmp_path / "in", tmp_path / "stopped", restorer)
