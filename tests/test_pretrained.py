"""RestorMixer.from_pretrained / save_pretrained / push_to_hub (huggingface_hub's PyTorchModelHubMixin)
in the project's hub layout, for folders, hub repository ids and task names."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from huggingface_hub import HfApi
from huggingface_hub import constants as hub_constants
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

import restormixer_cli
from restormixer_cli.cli import app
from restormixer_cli.hub.registry import load_registry
from restormixer_cli.model import RestorMixer
from restormixer_cli.model.checkpoint import WeightsError
from restormixer_cli.model.pretrained import pretrained_weights, resolve_weights
from restormixer_cli.model.restormixer import build_model

from .conftest import TINY_CONFIG, make_tiny_model
from .hub_server import HubServer
from .test_cli_restore import save_rgb
from .test_hub import REPO, cache, registry_for  # noqa: F401 - cache is a fixture

#: Architecture arguments that config.json must carry: window size and heads cannot be inferred from shapes.
NON_DEFAULT = {**TINY_CONFIG, "window_size": 4, "num_heads": [2, 4], "d_state": 8}


@pytest.fixture(autouse=True)
def torch_scan(monkeypatch):
    monkeypatch.setenv("RESTORMIXER_SCAN", "torch")  # no numba compilation in these short tests


def outputs(model: torch.nn.Module, seed: int = 0) -> torch.Tensor:
    x = torch.rand(1, 3, 16, 24, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model(x)


def test_save_pretrained_round_trip_keeps_config_and_outputs(tmp_path):
    torch.manual_seed(0)
    model = RestorMixer(**NON_DEFAULT).eval()
    model.save_pretrained(tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((tmp_path / "saved" / "config.json").read_text()) == NON_DEFAULT
    card = (tmp_path / "saved" / "README.md").read_text()
    assert "library_name: restormixer" in card and "image-to-image" in card and "license: mit" in card

    loaded = RestorMixer.from_pretrained(tmp_path / "saved")
    assert not loaded.training and loaded.config == model.config
    assert torch.equal(outputs(loaded), outputs(model))


def test_save_pretrained_folder_is_what_restore_weights_reads(tmp_path):
    make_tiny_model().save_pretrained(tmp_path / "saved")
    save_rgb(tmp_path / "in" / "a.png", 16, 24)
    result = CliRunner().invoke(app, ["restore", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                      "--weights", str(tmp_path / "saved")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a.png").exists()


def test_task_name_loads_what_load_restorer_uses(cache, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)  # published or not, the registry's repo is not fetched
    model = RestorMixer.from_pretrained("derain")
    expected = resolve_weights("derain")
    assert not model.training
    assert model.state_dict().keys() == expected.state_dict.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.state_dict.items())

    restorer = restormixer_cli.load_restorer(task="derain", device="cpu", precision="fp32")
    assert torch.allclose(outputs(model), outputs(restorer.model), atol=1e-5)

    # Saving it again gives the registry's own hub layout.
    model.save_pretrained(tmp_path / "again")
    embedded = load_registry()["derain"].embedded_path
    assert json.loads((tmp_path / "again" / "config.json").read_text()) == json.loads(
        (embedded / "config.json").read_text())


def test_the_super_resolution_task_loads_a_model_that_enlarges(cache, monkeypatch):  # noqa: F811
    """The sr checkpoint has a pixel-shuffle tail per factor: loaded alone, it enlarges, or says how."""
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    model = RestorMixer.from_pretrained("sr")
    assert model.upscales == [2, 3, 4]
    with torch.no_grad():
        assert model(torch.rand(1, 3, 16, 24), scale=3).shape == (1, 3, 48, 72)
    with pytest.raises(ValueError, match="enlarges by 2, 3, 4, not by 1"):
        model(torch.rand(1, 3, 16, 24))


def test_task_name_downloads_from_the_registry_repo(cache, tiny_weights):  # noqa: F811
    weights = (tiny_weights / "model.safetensors").read_bytes()
    with HubServer() as hub:
        hub.state.files[(REPO, "model.safetensors")] = weights
        hub.state.files[(REPO, "config.json")] = json.dumps(TINY_CONFIG).encode()
        registry = registry_for(hashlib.sha256(weights).hexdigest())
        model = build_model(pretrained_weights("tiny", endpoint=hub.url, registry=registry))
    assert torch.equal(outputs(model), outputs(make_tiny_model()))


def test_push_to_hub_then_from_pretrained_by_repo_id(cache, monkeypatch):  # noqa: F811
    """The local hub server answers downloads only, so push_to_hub's two hub calls are stood in for:
    the uploaded folder is what the server then serves."""
    model = make_tiny_model()
    with HubServer() as hub:
        def upload_folder(self, *, repo_id: str, folder_path: Path, **kwargs) -> str:
            for path in Path(folder_path).iterdir():
                hub.state.files[(repo_id, path.name)] = path.read_bytes()
            return f"{hub.url}/{repo_id}/commit/1"

        monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: SimpleNamespace(repo_id=repo_id))
        monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
        model.push_to_hub(REPO)
        assert json.loads(hub.state.files[(REPO, "config.json")]) == TINY_CONFIG

        loaded = RestorMixer.from_pretrained(REPO, revision="main", endpoint=hub.url)
    assert not loaded.training
    assert torch.equal(outputs(loaded), outputs(model))


def test_wrong_shapes_are_a_clear_error(tmp_path):
    make_tiny_model().save_pretrained(tmp_path / "saved")
    state = load_file(tmp_path / "saved" / "model.safetensors")
    state["decoder.output.main.0.weight"] = torch.zeros(3, 4, 3, 3)
    save_file(state, tmp_path / "saved" / "model.safetensors")
    with pytest.raises(WeightsError, match=r"1 wrong shape: decoder\.output\.main\.0\.weight .*Likely cause") as info:
        RestorMixer.from_pretrained(tmp_path / "saved")
    assert "\n" not in str(info.value)


def test_unknown_names_and_misplaced_revisions():
    with pytest.raises(ValueError, match="not a weights file or folder.*derain"):
        RestorMixer.from_pretrained("no-such-task")
    with pytest.raises(ValueError, match="revision"):
        RestorMixer.from_pretrained("derain", revision="v1")
