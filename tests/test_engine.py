"""Tiled inference: coverage, exactness, seam quality, precision fallback, BatchNorm folding."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn

from restormixer_cli.inference.engine import (
    InferenceSettings,
    NonFiniteOutput,
    Restorer,
    auto_tile_size,
    fold_batchnorm,
    prepare_model,
    restore_image,
)
from restormixer_cli.inference.tiling import blend_weights, plan_tiles

from .conftest import make_tiny_model, textured_image


@pytest.fixture(scope="module")
def model():
    return prepare_model(make_tiny_model(), InferenceSettings())


@pytest.mark.parametrize("h,w,tile,overlap", [(100, 37, 32, 8), (64, 64, 64, 16), (10, 200, 48, 12), (5, 5, 32, 8)])
def test_tiles_cover_the_image_with_equal_sizes(h, w, tile, overlap):
    tiles = plan_tiles(h, w, tile, overlap)
    covered = np.zeros((h, w), bool)
    for t in tiles:
        covered[t.slices] = True
        assert (t.height, t.width) == (min(tile, h), min(tile, w))
        assert t.top + t.height <= h and t.left + t.width <= w
    assert covered.all()
    assert max(t.top + t.height for t in tiles) == h  # the last tiles end at the image edge


def test_blend_weights_are_one_at_image_borders_and_positive():
    tiles = plan_tiles(80, 80, 48, 16)
    total = sum(torch.nn.functional.pad(blend_weights(t, 80, 80, 16), (t.left, 80 - t.left - t.width, t.top, 80 - t.top - t.height)) for t in tiles)
    assert float(total.min()) > 0
    single = blend_weights(plan_tiles(30, 40, 64, 16)[0], 30, 40, 16)
    assert torch.equal(single, torch.ones(30, 40))


def test_tile_at_least_image_size_equals_untiled(model):
    image = textured_image(40, 56)
    whole = restore_image(model, image, InferenceSettings(tile=0))
    for tile in (56, 64, 512):
        assert np.array_equal(restore_image(model, image, InferenceSettings(tile=tile)), whole)


def test_seams_are_invisible(model):
    image = textured_image(96, 128, seed=1)
    whole = restore_image(model, image, InferenceSettings(tile=0))
    settings = InferenceSettings(tile=48, overlap=16)
    tiled = restore_image(model, image, settings)
    diff = np.abs(tiled - whole)
    print(f"tiled vs untiled: max {diff.max():.4f}, mean {diff.mean():.5f}")
    assert diff.mean() < 0.01
    # No step along tile borders: the gradient there is like the gradient elsewhere.
    grad = np.abs(np.diff(tiled, axis=1)).mean(axis=(0, 2))
    borders = sorted({t.left + t.width - 1 for t in plan_tiles(96, 128, 48, 16)} | {t.left - 1 for t in plan_tiles(96, 128, 48, 16) if t.left})
    borders = [b for b in borders if 0 <= b < grad.size]
    inner = np.delete(grad, borders)
    print(f"gradient on borders {grad[borders].mean():.4f}, elsewhere {inner.mean():.4f}")
    assert grad[borders].mean() < 1.25 * inner.mean()


def test_batching_tiles_does_not_change_results(model):
    image = textured_image(70, 90, seed=2)
    one = restore_image(model, image, InferenceSettings(tile=32, overlap=8, batch_size=1))
    many = restore_image(model, image, InferenceSettings(tile=32, overlap=8, batch_size=5))
    assert np.abs(one - many).max() < 1e-5


class FlakyInReducedPrecision(nn.Module):
    """Returns NaN when run under reduced-precision autocast, the input otherwise."""

    def forward(self, x):
        y = torch.nn.functional.conv2d(x, torch.eye(3)[:, :, None, None])
        return torch.full_like(x, float("nan")) if y.dtype != torch.float32 else x


def test_reduced_precision_overflow_is_redone_in_fp32():
    notices = []
    restorer = Restorer(FlakyInReducedPrecision(), InferenceSettings(precision=torch.bfloat16, tile=0), notices.append)
    x = torch.rand(3, 16, 16)
    assert torch.equal(restorer.restore(x), x)
    assert notices and "redone in fp32" in notices[0]


def test_non_finite_fp32_output_is_an_error():
    class Broken(nn.Module):
        def forward(self, x):
            return x * float("inf")

    with pytest.raises(NonFiniteOutput):
        Restorer(Broken(), InferenceSettings(tile=0)).restore(torch.rand(3, 8, 8))


def test_batchnorm_folding_keeps_outputs():
    reference = make_tiny_model(seed=3)
    with torch.no_grad():  # non-trivial running statistics
        for m in reference.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    folded = fold_batchnorm(copy.deepcopy(reference))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        assert float((folded(x) - reference(x)).abs().max()) < 1e-4


def test_memory_layout_follows_the_settings():
    """Channels-last by default on CPUs only; either layout gives the same restoration."""
    assert InferenceSettings().memory_format == torch.channels_last
    assert InferenceSettings(device=torch.device("cuda")).memory_format == torch.contiguous_format
    contiguous = InferenceSettings(channels_last=False)
    assert contiguous.memory_format == torch.contiguous_format
    image = textured_image(40, 48, seed=2)
    default = restore_image(prepare_model(make_tiny_model(), InferenceSettings()), image, InferenceSettings(tile=0))
    plain = restore_image(prepare_model(make_tiny_model(), contiguous), image, InferenceSettings(tile=0, channels_last=False))
    assert np.abs(default - plain).max() < 1e-5


@pytest.mark.parametrize("kwargs", [dict(tile=-1), dict(tile=8), dict(tile=64, overlap=64), dict(overlap=-2), dict(batch_size=0)])
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        InferenceSettings(**kwargs)


def test_auto_tile_size_is_bounded():
    tile = auto_tile_size(torch.device("cpu"), torch.float32)
    assert 64 <= tile <= 512 and tile % 64 == 0


@pytest.mark.parametrize("length,max_tile", [(1024, 512), (1000, 256), (300, 512), (513, 512)])
def test_automatic_tiles_are_balanced(length, max_tile):
    from restormixer_cli.inference.tiling import balanced_tile

    tile = balanced_tile(length, max_tile, 32)
    assert tile <= max(max_tile, length if length <= max_tile else 0)
    tiles = plan_tiles(length, length, max_tile, 32, balanced=True)
    plain = plan_tiles(length, length, max_tile, 32)
    assert len(tiles) <= len(plain)
    assert sum(t.height * t.width for t in tiles) <= sum(t.height * t.width for t in plain)


def test_self_ensemble_averages_the_eight_orientations(model):
    image = torch.from_numpy(textured_image(24, 40)).permute(2, 0, 1)
    plain = Restorer(model, InferenceSettings(tile=0)).restore(image)
    ensemble = Restorer(model, InferenceSettings(tile=0, self_ensemble=True))
    ensembled = ensemble.restore(image)
    assert float((ensembled - plain).abs().max()) > 1e-4  # the model itself is not orientation-invariant
    # An average over all eight orientations commutes with each of them.
    for turns, mirrored in [(1, False), (2, True), (0, True)]:
        transformed = torch.rot90(image, turns, (-2, -1))
        transformed = transformed.flip(-1) if mirrored else transformed
        expected = torch.rot90(ensembled, turns, (-2, -1))
        expected = expected.flip(-1) if mirrored else expected
        assert torch.allclose(ensemble.restore(transformed), expected, atol=1e-5)
    identity = Restorer(nn.Identity(), InferenceSettings(tile=0, self_ensemble=True))
    assert torch.allclose(identity.restore(image), image)
