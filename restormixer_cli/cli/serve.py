"""`restormixer serve`: start the web page and HTTP API with uvicorn."""

from __future__ import annotations

import ipaddress

from rich.console import Console

from .messages import print_error, print_note

EXTRA = "pip install 'restormixer-cli[serve]'"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run_serve(host: str, port: int, tasks: list[str], device: str, precision: str, tile: int | None,
              limits: dict[str, float | int | None], err: Console) -> int:
    """Serve until Ctrl-C or SIGTERM; returns the process exit code. ``limits``: ServeLimits' fields."""
    try:
        import uvicorn

        from ..serve import ServeLimits, create_app
    except ImportError as exc:
        return print_error(err, f"restormixer serve needs the serve extra ({exc.name} is missing): {EXTRA}")
    try:
        app = create_app(tasks, device, precision, tile, ServeLimits(**limits))
    except ValueError as exc:
        return print_error(err, exc)
    if not _loopback(host):
        print_note(err, f"listening on {host}: anyone who can reach this machine can use the server "
                        "(it has no authentication)")
    err.print(f"serving {', '.join(tasks) or 'every available task'} on http://{host}:{port} "
              "(Ctrl-C to stop)", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=10)
    return 0
