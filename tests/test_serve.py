"""`restormixer serve`'s HTTP API, through a real server on 127.0.0.1: restoring as the command line
does, bad and oversized uploads, a full queue, timeouts, a burst of concurrent requests, the command."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import png
import pytest
import tifffile
from PIL import Image, ImageCms
from typer.testing import CliRunner

import restormixer_cli
from restormixer_cli.cli import app
from restormixer_cli.serve import ServeLimits, create_app

from .conftest import SUBPROCESS_ENV, textured_image
from .serve_helpers import LiveServer, wait_until_healthy

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
LIMITS = ServeLimits(max_upload_bytes=256 * 1024, max_pixels=96 * 96, queue=2, timeout=60)


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory):
    """The temporary folder of the module's servers: it must hold nothing once requests are over."""
    folder = tmp_path_factory.mktemp("serve_tmp")
    saved, tempfile.tempdir = tempfile.tempdir, str(folder)
    yield folder
    tempfile.tempdir = saved


@pytest.fixture(scope="module")
def server(scratch_root):
    with LiveServer(create_app(["denoise"], device="cpu", limits=LIMITS)) as live:
        yield live


def left_behind(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() or (p.is_dir() and p.parent != folder)]


def encode(fmt: str = "PNG", size: tuple[int, int] = (32, 24), seed: int = 0, **options) -> bytes:
    pixels = (textured_image(size[1], size[0], seed) * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def assert_json_error(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    assert words in detail, detail


def test_restores_like_the_command_line(server, tmp_path):
    """JPEG with EXIF and ICC as a form upload, 16-bit PNG as a raw body: what comes back is the file
    restore_paths writes for the same input, under the command line's output name."""
    exif = Image.Exif()
    exif[0x013B] = "A. Photographer"  # Artist
    jpeg = encode("JPEG", exif=exif.tobytes(), icc_profile=SRGB, quality=92)
    sixteen = io.BytesIO()
    png.Writer(20, 16, greyscale=False, bitdepth=16).write(
        sixteen, (textured_image(16, 20) * 65535).round().astype(np.uint16).reshape(16, 60))
    restorer = restormixer_cli.load_restorer(task="denoise", device="cpu")
    for name, data, request in [
        ("photo.jpeg", jpeg, dict(files={"file": ("photo.jpeg", jpeg, "image/jpeg")})),
        ("scan.png", sixteen.getvalue(), dict(content=sixteen.getvalue(), params={"filename": "scan.png"})),
    ]:
        response = httpx.post(f"{server.url}/restore", timeout=60, **request)
        assert response.status_code == 200, response.text
        (tmp_path / name).write_bytes(data)
        expected = Path(restormixer_cli.restore_paths(tmp_path / name, tmp_path / "cli", restorer)[0].output)
        assert response.headers["content-disposition"].endswith(f"filename*=UTF-8''{expected.name}")
        assert response.headers["x-restormixer-task"] == "denoise"
        with Image.open(io.BytesIO(response.content)) as served, Image.open(expected) as cli:
            assert (served.format, served.mode, served.size) == (cli.format, cli.mode, cli.size)
            assert served.info.get("icc_profile") == cli.info.get("icc_profile")
            assert served.getexif().get(0x013B) == cli.getexif().get(0x013B)
            difference = np.abs(np.asarray(served, np.int32) - np.asarray(cli, np.int32)).max()
            assert difference <= 1, difference
            if name == "photo.jpeg":
                assert served.info.get("icc_profile") == SRGB and served.getexif()[0x013B] == "A. Photographer"
    assert response.headers["content-type"] == "image/png"
    assert response.content[24] == 16  # the PNG header's bit depth: 16-bit stays 16-bit
    as_webp = httpx.post(f"{server.url}/restore", params={"ext": "webp", "suffix": "_clean", "quality": 80},
                         files={"file": ("name with space.png", encode())}, timeout=60)
    assert as_webp.status_code == 200 and as_webp.headers["content-type"] == "image/webp"
    assert 'filename="name with space_clean.webp"' in as_webp.headers["content-disposition"]


def test_bad_uploads_get_one_line_json_errors(server, scratch_root):
    url = f"{server.url}/restore"
    cases = [
        (dict(content=b"hello, not an image"), 415, "not an image"),
        (dict(content=b""), 400, "empty upload"),
        (dict(content=encode()[:120]), 422, "corrupt or truncated"),
        (dict(content=encode("GIF")), 415, "unsupported image format GIF"),
        (dict(content=encode(size=(128, 128))), 413, "megapixels"),
        (dict(content=os.urandom(300 * 1024)), 413, "larger than the limit of 0.25 MiB"),
        (dict(content=iter([os.urandom(64 * 1024)] * 5)), 413, "larger than the limit"),  # chunked: no length declared
        (dict(content=encode(), params={"task": "dehaze"}), 422, "not served here"),
        (dict(content=encode(), params={"quality": 0}), 422, "quality"),
        (dict(content=encode(), params={"suffix": "a/b"}), 422, "separators"),
        (dict(content=encode(), params={"suffix": "\x00"}), 422, "control characters"),
        (dict(content=encode(), params={"suffix": "\U0001f600" * 60}), 422, "longer than 100 bytes"),
        (dict(files={"file": ("a.png", encode())}, data={"task": "denoise"}), 400, "query string"),
        (dict(files={"image": ("a.png", encode())}), 400, "no file field named 'file'"),
        (dict(content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"}), 400, ""),
    ]
    for request, status, words in cases:
        assert_json_error(httpx.post(url, timeout=60, **request), status, words)
    assert_json_error(httpx.get(f"{server.url}/nowhere"), 404, "Not Found")
    assert_json_error(httpx.get(url), 405, "Method Not Allowed")
    assert httpx.get(f"{server.url}/health").json()["admitted"] == 0
    assert left_behind(scratch_root) == []


def test_preview_is_an_8_bit_png_as_restore_reads_the_image(server, scratch_root):
    """What a browser cannot show (TIFF, 16 bits) comes back as a PNG: upright, scaled to 8 bits, alpha kept."""
    sixteen = (np.dstack([textured_image(16, 20), textured_image(16, 20, seed=1)[..., :1]]) * 65535).round()
    sixteen_tiff = io.BytesIO()
    tifffile.imwrite(sixteen_tiff, sixteen.astype(np.uint16), photometric="rgb", extrasamples=[2])
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to show
    for data, mode, size in [(encode("TIFF"), "RGB", (32, 24)), (sixteen_tiff.getvalue(), "RGBA", (20, 16)),
                             (encode("JPEG", exif=exif.tobytes()), "RGB", (24, 32))]:
        response = httpx.post(f"{server.url}/preview", files={"file": ("image", data)}, timeout=60)
        assert response.status_code == 200 and response.headers["content-type"] == "image/png", response.text
        with Image.open(io.BytesIO(response.content)) as shown:
            assert (shown.format, shown.mode, shown.size) == ("PNG", mode, size)
            if mode == "RGBA":
                assert np.abs(np.asarray(shown, np.int32) - np.round(sixteen / 257)).max() <= 1
    assert left_behind(scratch_root) == []


def test_preview_refuses_what_restore_refuses(server, scratch_root):
    url = f"{server.url}/preview"
    cases = [
        (dict(content=b"hello, not an image"), 415, "not an image"),
        (dict(content=encode()[:120]), 422, "corrupt or truncated"),
        (dict(content=encode(size=(128, 128))), 413, "megapixels"),
        (dict(content=os.urandom(300 * 1024)), 413, "larger than the limit of 0.25 MiB"),
    ]
    for request, status, words in cases:
        assert_json_error(httpx.post(url, timeout=60, **request), status, words)
    assert httpx.get(f"{server.url}/health").json()["admitted"] == 0
    assert left_behind(scratch_root) == []


def test_super_resolution_scale_is_chosen_per_request(scratch_root):
    with LiveServer(create_app(["sr"], device="cpu", limits=LIMITS)) as live:
        assert httpx.get(f"{live.url}/models").json()["models"][0]["scales"] == [2, 3, 4]
        sizes = {}
        for params in ({}, {"scale": 3}, {"scale": 4}, {"outscale": 3.5}):
            done = httpx.post(f"{live.url}/restore", content=encode(size=(16, 12)), params=params, timeout=120)
            assert done.status_code == 200, done.text
            sizes[str(params)] = Image.open(io.BytesIO(done.content)).size
        assert list(sizes.values()) == [(32, 24), (48, 36), (64, 48), (56, 42)]
        assert_json_error(httpx.post(f"{live.url}/restore", content=encode(), params={"outscale": 0}), 422, "outscale")
        assert_json_error(httpx.post(f"{live.url}/restore", content=encode(), params={"scale": 5}), 422, "not 5")
    denoise = create_app(["denoise"], device="cpu", limits=LIMITS)
    with LiveServer(denoise) as live:
        refused = httpx.post(f"{live.url}/restore", content=encode(), params={"scale": 2})
        assert_json_error(refused, 422, "does not upscale")
        assert "--" not in refused.text  # an HTTP client has no command-line flags


def test_models_health_openapi_and_page(server):
    assert [httpx.head(f"{server.url}/{path}").status_code for path in ("health", "models")] == [200, 200]
    models = httpx.get(f"{server.url}/models").json()
    assert models["default"] == "denoise" and models["device"] == "cpu"
    assert [(m["task"], m["state"]) for m in models["models"]] == [("denoise", "ready")]
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok" and health["limits"]["queue"] == 2
    spec = httpx.get(f"{server.url}/openapi.json").json()
    restore = spec["paths"]["/restore"]["post"]
    assert {"multipart/form-data", "image/png", "application/octet-stream"} <= restore["requestBody"]["content"].keys()
    assert {"200", "413", "415", "429", "503"} <= restore["responses"].keys()
    assert {p["name"] for p in restore["parameters"]} == {"task", "ext", "quality", "suffix", "filename", "scale",
                                                            "outscale"}
    assert {"/models", "/health"} <= spec["paths"].keys()
    preview = spec["paths"]["/preview"]["post"]
    assert preview["requestBody"] == restore["requestBody"] and "parameters" not in preview
    assert "image/png" in preview["responses"]["200"]["content"]
    assert {"413", "415", "422", "429", "503"} <= preview["responses"].keys()
    assert httpx.get(f"{server.url}/docs").status_code == 404  # FastAPI's docs page loads assets from a CDN
    page = httpx.get(server.url)
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("app.js", "style.css"):
        assert httpx.get(f"{server.url}/static/{asset}").status_code == 200
    assert "http" not in page.text.replace('href="/openapi.json"', "")  # nothing from elsewhere


async def _stalled_upload(url: str, release: asyncio.Event) -> httpx.Response:
    """A raw-body upload whose second half waits for ``release``: it holds a place in the queue."""
    data = encode()

    async def body():
        yield data[: len(data) // 2]
        await release.wait()
        yield data[len(data) // 2:]

    async with httpx.AsyncClient(timeout=60) as client:
        return await client.post(f"{url}/restore", content=body())


def test_a_full_queue_answers_429_at_once(server, scratch_root):
    async def scenario():
        release = asyncio.Event()
        holders = [asyncio.create_task(_stalled_upload(server.url, release)) for _ in range(LIMITS.queue)]
        async with httpx.AsyncClient(timeout=60) as client:
            while (await client.get(f"{server.url}/health")).json()["admitted"] < LIMITS.queue:
                await asyncio.sleep(0.05)
            started = time.monotonic()
            refused = await client.post(f"{server.url}/restore", content=encode())
            waited = time.monotonic() - started
        release.set()
        return refused, waited, await asyncio.gather(*holders)

    refused, waited, held = asyncio.run(scenario())
    assert_json_error(refused, 429, "busy")
    assert refused.headers["retry-after"] == "1" and waited < 5
    assert [r.status_code for r in held] == [200] * LIMITS.queue
    assert left_behind(scratch_root) == []


def test_a_burst_of_eight_waits_its_turn_with_the_default_queue(scratch_root):
    """Eight requests at once, as a page with several images or a small team sends them: the default
    queue admits them all (one running, the others waiting), /health says how many it takes, and
    every one is restored (the default of 4 refused half of them)."""
    burst = 8
    limits = dataclasses.replace(LIMITS, queue=ServeLimits().queue)

    async def scenario(url: str):
        release = asyncio.Event()
        holders = [asyncio.create_task(_stalled_upload(url, release)) for _ in range(burst)]
        async with httpx.AsyncClient(timeout=60) as client:
            deadline = time.monotonic() + 30
            while (health := (await client.get(f"{url}/health")).json())["admitted"] < burst:
                if time.monotonic() > deadline:  # refused ones never count: go on and see their answers
                    break
                await asyncio.sleep(0.05)
        release.set()
        return health, await asyncio.gather(*holders, return_exceptions=True)

    with LiveServer(create_app(["denoise"], device="cpu", limits=limits)) as live:
        health, answers = asyncio.run(scenario(live.url))
    # a refused upload may see its connection closed before it has sent its body
    assert [getattr(r, "status_code", type(r).__name__) for r in answers] == [200] * burst
    assert health["admitted"] == burst and health["limits"]["queue"] >= burst


def test_a_burst_gets_images_or_clean_refusals(server, scratch_root):
    """12 requests at once against a queue of 2: each answer is a restored image or a JSON 429/503."""
    data = encode(size=(32, 32), seed=3)

    async def burst():
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=12)) as client:
            return await asyncio.wait_for(asyncio.gather(*[
                client.post(f"{server.url}/restore", content=data, params={"filename": f"{i}.png"}) for i in range(12)
            ]), 180)

    answers = asyncio.run(burst())
    codes = [r.status_code for r in answers]
    assert set(codes) <= {200, 429, 503} and codes.count(200) >= 1, codes
    for response in answers:
        if response.status_code == 200:
            with Image.open(io.BytesIO(response.content)) as img:
                assert img.format == "PNG" and img.size == (32, 32)
        else:
            assert_json_error(response, response.status_code, "")
    assert httpx.get(f"{server.url}/health").json()["admitted"] == 0
    assert left_behind(scratch_root) == []


def test_a_request_over_the_timeout_gets_503_and_gives_its_place_back(scratch_root):
    limits = ServeLimits(queue=1, timeout=1.0)
    with LiveServer(create_app(["denoise"], device="cpu", limits=limits)) as live:
        async def late():
            release = asyncio.Event()
            asyncio.get_running_loop().call_later(3, release.set)
            return await _stalled_upload(live.url, release)

        assert_json_error(asyncio.run(late()), 503, "longer than the limit of 1 s")
        assert httpx.get(f"{live.url}/health").json()["admitted"] == 0
        assert httpx.post(f"{live.url}/restore", content=encode(), timeout=60).status_code != 429  # its place is free
    assert left_behind(scratch_root) == []


def test_a_model_that_cannot_load_is_a_503_not_a_crash(scratch_root):
    def broken(task):
        raise RuntimeError("weights are corrupt")

    with LiveServer(create_app(["denoise"], device="cpu", loader=broken), healthy=False) as live:
        while httpx.get(f"{live.url}/models").json()["models"][0]["state"] == "loading":
            time.sleep(0.05)
        health = httpx.get(f"{live.url}/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        assert_json_error(httpx.post(f"{live.url}/restore", content=encode()), 503, "weights are corrupt")


def test_without_a_task_list_the_registry_default_comes_first(scratch_root, monkeypatch):
    from restormixer_cli.hub import registry

    tasks = registry.load_registry()
    last = [name for name, entry in tasks.items() if entry.available][-1]
    tasks = {name: dataclasses.replace(entry, default=name == last) for name, entry in tasks.items()}
    monkeypatch.setattr("restormixer_cli.serve.app.load_registry", lambda: tasks)

    def broken(task):
        raise RuntimeError("not needed here")

    with LiveServer(create_app(device="cpu", loader=broken), healthy=False) as live:
        models = httpx.get(f"{live.url}/models").json()
    assert models["default"] == last == models["models"][0]["task"] and len(models["models"]) > 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_serve_command(tmp_path):
    """`restormixer serve` binds to 127.0.0.1, serves, and stops cleanly on Ctrl-C (SIGINT)."""
    port = _free_port()
    env = {**SUBPROCESS_ENV, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "restormixer_cli", "serve", "--port", str(port), "--task", "denoise",
                             "--device", "cpu", "--queue", "1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, 120)
        response = httpx.post(f"{url}/restore", files={"file": ("a.bmp", encode("BMP"))}, timeout=60)
        assert response.status_code == 200 and response.headers["content-type"] == "image/bmp"
        listening = [line for line in Path("/proc/net/tcp").read_text().splitlines() if f":{port:04X} " in line]
        assert listening and all(line.split()[1].startswith("0100007F") for line in listening)  # 127.0.0.1 only
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert f"serving denoise on http://127.0.0.1:{port}" in output and "Traceback" not in output
    assert list(tmp_path.glob("restormixer-serve-*")) == []  # the scratch root is deleted at shutdown


@pytest.mark.parametrize("args, words", [(["--tile", "10"], "tile size"), (["--device", "tpu"], "unknown device"),
                                         (["--precision", "fp64"], "fp64")])
def test_bad_settings_fail_before_serving(args, words):
    result = CliRunner().invoke(app, ["serve", "--port", "1", *args])
    assert result.exit_code in (1, 2) and words in result.output and "Traceback" not in result.output


def test_a_busy_port_or_unknown_host_is_one_line_before_serving():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port), "--task", "denoise", "--device", "cpu"])
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "serving" not in result.output
    unknown = CliRunner().invoke(app, ["serve", "--host", "no-such-host.invalid", "--task", "denoise"])
    assert unknown.exit_code == 1 and "cannot listen on no-such-host.invalid" in unknown.output
    small_tiles = CliRunner().invoke(app, ["serve", "--port", "1", "--tile", "32"])
    assert small_tiles.exit_code == 2 and "use a smaller overlap" in small_tiles.output
