"""Side-by-side panels of real photos restored by several checkpoints, to judge them by eye.

    python scripts/real_photo_panels.py PHOTOS_DIR --out panels/ --weights v1=OLD_FOLDER --weights v2=NEW_FOLDER
    python scripts/real_photo_panels.py PHOTOS_DIR --out panels/ --weights default=auto --weights derain=derain

Writes one PNG per photo: input | one column per ``--weights LABEL=PATH`` (a weights file, a
hub-layout folder, or a task name: its embedded checkpoint, ``auto`` for the default's choice,
whose route is printed). With ``--scale S`` (super-resolution weights) the photos are enlarged S times
and the first column is their bicubic enlargement. Real photos have no ground truth, so these
pictures are how a checkpoint is judged on them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from restormixer_cli.api import load_restorer
from restormixer_cli.hub.registry import load_registry
from restormixer_cli.inference.compare import side_by_side
from restormixer_cli.io.atomic import atomic_path
from restormixer_cli.io.discovery import list_images
from restormixer_cli.io.images import read_image
from restormixer_cli.resize import upscale_planes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--weights", action="append", required=True, metavar="LABEL=PATH")
    parser.add_argument("--max-height", type=int, default=400)
    parser.add_argument("--scale", type=int, default=1, help="upscaling factor of super-resolution weights")
    args = parser.parse_args()
    torch.set_num_threads(2)
    tasks = load_registry()
    restorers = {label: load_restorer(task=path, device="cpu") if path in tasks and not Path(path).exists()
                 else load_restorer(weights=path, device="cpu", scale=args.scale)
                 for label, path in (item.split("=", 1) for item in args.weights)}
    args.out.mkdir(parents=True, exist_ok=True)
    for photo in list_images(args.photos):
        image = read_image(photo)
        first = ("input", image) if args.scale == 1 else (f"bicubic x{args.scale}", image.with_pixels(upscale_planes(image.rgb, args.scale)))
        columns = [first]
        for label, restorer in restorers.items():
            runner, route = restorer.routed(torch.from_numpy(image.rgb.copy()).permute(2, 0, 1))
            columns.append((label, runner.restore_data(image)))
            if route:
                print(f"{photo.name}: {label}: {route}", flush=True)
        with atomic_path(args.out / f"{photo.stem}.png") as tmp:
            side_by_side(columns, args.max_height).save(tmp, format="PNG")
        print(f"{photo.name}: {args.out / (photo.stem + '.png')}", flush=True)


if __name__ == "__main__":
    main()
