"""Runs `restormixer restore` many times in this one process (PyTorch is imported once), each time
sending a signal from another thread the moment the run's first output appears, as a user's Ctrl-C
or a scheduler's SIGTERM would come; prints one JSON line per run: its exit status, its report and
its printed lines, and the files left in its output folder.

    python tests/signal_runs.py RUNS INPUT WEIGHTS SCRATCH

Runs alternate SIGINT and SIGTERM, and a report in a file and on standard output (``--json -``)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from restormixer_cli.cli import main


def _signal_at_first_output(signum: int, out: Path, running: threading.Event) -> None:
    while running.is_set():
        if out.is_dir() and any(not p.name.startswith(".") for p in out.iterdir()):
            os.kill(os.getpid(), signum)
            return
        time.sleep(0.0005)


def run_once(signum: int, source: str, weights: str, out: Path, report: str) -> dict:
    running = threading.Event()
    running.set()
    watcher = threading.Thread(target=_signal_at_first_output, args=(signum, out, running))
    stdout, stderr = io.StringIO(), io.StringIO()
    sys.argv = ["restormixer", "restore", source, "-o", str(out), "--weights", weights, "--tile", "64",
                "--json", report]
    watcher.start()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code
    running.clear()
    watcher.join()
    text = stdout.getvalue() if report == "-" else Path(report).read_text() if Path(report).exists() else ""
    return {"signal": signum, "code": code, "report": json.loads(text) if text.startswith("{") else None,
            "printed": stderr.getvalue() + stdout.getvalue(),
            "files": sorted(p.name for p in out.iterdir()) if out.is_dir() else []}


def main_loop(runs: int, source: str, weights: str, scratch: Path) -> None:
    # The watching thread gets its turn within microseconds, as a separate process would: the signal
    # then lands just after the output is renamed into place, where the run is between two files.
    sys.setswitchinterval(1e-5)
    for i in range(runs):
        signum = (signal.SIGINT, signal.SIGTERM)[i % 2]
        report = "-" if i % 4 >= 2 else str(scratch / f"report{i}.json")
        print(json.dumps(run_once(signum, source, weights, scratch / f"out{i}", report)), flush=True)


if __name__ == "__main__":
    main_loop(int(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4]))
