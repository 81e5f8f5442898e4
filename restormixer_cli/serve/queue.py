"""One model run at a time on the server's device, behind a bounded queue."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: Requests admitted at once by default: one running and 15 waiting, so that a burst from a page
#: (several images dropped at once) or a small team waits its turn instead of being refused. Each
#: holds at most its upload on disk while it waits.
DEFAULT_QUEUE = 16


class QueueFull(Exception):
    """Every place in the queue is taken: the client should retry later."""


class QueueClosed(Exception):
    """The server is shutting down."""


class Cancelled(Exception):
    """A run was stopped because its request ended (timed out or went away)."""


class RunQueue:
    """Runs work on one worker thread, so that a device holds one model run at a time, and admits at
    most ``capacity`` requests at once (the one running and those waiting): a request is admitted
    before its upload is read, so uploads and scratch files are bounded too."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("the queue must hold at least one request")
        self.capacity = capacity
        self.admitted = 0
        self.closed = False
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="restormixer-serve")

    def admit(self) -> Callable[[], None]:
        """Take a place in the queue; returns the function that gives it back (once, whoever calls it).
        Raises QueueFull or QueueClosed."""
        with self._lock:
            if self.closed:
                raise QueueClosed("the server is shutting down")
            if self.admitted >= self.capacity:
                raise QueueFull(f"the server is busy ({self.capacity} requests in progress); retry shortly")
            self.admitted += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if not released.is_set():
                    released.set()
                    self.admitted -= 1

        return release

    def submit(self, work: Callable[..., T], *args: object) -> Future[T]:
        """Run ``work(*args)`` after the work submitted before it."""
        return self._worker.submit(work, *args)

    def close(self) -> None:
        """Refuse new requests, drop the work that has not started and wait for the run in progress
        (its request is over by then, so it stops at its next tile)."""
        with self._lock:
            self.closed = True
        self._worker.shutdown(wait=True, cancel_futures=True)
