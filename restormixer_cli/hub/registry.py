"""The task registry: one record per task with its checkpoint (where it lives, how good it is), the
synthetic degradation it is trained and demonstrated on, and how it is scored and validated.
Training defaults, the demo, the release script and the command line's ``--task`` choices all read it."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from .layout import WEIGHTS_NAME

REGISTRY_FILE = "registry.json"


@dataclass(frozen=True)
class ValidationSet:
    """A development set a task's checkpoint is scored on before it ships."""

    dataset: str
    folder: str  # clean images, or a paired folder (input/ + target/), under the development data folder
    degradation: str | None = None  # how the clean images are degraded (fixed seed)

    @property
    def scale(self) -> int:
        """The upscaling factor a ``downscale:S`` set is restored with (1 for the other sets)."""
        kind, _, arg = (self.degradation or "").partition(":")
        return int(arg) if kind == "downscale" else 1


@dataclass(frozen=True)
class Task:
    """One task's entry in ``registry.json``."""

    task: str
    description: str
    available: bool
    kind: str = "restormixer"  # "router": the default, which picks other tasks' checkpoints per photo
    degradation: str | None = None  # synthetic degradation for training and the demo
    y_channel: bool = False  # scored on luma, as the task's benchmarks are
    scales: tuple[int, ...] = ()  # upscaling factors of a super-resolution task (the first is the default)
    default: bool = False  # restores when no task is named
    validation: tuple[ValidationSet, ...] = ()
    repo_id: str | None = None
    filename: str = WEIGHTS_NAME
    revision: str = "main"
    sha256: str | None = None
    published: bool = False
    embedded: str | None = None
    size_bytes: int | None = None
    config: Mapping[str, object] = field(default_factory=dict)
    training: Mapping[str, object] = field(default_factory=dict)
    scores: tuple[Mapping[str, object], ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        sets = tuple(v if isinstance(v, ValidationSet) else ValidationSet(**v) for v in self.validation)
        object.__setattr__(self, "validation", sets)
        object.__setattr__(self, "scales", tuple(self.scales))
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))
        object.__setattr__(self, "training", MappingProxyType(dict(self.training)))
        object.__setattr__(self, "scores", tuple(MappingProxyType(dict(s)) for s in self.scores))

    def as_json(self) -> dict:
        """The record in plain JSON types (dicts and lists)."""
        return _plain(self)

    @property
    def demo_degradation(self) -> str | None:
        """What a user's input looks like: the training degradation, or for super-resolution the
        low-resolution image at the default scale."""
        return f"downscale:{self.scales[0]}" if self.scales else self.degradation

    @property
    def embedded_path(self) -> Path | None:
        """Path of the copy shipped inside the package, if there is one."""
        if not self.embedded:
            return None
        path = Path(str(resources.files("restormixer_cli") / "weights" / self.embedded))
        return path if path.exists() else None


def _plain(value: object) -> object:
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def _parse(text: str) -> Mapping[str, Task]:
    tasks = json.loads(text)["tasks"]
    return MappingProxyType({name: Task(task=name, **entry) for name, entry in tasks.items()})


@functools.cache
def _packaged() -> Mapping[str, Task]:
    return _parse((resources.files("restormixer_cli.hub") / REGISTRY_FILE).read_text())


def load_registry(path: Path | None = None) -> Mapping[str, Task]:
    """Tasks by name, read-only: the packaged registry (read once per process), or ``path``'s."""
    return _packaged() if path is None else _parse(Path(path).read_text())


def get_task(task: str, registry: Mapping[str, Task] | None = None) -> Task:
    """The registry entry of ``task``; ValueError naming the known tasks otherwise."""
    registry = registry if registry is not None else load_registry()
    if task not in registry:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(sorted(registry))}")
    return registry[task]


def default_task(registry: Mapping[str, Task] | None = None) -> str | None:
    """The task that restores when none is named: the available one marked ``default``, if any."""
    registry = registry if registry is not None else load_registry()
    return next((name for name, entry in registry.items() if entry.default and entry.available), None)


def upscaling_factor(task: str | None, scale: int | None, outscale: float | None = None) -> int:
    """The factor ``task``'s model upscales by: ``scale`` if the task offers it (any with explicit
    weights); if None, the smallest it offers at or above ``outscale`` (the largest below it), else
    its default. ValueError otherwise."""
    if outscale is not None and not outscale > 0:
        raise ValueError(f"outscale must be positive, not {outscale}")
    if task is None:
        return 1 if scale is None else scale
    scales = get_task(task).scales
    if not scales:
        if scale not in (None, 1):
            raise ValueError(f"task {task!r} does not upscale; a scale other than 1 is for super-resolution tasks")
        if outscale is not None:
            raise ValueError(f"task {task!r} does not upscale; an output scale is for super-resolution tasks")
        return 1
    if scale is None and outscale is not None:
        return min((s for s in scales if s >= outscale), default=max(scales))
    if scale is None:
        return scales[0]
    if scale not in scales:
        raise ValueError(f"task {task!r} upscales by {', '.join(map(str, scales))}, not {scale}")
    return scale
