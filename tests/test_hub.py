"""Checkpoint downloads against a real HTTP server on 127.0.0.1, and safe checkpoint loading."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants as hub_constants
from rich.console import Console
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from restormixer_cli.cli import app
from restormixer_cli.cli.common import print_note
from restormixer_cli.cli.models_run import download_tasks, registry_rows
from restormixer_cli.hub import download
from restormixer_cli.hub.download import HubError, download_checkpoint
from restormixer_cli.hub.layout import sha256_of
from restormixer_cli.hub.registry import Task, load_registry
from restormixer_cli.hub.resolve import locate_spec, parse_repo_spec
from restormixer_cli.model.checkpoint import WeightsError, canonicalize_state_dict, load_weights_file
from restormixer_cli.model.pretrained import resolve_weights
from restormixer_cli.model.restormixer import build_model

from .conftest import TINY_CONFIG, make_tiny_model
from .hub_server import HubServer
from .test_cli_restore import save_rgb

REPO = "restormixer/tiny"
runner = CliRunner()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "hf-cache"
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(folder))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    return folder


@pytest.fixture
def weights_bytes(tiny_weights) -> bytes:
    return (tiny_weights / "model.safetensors").read_bytes()


@pytest.fixture
def hub(weights_bytes):
    with HubServer() as server:
        server.state.files[(REPO, "model.safetensors")] = weights_bytes
        server.state.files[(REPO, "config.json")] = json.dumps(TINY_CONFIG).encode()
        yield server


def registry_for(url_sha: str | None) -> dict[str, Task]:
    return {"tiny": Task(task="tiny", description="test", available=True, repo_id=REPO, sha256=url_sha,
                               published=True)}


def free_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_first_download_then_cache_hit_without_server(hub, cache, weights_bytes):
    sha = hashlib.sha256(weights_bytes).hexdigest()
    path = download_checkpoint(REPO, sha256=sha, endpoint=hub.url)
    assert path.read_bytes() == weights_bytes and str(cache) in str(path)
    assert (path.parent / "config.json").exists()
    gets = [r for r in hub.state.requests if r[0] == "GET"]
    assert len(gets) == 2
    # Cache hit: works with the server gone.
    again = download_checkpoint(REPO, sha256=sha, endpoint=free_port_url(), local_files_only=True)
    assert again == path
    model = build_model(load_weights_file(path))
    assert model.config["base_channel"] == TINY_CONFIG["base_channel"]


def test_offline_mode(hub, cache, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError, match="HF_HUB_OFFLINE|not cached|not in the local cache"):
        download_checkpoint(REPO, endpoint=hub.url)
    assert hub.state.requests == []


def test_missing_file_and_repo(hub, cache):
    with pytest.raises(HubError, match="has no file 'other.safetensors'"):
        download_checkpoint(REPO, filename="other.safetensors", endpoint=hub.url)
    with pytest.raises(HubError, match="not found"):
        download_checkpoint("nobody/nothing", endpoint=hub.url)


@pytest.mark.parametrize("spec", ["owner/model.safetensors", "owner/model.bin", "owner/MODEL.PTH", "runs/last.ckpt"])
def test_a_missing_weights_file_is_not_taken_for_a_repository(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such weights file or folder"):
        locate_spec(spec, endpoint="http://127.0.0.1:9")  # nothing is asked of the hub


def test_wrong_checksum_is_removed_from_cache(hub, cache):
    with pytest.raises(HubError, match="sha256"):
        download_checkpoint(REPO, sha256="0" * 64, endpoint=hub.url)
    blobs = list(cache.rglob("blobs/*"))
    assert all(b.stat().st_size < 1000 for b in blobs)  # only config.json may remain, never the bad weights
    assert not list(cache.rglob("snapshots/*/model.safetensors"))


def test_server_down(cache):
    with pytest.raises(HubError, match="cannot reach the hub|failed") as info:
        download_checkpoint(REPO, endpoint=free_port_url())
    message = str(info.value)  # a Python caller has no flags: the way out in plain words
    assert "give local weights (a file or a hub-layout folder), or set HF_ENDPOINT" in message
    assert "--" not in message and "\n" not in message
    assert isinstance(info.value, RuntimeError)
    copy = pickle.loads(pickle.dumps(info.value))  # as Ray sends a worker's error back
    assert type(copy) is type(info.value) and str(copy) == message


def test_server_down_names_the_weights_flag_on_the_command_line(cache, tmp_path):
    down = free_port_url()
    fetch = runner.invoke(app, ["download-weights", "--repo", REPO, "--endpoint", down])
    assert fetch.exit_code == 1 and len(fetch.output.strip().splitlines()) == 1, fetch.output
    assert "pass --weights FILE, or set HF_ENDPOINT to a reachable mirror" in fetch.output
    save_rgb(tmp_path / "a.png", seed=1)
    restore = runner.invoke(app, ["restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"),
                                  "--weights", REPO, "--endpoint", down])
    assert restore.exit_code == 1 and "pass --weights FILE, or set HF_ENDPOINT" in restore.output, restore.output


def test_a_notice_of_a_failed_download_is_plain_and_the_command_line_words_it(cache, tiny_weights, monkeypatch):
    entry = Task(task="tiny", description="t", available=True, repo_id=REPO, published=True, embedded="tiny")
    monkeypatch.setattr(Task, "embedded_path", property(lambda self: tiny_weights))
    notices = []
    loaded = resolve_weights("tiny", endpoint=free_port_url(), registry={"tiny": entry}, notice=notices.append)
    assert loaded.source == "embedded tiny checkpoint"
    (notice,) = notices
    assert isinstance(notice, str) and "give local weights" in notice and "--" not in notice
    console = Console(file=io.StringIO(), width=400)
    print_note(console, notice)
    assert "pass --weights FILE, or set HF_ENDPOINT" in console.file.getvalue()


def test_truncated_transfer_is_not_used(hub, cache):
    hub.state.truncate.add("model.safetensors")
    with pytest.raises(HubError):
        download_checkpoint(REPO, endpoint=hub.url)
    assert not list(cache.rglob("snapshots/*/model.safetensors"))


def test_restore_lookup_order(hub, cache, weights_bytes, tiny_weights):
    sha = hashlib.sha256(weights_bytes).hexdigest()
    notices = []
    first = resolve_weights("tiny", endpoint=hub.url, registry=registry_for(sha), notice=notices.append)
    assert "downloaded" in first.source
    second = resolve_weights("tiny", endpoint=free_port_url(), registry=registry_for(sha), notice=notices.append)
    assert "hub cache" in second.source and notices == []
    explicit = resolve_weights("tiny", weights=str(tiny_weights), endpoint=free_port_url(), registry=registry_for(sha))
    assert explicit.source == str(tiny_weights / "model.safetensors")
    from_repo = resolve_weights(None, weights=f"{REPO}@main", endpoint=hub.url)
    assert from_repo.source == f"{REPO}@main" and from_repo.config == TINY_CONFIG


def test_failed_download_falls_back_to_embedded_copy(cache, tiny_weights, monkeypatch):
    entry = Task(task="tiny", description="t", available=True, repo_id=REPO, published=True, embedded="tiny")
    monkeypatch.setattr(Task, "embedded_path", property(lambda self: tiny_weights))
    notices = []
    with HubServer() as empty_hub:  # answers 404 for every repository
        loaded = resolve_weights("tiny", endpoint=empty_hub.url, registry={"tiny": entry}, notice=notices.append)
    assert loaded.source == "embedded tiny checkpoint"
    assert len(notices) == 1 and "\n" not in notices[0]


def test_download_weights_command(hub, cache, monkeypatch, weights_bytes):
    sha = hashlib.sha256(weights_bytes).hexdigest()
    monkeypatch.setattr("restormixer_cli.cli.models_run.load_registry", lambda: registry_for(sha))
    result = runner.invoke(app, ["download-weights", "--endpoint", hub.url])  # no task named: every task
    assert result.exit_code == 0, result.output
    assert "tiny:" in result.output
    assert runner.invoke(app, ["download-weights", "nonexistent"]).exit_code == 2
    failed = runner.invoke(app, ["download-weights", "--repo", "nobody/nothing", "--endpoint", hub.url])
    assert failed.exit_code == 1 and "not found" in failed.output
    hub.state.files[("somebody/junk", "model.safetensors")] = b"not weights"  # no sha256 vouches for a --repo
    junk = runner.invoke(app, ["download-weights", "--repo", "somebody/junk", "--endpoint", hub.url])
    assert junk.exit_code == 1 and "cannot read weights" in junk.output, junk.output
    rows = {r.task: r for r in registry_rows(registry_for(sha))}
    assert rows["tiny"].status == "downloaded"
    assert download_tasks(["tiny"], False, None, "model.safetensors", "main", hub.url, registry_for(sha))


def test_the_registry_records_each_embedded_checkpoint_as_stored():
    """Its sha256 (restore's report names the weights by it) and size, for files stored in fp16 (half
    the size of fp32; export stores every checkpoint so)."""
    embedded = [entry for entry in load_registry().values() if entry.embedded_path is not None]
    assert len(embedded) == 5
    for entry in embedded:
        weights = entry.embedded_path / entry.filename
        assert (sha256_of(weights), weights.stat().st_size) == (entry.sha256, entry.size_bytes), entry.task
        assert {t.dtype for t in load_file(weights).values() if t.is_floating_point()} == {torch.float16}


def test_the_packaged_registry_is_read_once_and_read_only():
    registry = load_registry()
    assert load_registry() is registry
    with pytest.raises(TypeError):
        registry["copy"] = registry["derain"]
    derain = registry["derain"]
    with pytest.raises(TypeError):
        derain.config["base_channel"] = 64
    with pytest.raises(TypeError):
        derain.training["steps"] = 1
    with pytest.raises(TypeError):
        derain.scores[0]["psnr"] = 99.0


def test_download_weights_of_an_unpublished_task_names_the_embedded_copy(cache):
    """The registry's hub repositories are not published yet: nothing is fetched, and the message says
    so instead of blaming the network."""
    result = runner.invoke(app, ["download-weights", "derain", "--endpoint", free_port_url()])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "derain: not published on the hub yet; the embedded copy is used:" in said
    assert "weights/derain" in said.replace(" ", "") and "cannot reach" not in said


def test_unusable_cache_is_named_not_blamed_on_the_network(hub, cache, monkeypatch, tmp_path):
    """A cache that cannot be written (read-only, or under a file) says so and how to choose another."""
    (tmp_path / "file").write_text("x")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "file" / "cache"))
    result = runner.invoke(app, ["download-weights", "--repo", REPO, "--endpoint", hub.url])
    assert result.exit_code == 1 and "cannot store model.safetensors" in result.output, result.output
    assert "set HF_HUB_CACHE" in result.output and "reachable mirror" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_hf_endpoint_environment_variable_in_a_fresh_process(hub, tmp_path):
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path / "c"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run([sys.executable, "-m", "restormixer_cli", "download-weights", "--repo", REPO],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "c").exists()
    offline = subprocess.run([sys.executable, "-m", "restormixer_cli", "download-weights", "--repo", "x/y"],
                             env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=120)
    assert offline.returncode == 1 and "HF_HUB_OFFLINE" in offline.stderr


# ----------------------------------------------------------------------------------------- loading
def test_state_dict_canonicalisation():
    t = torch.zeros(1)
    assert canonicalize_state_dict({"params_ema": {"module.a": t}, "params": {"module.a": t}}) == {"a": t}
    assert canonicalize_state_dict({"state_dict": {"a": t}, "epoch": 3}) == {"a": t}
    assert canonicalize_state_dict({"model": {"_orig_mod.a": t}}) == {"a": t}
    with pytest.raises(WeightsError):
        canonicalize_state_dict({"epoch": 3})


@pytest.mark.parametrize("wrapper", ["params_ema", "state_dict", "model", None])
def test_pickle_checkpoints_load_safely(tmp_path, wrapper):
    model = make_tiny_model()
    state = {("module." + k if wrapper else k): v for k, v in model.state_dict().items()}
    torch.save({wrapper: state} if wrapper else state, tmp_path / "w.pth")
    rebuilt = build_model(load_weights_file(tmp_path / "w.pth"))  # config inferred from shapes
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x))


def test_arbitrary_pickles_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt", _use_new_zipfile_serialization=True)
    with pytest.raises(WeightsError, match="refused to load"):
        load_weights_file(tmp_path / "evil.pt")
    (tmp_path / "junk.pth").write_bytes(b"junk\n")  # text unpickles into a KeyError
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint, or a damaged one"):
        load_weights_file(tmp_path / "junk.pth")


def test_a_refused_pickle_says_how_to_convert_it_never_to_load_it_unsafely(tmp_path):
    """A training checkpoint with an object besides its tensors is refused, and the message names the
    object and the way to safetensors, not PyTorch's advice to turn the protection off."""
    torch.save({"params": make_tiny_model().state_dict(), "args": argparse.Namespace(lr=1e-3)}, tmp_path / "run.pth")
    (tmp_path / "junk.pt").write_bytes(b"\x80\x05garbage")  # a pickle opcode the safe loader refuses
    for name, holds in (("run.pth", "argparse.Namespace"), ("junk.pt", "something other than tensors")):
        with pytest.raises(WeightsError) as info:
            load_weights_file(tmp_path / name)
        message = str(info.value)
        assert holds in message and "safetensors.torch.save_file" in message
        assert "weights_only" not in message and "\n" not in message


