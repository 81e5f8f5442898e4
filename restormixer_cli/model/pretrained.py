"""RestorMixer checkpoints by name (a task, a hub repository id, a local path), found by
:mod:`restormixer_cli.hub.resolve` and read as :mod:`.checkpoint` reads files."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..hub.registry import Task
from ..hub.resolve import Location, locate_pretrained, locate_weights
from .checkpoint import LoadedWeights, load_weights_file


def _read(location: Location) -> LoadedWeights:
    loaded = load_weights_file(location.path)
    if location.source is not None:
        loaded.source = location.source
    return loaded


def resolve_weights(task: str | None, weights: str | None = None, endpoint: str | None = None,
                    registry: Mapping[str, Task] | None = None,
                    notice: Callable[[str], None] = lambda message: None) -> LoadedWeights:
    """The checkpoint to restore with, read: ``weights`` if given, else the task's hub copy, else its
    embedded copy (see :func:`~restormixer_cli.hub.resolve.locate_weights`)."""
    return _read(locate_weights(task, weights, endpoint, registry, notice))


def pretrained_weights(name: str, revision: str | None = None, endpoint: str | None = None,
                       registry: Mapping[str, Task] | None = None) -> LoadedWeights:
    """The checkpoint ``name`` stands for, read and its ``config.json`` checked: a local weights file or
    hub-layout folder, a hub repository id ``owner/name[@revision]`` (or ``revision``), else a task
    name (see :func:`~restormixer_cli.hub.resolve.locate_pretrained`)."""
    return _read(locate_pretrained(name, revision, endpoint, registry))
