"""SIGTERM (a plain ``kill``, a job scheduler's time limit) handled like Ctrl-C, and signals held
while a resource is created that the code handling them must know about."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """KeyboardInterrupt raised by SIGTERM; shells report it as exit status 143."""

    exit_code = 143


def _raise_interrupt(signum, frame):
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated`, a KeyboardInterrupt, so that both end
    the same clean way.
    Outside the main thread (where handlers cannot be set) it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def handlers_kept() -> Iterator[None]:
    """The SIGINT and SIGTERM handlers of before the block put back after it, for libraries that
    install their own and leave them (Ray's start makes SIGTERM exit at once, skipping the clean stop).
    Outside the main thread it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:  # None: set outside Python, cannot be restored from here
                signal.signal(signum, handler)


class HeldSignals(contextlib.AbstractContextManager):
    """Within the block, SIGINT and SIGTERM are recorded instead of handled (in the main thread,
    the only one where Python handles signals); :meth:`deliver` then raises them again."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> "HeldSignals":
        self.caught: list[int] = []
        self.previous = {}
        in_control = threading.current_thread() is threading.main_thread()
        if in_control and all(signal.getsignal(number) is not None for number in self.SIGNALS):
            self.previous = {number: signal.signal(number, lambda caught, frame: self.caught.append(caught))
                             for number in self.SIGNALS}
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def deliver(self) -> None:
        """Raise the recorded signals again, now that their usual handlers are back."""
        for number in self.caught:
            signal.raise_signal(number)
