"""What the default's rain and snow probes measure on photos without weather and on rainy or snowy
ones, against the router's thresholds: run it after shipping a new denoise, derain, desnow or
all-in-one checkpoint, before recording it in ``router.MEASURED_WITH``.

Each photo goes through the default's own path (``AutoRestorer.findings``: the noise measurement,
``denoise`` on the probe crops when it runs, then what ``derain`` and ``desnow`` take out of them).
``--clean`` folders hold photos without rain or snow (a paired folder: its inputs, e.g. real camera
noise); ``--rainy`` / ``--snowy`` folders photos with it; ``--degrade`` adds each ``--clean`` folder
degraded by a synthesis (fixed seed, 8 bits) as a set with that weather::

    python benchmarks/probe_thresholds.py --clean cbsd68 --clean clean_sun80 --rainy rain12 \\
        --rainy rain100h --degrade snow --degrade rain [--limit 20] [--json out.json]

Prints per set how many photos were found rainy and snowy, and the amounts: on photos without
weather the threshold should lie above the largest, on the others below most.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from restormixer_cli.api import load_restorer
from restormixer_cli.inference.router import (
    RAIN_ALIGNED_ABOVE,
    RAIN_REMOVED_ABOVE,
    RAIN_TILT_AT_MOST,
    SNOW_REMOVED_ABOVE,
    Weather,
)
from restormixer_cli.metrics import eight_bit_levels
from restormixer_cli.training.data import load_training_images
from restormixer_cli.training.degradations import make_degradation


def _photos(folder: Path, limit: int) -> list[np.ndarray]:
    """A folder's photos as uint8 arrays: a paired folder's inputs, else its images."""
    paired, clean = load_training_images([folder])
    return ([degraded for degraded, _ in paired] or clean)[: limit or None]


def _as_tensors(photos: list[np.ndarray]) -> list[torch.Tensor]:
    return [torch.from_numpy(p.astype(np.float32) / 255).permute(2, 0, 1) for p in photos]


def _sets(args: argparse.Namespace) -> Iterator[tuple[str, str, list[torch.Tensor]]]:
    """(name, weather expected: none, rain or snow, photos as (3, H, W) floats in [0, 1])."""
    for folder in args.clean:
        photos = _photos(folder, args.limit)
        yield folder.name, "none", _as_tensors(photos)
        for name in args.degrade:
            degrade = make_degradation(name)
            degraded = [eight_bit_levels(degrade(p.astype(np.float32) / 255, np.random.default_rng([0, i]))) / 255
                        for i, p in enumerate(photos)]
            yield f"{folder.name} {name}", "snow" if "snow" in name else "rain", degraded
    for expected, folders in (("rain", args.rainy), ("snow", args.snowy)):
        for folder in folders:
            yield folder.name, expected, _as_tensors(_photos(folder, args.limit))


def _falling_lines(weather: Weather) -> bool:
    return weather.rain.alignment >= RAIN_ALIGNED_ABOVE and weather.rain.tilt <= RAIN_TILT_AT_MOST


def _spread(values: list[float]) -> str:
    return f"{min(values):5.1f} {float(np.median(values)):5.1f} {max(values):5.1f}" if values else "    -     -     -"


def measure(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    default = load_restorer(device="cpu")
    print(f"thresholds: rain {RAIN_REMOVED_ABOVE} (lines {RAIN_ALIGNED_ABOVE:.0%} aligned, within "
          f"{RAIN_TILT_AT_MOST:g} deg of vertical), snow {SNOW_REMOVED_ABOVE}")
    print(f"{'set':28s} {'expect':6s} {'photos':>6s} {'probed':>6s} {'rainy':>5s} {'snowy':>5s}"
          f"   rain amount, falling lines (min median max)   snow amount (min median max)")
    results = {}
    for name, expected, photos in _sets(args):
        weathers = [w for w in (default.findings(photo)[1] for photo in photos) if w is not None]
        rain = [w.rain.amount for w in weathers if _falling_lines(w)]
        snow = [w.snow.amount for w in weathers]
        results[name] = {"expected": expected, "photos": len(photos), "probed": len(weathers),
                         "rainy": sum(w.raining for w in weathers), "snowy": sum(w.snowing for w in weathers),
                         "rain_amounts": rain, "snow_amounts": snow}
        r = results[name]
        print(f"{name:28s} {expected:6s} {r['photos']:6d} {r['probed']:6d} {r['rainy']:5d} {r['snowy']:5d}"
              f"   {_spread(rain):>17s}                             {_spread(snow)}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clean", type=Path, action="append", default=[], help="photos without rain or snow")
    parser.add_argument("--rainy", type=Path, action="append", default=[], help="rainy photos (or pairs)")
    parser.add_argument("--snowy", type=Path, action="append", default=[], help="snowy photos (or pairs)")
    parser.add_argument("--degrade", action="append", default=[], help="a synthesis applied to the --clean photos")
    parser.add_argument("--limit", type=int, default=0, help="photos per folder (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = measure(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
