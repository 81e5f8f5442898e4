"""The default's measurements of a photo and the routes built on them."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from restormixer_cli.inference.diagnosis import (
    Diagnosis,
    Removal,
    blockiness,
    dark_channel,
    diagnose,
    highlights,
    luminance,
    noise_sigma,
    removal,
)
from restormixer_cli.hub.registry import load_registry
from restormixer_cli.inference.router import HAZE_ABOVE, MEASURED_WITH, Weather, probe_crops

from .conftest import textured_image


def _photo(seed: int = 0) -> torch.Tensor:
    """A clean photo-like image: smooth shading plus fine texture with no noise in it."""
    shading = torch.from_numpy(textured_image(192, 256, seed=seed)).permute(2, 0, 1)
    shading = F.avg_pool2d(shading[None], 5, stride=1, padding=2, count_include_pad=False)[0]
    texture = torch.randn(1, 3, 192, 256, generator=torch.Generator().manual_seed(seed))
    for _ in range(2):
        texture = F.avg_pool2d(texture, 3, stride=1, padding=1, count_include_pad=False)
    return (shading + 0.15 * texture[0]).clamp(0, 1).float()


@pytest.mark.parametrize("sigma", [5, 15, 30])
def test_noise_level_is_measured_on_textured_photos(sigma):
    photo = _photo()
    noisy = photo + torch.randn(photo.shape, generator=torch.Generator().manual_seed(sigma)) * sigma / 255
    assert noise_sigma(photo) < 0.75
    assert noise_sigma(noisy) == pytest.approx(sigma, rel=0.15)


def test_tiny_images_have_no_measurable_noise():
    assert noise_sigma(torch.rand(3, 5, 40)) == 0.0


def test_haze_lifts_the_dark_channel_and_jpeg_shows_block_edges():
    photo = _photo(1)
    hazy = 0.4 * photo + 0.6  # 40% of the light from the scene, the rest airlight
    noisy_haze = hazy + torch.randn(photo.shape, generator=torch.Generator().manual_seed(1)) * 25 / 255
    assert dark_channel(photo) < HAZE_ABOVE < min(dark_channel(hazy), dark_channel(noisy_haze))
    buffer = io.BytesIO()
    Image.fromarray((photo.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(buffer, "JPEG", quality=15)
    compressed = torch.from_numpy(np.asarray(Image.open(buffer), dtype=np.float32) / 255).permute(2, 0, 1)
    assert blockiness(luminance(photo)) < 1.15 < 1.3 < blockiness(luminance(compressed))
    assert diagnose(photo * 0.2).brightness < 0.16 < diagnose(photo).brightness


def test_highlights_are_the_level_the_brightest_pixels_reach():
    levels = torch.linspace(0, 1, 1000)[:, None].expand(1000, 10)
    image = torch.stack([levels * 0.5, levels * 0.9, levels * 0.2])  # the green channel is the brightest
    assert highlights(image) == pytest.approx(0.9 * 0.995, abs=1 / 256)
    assert highlights(image * 0.6) == pytest.approx(0.6 * 0.9 * 0.995, abs=1 / 256)
    assert highlights(torch.ones(3, 4, 4) * 2.0) == 1.0


def _streaks(shape: tuple[int, ...], slant: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Bright thin streaks falling one way (``slant`` columns per row), as rain draws them, on black."""
    height, width = shape[-2:]
    rows = torch.arange(height)[:, None]
    columns = torch.randperm(width, generator=torch.Generator().manual_seed(seed))[: width // 8]
    layer = torch.zeros(height, width)
    for column in columns.tolist():
        layer[rows[:, 0], ((column + slant * rows[:, 0]).round().long() % width)] = 0.4
    return layer.expand(3, height, width)


@pytest.mark.parametrize("slant", [0.0, 0.3])
def test_removed_rain_streaks_are_aligned_and_removed_texture_is_not(slant):
    photo = _photo(3)
    rainy = (photo + _streaks(photo.shape, slant)).clamp(0, 1)
    streaks = removal(probe_crops(rainy), probe_crops(photo))
    assert streaks.alignment > 0.8 and streaks.amount > 20
    assert streaks.tilt == pytest.approx(math.degrees(math.atan(slant)), abs=6)  # 1 px lines, stair-stepped
    across = _streaks((3, 256, 192), slant).transpose(1, 2)
    courses = removal(probe_crops((photo + across).clamp(0, 1)), probe_crops(photo))
    assert courses.alignment > 0.8 and courses.tilt > 60  # lines across the frame
    texture = removal(probe_crops(photo), probe_crops(F.avg_pool2d(photo[None], 3, stride=1, padding=1)[0]))
    assert texture.alignment < 0.5
    shifted = removal(probe_crops(photo), probe_crops(photo) - 0.1)
    assert shifted.amount == pytest.approx(0, abs=1e-3)  # a shift of the whole crop is not taken for rain
    clean_crops = probe_crops(photo)
    one_rainy = torch.cat([probe_crops(rainy)[:1], clean_crops])
    # what fills one crop of three is not weather
    assert removal(one_rainy, torch.cat([clean_crops[:1], clean_crops])).amount == pytest.approx(0, abs=1e-3)


def test_probe_crops_cover_the_photo_and_skip_photos_smaller_than_one():
    image = torch.rand(3, 300, 500)
    crops = probe_crops(image)
    assert crops.shape == (6, 3, 128, 128)
    assert torch.equal(crops[0], image[:, :128, :128]) and torch.equal(crops[-1], image[:, -128:, -128:])
    assert probe_crops(torch.rand(3, 128, 128)).shape == (1, 3, 128, 128)
    assert probe_crops(torch.rand(3, 256, 300)).shape == (4, 3, 128, 128)  # no more than fit side by side
    assert probe_crops(torch.rand(3, 100, 500)) is None


CLEAR = Weather(Removal(0.8, 0.3, 5.0), Removal(1.0, 0.1, 50.0))
RAIN = Weather(Removal(9.0, 0.9, 10.0), Removal(6.0, 0.4, 20.0))
ACROSS = Weather(Removal(9.0, 0.9, 80.0), Removal(2.0, 0.4, 80.0))
UNALIGNED = Weather(Removal(9.0, 0.5, 5.0), Removal(2.0, 0.2, 30.0))
SNOW = Weather(Removal(3.0, 0.2, 10.0), Removal(12.0, 0.1, 60.0))


@pytest.mark.parametrize("measured, weather, tasks, found", [
    (Diagnosis(0.5, 0.4, 0.9, 0.1, 1.0), CLEAR, (), "no noise, rain, snow, low light or haze found"),
    (Diagnosis(0.5, 0.4, 0.9, 0.1, 1.0), RAIN, ("derain",), "rain streaks (90% aligned)"),
    (Diagnosis(0.5, 0.4, 0.9, 0.1, 1.0), UNALIGNED, (), "no noise, rain, snow, low light or haze found"),
    (Diagnosis(0.5, 0.4, 0.9, 0.1, 1.0), ACROSS, (), "no noise, rain, snow, low light or haze found"),
    (Diagnosis(0.5, 0.4, 0.9, 0.1, 1.0), SNOW, ("desnow",), "snow"),
    (Diagnosis(15.0, 0.4, 0.9, 0.1, 1.0), RAIN, ("denoise", "derain"), "noise sigma ~15, rain streaks (90% aligned)"),
    (Diagnosis(15.0, 0.4, 0.9, 0.7, 1.0), RAIN, ("all-in-one",), "noise sigma ~15, haze"),
])
def test_rain_and_snow_join_the_route_after_denoising(measured, weather, tasks, found):
    from restormixer_cli.inference.router import plan_route

    route = plan_route(measured, weather)
    assert route.tasks == tasks and route.found == found


@pytest.mark.parametrize("measured, brightened, tasks, found", [
    (Diagnosis(3.0, 0.3, 0.55, 0.1, 1.0), 0.2, ("all-in-one",), "noise sigma ~3.0, low light (highlights at 55%)"),
    (Diagnosis(3.0, 0.3, 0.55, 0.1, 1.0), 0.02, ("denoise",), "noise sigma ~3.0"),  # dim and meant to be
    (Diagnosis(3.0, 0.3, 0.9, 0.1, 1.0), 0.2, ("denoise",), "noise sigma ~3.0"),  # highlights: exposed as meant
    (Diagnosis(3.0, 0.5, 0.55, 0.1, 1.0), 0.2, ("denoise",), "noise sigma ~3.0"),
])
def test_a_dim_photo_without_highlights_is_low_light_when_the_all_in_one_brightens_it(measured, brightened, tasks, found):
    from restormixer_cli.inference.router import looks_underexposed, plan_route

    assert looks_underexposed(measured) == (measured.brightness < 0.35 and measured.highlights < 0.65)
    route = plan_route(measured, CLEAR, brightened)
    assert route.tasks == tasks and route.found == found


@pytest.mark.parametrize("measured, tasks, found", [
    (Diagnosis(0.5, 0.4, 0.9, 0.1, 1.0), (), "no noise, rain, snow, low light or haze found"),
    (Diagnosis(24.2, 0.4, 0.9, 0.1, 1.0), ("denoise",), "noise sigma ~24"),
    (Diagnosis(24.2, 0.4, 0.9, 0.1, 1.6), ("denoise",), "noise sigma ~24, JPEG blocks (kept)"),
    (Diagnosis(0.2, 0.1, 0.3, 0.0, 1.0), ("all-in-one",), "low light"),
    (Diagnosis(8.04, 0.6, 1.0, 0.7, 1.0), ("all-in-one",), "noise sigma ~8.0, haze"),
    (Diagnosis(0.6, 0.4, 0.9, 0.1, 2.0), (), "JPEG blocks (kept)"),
])
def test_routes_name_the_checkpoints_and_why(measured, tasks, found):
    from restormixer_cli.inference.router import plan_route

    route = plan_route(measured)
    assert route.tasks == tasks and route.found == found
    assert str(route).endswith("left unchanged" if not tasks else " then ".join(tasks))


class _Clamp:
    """A stand-in derain checkpoint: takes out whatever is brighter than the photo (the streaks)."""

    def restore_batch(self, images, on_tile=None):
        return images.clamp(max=0.7)


class _Unchanged:
    def restore_batch(self, images, on_tile=None):
        return images


def test_the_default_probes_for_rain_and_snow_after_denoising_and_leaves_clean_photos_alone():
    from restormixer_cli.inference import router
    from restormixer_cli.inference.engine import InferenceSettings, Restorer

    from .conftest import make_tiny_model

    loaded = []

    def load_task(task):
        loaded.append(task)
        if task == "denoise":
            return Restorer(make_tiny_model(), InferenceSettings(tile=0))
        return _Clamp() if task == "derain" else _Unchanged()

    auto = router.AutoRestorer(load_task, InferenceSettings(tile=0))
    photo = 0.08 + _photo(2) * 0.6  # below the stand-in derain's clamp, not underexposed
    assert torch.equal(auto.restore(photo), photo)  # nothing found: probed, left as it was
    assert loaded == ["derain", "desnow"]
    rainy = (photo + _streaks(photo.shape, 0.2)).clamp(0, 1)
    chain, route = auto.routed(rainy)
    assert route.tasks == ("derain",) and "rain streaks" in route.found
    assert torch.equal(chain.restore(rainy), rainy.clamp(max=0.7))
    noisy = (photo + torch.randn(photo.shape, generator=torch.Generator().manual_seed(0)) * 0.1).clamp(0, 1)
    chain, route = auto.routed(noisy)
    assert route.tasks[0] == "denoise" and "noise sigma" in route.found
    assert loaded == ["derain", "desnow", "denoise"]  # each checkpoint is loaded once
    with pytest.raises(ValueError, match="super-resolution"):
        auto.at_scale(2)


class _Brighten:
    """A stand-in all-in-one checkpoint that brightens whatever it is given."""

    def restore_batch(self, images, on_tile=None):
        return (images * 1.5).clamp(0, 1)


@pytest.mark.parametrize("all_in_one, tasks", [(_Brighten, ("all-in-one",)), (_Unchanged, ())])
def test_a_dim_photo_is_probed_for_underexposure_with_the_all_in_one_checkpoint(all_in_one, tasks):
    from restormixer_cli.inference import router
    from restormixer_cli.inference.engine import InferenceSettings

    auto = router.AutoRestorer(lambda task: all_in_one() if task == "all-in-one" else _Unchanged(), InferenceSettings(tile=0))
    dim = _photo(2) * 0.5  # mean luminance ~0.25, nothing brighter than half of white
    chain, route = auto.routed(dim)
    assert route.tasks == tasks
    assert auto.brightening(dim) == pytest.approx(0.0 if all_in_one is _Unchanged else 0.12, abs=0.03)


def test_photos_too_small_to_probe_are_routed_on_their_other_measurements():
    from restormixer_cli.inference import router
    from restormixer_cli.inference.engine import InferenceSettings

    loaded = []
    auto = router.AutoRestorer(lambda task: loaded.append(task) or _Unchanged(), InferenceSettings(tile=0))
    _, route = auto.routed(_photo(4)[:, :96, :96])
    assert route.tasks == () and loaded == []


def test_the_default_task_takes_no_weights():
    from restormixer_cli.api import load_restorer

    with pytest.raises(ValueError, match="takes no weights"):
        load_restorer("auto", weights="model.safetensors", device="cpu")


def test_each_file_line_and_the_json_report_say_what_the_default_found_and_ran(tmp_path, tiny_weights, monkeypatch):
    import json

    from typer.testing import CliRunner

    from restormixer_cli.cli import app
    from restormixer_cli.hub import registry as registry_module
    from restormixer_cli.hub.registry import Task

    tasks = {"auto": Task(task="auto", description="a", available=True, kind="router", default=True)}
    tasks |= {name: Task(task=name, description=name, available=True, embedded=name)
              for name in ("denoise", "derain", "desnow", "all-in-one")}
    monkeypatch.setattr(registry_module, "_packaged", lambda: tasks)
    monkeypatch.setattr(Task, "embedded_path", property(lambda self: tiny_weights))
    photo = _photo(5)[:, :128, :128] * 0.8 + torch.randn(3, 128, 128, generator=torch.Generator().manual_seed(5)) * 20 / 255
    Image.fromarray((photo.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(tmp_path / "noisy.png")
    result = CliRunner().invoke(app, ["restore", str(tmp_path / "noisy.png"), "-o", str(tmp_path / "out"),
                                      "--json", str(tmp_path / "report.json")], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    route = json.loads((tmp_path / "report.json").read_text())["files"][0]["route"]
    assert route.startswith("noise sigma ~") and " -> denoise" in route
    assert f"({route})" in " ".join(result.output.split())


def test_the_probe_thresholds_were_measured_with_the_shipped_checkpoints():
    """A new denoise, derain, desnow or all-in-one checkpoint changes what the probes measure: the
    router's thresholds are measured again with it before MEASURED_WITH names it."""
    assert {task: load_registry()[task].sha256[:12] for task in MEASURED_WITH} == MEASURED_WITH
