"""`restormixer serve`: the web page and HTTP API, served with uvicorn."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from typing import Annotated, Optional

import typer
from rich.console import Console

from ..inference import DEFAULT_OVERLAP
from ..inference.checks import check_device_and_precision, check_threads, check_tiling
from ..serve.queue import DEFAULT_QUEUE
from .common import DEVICE_HELP, USAGE_ERROR, Precision, Task, Threads, complete_device, err, print_error, print_note

EXTRA = "pip install 'restormixer-cli[serve]'"
EXAMPLES = """
Examples:

  restormixer serve                                   # http://127.0.0.1:7860, every available task

  restormixer serve --task denoise --device cuda --port 8000

  curl -F file=@photo.jpg 'http://127.0.0.1:7860/restore?task=denoise' -o restored.jpg
"""


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 opens the server to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 7860,
    task: Annotated[Optional[list[Task]], typer.Option(help="Task to serve (repeatable; default: every available task).")] = None,
    device: Annotated[str, typer.Option(help=DEVICE_HELP, autocompletion=complete_device)] = "auto",
    precision: Annotated[Precision, typer.Option(help="auto: fp16 on CUDA, fp32 elsewhere.")] = "auto",
    tile: Annotated[Optional[int], typer.Option(help="Tile size in pixels; 0 = whole image; default: fit memory.")] = None,
    tile_overlap: Annotated[int, typer.Option(help="Overlap between tiles in pixels.")] = DEFAULT_OVERLAP,
    threads: Threads = 0,
    max_upload_mb: Annotated[float, typer.Option(help="Refuse request bodies larger than this many MiB.", min=0.001)] = 50,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels than this (0 = no limit).", min=0)] = 16_000_000,
    queue: Annotated[int, typer.Option(help="Requests in progress at once: the running one and those waiting their turn; more get HTTP 429.", min=1)] = DEFAULT_QUEUE,
    timeout: Annotated[float, typer.Option(help="Seconds a request may take (upload, wait, restore); then HTTP 503.", min=0.001)] = 300,
) -> None:
    """Serve a web page and an HTTP API that restore uploaded images (needs the serve extra)."""
    limits = dict(max_upload_bytes=int(max_upload_mb * 2**20), max_pixels=max_pixels or None, queue=queue,
                  timeout=timeout)
    raise typer.Exit(run_serve(host, port, [t.value for t in task or []], device, Precision(precision).value, tile,
                               tile_overlap, limits, err, threads))


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port``, so that a busy port or an unknown host is an error before
    anything starts; OSError with the reason otherwise."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def run_serve(host: str, port: int, tasks: list[str], device: str, precision: str, tile: int | None,
              tile_overlap: int, limits: dict[str, float | int | None], err: Console, threads: int = 0) -> int:
    """Serve until Ctrl-C or SIGTERM; returns the process exit code. ``limits``: ServeLimits' fields;
    ``threads``: CPU threads (0: PyTorch's default)."""
    try:  # before FastAPI and PyTorch load, so that a usage error answers at once
        check_device_and_precision(device, precision)
        check_tiling(tile, tile_overlap, batch_size=1)
        check_threads(threads)
    except ValueError as exc:
        return print_error(err, exc, USAGE_ERROR)
    try:
        import uvicorn

        from ..serve import ServeLimits, create_app
    except ImportError as exc:
        return print_error(err, f"restormixer serve needs the serve extra ({exc.name} is missing): {EXTRA}")
    from ..inference.devices import use_cpu_threads  # PyTorch, loaded by the serve extra above anyway

    use_cpu_threads(threads)
    try:
        app = create_app(tasks, device, precision, tile, ServeLimits(**limits), tile_overlap=tile_overlap)
    except ValueError as exc:
        return print_error(err, exc, USAGE_ERROR)
    try:
        sock = _listening_socket(host, port)
    except OSError as exc:  # gaierror for an unknown host
        return print_error(err, f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    if not _loopback(host):
        print_note(err, f"listening on {host}: anyone who can reach this machine can use the server "
                        "(it has no authentication)")
    err.print(f"serving {', '.join(tasks) or 'every available task'} on http://{host}:{sock.getsockname()[1]} "
              "(Ctrl-C to stop)", highlight=False)
    with sock, contextlib.suppress(KeyboardInterrupt):  # uvicorn stops cleanly, then raises Ctrl-C again
        uvicorn.Server(uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=10)).run(sockets=[sock])
    return 0
