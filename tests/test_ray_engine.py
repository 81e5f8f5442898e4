"""`restore --engine ray` on a local Ray instance, and URIs on a real S3 server (moto's) on 127.0.0.1."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import SUBPROCESS_ENV
from .test_cli_restore import restore, save_rgb

ray = pytest.importorskip("ray")
boto3 = pytest.importorskip("boto3")
psutil = pytest.importorskip("psutil")
moto_server = pytest.importorskip("moto.server")

BUCKET = "photos"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_env():
    """A real S3 server on 127.0.0.1, and the standard variables that point boto and s3fs at it."""
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()


@pytest.fixture(scope="module")
def ray_instance(s3_env):
    """One small local Ray instance for the module (its workers see the S3 variables); the
    engine uses a connection that is already there."""
    ray.init(num_cpus=2, object_store_memory=150 * 2**20, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {**s3_env, "OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


@pytest.fixture
def bucket(s3_env):
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def png_bytes(seed: int, size: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def files_below(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def finished_outputs(folder: Path) -> list[Path]:
    """Outputs already in place (pathlib's glob also matches the hidden temporaries of running writes)."""
    return [p for p in folder.glob("*.png") if not p.name.startswith(".")] if folder.exists() else []


def test_ray_engine_matches_the_local_engine(ray_instance, tiny_weights, tmp_path):
    photos = tmp_path / "photos"
    for i, name in enumerate(["a.png", "trip/b.jpg", "trip/deep/c.webp"]):
        save_rgb(photos / name, h=32, w=32, seed=i)
    (photos / "trip" / "broken.png").write_bytes(b"not an image")
    reports = {}
    for engine in ("local", "ray"):
        out, report = tmp_path / engine, tmp_path / f"{engine}.json"
        args = [str(photos), "-o", str(out), "--weights", str(tiny_weights), "--suffix", "_r", "--ext", "png",
                "--engine", engine]
        result = restore(*args, "--json", str(report))
        assert result.exit_code == 1, result.output  # the broken file fails, the others go on
        assert "failed" in result.output
        reports[engine] = json.loads(report.read_text())
        assert files_below(out) == ["a_r.png", "trip/b_r.png", "trip/deep/c_r.png"]
        assert "already exist" in restore(*args).output
        resumed = restore(*args, "--skip-existing", "--json", str(report))
        assert resumed.exit_code == 1, resumed.output
        assert json.loads(report.read_text())["summary"] == {"done": 0, "skipped": 3, "failed": 1}
    for a, b in zip(*(files_below(tmp_path / engine) for engine in ("local", "ray"))):
        local, distributed = (np.asarray(Image.open(tmp_path / engine / a), dtype=int) for engine in ("local", "ray"))
        assert np.abs(local - distributed).max() <= 1  # thread counts may differ in the last bit
    rows = {engine: [(f["input"], f["output"] and Path(f["output"]).relative_to(tmp_path / engine), f["status"])
                     for f in report["files"]] for engine, report in reports.items()}
    assert rows["ray"] == rows["local"]
    assert reports["ray"]["summary"] == {"done": 3, "skipped": 0, "failed": 1}
    assert reports["ray"]["settings"]["engine"] == "ray"


def test_s3_round_trip_on_ray(ray_instance, bucket, tiny_weights, tmp_path):
    for i, key in enumerate(["in/a.png", "in/trip/b.png", "in/trip/deep/c.png"]):
        bucket.put_object(Bucket=BUCKET, Key=key, Body=png_bytes(i))
    bucket.put_object(Bucket=BUCKET, Key="in/trip/broken.png", Body=b"not an image")
    bucket.put_object(Bucket=BUCKET, Key="in/notes.txt", Body=b"not media")
    args = [f"s3://{BUCKET}/in/", "-o", f"s3://{BUCKET}/out/", "--weights", str(tiny_weights), "--suffix", "_r",
            "--engine", "ray", "--json", str(tmp_path / "report.json")]
    result = restore(*args)
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"] == {"done": 3, "skipped": 0, "failed": 1}
    assert {f["input"]: f["status"] for f in report["files"]}[f"s3://{BUCKET}/in/trip/broken.png"] == "failed"
    keys = sorted(item["Key"] for item in bucket.list_objects_v2(Bucket=BUCKET, Prefix="out/")["Contents"])
    assert keys == ["out/a_r.png", "out/trip/b_r.png", "out/trip/deep/c_r.png"]
    for key in keys:
        with Image.open(io.BytesIO(bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read())) as img:
            assert img.size == (32, 32)
    assert "already exist" in restore(*args[:-2]).output
    resumed = restore(*args[:-2], "--skip-existing", "--json", str(tmp_path / "resumed.json"))
    assert resumed.exit_code == 1
    assert json.loads((tmp_path / "resumed.json").read_text())["summary"] == {"done": 0, "skipped": 3, "failed": 1}


def test_the_python_api_runs_on_ray_with_relative_weights(ray_instance, bucket, tiny_weights, tmp_path, monkeypatch):
    import restormixer_cli

    bucket.put_object(Bucket=BUCKET, Key="in/a.png", Body=png_bytes(0))
    bucket.put_object(Bucket=BUCKET, Key="in/b.png", Body=b"not an image")
    monkeypatch.chdir(tiny_weights.parent)  # the workers must still find the weights
    local = restormixer_cli.restore_paths(f"s3://{BUCKET}/in/", tmp_path / "local",
                                          restormixer_cli.load_restorer(weights=tiny_weights.name, device="cpu"))
    results = restormixer_cli.restore_paths_on_ray(f"s3://{BUCKET}/in/", f"s3://{BUCKET}/out/",
                                                   weights=tiny_weights.name, device="cpu")
    assert [(r.input, r.status) for r in results] == [(r.input, r.status) for r in local]
    assert [r.status for r in results] == ["done", "failed"] and results[0].output == f"s3://{BUCKET}/out/a.png"
    on_ray = bucket.get_object(Bucket=BUCKET, Key="out/a.png")["Body"].read()
    assert np.abs(np.asarray(Image.open(io.BytesIO(on_ray)), dtype=int)
                  - np.asarray(Image.open(tmp_path / "local" / "a.png"), dtype=int)).max() <= 1


def test_ray_leaves_the_callers_signal_handlers_in_place():
    script = """
import signal
from restormixer_cli.inference.ray_engine import RayOptions, connect
from restormixer_cli.signals import sigterm_as_interrupt
with sigterm_as_interrupt():
    ours = signal.getsignal(signal.SIGTERM)
    with connect(RayOptions()):
        during = signal.getsignal(signal.SIGTERM)
    after = signal.getsignal(signal.SIGTERM)
print(during is ours, after is ours, signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""
    done = subprocess.run([sys.executable, "-c", script], env=SUBPROCESS_ENV, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "True"]


def test_s3_in_local_out_with_the_local_engine(bucket, tiny_weights, tmp_path):
    bucket.put_object(Bucket=BUCKET, Key="scans/x/a.png", Body=png_bytes(0))
    result = restore(f"s3://{BUCKET}/scans/", "-o", str(tmp_path / "out"), "--weights", str(tiny_weights))
    assert result.exit_code == 0, result.output
    assert files_below(tmp_path / "out") == ["x/a.png"]
    with Image.open(tmp_path / "out" / "x" / "a.png") as img:
        assert img.size == (32, 32)


def test_uri_runs_refuse_local_only_options(bucket, tiny_weights, tmp_path):
    bucket.put_object(Bucket=BUCKET, Key="in/a.png", Body=png_bytes(0))
    result = restore(f"s3://{BUCKET}/in/", "-o", f"s3://{BUCKET}/in/", "--weights", str(tiny_weights))
    assert result.exit_code == 1 and "would overwrite the input" in result.output
    result = restore(f"s3://{BUCKET}/in/", "-o", f"s3://{BUCKET}/out/", "--weights", str(tiny_weights),
                     "--compare", str(tmp_path / "cmp"))
    assert result.exit_code == 1 and "--compare" in result.output


def test_ray_options_need_the_ray_engine(tiny_weights, tmp_path):
    save_rgb(tmp_path / "a.png")
    result = restore(str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                     "--workers", "2")
    assert result.exit_code == 2 and "need --engine ray" in result.output


def _restore_workers(pid: int) -> list[psutil.Process]:
    """The Ray Data actor processes that the run with process ``pid`` started."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    workers = []
    for child in children:
        try:
            if "RestoreWorker" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.Error:
            pass
    return workers


def test_a_killed_worker_is_replaced_and_its_images_redone(tmp_path):
    """The real command in its own process, starting its own local Ray instance; one of its two
    workers is killed (SIGKILL) once the first outputs are written."""
    photos, out, report = tmp_path / "photos", tmp_path / "out", tmp_path / "report.json"
    count = 10
    for i in range(count):
        save_rgb(photos / f"sub{i % 2}" / f"img{i}.png", h=64, w=64, seed=i)
    env = {**SUBPROCESS_ENV, "RAY_DEFAULT_OBJECT_STORE_MEMORY_PROPORTION": "0.01"}
    log = tmp_path / "log.txt"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "restormixer_cli", "restore", str(photos), "-o", str(out),
                                 "--task", "denoise", "--engine", "ray", "--workers", "2", "--json", str(report), "-q"],
                                env=env, stdout=sink, stderr=subprocess.STDOUT)
    killed, seen, replaced = None, set(), False
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            workers = {worker.pid for worker in _restore_workers(proc.pid)}
            done = [f for f in files_below(out) if not Path(f).name.startswith(".")] if out.exists() else []
            if killed is None and 0 < len(done) < count - 3 and len(workers) == 2:
                seen = workers
                killed = min(workers)
                os.kill(killed, signal.SIGKILL)
            replaced = replaced or (killed is not None and bool(workers - seen))
            time.sleep(0.05)
        proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text()
    assert killed is not None, f"the run ended before a worker could be killed:\n{output}"
    assert replaced, "no worker took the killed one's place"
    assert proc.returncode == 0, output
    assert files_below(out) == sorted(f"sub{i % 2}/img{i}.png" for i in range(count))  # nothing partial left
    for path in out.rglob("*.png"):
        with Image.open(path) as img:
            img.load()
            assert img.size == (64, 64)
    files = json.loads(report.read_text())["files"]
    assert sorted(f["input"] for f in files) == sorted(str(p) for p in photos.rglob("*.png"))
    assert all(f["status"] == "done" for f in files)


