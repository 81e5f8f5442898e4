"""The model is checkpoint- and output-compatible with the authors' implementation."""

from __future__ import annotations

import pytest
import torch

from restormixer_cli.model import RestorMixer


def test_default_state_dict_matches_official_keys_and_shapes(official_shapes):
    model = RestorMixer()
    state = model.state_dict()
    assert list(state) == list(official_shapes)  # same names, same order
    for key, shape in official_shapes.items():
        assert list(state[key].shape) == shape, key
    assert 3.1e6 < sum(p.numel() for p in model.parameters()) < 3.3e6


def test_official_shaped_weights_load_strictly(official_shapes):
    state = {k: torch.zeros(shape) for k, shape in official_shapes.items()}
    RestorMixer().load_state_dict(state, strict=True)


@pytest.mark.parametrize("backend", ["reference", "numba", "torch"])
def test_parity_with_authors_outputs(parity_tiny, backend):
    """Same weights, same outputs (all three deep-supervision scales), for every scan backend."""
    model = RestorMixer(**parity_tiny["config"], scan_backend=backend).eval()
    model.load_state_dict(parity_tiny["weights"], strict=True)
    with torch.no_grad():
        outputs = model(parity_tiny["input"], multiscale=True)
        full = model(parity_tiny["input"])
    for out, expected in zip(outputs, parity_tiny["outputs"]):
        assert out.shape == expected.shape
        assert float((out - expected).abs().max()) <= 1e-3
    assert torch.equal(full, outputs[-1])


def test_parity_case_rebuilt_from_reference_scan(parity_tiny):
    """The fast backend reproduces what the model computes with the exact sequential scan."""
    model = RestorMixer(**parity_tiny["config"]).eval()
    model.load_state_dict(parity_tiny["weights"])
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.set_scan_backend("reference")
        expected = model(x, multiscale=True)
        model.set_scan_backend("numba")
        actual = model(x, multiscale=True)
    for a, e in zip(actual, expected):
        assert float((a - e).abs().max()) <= 1e-4 * float(e.abs().max())


@pytest.mark.parametrize("size", [(1, 1), (33, 57), (100, 100), (321, 481), (8, 200)])
def test_any_image_size(size):
    torch.manual_seed(0)
    model = RestorMixer(base_channel=8, num_blocks=(2, 2, 2)).eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = model(x)
        scales = model(x, multiscale=True)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    h, w = size
    assert [tuple(s.shape[-2:]) for s in scales] == [(-(-h // 4), -(-w // 4)), (-(-h // 2), -(-w // 2)), (h, w)]


def test_single_output_skips_side_heads():
    model = RestorMixer(base_channel=8, num_blocks=(2, 2, 2)).eval()
    calls = []
    for head in model.decoder.decoder_out_conv:
        head.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 32))
        assert calls == []
        model(torch.rand(1, 3, 32, 32), multiscale=True)
    assert len(calls) == 2


def test_gradients_reach_every_used_parameter():
    torch.manual_seed(0)
    model = RestorMixer(base_channel=8, num_blocks=(2, 2, 2)).train()
    outputs = model(torch.rand(2, 3, 32, 32), multiscale=True)
    sum(o.square().mean() for o in outputs).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []
