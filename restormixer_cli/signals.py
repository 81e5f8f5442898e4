"""SIGTERM (a plain ``kill``, a job scheduler's time limit) handled like Ctrl-C, signals held while
a resource is created that the code handling them must know about, and a run of many files that
Ctrl-C and SIGTERM stop the same way wherever they arrive."""

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


def _interrupt(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


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


class StopSignals(contextlib.AbstractContextManager):
    """Ctrl-C (SIGINT) and SIGTERM during a run of many files, handled the same way wherever they
    arrive. Within :meth:`interruptible` (the file under way, a model loading) they raise at once, as
    KeyboardInterrupt (:class:`Terminated` for SIGTERM); anywhere else (between files, while an
    image is written (:meth:`defer_rest`), a result shown, the summary printed and the report
    written) they are recorded, and the next :meth:`interruptible` block raises the first of them as
    it starts. So the run always ends after the current file with its summary and report, and
    :attr:`exit_code` says which signal ended it.

    Not entered (or outside the main thread, where handlers cannot be set, or for a signal that the
    process ignores) it changes nothing: Python's own handling stays."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._live = False
        self._previous: dict = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._handle) for number in self.SIGNALS
                              if signal.getsignal(number) not in (None, signal.SIG_IGN)}
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signum
        if self._live:
            self._live = False
            raise _interrupt(signum)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Within the block a signal stops the work at once; one recorded before raises as it starts."""
        if self.received is not None:
            raise _interrupt(self.received)
        self._live = True
        try:
            yield
        finally:
            self._live = False

    def defer_rest(self) -> None:
        """From here to the end of the current :meth:`interruptible` block, signals are only
        recorded (a file being written finishes, and is recorded); the next block raises them."""
        self._live = False

    @property
    def exit_code(self) -> int:
        """0 while no signal came; else the status of the first: 130 for Ctrl-C, 143 for SIGTERM."""
        if self.received is None:
            return 0
        return Terminated.exit_code if self.received == signal.SIGTERM else 130