def test_sigterm_stops_a_ray_run_the_clean_way(tmp_path):
    """A scheduler's SIGTERM to the command while its worker restores: the run stops as Ctrl-C
    stops it (exit status 143, its message), keeps the finished outputs and leaves no partial one,
    not even of a job that a worker killed with the Ray instance left (planted here for the last one)."""
    photos, out = tmp_path / "photos", tmp_path / "out"
    count = 12
    for i in range(count):
        save_rgb(photos / f"img{i:02d}.png", h=96, w=96, seed=i)
    out.mkdir()
    (out / f".img{count - 1}.abcd1234.restormixer-part.png").write_bytes(b"half an image")
    env = {**SUBPROCESS_ENV, "RAY_DEFAULT_OBJECT_STORE_MEMORY_PROPORTION": "0.01"}
    log = tmp_path / "log.txt"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "restormixer_cli", "restore", str(photos), "-o", str(out),
                                 "--task", "denoise", "--engine", "ray", "-q"], env=env, stdout=sink,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None and not finished_outputs(out):
            time.sleep(0.05)
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text()
    assert proc.returncode == 143, output
    assert "interrupted after" in output
    finished = files_below(out)
    assert 0 < len(finished) < count and all(not name.startswith(".") for name in finished), finished
    for path in finished_outputs(out):
        with Image.open(path) as img:
            img.load()
