"""Atomic file creation: write to a temporary name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
_PART = ".part"
_STEM_BYTES = 120


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target``, else it is removed.

    The temporary name keeps the target's suffix (writers that infer the format still work) and
    starts with a dot, so an interrupted run never leaves a file that looks like a result.
    """
    target = Path(target)
    stem = target.stem.encode()[:_STEM_BYTES].decode(errors="ignore")  # the temporary name must fit in 255 bytes too
    fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f"{_PART}{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; results get the usual permissions
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file (a report) atomically, creating its folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def remove_stale_parts(folder: Path, older_than_s: float = 60.0) -> list[Path]:
    """Delete temporary files that :func:`atomic_path` left in ``folder`` when its process was killed
    (``kill -9``, power loss); ones younger than ``older_than_s`` may belong to a running writer."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time()
    stale = [p for p in folder.glob(f".*{_PART}*") if p.is_file() and now - p.stat().st_mtime > older_than_s]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
