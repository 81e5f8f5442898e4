"""Checks, before any work, that a run's writes are safe: no input replaced, no two writes to one
path, nothing existing replaced without permission, every target folder usable."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..refusals import Refusal


class PlanError(ValueError):
    """The run cannot start: a write would replace an input, collide, exist already, or cannot happen."""


class PlanRefusal(Refusal, PlanError):
    """A PlanError whose way out is an option of the caller's."""


class AlreadyExists(PlanRefusal):
    """A write would replace files that exist, which the run may not replace."""


def check_folder(folder: Path, what: str) -> None:
    """Raise PlanError unless ``folder`` is, or can be created as, a writable folder."""
    existing = Path(folder)
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise PlanError(f"{what} {folder}: {existing} is a file, not a folder")
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        raise PlanError(f"{what} {folder}: {existing} is not writable")


class WritePlan:
    """Every path a run will write, each claimed once, checked against the run's inputs."""

    def __init__(self, inputs: Iterable[Path], overwrite: bool = False):
        self.inputs = {Path(p).resolve() for p in inputs}
        self.overwrite = overwrite
        self.claimed: dict[Path, str] = {}

    def claim(self, path: Path, what: str, check_existing: bool = True) -> None:
        """Reserve ``path`` for ``what``; raise PlanError if it is an input, already claimed, a folder,
        a device, pipe or socket (``/dev/stdout``), or (unless overwriting, or ``check_existing`` is
        false) already exists."""
        target = Path(path).resolve()
        if target in self.inputs:
            raise PlanError(f"{what} would overwrite the input {path}; choose another path")
        if target in self.claimed:
            raise PlanError(f"{self.claimed[target]} and {what} would both be written to {path}")
        named = f"{what} ({path})"
        if target.is_dir():
            raise PlanError(f"{named} is a folder")
        if target.exists() and not target.is_file():  # writes rename a new file over the path
            raise PlanError(f"{named} is a device, pipe or socket, not a file, and would be replaced; "
                            "give a file name, or - for standard output")
        if check_existing and not self.overwrite and target.exists():
            raise AlreadyExists("{named} already exists; {allow_overwrite} to replace it", named=named)
        self.claimed[target] = what
        check_folder(target.parent, f"folder of {what}")