def test_mismatched_checkpoint_names_keys(tmp_path):
    model = make_tiny_model()
    state = {k: v for k, v in model.state_dict().items() if "dcnn_stage" not in k}
    state["extra.weight"] = torch.zeros(1)
    save_file(state, tmp_path / "w.safetensors")
    with pytest.raises(WeightsError, match="missing: .*unexpected: extra.weight.*Likely cause") as info:
        build_model(load_weights_file(tmp_path / "w.safetensors"))
    assert "\n" not in str(info.value)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "w.safetensors").write_bytes(b"nonsense")
    with pytest.raises(WeightsError, match="cannot read weights"):
        load_weights_file(tmp_path / "w.safetensors")
    with pytest.raises(WeightsError, match="unsupported weights format"):
        (tmp_path / "w.onnx").write_bytes(b"x")
        load_weights_file(tmp_path / "w.onnx")
    (tmp_path / "empty.pth").write_bytes(b"")  # torch.load raises an EOFError without a message
    with pytest.raises(WeightsError, match=r"cannot read weights \(EOFError\)"):
        load_weights_file(tmp_path / "empty.pth")


STEM = "encoder.cnn_stem.0.main.0.weight"


@pytest.mark.parametrize("change, message", [
    ({STEM: torch.zeros(())}, "shapes no RestorMixer has"),  # too few dimensions
    ({STEM: torch.zeros(0, 3, 3, 3)}, "shapes no RestorMixer has"),  # width 0
    ({"encoder.emix_stage1.0.0.self_attention_1.A_logs": torch.zeros(5)}, "shapes no RestorMixer has"),
    ({STEM: torch.zeros(100_000, 1, 1, 1)}, "base_channel must be an integer from 1 to 1024"),  # 720 GB of model
    ({k: torch.zeros_like(v, dtype=torch.int64) for k, v in make_tiny_model().state_dict().items()},
     "not floating-point.*quantized"),  # loading would convert them without a word: black images
    ({STEM: torch.full((8, 3, 3, 3), float("nan"))}, "NaN or Inf.*damaged"),  # every image would fail
])
def test_checkpoints_of_impossible_shapes_or_types_are_refused_in_one_line(tmp_path, tiny_weights, change, message):
    """Shapes, sizes and dtypes no RestorMixer has are a WeightsError (restore: one line, exit 1), not an
    IndexError or ZeroDivisionError traceback, an attempt to allocate the model they imply, or garbage."""
    save_file({**make_tiny_model().state_dict(), **change}, tmp_path / "w.safetensors")
    with pytest.raises(WeightsError, match=message):
        build_model(load_weights_file(tmp_path / "w.safetensors"))
    save_rgb(tmp_path / "in" / "a.png")
    result = runner.invoke(app, ["restore", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                 "--weights", str(tmp_path / "w.safetensors")])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_repo_spec_parsing():
    assert parse_repo_spec("owner/name") == ("owner/name", "main")
    assert parse_repo_spec("owner/name@v1.0") == ("owner/name", "v1.0")
    assert parse_repo_spec("just-a-file.safetensors") is None


