"""The default's measurements of a photo and the routes built on them."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from restormixer_cli.inference.diagnosis import Diagnosis, blockiness, dark_channel, diagnose, luminance, noise_sigma
from restormixer_cli.inference.router import HAZE_ABOVE

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


@pytest.mark.parametrize("measured, tasks, found", [
    (Diagnosis(0.5, 0.4, 0.1, 1.0), (), "no noise, low light or haze found"),
    (Diagnosis(24.2, 0.4, 0.1, 1.0), ("denoise",), "noise sigma ~24"),
    (Diagnosis(24.2, 0.4, 0.1, 1.6), ("denoise",), "noise sigma ~24, JPEG blocks (kept)"),
    (Diagnosis(0.2, 0.1, 0.0, 1.0), ("all-in-one",), "low light"),
    (Diagnosis(8.04, 0.6, 0.7, 1.0), ("all-in-one",), "noise sigma ~8.0, haze"),
    (Diagnosis(0.6, 0.4, 0.1, 2.0), (), "JPEG blocks (kept)"),
])
def test_routes_name_the_checkpoints_and_why(measured, tasks, found):
    from restormixer_cli.inference.router import plan_route

    route = plan_route(measured)
    assert route.tasks == tasks and route.found == found
    assert str(route).endswith("left unchanged" if not tasks else " then ".join(tasks))


def test_the_default_restores_each_image_with_its_route_and_leaves_clean_ones_alone():
    from restormixer_cli.inference import router
    from restormixer_cli.inference.engine import InferenceSettings, Restorer

    from .conftest import make_tiny_model

    loaded = []

    def load_task(task):
        loaded.append(task)
        return Restorer(make_tiny_model(seed=len(loaded)), InferenceSettings(tile=0))

    auto = router.AutoRestorer(load_task, InferenceSettings(tile=0))
    photo = _photo(2)
    assert torch.equal(auto.restore(photo), photo)  # nothing found: not even a model runs
    assert loaded == []
    noisy = (photo + torch.randn(photo.shape, generator=torch.Generator().manual_seed(0)) * 0.1).clamp(0, 1)
    chain, route = auto.routed(noisy)
    assert route.tasks == ("denoise",) and loaded == ["denoise"] and "noise sigma" in route.found
    assert not torch.allclose(chain.restore(noisy), noisy)
    auto.routed(noisy)
    assert loaded == ["denoise"]  # each checkpoint is loaded once
    with pytest.raises(ValueError, match="super-resolution"):
        auto.at_scale(2)


def test_the_default_task_takes_no_weights():
    from restormixer_cli.api import load_restorer

    with pytest.raises(ValueError, match="takes no weights"):
        load_restorer("auto", weights="model.safetensors", device="cpu")
