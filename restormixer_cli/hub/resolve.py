"""Where a checkpoint comes from: an explicit file, folder or hub repository, else a task's
checkpoint from the hub cache, a download, or the copy embedded in the package. Only the file is
found here; reading it is :mod:`restormixer_cli.model.checkpoint`'s."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..refusals import Refusal, as_text
from .download import HubError, download_checkpoint
from .layout import WEIGHTS_SUFFIXES
from .registry import Task, get_task, load_registry


class WeightsNeeded(Refusal, ValueError):
    """No checkpoint can be found for what was asked: the caller names weights (or a task) instead."""


class OfflineWithoutCopy(Refusal, HubError):
    """A task's checkpoint is neither cached nor embedded, and the hub cannot be reached."""


_REPO_SPEC = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")


@dataclass(frozen=True)
class Location:
    """A checkpoint's weights file or hub-layout folder, and what reports call it (None: its path)."""

    path: Path
    source: str | None = None


def parse_repo_spec(spec: str) -> tuple[str, str] | None:
    """``owner/name[@revision]`` -> (repo_id, revision), or None if ``spec`` is not of that form."""
    match = _REPO_SPEC.match(spec)
    return (match["repo"], match["revision"] or "main") if match else None


def locate_spec(spec: str, endpoint: str | None = None) -> Location:
    """A local weights file, a local hub-layout folder, or ``repo_id[@revision]`` downloaded from the hub."""
    if not spec.strip():  # Path("") is the current folder
        raise ValueError("the weights path is empty: give a weights file, a hub-layout folder or a repo_id")
    path = Path(spec).expanduser()
    if path.exists():
        return Location(path)
    repo = parse_repo_spec(spec)
    if repo is None or spec.lower().endswith(WEIGHTS_SUFFIXES):
        raise FileNotFoundError(f"{spec}: no such weights file or folder")
    repo_id, revision = repo
    return Location(download_checkpoint(repo_id, revision, endpoint=endpoint), f"{repo_id}@{revision}")


def _from_hub(entry: Task, endpoint: str | None, notice: Callable[[str], None]) -> Location | None:
    if not (entry.repo_id and entry.published):
        return None
    for local_only in (True, False):
        try:
            path = download_checkpoint(entry.repo_id, entry.revision, entry.filename, entry.sha256, endpoint, local_only)
        except HubError as exc:
            if not local_only:
                notice(as_text(exc))
            continue
        return Location(path, f"{entry.repo_id}@{entry.revision} ({'hub cache' if local_only else 'downloaded'})")
    return None


def locate_weights(task: str | None, weights: str | None = None, endpoint: str | None = None,
                   registry: Mapping[str, Task] | None = None,
                   notice: Callable[[str], None] = lambda message: None) -> Location:
    """The checkpoint to restore with: ``weights`` if given, else the task's hub copy, else its embedded copy.
    ``notice`` hears why a download failed before the embedded copy stands in."""
    if weights is not None:
        return locate_spec(weights, endpoint)
    if task is None:
        raise WeightsNeeded("no task or weights given: {task_or_weights}")
    entry = get_task(task, registry)
    if entry.kind != "restormixer":
        raise ValueError(f"task {task!r} picks other tasks' checkpoints per image; it has no RestorMixer weights "
                         f"of its own")
    if not entry.available:
        why = "({note})" if entry.note else "({see_registry})"
        raise WeightsNeeded("no checkpoint exists for task {task!r} yet " + why + "; {weights}", task=task,
                            note=entry.note)
    located = _from_hub(entry, endpoint, notice)
    if located is not None:
        return located
    embedded = entry.embedded_path
    if embedded is None:
        raise OfflineWithoutCopy("task {task!r}: checkpoint not available offline and no embedded copy; "
                                 "{download} when online, or {weights}", task=task)
    return Location(embedded, f"embedded {task} checkpoint")


def locate_pretrained(name: str, revision: str | None = None, endpoint: str | None = None,
                      registry: Mapping[str, Task] | None = None) -> Location:
    """The checkpoint ``name`` stands for: a local weights file or hub-layout folder, a hub repository id
    ``owner/name[@revision]`` (or ``revision``), else a task name, found as :func:`locate_weights` finds
    it (hub cache, download, embedded copy)."""
    if revision is not None:
        if "@" in name or parse_repo_spec(name) is None or Path(name).expanduser().exists():
            raise ValueError(f"revision={revision!r} applies to a hub repository id given without @revision, "
                             f"not to {name!r}")
        name = f"{name}@{revision}"
    if Path(name).expanduser().exists() or parse_repo_spec(name) is not None:
        return locate_spec(name, endpoint)
    registry = registry if registry is not None else load_registry()
    if name not in registry:
        raise ValueError(f"{name!r} is not a weights file or folder, a hub repository id (owner/name[@revision]) "
                         f"or a task name ({', '.join(sorted(registry))})")
    return locate_weights(name, endpoint=endpoint, registry=registry)