@pytest.mark.parametrize("revision", ["../../escape", "/tmp/escape", "main/../../escape", "bad\nname", ".hidden"])
def test_hostile_revisions_never_reach_the_hub(hub, cache, tmp_path, revision):
    """huggingface_hub writes refs/<revision> in the cache: a revision that climbs out must not be sent."""
    with pytest.raises(HubError, match="invalid revision"):
        download_checkpoint(REPO, revision=revision, endpoint=hub.url)
    save_rgb(tmp_path / "in" / "a.png")
    result = runner.invoke(app, ["restore", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                 "--weights", f"{REPO}@{revision}", "--endpoint", hub.url])
    assert result.exit_code == 1 and ("invalid revision" in result.output or "no such weights" in result.output)
    assert hub.state.requests == []
    assert not list(tmp_path.parent.rglob("escape"))


@pytest.mark.parametrize("filename", ["../model.safetensors", "/etc/passwd", "a/../../b"])
def test_hostile_file_names_and_repo_ids_are_refused(hub, cache, filename):
    result = runner.invoke(app, ["download-weights", "--repo", REPO, "--filename", filename, "--endpoint", hub.url])
    assert result.exit_code == 1 and "invalid file name" in result.output
    result = runner.invoke(app, ["download-weights", "--repo", "../../x", "--endpoint", hub.url])
    assert result.exit_code == 1 and "invalid repository id" in result.output
    assert hub.state.requests == []


