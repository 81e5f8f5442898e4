"""What a restorer is built from, checked once: :class:`RestorerSpec`, and :func:`build_restorer`,
which loads it. The command line, the Python API, the Ray workers and the server all go through both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..hub.registry import default_task, get_task, upscaling_factor
from ..refusals import Refusal
from . import DEFAULT_OVERLAP
from .checks import check_device_and_precision, check_tiling

if TYPE_CHECKING:
    import torch

    from .engine import InferenceSettings, Restorer


class NoTaskOrWeights(Refusal, ValueError):
    """Neither a task nor weights were named, and the registry marks no task as the default."""

    def __init__(self) -> None:
        super().__init__("no task or weights given and no default task is available: {task_or_weights}")


@dataclass(frozen=True)
class RestorerSpec:
    """A restorer's checkpoint (``task``'s, or ``weights``: a file, a hub-layout folder or a hub
    repository id; with neither, the default task's), where and how it runs (``device``,
    ``precision``, tiles, batches, self-ensemble, ``compile``), the hub ``endpoint`` to download from,
    and its upscaling (``scale``: the model's factor, default the task's first; ``outscale``: any
    final factor). ValueError when made, without loading PyTorch, for settings that cannot work;
    ``task`` is then the default task if neither it nor ``weights`` was given."""

    task: str | None = None
    weights: str | None = None
    device: str = "auto"
    precision: str = "auto"
    tile: int | None = None
    tile_overlap: int = DEFAULT_OVERLAP
    batch_size: int = 1
    self_ensemble: bool = False
    compile: bool = False
    endpoint: str | None = None
    scale: int | None = None
    outscale: float | None = None

    def __post_init__(self) -> None:
        if self.task is None and self.weights is None:
            object.__setattr__(self, "task", default_task())  # frozen: the one place a field is filled in
            if self.task is None:
                raise NoTaskOrWeights()
        if self.scale is not None and self.scale < 1:
            raise ValueError(f"scale must be 1 or more, not {self.scale}")
        if self.routed and self.weights is not None:
            raise ValueError(f"task {self.task!r} picks the checkpoints of other tasks; it takes no weights")
        upscaling_factor(self.task, self.scale, self.outscale)
        check_tiling(self.tile, self.tile_overlap, self.batch_size)
        check_device_and_precision(self.device, self.precision)

    @property
    def routed(self) -> bool:
        """Whether the task picks other tasks' checkpoints per image (the default) instead of having its own."""
        return self.task is not None and get_task(self.task).kind == "router"

    @property
    def factor(self) -> int:
        """The factor the task's model upscales by (explicit weights: ``scale``, else 1)."""
        return upscaling_factor(self.task, self.scale, self.outscale)

    def with_absolute_weights(self) -> RestorerSpec:
        """This spec with a local weights path made absolute, for processes started in another folder."""
        if self.weights is None or not Path(self.weights).exists():
            return self
        return replace(self, weights=str(Path(self.weights).absolute()))

    def resolve(self) -> tuple[torch.device, torch.dtype]:
        """The device and precision on this machine; ValueError for a device it lacks or a precision
        that device cannot run."""
        from .devices import resolve_device, resolve_precision

        device = resolve_device(self.device)
        return device, resolve_precision(self.precision, device)

    def settings(self) -> InferenceSettings:
        """The inference settings on this machine; ValueError as :meth:`resolve` says."""
        from .engine import InferenceSettings

        return InferenceSettings(*self.resolve(), self.tile, self.tile_overlap, self.batch_size, self.self_ensemble)


def build_restorer(spec: RestorerSpec, notice: Callable[[str], None] = lambda message: None) -> Restorer:
    """The restorer ``spec`` describes, its model loaded and prepared on the device; ``notice``
    hears what is worth telling on the way (a download that failed, an embedded copy used)."""
    # PyTorch and the model load here, not on import: a spec is made and checked without them
    from ..model.pretrained import resolve_weights
    from ..model.restormixer import build_model
    from .engine import Restorer, prepare_model
    from .router import AutoRestorer

    settings = spec.settings()
    if spec.routed:
        return AutoRestorer(lambda task: build_restorer(replace(spec, task=task, scale=None, outscale=None), notice),
                            settings)
    loaded = resolve_weights(spec.task, spec.weights, spec.endpoint, notice=notice)
    model = build_model(loaded)
    scale = spec.factor
    if model.upscales and scale not in model.upscales:  # weights with upscaling tails enlarge by those only
        if spec.task is not None or scale != 1:
            served = ", ".join(map(str, model.upscales))
            raise ValueError(f"{loaded.source or 'these weights'} enlarge by {served}, not by {scale}")
        scale = min((s for s in model.upscales if s >= (spec.outscale or 0)), default=max(model.upscales))
    return Restorer(prepare_model(model, settings, compile=spec.compile), settings, on_notice=notice,
                    source=loaded.source, weights_sha256=loaded.sha256, scale=scale, outscale=spec.outscale)
