"""`restormixer serve`: start the web page and HTTP API with uvicorn."""

from __future__ import annotations

import contextlib
import ipaddress
import socket

from rich.console import Console

from ..inference.checks import check_device_and_precision, check_tiling
from .app import USAGE_ERROR
from .messages import print_error, print_note

EXTRA = "pip install 'restormixer-cli[serve]'"


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
              tile_overlap: int, limits: dict[str, float | int | None], err: Console) -> int:
    """Serve until Ctrl-C or SIGTERM; returns the process exit code. ``limits``: ServeLimits' fields."""
    try:  # before FastAPI and PyTorch load, so that a usage error answers at once
        check_device_and_precision(device, precision)
        check_tiling(tile, tile_overlap, batch_size=1)
    except ValueError as exc:
        return print_error(err, exc, USAGE_ERROR)
    try:
        import uvicorn

        from ..serve import ServeLimits, create_app
    except ImportError as exc:
        return print_error(err, f"restormixer serve needs the serve extra ({exc.name} is missing): {EXTRA}")
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
