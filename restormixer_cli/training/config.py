"""Training run configuration."""

from __future__ import annotations

import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..hub.registry import load_registry
from .degradations import MAX_SCALE, make_degradation


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as ``config.json`` in the run folder."""

    task: str
    train: list[str]
    val: str | None = None
    degradation: str | None = None
    val_degradation: str | None = None  # of clean validation images; default: ``degradation``
    y_channel: bool | None = None
    crop_border: int = 0
    # model
    base_channel: int = 32
    num_blocks: list[int] = field(default_factory=lambda: [4, 4, 4])
    upscales: list[int] | None = None  # pixel-shuffle tails: the model enlarges by these factors
    # optimisation
    steps: int = 20000
    batch: int = 8
    patch: int = 64
    lr: float = 1e-3
    min_lr: float = 1e-6
    warmup: int = 500
    weight_decay: float = 1e-4
    grad_clip: float = 0.5
    fft_weight: float = 0.1
    ema: float = 0.999
    paired_fraction: float = 0.5
    exposure: list[float] | None = None  # [low, high]: clean images re-exposed by a factor in it (linear light)
    init: str | None = None
    identity_init: bool = True
    # bookkeeping
    val_every: int = 1000
    val_limit: int = 0
    ckpt_every: int = 250
    seed: int = 0
    precision: str = "auto"
    time_limit_min: float = 0.0
    workers: int = 0  # processes synthesising batches ahead of the step (0: in the training process)

    def __post_init__(self) -> None:
        _check_types(self)
        known = load_registry().get(self.task)  # a registry task brings its degradation and scoring
        if self.upscales:
            self._check_upscales()
        elif self.degradation is None and known:
            self.degradation = known.degradation
        if self.val_degradation is None:
            self.val_degradation = self.degradation
        for name in filter(None, (self.degradation, self.val_degradation)):
            make_degradation(name)  # an unknown name or an out-of-range number fails here, before the run
        if self.y_channel is None:
            self.y_channel = bool(known and known.y_channel)
        if len(self.num_blocks) != 3 or self.num_blocks[1] < 2 or self.num_blocks[2] < 2:
            raise ValueError("num_blocks needs three stages, the last two with at least 2 blocks")
        if self.patch <= 0 or self.patch % 16:
            raise ValueError("patch must be a positive multiple of 16")
        for name in ("steps", "batch", "val_every", "ckpt_every", "base_channel", "lr", "grad_clip"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("warmup", "min_lr", "weight_decay", "fft_weight", "val_limit", "time_limit_min", "crop_border"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more")
        if not (0 <= self.ema < 1 and 0 <= self.paired_fraction <= 1):
            raise ValueError("ema must lie in [0, 1) and paired_fraction in [0, 1]")
        if self.exposure is not None and not (len(self.exposure) == 2 and 0 < self.exposure[0] <= self.exposure[1]):
            raise ValueError("exposure must be [low, high] with 0 < low <= high")
        if self.workers < 0:
            raise ValueError("workers must be 0 or more")

    def _check_upscales(self) -> None:
        if len(set(self.upscales)) != len(self.upscales) or not all(2 <= s <= MAX_SCALE for s in self.upscales):
            raise ValueError(f"upscales must be distinct factors from 2 to {MAX_SCALE}, not {self.upscales}")
        if self.degradation is not None:
            raise ValueError("a run with upscales makes its pairs by bicubic downscaling: leave degradation unset")
        if self.val_degradation is None:
            self.val_degradation = f"downscale:{max(self.upscales)}"

    @property
    def synthesis(self) -> str:
        """How the run made its degraded inputs, for people: the degradation, or the downscaling."""
        if self.upscales:
            return f"bicubic downscaling x{', x'.join(map(str, self.upscales))}"
        return self.degradation or "none (paired data only)"

    @property
    def model_config(self) -> dict:
        config = {"base_channel": self.base_channel, "num_blocks": list(self.num_blocks)}
        return {**config, "upscales": sorted(self.upscales)} if self.upscales else config

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        """The configuration a run folder saved; ValueError if ``path`` is not one."""
        try:
            data = json.loads(path.read_text())
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError) as exc:
            raise ValueError(f"{path}: not the configuration of a training run ({exc})") from None


def _fits(value: object, annotation: object) -> bool:
    """Whether a value read from JSON has an annotation's type (an int is a float, a bool is no number)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _check_types(config: TrainConfig) -> None:
    """ValueError naming the first field whose value has the wrong type (a config file's "lr": "fast")."""
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(config):
        value = getattr(config, f.name)
        if not _fits(value, hints[f.name]):
            expected = hints[f.name].__name__ if isinstance(hints[f.name], type) else str(hints[f.name])
            raise ValueError(f"{f.name} must be of type {expected}, not {value!r}")

