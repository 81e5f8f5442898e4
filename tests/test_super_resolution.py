"""Super-resolution: MATLAB-compatible bicubic resizing, the ``sr`` degradations, and restoring with
``--scale`` through the one pipeline (tiles, alpha, 16-bit, videos, scoring)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch
from PIL import ExifTags, Image
from typer.testing import CliRunner

from restormixer_cli.api import load_restorer
from restormixer_cli.cli import app
from restormixer_cli.hub.registry import upscaling_factor
from restormixer_cli.inference.engine import InferenceSettings, Restorer, prepare_model
from restormixer_cli.metrics import psnr
from restormixer_cli.resize import contributions, imresize, resize_to, upscale, upscaled_region
from restormixer_cli.training.degradations import crop_to_scale, make_degradation

from .conftest import TINY_CONFIG, make_tiny_model, textured_image
from .video_clips import decode, encode, rainy_frames

runner = CliRunner()


def test_bicubic_downscaling_matches_matlab_without_antialiasing():
    # MATLAB/Octave: imresize(reshape(0:15, 4, 4)', 0.5, 'bicubic', 'AntiAliasing', false)
    image = torch.arange(16, dtype=torch.float64).reshape(4, 4)
    expected = torch.tensor([[2.1875, 4.3125], [10.6875, 12.8125]])
    assert torch.allclose(imresize(image, 0.5, antialias=False), expected, atol=1e-5)


def test_doubling_uses_the_keys_cubic_weights():
    indices, weights = contributions(8, 16, 2)
    # output pixel 6 (0-based 5) sits a quarter pixel right of input pixel 2: Keys weights, a = -0.5
    assert indices[5].tolist() == [1, 2, 3, 4]
    assert torch.allclose(weights[5], torch.tensor([-0.0703125, 0.8671875, 0.2265625, -0.0234375], dtype=torch.float64))
    # edges mirror the image (MATLAB's symmetric padding)
    assert indices[0].tolist() == [1, 0, 0, 1]  # input pixels -1, 0 mirror 2, 1 (1-based)


def test_antialiased_downscaling_removes_what_the_small_image_cannot_hold():
    stripes = torch.tensor([0.0, 0.0, 1.0, 1.0]).repeat(16)[None].repeat(64, 1)  # the small image's Nyquist rate
    plain, antialiased = imresize(stripes, 0.5, antialias=False), imresize(stripes, 0.5)
    assert float(antialiased.std()) < 0.6 * float(plain.std())
    flat = torch.full((3, 37, 41), 0.3)
    for scale in (1 / 3, 0.5, 2, 4):
        out = imresize(flat, scale)
        assert out.shape[-2:] == (int(np.ceil(37 * scale)), int(np.ceil(41 * scale)))
        assert torch.allclose(out, flat.mean().expand_as(out), atol=1e-6)


def test_numpy_images_keep_their_layout():
    image = textured_image(20, 30)
    out = imresize(image, 2)
    assert isinstance(out, np.ndarray) and out.shape == (40, 60, 3)
    assert imresize(image[..., 0], 2).shape == (40, 60)
    assert np.allclose(out[..., 1], imresize(image[..., 1], 2), atol=1e-6)


def test_a_region_of_the_upscale_is_made_from_the_input_pixels_it_needs():
    image = torch.rand(2, 3, 37, 29, generator=torch.Generator().manual_seed(0))
    for scale in (2, 3, 4):
        whole = upscale(image, scale)
        height, width = whole.shape[-2:]
        for top, left, h, w in [(0, 0, 16, 16), (5, 7, 9, 13), (height - 11, width - 6, 11, 6), (0, 0, height, width)]:
            rows, cols = slice(top, top + h), slice(left, left + w)
            assert torch.equal(upscaled_region(image, scale, rows, cols), whole[..., rows, cols])


def test_degradations_for_training_and_for_benchmarks():
    clean = textured_image(70, 52)
    rng = np.random.default_rng(0)
    small = make_degradation("downscale:3")(clean, rng)
    assert small.shape == (24, 18, 3) and np.array_equal(small, np.round(small * 255) / 255)  # an 8-bit file's pixels
    model_input = make_degradation("sr:3")(clean, rng)
    assert model_input.shape == clean.shape  # what the model sees: the low-resolution image upscaled back
    assert 20 < -10 * np.log10(np.mean((model_input - clean) ** 2)) < 40
    assert crop_to_scale(clean, make_degradation("downscale:4")).shape == (68, 52, 3)
    assert crop_to_scale(clean, make_degradation("rain")).shape == clean.shape
    with pytest.raises(ValueError, match="downscale:SCALE"):
        make_degradation("downscale:1")


def test_degrade_writes_benchmark_pairs_cropped_to_the_scale(tmp_path):
    Image.fromarray((textured_image(70, 50) * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    result = runner.invoke(app, ["degrade", str(tmp_path / "photo.png"), "--degradation", "downscale:4",
                                 "-o", str(tmp_path / "pairs")])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "pairs" / "input" / "photo.png") as lr, Image.open(tmp_path / "pairs" / "target" / "photo.png") as hr:
        assert hr.size == (48, 68) and lr.size == (12, 17)


@pytest.fixture(scope="module")
def model():
    return prepare_model(make_tiny_model(), InferenceSettings())


def test_outputs_are_scale_times_larger_and_tiles_do_not_change_them(model):
    image = torch.from_numpy(textured_image(30, 44)).permute(2, 0, 1)
    whole = Restorer(model, InferenceSettings(tile=0), scale=3).restore(image)
    assert whole.shape == (3, 90, 132)
    tiled = Restorer(model, InferenceSettings(tile=64, overlap=16), scale=3).restore(image)
    assert float((tiled - whole).abs().mean()) < 0.01
    # tiles are upscaled one by one, each exactly as its part of the whole upscale
    upscaled = imresize(image, 3).clamp(0, 1)
    assert torch.allclose(tiled, Restorer(model, InferenceSettings(tile=64, overlap=16)).restore(upscaled), atol=1e-6)
    # the model restores the bicubic upscale: the same as a scale-1 restorer given that upscale
    assert torch.allclose(whole, Restorer(model, InferenceSettings(tile=0)).restore(upscaled), atol=1e-6)


def test_a_tiled_upscale_never_holds_the_whole_upscaled_image(model, monkeypatch):
    import restormixer_cli.resize as resize

    upscaled_inputs = []

    def recording_upscale(image, scale):
        upscaled_inputs.append(image.shape[-2] * image.shape[-1])
        return upscale(image, scale)

    monkeypatch.setattr(resize, "upscale", recording_upscale)
    image = torch.from_numpy(textured_image(60, 80)).permute(2, 0, 1)
    assert Restorer(model, InferenceSettings(tile=64, overlap=16), scale=4).restore(image).shape == (3, 240, 320)
    assert upscaled_inputs and max(upscaled_inputs) < 60 * 80 / 4


@pytest.fixture(scope="module")
def tail_model():
    from restormixer_cli.model import RestorMixer

    torch.manual_seed(1)
    model = RestorMixer(**TINY_CONFIG, upscales=(2, 4)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return prepare_model(model, InferenceSettings())


def test_a_model_with_tails_enlarges_the_small_image_itself(tail_model, monkeypatch):
    image = torch.from_numpy(textured_image(30, 44)).permute(2, 0, 1)
    seen = []
    original = tail_model.forward
    monkeypatch.setattr(tail_model, "forward", lambda x, **kw: (seen.append((tuple(x.shape[-2:]), kw)), original(x, **kw))[1])
    whole = Restorer(tail_model, InferenceSettings(tile=0), scale=4).restore(image)
    assert whole.shape == (3, 120, 176) and seen == [((30, 44), {"scale": 4})]  # the network ran on 30x44
    # residual over the bicubic enlargement, through the x4 tail
    assert float((whole - upscale(image, 4)).abs().mean()) > 1e-4
    tiled = Restorer(tail_model, InferenceSettings(tile=16, overlap=8), scale=4).restore(image)
    assert max(shape for shape, _ in seen[1:]) == (16, 16)  # tiles of the small image
    assert float((tiled - whole).abs().mean()) < 0.01
    with pytest.raises(ValueError, match="enlarges by 2, 4, not by 3"):
        tail_model(image[None], scale=3)
    with pytest.raises(ValueError, match="not by 1"):
        tail_model(image[None])


def test_tails_are_an_addition_the_authors_keys_still_load(tmp_path):
    from restormixer_cli.model import RestorMixer
    from restormixer_cli.model.checkpoint import infer_config, load_weights_file
    from restormixer_cli.model.restormixer import build_model

    plain = RestorMixer(**TINY_CONFIG)
    tailed = RestorMixer(**TINY_CONFIG, upscales=(2, 3))
    body = {k: v for k, v in tailed.state_dict().items() if not k.startswith("upsampler.")}
    assert set(body) == set(plain.state_dict())
    plain.load_state_dict(body, strict=True)
    assert infer_config(tailed.state_dict())["upscales"] == [2, 3]
    tailed.save_pretrained(tmp_path / "sr")
    loaded = build_model(load_weights_file(tmp_path / "sr"))
    assert loaded.upscales == [2, 3] and json.loads((tmp_path / "sr/config.json").read_text())["upscales"] == [2, 3]


def test_python_kinds_come_back_larger(model):
    restorer = Restorer(model, InferenceSettings(tile=0), scale=2)
    assert restorer(np.zeros((16, 20, 3), np.uint8)).shape == (32, 40, 3)
    assert restorer(torch.rand(2, 3, 16, 20)).shape == (2, 3, 32, 40)
    assert restorer(Image.new("LA", (20, 16))).size == (40, 32)


def test_outscale_resizes_the_models_output_to_any_factor(model):
    """As Real-ESRGAN's --outscale: the model upscales by its integer scale, then the result is resized."""
    image = torch.from_numpy(textured_image(20, 30)).permute(2, 0, 1)
    at_four = Restorer(model, InferenceSettings(tile=0), scale=4).restore(image)
    out = Restorer(model, InferenceSettings(tile=0), scale=4, outscale=3.5).restore(image)
    assert out.shape == (3, 70, 105)
    assert torch.allclose(out, resize_to(at_four, 70, 105).clamp(0, 1))
    restorer = Restorer(model, InferenceSettings(tile=0), scale=4, outscale=3.5)
    rgba = restorer(Image.new("RGBA", (30, 20), (10, 20, 30, 90)))
    assert rgba.size == (105, 70) and np.all(np.asarray(rgba)[..., 3] == 90)  # alpha resized alone
    assert Restorer(model, InferenceSettings(tile=0), scale=2, outscale=2.0).restore(image).shape == (3, 40, 60)


