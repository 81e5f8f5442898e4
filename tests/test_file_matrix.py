"""Every file restore writes opens in other programs: a round-trip matrix over output formats, bit
depths, channel layouts and metadata of the inputs (TIFFs from Pillow, tifffile and a camera-style
LZW + predictor writer included). Each output must re-open with Pillow (and, for TIFF, tifffile;
tifffile alone for 16-bit grey + alpha TIFF, which Pillow cannot open) with the expected size,
channels, bit depth and metadata."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import png
import pytest
import tifffile
from PIL import ExifTags, Image, ImageCms, TiffImagePlugin, TiffTags

from restormixer_cli.io.images import read_image, write_image

from .conftest import textured_image

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
H, W = 20, 28


def pixels(channels: int, bits: int) -> np.ndarray:
    arr = textured_image(H, W)
    arr = np.concatenate([arr, arr[..., :1]], axis=2)[..., :channels] if channels != 2 else arr[..., :2]
    return (arr * (2**bits - 1)).round().astype(np.uint16 if bits == 16 else np.uint8)


def exif(orientation: int | None = None, sub_ifds: bool = False) -> Image.Exif:
    data = Image.Exif()
    data[0x010F] = "TestCamera"  # Make
    if orientation:
        data[0x0112] = orientation
    if sub_ifds:
        data.get_ifd(ExifTags.IFD.Exif)[0x829A] = (1, 125)  # ExposureTime
        data.get_ifd(ExifTags.IFD.GPSInfo)[1] = "N"  # GPSLatitudeRef
    return data


@dataclass(frozen=True)
class Source:
    """An input file: how to write it, and what a faithful output keeps from it."""

    name: str
    write: Callable[[Path], None]
    gray: bool = False
    alpha: bool = False
    bits: int = 8
    icc: bool = False
    exif: bool = False
    sub_ifds: bool = False  # EXIF camera settings and GPS
    rotated: bool = False  # EXIF orientation 6: the picture is W x H once displayed

    def path(self, folder: Path) -> Path:
        return folder / self.name


def _pil(mode_pixels: Callable[[], Image.Image], **options) -> Callable[[Path], None]:
    return lambda path: mode_pixels().save(path, **options)


def _pypng16(channels: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        arr = pixels(channels, 16)
        writer = png.Writer(W, H, greyscale=channels < 3, alpha=channels in (2, 4), bitdepth=16)
        with open(path, "wb") as f:
            writer.write(f, arr.reshape(H, W * channels))
    return write


def _png16_with_orientation(path: Path) -> None:
    _pypng16(3)(path)
    data = path.read_bytes()
    chunk = exif(6).tobytes().removeprefix(b"Exif\x00\x00")
    body = b"eXIf" + chunk
    inserted = struct.pack(">I", len(chunk)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    path.write_bytes(data[:33] + inserted + data[33:])


def _camera_tiff(path: Path) -> None:
    """8-bit RGB, LZW with a horizontal predictor and an explicit SampleFormat tag, as cameras and
    scanners write."""
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[317] = 2  # Predictor: horizontal differencing
    tags.tagtype[317] = TiffTags.SHORT
    tags[339] = 1  # SampleFormat: unsigned integer (libtiff writes it for every sample)
    Image.fromarray(pixels(3, 8)).save(path, compression="tiff_lzw", tiffinfo=tags, dpi=(300, 300))
    page = tifffile.TiffFile(path).pages[0]
    assert (page.compression, page.predictor, page.tags[339].value) == (5, 2, (1, 1, 1))


SOURCES = [
    Source("rgb.png", _pil(lambda: Image.fromarray(pixels(3, 8)))),
    Source("rgba.png", _pil(lambda: Image.fromarray(pixels(4, 8))), alpha=True),
    Source("gray.png", _pil(lambda: Image.fromarray(pixels(1, 8)[..., 0])), gray=True),
    Source("gray_alpha.png", _pil(lambda: Image.fromarray(pixels(2, 8), "LA")), gray=True, alpha=True),
    Source("palette.png", _pil(lambda: Image.fromarray(pixels(3, 8)).quantize(64))),
    Source("cmyk.jpg", _pil(lambda: Image.fromarray(pixels(3, 8)).convert("CMYK"), quality=95)),
    Source("exif_icc.jpg", _pil(lambda: Image.fromarray(pixels(3, 8)), exif=exif(6, sub_ifds=True).tobytes(), icc_profile=SRGB,
                                quality=95), icc=True, exif=True, sub_ifds=True, rotated=True),
    Source("rgb16.png", _pypng16(3), bits=16),
    Source("rgba16.png", _pypng16(4), alpha=True, bits=16),
    Source("gray16.png", _pypng16(1), gray=True, bits=16),
    Source("gray_alpha16.png", _pypng16(2), gray=True, alpha=True, bits=16),
    Source("rgb16_oriented.png", _png16_with_orientation, bits=16, exif=True, rotated=True),
    Source("pillow.tif", _pil(lambda: Image.fromarray(pixels(3, 8)), tiffinfo=exif(), icc_profile=SRGB,
                              compression="tiff_lzw"), icc=True, exif=True),
    Source("tifffile_rgb16.tif", lambda p: tifffile.imwrite(p, pixels(3, 16), photometric="rgb"), bits=16),
    Source("tifffile_gray16.tif", lambda p: tifffile.imwrite(p, pixels(1, 16)[..., 0]), gray=True, bits=16),
    Source("tifffile_rgba.tif", lambda p: tifffile.imwrite(p, pixels(4, 8), photometric="rgb", extrasamples=[2]),
           alpha=True),
    Source("camera_lzw_predictor.tif", _camera_tiff),
    Source("phone.heic", _pil(lambda: Image.fromarray(pixels(3, 8)), exif=exif(6, sub_ifds=True).tobytes(),
                              icc_profile=SRGB, quality=90), icc=True, exif=True, sub_ifds=True, rotated=True),
    Source("rgba.avif", _pil(lambda: Image.fromarray(pixels(4, 8)), exif=exif().tobytes(), quality=90), alpha=True,
           exif=True),
    # layouts Pillow cannot open: read with tifffile
    Source("tifffile_gray_alpha16.tif", lambda p: tifffile.imwrite(p, pixels(2, 16), photometric="minisblack",
                                                                   extrasamples=[2]), gray=True, alpha=True, bits=16),
    Source("tifffile_planar_rgb16.tif", lambda p: tifffile.imwrite(p, np.moveaxis(pixels(3, 16), -1, 0),
                                                                   photometric="rgb", planarconfig="separate"), bits=16),
]
OUTPUTS = {  # extension -> (keeps 16 bits, keeps alpha, keeps gray, keeps metadata)
    "png": (True, True, True, True),
    "tif": (True, True, True, True),
    "jpg": (False, False, True, True),
    "webp": (False, True, False, True),
    "bmp": (False, False, True, False),
    "heic": (False, True, True, True),
    "avif": (False, True, True, True),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("matrix_inputs")
    for source in SOURCES:
        source.write(source.path(folder))
    return folder


def _tifffile_view(path: Path) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1
        return tif.asarray()


@pytest.mark.parametrize("ext", list(OUTPUTS))
@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_output_reopens_with_what_it_should_keep(inputs, tmp_path, source, ext):
    keeps16, keeps_alpha, keeps_gray, keeps_metadata = OUTPUTS[ext]
    image = read_image(source.path(inputs))
    out = tmp_path / f"out.{ext}"
    write_image(out, image.with_pixels(image.rgb))
    size = (H, W) if source.rotated else (W, H)
    bits = 16 if source.bits == 16 and keeps16 else 8
    alpha = source.alpha and keeps_alpha
    gray = source.gray and keeps_gray and not (alpha and ext in ("heic", "avif"))  # they store grey + alpha as RGBA
    if not (ext == "tif" and bits == 16 and alpha and source.gray):  # Pillow has no 16-bit grey + alpha TIFF
        with Image.open(out) as img:
            img.load()
            assert img.size == size
            bands = img.getbands()
            assert ("A" in bands) == alpha
            if gray and not (bits == 16 and alpha):  # Pillow opens 16-bit LA PNG as RGBA
                assert bands[0] in ("L", "I") and "R" not in bands
            if keeps_metadata and source.icc:
                assert img.info.get("icc_profile") == SRGB
            if keeps_metadata and source.exif:
                tags = img.getexif()
                assert tags.get(0x010F) == "TestCamera"
                assert tags.get(0x0112) in (None, 1)
                if source.sub_ifds and not (ext == "tif" and bits == 16):
                    exposure = tags.get_ifd(ExifTags.IFD.Exif).get(0x829A)
                    assert (exposure[0] / exposure[1] if isinstance(exposure, tuple) else float(exposure)) == 1 / 125
                    assert tags.get_ifd(ExifTags.IFD.GPSInfo).get(1) == "N"
            if ext == "png" and bits == 16 and not alpha and source.gray:
                assert img.mode.startswith("I")
    if ext == "tif":
        arr = _tifffile_view(out)
        assert arr.shape[:2] == (size[1], size[0])
        assert arr.dtype == (np.uint16 if bits == 16 else np.uint8)
        assert (arr.ndim == 2 or arr.shape[2] in (1, 2)) == gray
    else:
        reread = read_image(out)
        assert reread.bit_depth == bits
        assert (reread.alpha is not None) == alpha
        assert reread.is_gray == gray


@pytest.mark.parametrize("orientation", range(1, 9))
def test_sixteen_bit_orientation_matches_eight_bit(tmp_path, orientation):
    """The 16-bit readers (pypng, tifffile) orient pixels exactly as Pillow does for 8-bit files."""
    arr16 = pixels(3, 16)
    arr8 = (arr16 // 257).astype(np.uint8)
    tags = Image.Exif()
    tags[0x0112] = orientation
    Image.fromarray(arr8).save(tmp_path / "a.png", exif=tags.tobytes())
    tifffile.imwrite(tmp_path / "b.tif", arr16, photometric="rgb")
    _pypng16(3)(tmp_path / "c.png")
    expected = read_image(tmp_path / "a.png").pixels
    for name in ("b.tif", "c.png"):  # the same pixels, tagged with the same orientation
        with Image.open(tmp_path / name) as img:
            tagged = img.getexif()
        tagged[0x0112] = orientation
        path = tmp_path / f"tagged_{name}"
        if name.endswith(".tif"):
            tifffile.imwrite(path, arr16, photometric="rgb", extratags=[(274, "H", 1, orientation, True)])
        else:
            data = (tmp_path / name).read_bytes()
            chunk = tagged.tobytes().removeprefix(b"Exif\x00\x00")
            body = b"eXIf" + chunk
            path.write_bytes(data[:33] + struct.pack(">I", len(chunk)) + body
                             + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF) + data[33:])
        image = read_image(path)
        assert image.bit_depth == 16
        np.testing.assert_allclose(image.pixels, expected, atol=1 / 255)


def test_a_file_that_does_not_decode_is_an_error_and_is_not_kept(tmp_path, monkeypatch):
    """The writer's output is decoded before it takes its name: a broken encoder cannot report success."""
    from restormixer_cli.io import images

    source = SOURCES[0]
    source.write(source.path(tmp_path))
    image = read_image(source.path(tmp_path))
    monkeypatch.setattr(images, "_save_with_pil", lambda path, *args: path.write_bytes(b"II*\x00broken"))
    with pytest.raises(images.ImageWriteError, match="does not decode"):
        write_image(tmp_path / "out.tif", image)
    assert [p.name for p in tmp_path.iterdir()] == [source.name]
