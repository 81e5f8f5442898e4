"""`restormixer serve` under a burst of concurrent requests: throughput, latency, refusals, memory.

    python benchmarks/serve_load.py [--requests 32] [--concurrency 8] [--size 128] [--queue 4] [--threads 2]

Starts the real server (`restormixer serve`, the shipped denoise checkpoint, CPU) on 127.0.0.1 in
its own process, waits until its model is loaded, then sends ``--requests`` POST /restore requests
of a ``--size`` x ``--size`` PNG, ``--concurrency`` at a time, and prints answers per second,
restored images per second, latency percentiles (of every answer and of the 200s), the count of
each status, and the server process's resident memory after loading and at its peak (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def noisy_png(size: int) -> bytes:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    clean = np.stack([0.5 + 0.4 * np.sin(xx / (7 + c) + c) * np.cos(yy / 11.0) for c in range(3)], -1)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1)
    buffer = io.BytesIO()
    Image.fromarray((noisy * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def memory_mib(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with status {server.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit("the server did not become ready")


async def burst(url: str, data: bytes, requests: int, concurrency: int) -> tuple[list[tuple[int, float]], float]:
    """(status, seconds) of every request, and the wall time of the whole burst."""
    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, index: int) -> tuple[int, float]:
        async with gate:
            started = time.perf_counter()
            response = await client.post(f"{url}/restore", content=data, params={"filename": f"{index}.png"})
            return response.status_code, time.perf_counter() - started

    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=concurrency)) as client:
        started = time.perf_counter()
        results = await asyncio.gather(*(one(client, i) for i in range(requests)))
        return results, time.perf_counter() - started


def percentiles(seconds: list[float]) -> str:
    if not seconds:
        return "-"
    p50, p90, p99 = np.percentile(seconds, [50, 90, 99])
    return f"p50 {p50:.3f} s  p90 {p90:.3f} s  p99 {p99:.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--queue", type=int, default=4, help="the server's --queue")
    parser.add_argument("--threads", type=int, default=2, help="the server's CPU threads")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "NUMBA_NUM_THREADS": str(args.threads)}
    server = subprocess.Popen([sys.executable, "-m", "restormixer_cli", "serve", "--port", str(port), "--task", "denoise",
                               "--device", "cpu", "--queue", str(args.queue)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(url, server)
        loaded = memory_mib(server.pid, "VmRSS")
        results, wall = asyncio.run(burst(url, noisy_png(args.size), args.requests, args.concurrency))
        peak = memory_mib(server.pid, "VmHWM")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    codes = Counter(status for status, _ in results)
    done = [seconds for status, seconds in results if status == 200]
    print(f"{args.requests} requests of a {args.size}x{args.size} PNG, {args.concurrency} at a time; server: denoise, "
          f"CPU, {args.threads} threads, --queue {args.queue}")
    print(f"statuses      {', '.join(f'{code}: {count}' for code, count in sorted(codes.items()))}")
    print(f"throughput    {len(results) / wall:.2f} answers/s, {len(done) / wall:.2f} images/s ({wall:.1f} s in all)")
    print(f"latency, all  {percentiles([seconds for _, seconds in results])}")
    print(f"latency, 200  {percentiles(done)}")
    print(f"server memory {loaded:.0f} MiB loaded, {peak:.0f} MiB peak")


if __name__ == "__main__":
    main()
