"""The Python API: everything the command line does, as plain functions.

>>> from restormixer_cli.api import load_restorer, restore_paths
>>> restorer = load_restorer(task="denoise")
>>> results = restore_paths(["noisy/"], "restored/", restorer)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .hub.loading import build_model
from .hub.resolve import resolve_weights
from .inference.devices import resolve_device, resolve_precision
from .inference.engine import InferenceSettings, Restorer, prepare_model
from .inference.files import FileRestorer, FileResult, OutputOptions, plan_jobs
from .io.discovery import expand_inputs


def load_restorer(task: str | None = None, weights: str | None = None, device: str = "auto",
                  precision: str = "auto", tile: int | None = None, tile_overlap: int = 32, batch_size: int = 1,
                  self_ensemble: bool = False, compile: bool = False, endpoint: str | None = None,
                  notice: Callable[[str], None] = lambda message: None) -> Restorer:
    """A ready-to-run restorer for ``task`` (registry checkpoint) or explicit ``weights``."""
    torch_device = resolve_device(device)
    settings = InferenceSettings(torch_device, resolve_precision(precision, torch_device), tile, tile_overlap, batch_size,
                                 self_ensemble)
    loaded = resolve_weights(task, weights, endpoint, notice=notice)
    model = prepare_model(build_model(loaded), settings, compile=compile)
    return Restorer(model, settings, on_notice=notice, source=loaded.source)


def restore_paths(inputs: list[str], output_dir: str | Path, restorer: Restorer,
                  options: OutputOptions | None = None) -> list[FileResult]:
    """Restore files, folders and glob patterns into ``output_dir``; one result per input file."""
    options = options or OutputOptions()
    options.output_dir = Path(output_dir)
    runner = FileRestorer(restorer, options)
    return [runner.run(job) for job in plan_jobs(expand_inputs(inputs), options)]
