"""Image files are read and written faithfully, and bad files fail with one clear reason."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile
from PIL import ExifTags, Image, ImageCms

from restormixer_cli.io.atomic import atomic_path
from restormixer_cli.io.discovery import expand_inputs
from restormixer_cli.io.images import ImageData, ImageReadError, read_image, write_image

from .conftest import textured_image

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def rgb8(h=24, w=32, seed=0) -> np.ndarray:
    return (textured_image(h, w, seed) * 255).round().astype(np.uint8)


def test_exif_orientation_is_applied_and_reset(tmp_path):
    arr = rgb8(20, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    exif.get_ifd(ExifTags.IFD.Exif).update({ExifTags.Base.ExifImageWidth: 30, ExifTags.Base.ExifImageHeight: 20})
    Image.fromarray(arr).save(tmp_path / "o.jpg", exif=exif.tobytes(), quality=100)
    image = read_image(tmp_path / "o.jpg")
    assert image.pixels.shape == (30, 20, 3)
    write_image(tmp_path / "out.jpg", image)
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.size == (20, 30)
        assert out.getexif().get(0x0112) in (None, 1)  # viewers must not rotate again
        dimensions = out.getexif().get_ifd(ExifTags.IFD.Exif)
        assert (dimensions[ExifTags.Base.ExifImageWidth], dimensions[ExifTags.Base.ExifImageHeight]) == (20, 30)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp"])
def test_icc_profile_and_exif_are_carried(tmp_path, ext):
    exif = Image.Exif()
    exif[0x010F] = "TestCamera"  # Make
    metadata = {"tiffinfo": exif} if ext == ".tif" else {"exif": exif.tobytes()}
    Image.fromarray(rgb8()).save(tmp_path / f"in{ext}", icc_profile=SRGB, **metadata)
    image = read_image(tmp_path / f"in{ext}")
    assert image.icc_profile == SRGB
    write_image(tmp_path / f"out{ext}", image)
    with Image.open(tmp_path / f"out{ext}") as out:
        assert out.info.get("icc_profile") == SRGB
        assert out.getexif().get(0x010F) == "TestCamera"


def test_grayscale_stays_grayscale(tmp_path):
    gray = rgb8()[..., 0]
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert image.is_gray and image.rgb.shape[2] == 3
    write_image(tmp_path / "out.png", image.with_pixels(image.rgb))
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == "L"
        assert np.array_equal(np.asarray(out), gray)


def test_alpha_passes_through_unchanged(tmp_path):
    rgba = np.dstack([rgb8(), np.linspace(0, 255, 24 * 32).reshape(24, 32).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    restored = image.with_pixels(1.0 - image.rgb)
    write_image(tmp_path / "out.png", restored)
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == "RGBA"
        assert np.array_equal(np.asarray(out)[..., 3], rgba[..., 3])


def sixteen_bit(h=20, w=24, planes=3) -> np.ndarray:
    ramp = np.linspace(0, 65535, h * w * planes).reshape(h, w, planes)
    return ramp.round().astype(np.uint16)


@pytest.mark.parametrize("ext,planes", [(".png", 3), (".png", 4), (".png", 1), (".tif", 3), (".tif", 1)])
def test_sixteen_bit_round_trip(tmp_path, ext, planes):
    arr = sixteen_bit(planes=planes)
    path = tmp_path / f"in{ext}"
    if ext == ".tif":
        tifffile.imwrite(path, arr[..., 0] if planes == 1 else arr)
    elif planes == 1:
        Image.fromarray(arr[..., 0]).save(path)
    else:
        write_image(path, ImageData(arr[..., :3].astype(np.float32) / 65535, None if planes == 3 else arr[..., 3] / 65535.0, 16))
    image = read_image(path)
    assert image.bit_depth == 16
    values = np.round(np.concatenate([image.pixels] + ([image.alpha[..., None]] if image.alpha is not None else []), 2) * 65535)
    assert np.array_equal(values.astype(np.uint16), arr)
    assert len(np.unique(values)) > 256  # not squashed to 8 bits
    write_image(tmp_path / f"out{ext}", image)
    again = read_image(tmp_path / f"out{ext}")
    assert again.bit_depth == 16
    assert np.abs(again.pixels - image.pixels).max() <= 0.5 / 65535


def test_sixteen_bit_to_jpeg_is_eight_bit(tmp_path):
    tifffile.imwrite(tmp_path / "in.tif", sixteen_bit())
    write_image(tmp_path / "out.jpg", read_image(tmp_path / "in.tif"))
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.mode == "RGB"


def test_palette_and_cmyk_are_converted(tmp_path):
    Image.fromarray(rgb8()).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "p.png")
    palette = read_image(tmp_path / "p.png")
    assert palette.pixels.shape[2] == 3 and palette.alpha is None
    transparent = Image.fromarray(rgb8()).convert("P", palette=Image.Palette.ADAPTIVE)
    transparent.info["transparency"] = 0
    transparent.save(tmp_path / "pt.png", transparency=0)
    assert read_image(tmp_path / "pt.png").alpha is not None
    Image.fromarray(rgb8()).convert("CMYK").save(tmp_path / "c.jpg")
    cmyk = read_image(tmp_path / "c.jpg")
    assert cmyk.pixels.shape[2] == 3 and cmyk.icc_profile is None
    assert np.abs(cmyk.pixels * 255 - rgb8()).mean() < 12


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"", "empty file"),
        (b"this is not an image" * 10, "not an image"),
        ("truncated", "corrupt or truncated"),
    ],
)
def test_unreadable_files_raise_one_line_errors(tmp_path, content, reason):
    path = tmp_path / "bad.png"
    if content == "truncated":
        Image.fromarray(rgb8(64, 64)).save(path)
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_image(path)
    assert "\n" not in str(info.value)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "result.png"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_expand_inputs_mixes_files_folders_and_globs(tmp_path):
    (tmp_path / "a" / "sub").mkdir(parents=True)
    for rel in ("a/one.png", "a/sub/two.jpg", "three.png", "notes.txt"):
        (tmp_path / rel).write_bytes(b"x")
    found = expand_inputs([str(tmp_path / "a"), str(tmp_path / "*.png"), str(tmp_path / "a/one.png")])
    assert sorted(f.relative.as_posix() for f in found) == ["one.png", "sub/two.jpg", "three.png"]
    with pytest.raises(FileNotFoundError):
        expand_inputs([str(tmp_path / "missing.png")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        expand_inputs([str(tmp_path / "empty")])



def test_glob_patterns_match_folder_by_folder(tmp_path):
    for rel in ("a1/x.png", "a1/deep/z.png", "b/y.png", "a2/.hidden/h.png", "a2/w.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    def names(pattern: str) -> list[str]:
        return sorted(f.path.relative_to(tmp_path).as_posix() for f in expand_inputs([str(tmp_path / pattern)]))
    assert names("a*/*.png") == ["a1/x.png", "a2/w.png"]
    assert names("**/*.png") == ["a1/deep/z.png", "a1/x.png", "a2/w.png", "b/y.png"]
    assert names("a1/**/z.png") == ["a1/deep/z.png"]
    with pytest.raises(FileNotFoundError, match="matches no image"):
        expand_inputs([str(tmp_path / "c*/*.png")])

def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    with atomic_path(tmp_path / "x.txt") as tmp:
        tmp.write_text("done")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o666 & ~mask
