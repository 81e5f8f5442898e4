"""What ``restormixer models`` shows and what ``download-weights`` fetches.

``models`` answers from the registry and the hub cache alone, without importing PyTorch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..hub.download import HubError, download_checkpoint
from ..hub.registry import Task, default_task, load_registry


@dataclass
class RegistryRow:
    """One row of the ``restormixer models`` table."""

    task: str
    status: str
    size: str
    scores: str
    source: str


def _cached(entry: Task) -> bool:
    if not (entry.repo_id and entry.published):
        return False
    try:
        download_checkpoint(entry.repo_id, entry.revision, entry.filename, entry.sha256, local_files_only=True)
    except HubError:
        return False
    return True


def _status(entry: Task) -> str:
    if not entry.available:
        return "unavailable"
    if entry.kind == "router":
        return "picks per photo"
    if _cached(entry):
        return "downloaded"
    if entry.embedded_path is not None:
        return "embedded"
    return "not downloaded"


def _scores(entry: Task) -> str:
    parts = []
    for s in entry.scores:
        line = f"{s['dataset']}: {s['psnr']:.2f} dB / {s['ssim']:.3f}"
        if s.get("input_psnr") is not None:  # None: the inputs were the targets themselves
            line += f" (input {s['input_psnr']:.2f} dB)"
        parts.append(line)
    return "\n".join(parts) or "-"


def _size(entry: Task) -> str:
    return f"{entry.size_bytes / 2**20:.1f} MiB" if entry.size_bytes else "-"


def _source(entry: Task) -> str:
    if not entry.available or entry.kind == "router":
        return entry.note or "-"
    hub = f"{entry.repo_id}" + ("" if entry.published else " (not yet published)") if entry.repo_id else ""
    return "\n".join(filter(None, [hub, entry.training.get("summary", "")]))


def registry_rows(registry: Mapping[str, Task] | None = None) -> list[RegistryRow]:
    """The ``restormixer models`` table: one row per task of ``registry`` (default: the packaged one)."""
    registry = registry if registry is not None else load_registry()
    default = default_task(registry)
    return [RegistryRow(e.task + (" (default)" if e.task == default else ""), _status(e), _size(e), _scores(e), _source(e))
            for e in registry.values()]


@dataclass
class Fetched:
    """A checkpoint that ``download-weights`` made available: downloaded into the hub cache, or, for a
    task whose hub repository is not published yet, the embedded copy that restore uses instead."""

    label: str
    path: Path
    downloaded: bool = True


def download_tasks(tasks: list[str], all_tasks: bool, repo: str | None, filename: str, revision: str,
                   endpoint: str | None, registry: Mapping[str, Task] | None = None) -> list[Fetched]:
    """Download the given tasks' checkpoints (every task's when none is named, or one explicit
    ``repo``); a task whose hub repository is not published yet gives its embedded copy."""
    if repo:
        path = download_checkpoint(repo, revision, filename, endpoint=endpoint)
        _check_loads(path)
        return [Fetched(f"{repo}@{revision}", path)]
    registry = registry if registry is not None else load_registry()
    if all_tasks or not tasks:
        tasks = [name for name, e in registry.items() if e.available and e.repo_id]
    unknown = [t for t in tasks if t not in registry]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(sorted(registry))}")
    return [_fetch(registry[task], endpoint) for task in tasks]


def _check_loads(path: Path) -> None:
    """Raise WeightsError unless ``path`` builds a RestorMixer: no sha256 vouches for a ``--repo`` download."""
    # imported here: the rest of this module, and `restormixer models`, run without PyTorch
    from ..model.checkpoint import load_weights_file
    from ..model.restormixer import build_model

    build_model(load_weights_file(path))


def _fetch(entry: Task, endpoint: str | None) -> Fetched:
    if not (entry.available and entry.repo_id):
        raise ValueError(f"task {entry.task!r} has no checkpoint on the hub ({entry.note or 'unavailable'})")
    if entry.published:
        return Fetched(entry.task, download_checkpoint(entry.repo_id, entry.revision, entry.filename, entry.sha256,
                                                       endpoint))
    if entry.embedded_path is None:
        raise ValueError(f"task {entry.task!r}: {entry.repo_id} is not published on the hub yet, and the package "
                         "has no embedded copy")
    return Fetched(entry.task, entry.embedded_path, downloaded=False)