def test_outscale_picks_the_smallest_model_scale_that_reaches_it():
    assert upscaling_factor("sr", None, 3.5) == 4 and upscaling_factor("sr", None, 2.5) == 3
    assert upscaling_factor("sr", None, 1.5) == 2 and upscaling_factor("sr", None, 6) == 4
    assert upscaling_factor("sr", 2, 3.5) == 2  # the model's scale, if given
    with pytest.raises(ValueError, match="does not upscale"):
        upscaling_factor("derain", None, 2.0)
    with pytest.raises(ValueError, match="outscale must be positive"):
        upscaling_factor("sr", None, 0)


def test_outscale_files_and_videos(tmp_path, tiny_weights):
    src = tmp_path / "src"
    Image.fromarray((textured_image(20, 30) * 255).astype(np.uint8)).save(src.mkdir() or src / "a.png")
    encode(src / "clip.mkv", rainy_frames(2, 20, 30), output_args=("-c:v", "ffv1"))
    result = runner.invoke(app, ["restore", str(src), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                                 "--scale", "2", "--outscale", "1.5"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "a.png") as out:
        assert out.size == (45, 30)
    assert decode(tmp_path / "out" / "clip.mkv").shape == (2, 30, 45, 3)
    refused = runner.invoke(app, ["restore", str(src), "--task", "derain", "--outscale", "2"])
    assert refused.exit_code == 2 and "does not upscale" in refused.output


def test_scale_belongs_to_super_resolution_tasks():
    assert upscaling_factor("sr", None) == 2 and upscaling_factor("sr", 4) == 4
    assert upscaling_factor(None, 3) == 3 and upscaling_factor("derain", None) == 1
    with pytest.raises(ValueError, match="does not upscale"):
        upscaling_factor("derain", 2)
    with pytest.raises(ValueError, match="upscales by 2, 3, 4, not 5"):
        upscaling_factor("sr", 5)
    result = runner.invoke(app, ["restore", "x.png", "--task", "derain", "--scale", "2"])
    assert result.exit_code == 2 and "does not upscale" in result.output


def test_files_keep_alpha_depth_and_format_at_the_new_size(tmp_path, tiny_weights):
    src = tmp_path / "src"
    src.mkdir()
    rgba = np.dstack([(textured_image(24, 20) * 255).astype(np.uint8), np.full((24, 20), 90, np.uint8)])
    rgba[:12, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(src / "alpha.png")
    tifffile.imwrite(src / "deep.tif", (textured_image(24, 20) * 65535).astype(np.uint16))
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif).update({ExifTags.Base.ExifImageWidth: 20, ExifTags.Base.ExifImageHeight: 24})
    Image.fromarray(rgba[..., :3]).save(src / "photo.jpg", quality=95, exif=exif.tobytes())
    result = runner.invoke(app, ["restore", str(src), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                                 "--scale", "2"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "alpha.png") as a, Image.open(tmp_path / "out" / "photo.jpg") as j:
        assert a.mode == "RGBA" and a.size == (40, 48) and j.size == (40, 48) and j.format == "JPEG"
        alpha = np.asarray(a)[..., 3]
        assert np.all(alpha[:20] == 255) and np.all(alpha[28:] == 90)  # upscaled alone, edges kept
        dimensions = j.getexif().get_ifd(ExifTags.IFD.Exif)
        assert (dimensions[ExifTags.Base.ExifImageWidth], dimensions[ExifTags.Base.ExifImageHeight]) == (40, 48)
    deep = tifffile.imread(tmp_path / "out" / "deep.tif")
    assert deep.shape == (48, 40, 3) and deep.dtype == np.uint16


def test_ground_truth_and_comparisons_at_the_large_size(tmp_path, tiny_weights):
    (tmp_path / "hr").mkdir()
    (tmp_path / "lr").mkdir()
    hr = textured_image(48, 40)
    Image.fromarray((hr * 255).astype(np.uint8)).save(tmp_path / "hr" / "a.png")
    small = make_degradation("downscale:2")(hr, np.random.default_rng(0))
    Image.fromarray((small * 255).round().astype(np.uint8)).save(tmp_path / "lr" / "a.png")
    report = tmp_path / "r.json"
    result = runner.invoke(app, ["restore", str(tmp_path / "lr"), "-o", str(tmp_path / "out"), "--weights",
                                 str(tiny_weights), "--scale", "2", "--gt", str(tmp_path / "hr"), "--y-channel",
                                 "--crop-border", "2", "--compare", str(tmp_path / "cmp"), "--json", str(report)])
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["files"][0]["psnr"] > 15
    with Image.open(tmp_path / "cmp" / "a.png") as picture:
        assert picture.height > 48 and picture.width > 3 * 40  # the small input is shown enlarged


def test_ground_truth_is_cropped_to_the_output_as_benchmarks_made_their_inputs(tmp_path, tiny_weights):
    """Benchmark originals need not be a multiple of the scale (Set14's comic is 250x361): a ground
    truth larger than the output by less than the scale is scored cropped top-left to it, with a note;
    one larger by more, or any mismatch without upscaling, is still an error."""
    for folder in ("hr", "lr", "same"):  # same: an input the size of the output, restored without upscaling
        (tmp_path / folder).mkdir()
    hr = (textured_image(61, 50) * 255).round().astype(np.uint8)
    Image.fromarray(hr).save(tmp_path / "hr" / "comic.png")
    small = make_degradation("downscale:4")(hr[:60, :48] / 255.0, np.random.default_rng(0))
    Image.fromarray((small * 255).round().astype(np.uint8)).save(tmp_path / "lr" / "comic.png")
    report = tmp_path / "r.json"
    args = ["restore", str(tmp_path / "lr"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
            "--scale", "4", "--gt", str(tmp_path / "hr"), "--y-channel", "--crop-border", "4", "--json", str(report)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    scored = json.loads(report.read_text())["files"][0]
    a = torch.from_numpy(np.array(Image.open(tmp_path / "out" / "comic.png"))).permute(2, 0, 1).double()
    b = torch.from_numpy(hr[:60, :48]).permute(2, 0, 1).double()
    assert scored["psnr"] == pytest.approx(psnr(a, b, 4, True), abs=1e-9)
    assert scored["notes"] == ["ground truth cropped top-left from 50x61 to 48x60 (a multiple of 4)"]
    assert result.output.count("cropped top-left") == 1
    Image.fromarray(hr[:60, :48]).save(tmp_path / "same" / "comic.png")
    unscaled = runner.invoke(app, ["restore", str(tmp_path / "same"), "-o", str(tmp_path / "same_out"), "--weights",
                                   str(tiny_weights), "--gt", str(tmp_path / "hr")])
    assert unscaled.exit_code == 1 and "size mismatch: prediction 48x60, ground truth 50x61" in unscaled.output
    Image.fromarray((textured_image(68, 56) * 255).astype(np.uint8)).save(tmp_path / "hr" / "comic.png")
    refused = runner.invoke(app, [*args, "--overwrite"])
    assert refused.exit_code == 1 and "size mismatch: prediction 48x60, ground truth 56x68" in refused.output


def test_videos_are_upscaled_frame_by_frame(tmp_path, tiny_weights):
    clip = encode(tmp_path / "clip.mkv", rainy_frames(4, 32, 40), output_args=("-c:v", "ffv1"))
    result = runner.invoke(app, ["restore", str(clip), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                                 "--scale", "2"])
    assert result.exit_code == 0, result.output
    assert decode(tmp_path / "out" / "clip.mkv").shape == (4, 64, 80, 3)


def test_sr_restorer_upscales_by_its_default_scale_when_a_checkpoint_ships():
    try:
        restorer = load_restorer(task="sr", device="cpu", tile=0)
    except (RuntimeError, ValueError) as exc:  # no checkpoint in this installation: the message says so
        assert "sr" in str(exc)
        return
    assert restorer.scale == 2
    assert restorer(np.zeros((16, 16, 3), np.uint8)).shape == (32, 32, 3)


def test_the_pixel_limit_bounds_the_upscaled_output(tmp_path, tiny_weights):
    Image.fromarray((textured_image(24, 20) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    args = ["restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)]
    assert runner.invoke(app, [*args, "--max-pixels", "1000"]).exit_code == 0  # 480 pixels in and out
    refused = runner.invoke(app, [*args, "--max-pixels", "1000", "--scale", "2", "--overwrite"])
    assert refused.exit_code == 1 and "over the limit" in refused.output  # 1920 pixels out
