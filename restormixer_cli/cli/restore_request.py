"""`restormixer restore`'s request: its options, checked when the request is made."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..inference.checks import check_threads
from ..inference.spec import RestorerSpec
from ..io import DEFAULT_MAX_PIXELS, DEFAULT_QUALITY
from ..io.formats import DEFAULT_CRF
from .common import is_stdout

if TYPE_CHECKING:
    from ..inference.files import Existing


@dataclass(frozen=True)
class RestoreRequest:
    """A restore command's options, checked when made (ValueError: a usage error): the restorer,
    where and how files are written and scored, how the run reports, and where it runs."""

    inputs: list[str]
    output: str  # as given: a folder, one file, a URI prefix, or - (standard output)
    spec: RestorerSpec
    suffix: str = ""
    ext: str = "same"
    existing: Existing = "error"
    gt: Path | None = None
    y_channel: bool = False
    crop_border: int = 0
    compare: Path | None = None
    json_report: Path | None = None
    quiet: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    quality: int = DEFAULT_QUALITY
    crf: int = DEFAULT_CRF
    codec: str | None = None
    engine: str = "local"
    address: str | None = None
    workers: int = 1
    gpus_per_worker: float = 0.0
    threads: int = 0  # this process's CPU threads; 0: PyTorch's default

    def __post_init__(self) -> None:
        if self.engine == "local" and (self.address is not None or self.workers != 1 or self.gpus_per_worker):
            raise ValueError("--address, --workers and --gpus-per-worker need --engine ray")
        if self.engine == "ray" and self.threads:
            raise ValueError("--threads is for --engine local: each Ray worker runs on the CPU Ray gives it")
        check_threads(self.threads)
        if is_stdout(self.output) and is_stdout(self.json_report):
            raise ValueError("-o - and --json - both write to standard output: give the report a file name")
        if self.gt is None and (self.y_channel or self.crop_border):
            raise ValueError("--y-channel and --crop-border say how to score against --gt: give --gt, or leave them out")

    def settings(self) -> dict[str, object]:
        """The options a report records (every one but the inputs and how the run reports)."""
        options = {k: v for k, v in asdict(self).items() if k not in ("inputs", "spec", "json_report", "quiet")}
        return {k: str(v) if isinstance(v, Path) else v for k, v in {**asdict(self.spec), **options}.items()}
