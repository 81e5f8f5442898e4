"""`restormixer degrade` at work: synthetic degradations written as a paired folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from rich.console import Console

from ..io.discovery import InputFile, expand_inputs
from ..io.images import read_rgb
from ..training.data import write_degraded_pairs
from ..training.degradations import Degradation, crop_to_scale, make_degradation
from .common import USAGE_ERROR, print_error, shown


def _readable(sources: list[InputFile], degradation: Degradation,
              failures: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    for source in sources:
        try:
            yield source.relative.with_suffix("").as_posix(), crop_to_scale(read_rgb(source.path), degradation)
        except (OSError, ValueError) as exc:
            failures.append(f"{source.path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")


def run_degrade(inputs: list[str], out: Path, degradation: str, seed: int, overwrite: bool,
                console: Console, err: Console) -> int:
    """Write ``out/input`` (degraded) and ``out/target`` (clean) PNGs; returns the exit code."""
    try:
        degrade = make_degradation(degradation)
    except ValueError as exc:
        return print_error(err, exc, USAGE_ERROR)
    try:
        sources = expand_inputs(inputs, exclude=[out])  # a second run into a folder inside its input
    except (ValueError, FileNotFoundError) as exc:
        return print_error(err, exc)
    names = [s.relative.with_suffix("").as_posix() + ".png" for s in sources]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        return print_error(err, f"several inputs would be written as {', '.join(repeated)}: give them different "
                                "names, or one folder per run")
    existing = [out / sub / n for n in names for sub in ("input", "target") if (out / sub / n).exists()]
    if existing and not overwrite:
        return print_error(err, f"{existing[0]} exists ({len(existing)} outputs in all); use --overwrite or another --out")
    for name in names:
        for sub in ("input", "target"):
            (out / sub / name).parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    write_degraded_pairs(_readable(sources, degrade, failures), degrade, out, seed)
    for failure in failures:
        err.print(f"[red]skipped[/] {shown(failure)}", highlight=False)
    console.print(f"{len(sources) - len(failures)} degraded images in {shown(out / 'input')}, "
                  f"clean targets in {shown(out / 'target')}")
    return 1 if failures else 0