@pytest.mark.parametrize("config, field", [
    ({"base_channel": 0}, "base_channel"),
    ({"base_channel": "8"}, "base_channel"),
    ({"base_channel": True}, "base_channel"),
    ({"num_blocks": [2, 2]}, "num_blocks"),
    ({"num_blocks": [2, 0, 2]}, "num_blocks"),
    ({"num_blocks": "222"}, "num_blocks"),
    ({"num_heads": [0, 8]}, "num_heads"),
    ({"num_heads": [3, 8]}, "num_heads"),
    ({"window_size": 0}, "window_size"),
    ({"window_size": 10**9}, "window_size"),
    ({"mlp_ratio": -1}, "mlp_ratio"),
    ({"mlp_ratio": None}, "mlp_ratio"),
    ({"d_state": 1.5}, "d_state"),
    ([1, 2, 3], "JSON object"),
])
def test_untrusted_config_json_is_validated(tiny_weights, tmp_path, config, field):
    """A bad config.json beside the weights is a one-line error naming the field, never a traceback."""
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes((tiny_weights / "model.safetensors").read_bytes())
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=field):
        load_weights_file(folder)
    save_rgb(tmp_path / "in" / "a.png")
    result = runner.invoke(app, ["restore", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights", str(folder)])
    assert result.exit_code == 1 and field in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_unreachable_hub_fails_after_one_short_retry(cache):
    """A server that drops every connection: the download gives up after two attempts, in one line,
    instead of huggingface_hub's five backed-off retries."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def drop_all():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=drop_all, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        result = runner.invoke(app, ["download-weights", "--repo", REPO, "--endpoint", url])
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert result.exit_code == 1 and "cannot reach the hub" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert 1 <= len(accepted) <= 2


def test_a_hub_that_never_answers_is_asked_once(cache, monkeypatch):
    """A hub that accepts the connection and never answers: one request, given up after the answer
    timeout, in one line that says so (it was asked twice, 5 s each, where the README promised a short wait)."""
    monkeypatch.setattr(download, "ANSWER_TIMEOUT_S", 0.5, raising=False)  # the real 3 s would slow the suite
    with HubServer() as silent:
        silent.state.silent = True
        result = runner.invoke(app, ["download-weights", "--repo", REPO, "--endpoint", silent.url])
        asked = list(silent.state.requests)
    assert result.exit_code == 1 and "cannot reach the hub" in result.output and "no answer within 0.5 s" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert asked == [("HEAD", "/")]
