"""What `restormixer models` shows and what `download-weights` fetches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .download import HubError, download_checkpoint
from .loading import build_model, load_weights_file
from .registry import Task, default_task, load_registry


@dataclass
class RegistryRow:
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
    if not entry.available:
        return entry.note or "-"
    hub = f"{entry.repo_id}" + ("" if entry.published else " (not yet published)") if entry.repo_id else ""
    return "\n".join(filter(None, [hub, entry.training.get("summary", "")]))


def registry_rows(registry: dict[str, Task] | None = None) -> list[RegistryRow]:
    registry = registry if registry is not None else load_registry()
    default = default_task(registry)
    return [RegistryRow(e.task + (" (default)" if e.task == default else ""), _status(e), _size(e), _scores(e), _source(e))
            for e in registry.values()]


def download_tasks(tasks: list[str], all_tasks: bool, repo: str | None, filename: str, revision: str,
                   endpoint: str | None, registry: dict[str, Task] | None = None) -> list[tuple[str, Path]]:
    """Download the given tasks' checkpoints (every task's when none is named, or one explicit
    ``repo``); returns (label, cached path)."""
    if repo:
        path = download_checkpoint(repo, revision, filename, endpoint=endpoint)
        build_model(load_weights_file(path))  # no sha256 vouches for it: it must at least load
        return [(f"{repo}@{revision}", path)]
    registry = registry if registry is not None else load_registry()
    if all_tasks or not tasks:
        tasks = [name for name, e in registry.items() if e.available and e.repo_id]
    unknown = [t for t in tasks if t not in registry]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(sorted(registry))}")
    paths = []
    for task in tasks:
        entry = registry[task]
        if not (entry.available and entry.repo_id):
            raise ValueError(f"task {task!r} has no checkpoint on the hub ({entry.note or 'unavailable'})")
        paths.append((task, download_checkpoint(entry.repo_id, entry.revision, entry.filename, entry.sha256, endpoint)))
    return paths
