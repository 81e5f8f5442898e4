"""Atomic file creation: write to a temporary name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ..signals import HeldSignals


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
_PART = ".restormixer-part"
_STEM_BYTES = 120
# ".{stem}.{mkstemp's 8 random characters}.restormixer-part{suffix}": nothing a user names a file
_PART_NAME = re.compile(r"\.(?P<stem>.*)\.[a-z0-9_]{8}" + re.escape(_PART) + r"(?P<suffix>\.[^.]*)?", re.DOTALL)


def _part_stem(target: Path) -> str:
    """The target's stem as temporary names start with it: cut so that they fit in 255 bytes too
    (bytes as the file system has them: a name need not be valid UTF-8)."""
    return os.fsdecode(os.fsencode(target.stem)[:_STEM_BYTES])


def is_part_name(name: str) -> bool:
    """Whether ``name`` is one of :func:`atomic_path`'s temporary file names."""
    return _PART_NAME.fullmatch(name) is not None


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target``, else it is removed.

    The temporary name keeps the target's suffix (writers that infer the format still work) and
    starts with a dot, so an interrupted run never leaves a file that looks like a result. A
    symbolic link is written through, as a shell's redirection does: the link stays.
    """
    target = Path(os.path.realpath(target)) if os.path.islink(target) else Path(target)
    with HeldSignals() as held:  # Ctrl-C between creating the file and the try below would leave it
        fd, tmp_name = tempfile.mkstemp(prefix=f".{_part_stem(target)}.", suffix=f"{_PART}{target.suffix}",
                                        dir=target.parent)
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        held.deliver()
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; results get the usual permissions
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file (a report) atomically, creating its folder if needed. File names that are
    not valid UTF-8 are written back as the bytes they are."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", errors="surrogateescape")


def _parts(folder: Path) -> Iterator[tuple[Path, re.Match]]:
    """The regular files in ``folder`` (if it exists) that :func:`atomic_path` named, with their name's parts."""
    for path in folder.iterdir() if folder.is_dir() else ():
        match = _PART_NAME.fullmatch(path.name)
        if match and path.is_file() and not path.is_symlink():
            yield path, match


def remove_parts_of(target: Path) -> None:
    """Delete the temporary files that :func:`atomic_path` left beside ``target`` when a process
    writing it was killed; only for a caller that knows no other process is writing ``target``."""
    target = Path(target)
    for path, match in _parts(target.parent):
        if match["stem"] == _part_stem(target) and (match["suffix"] or "") == target.suffix:
            path.unlink(missing_ok=True)


def remove_stale_parts(folder: Path, older_than_s: float = 60.0) -> list[Path]:
    """Delete temporary files that :func:`atomic_path` left in ``folder`` when its process was killed
    (``kill -9``, power loss); ones younger than ``older_than_s`` may belong to a running writer."""
    now = time.time()
    stale = [path for path, _ in _parts(Path(folder)) if now - path.stat().st_mtime > older_than_s]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
