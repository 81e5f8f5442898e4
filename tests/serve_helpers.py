"""A real restormixer server on 127.0.0.1 (uvicorn in a thread) and Debian's Chromium for the page's tests."""

from __future__ import annotations

import shutil
import threading
import time

import httpx
import uvicorn

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Headless, and nothing that reaches out of the machine (the page must work offline).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class LiveServer:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1 until the ``with`` block ends; entering
    waits until the app answers ``/health`` with 200 (its models loaded) when ``healthy``."""

    def __init__(self, app, timeout: float = 120, healthy: bool = True):
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.timeout = timeout
        self.healthy = healthy
        self.url = ""

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        if self.healthy:
            wait_until_healthy(self.url, deadline - time.monotonic())
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(60)


def wait_until_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not become healthy in {timeout:.0f} s")
        time.sleep(0.1)


def launch_chromium(playwright):
    """Debian's Chromium through Playwright (which downloads no browser of its own here)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
