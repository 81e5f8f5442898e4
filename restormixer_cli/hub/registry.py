"""The task registry: which checkpoint serves which task, where it lives, and how good it is."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

REGISTRY_FILE = "registry.json"


@dataclass(frozen=True)
class Checkpoint:
    """One task's entry in ``registry.json``."""

    task: str
    description: str
    available: bool
    repo_id: str | None = None
    filename: str = "model.safetensors"
    revision: str = "main"
    sha256: str | None = None
    published: bool = False
    embedded: str | None = None
    size_bytes: int | None = None
    config: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    scores: list[dict] = field(default_factory=list)
    note: str = ""

    @property
    def embedded_path(self) -> Path | None:
        """Path of the copy shipped inside the package, if there is one."""
        if not self.embedded:
            return None
        path = Path(str(resources.files("restormixer_cli") / "weights" / self.embedded))
        return path if path.exists() else None


def load_registry(path: Path | None = None) -> dict[str, Checkpoint]:
    """Tasks by name, from the packaged registry or ``path``."""
    if path is None:
        text = (resources.files("restormixer_cli.hub") / REGISTRY_FILE).read_text()
    else:
        text = Path(path).read_text()
    data = json.loads(text)
    return {name: Checkpoint(task=name, **entry) for name, entry in data["tasks"].items()}


def get_checkpoint(task: str, registry: dict[str, Checkpoint] | None = None) -> Checkpoint:
    """The registry entry of ``task``; ValueError naming the known tasks otherwise."""
    registry = registry if registry is not None else load_registry()
    if task not in registry:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(sorted(registry))}")
    return registry[task]
