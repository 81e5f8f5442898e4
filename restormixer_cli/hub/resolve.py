"""Finding the weights for a restore: explicit file or repo, hub cache, download, embedded copy."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from .download import HubError, download_checkpoint
from .loading import LoadedWeights, load_weights_file
from .registry import Checkpoint, get_checkpoint

_REPO_SPEC = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")


def parse_repo_spec(spec: str) -> tuple[str, str] | None:
    """``owner/name[@revision]`` -> (repo_id, revision), or None if ``spec`` is not of that form."""
    match = _REPO_SPEC.match(spec)
    return (match["repo"], match["revision"] or "main") if match else None


def load_weights_spec(spec: str, endpoint: str | None = None) -> LoadedWeights:
    """Weights from a local file, a local hub-layout folder, or ``repo_id[@revision]`` on the hub."""
    path = Path(spec).expanduser()
    if path.exists():
        return load_weights_file(path)
    repo = parse_repo_spec(spec)
    if repo is None or spec.endswith((".safetensors", ".pth", ".pt", ".ckpt")):
        raise FileNotFoundError(f"{spec}: no such weights file or folder")
    repo_id, revision = repo
    loaded = load_weights_file(download_checkpoint(repo_id, revision, endpoint=endpoint))
    loaded.source = f"{repo_id}@{revision}"
    return loaded


def _from_hub(entry: Checkpoint, endpoint: str | None, notice: Callable[[str], None]) -> LoadedWeights | None:
    if not (entry.repo_id and entry.published):
        return None
    for local_only in (True, False):
        try:
            path = download_checkpoint(entry.repo_id, entry.revision, entry.filename, entry.sha256, endpoint, local_only)
            loaded = load_weights_file(path)
            loaded.source = f"{entry.repo_id}@{entry.revision} ({'hub cache' if local_only else 'downloaded'})"
            return loaded
        except HubError as exc:
            if not local_only:
                notice(str(exc))
    return None


def resolve_weights(task: str | None, weights: str | None = None, endpoint: str | None = None,
                    registry: dict[str, Checkpoint] | None = None,
                    notice: Callable[[str], None] = lambda message: None) -> LoadedWeights:
    """The checkpoint to restore with: ``weights`` if given, else the task's hub copy, else its embedded copy."""
    if weights:
        return load_weights_spec(weights, endpoint)
    if task is None:
        raise ValueError("give --task or --weights")
    entry = get_checkpoint(task, registry)
    if not entry.available:
        raise ValueError(f"no checkpoint exists for task {task!r} yet ({entry.note or 'see restormixer models'}); "
                         "pass --weights FILE")
    loaded = _from_hub(entry, endpoint, notice)
    if loaded is not None:
        return loaded
    embedded = entry.embedded_path
    if embedded is None:
        raise HubError(f"task {task!r}: checkpoint not available offline and no embedded copy; "
                       "run restormixer download-weights when online, or pass --weights FILE")
    loaded = load_weights_file(embedded)
    loaded.source = f"embedded {task} checkpoint"
    return loaded
