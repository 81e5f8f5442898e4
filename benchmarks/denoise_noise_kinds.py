"""Which kinds of noise a denoise checkpoint removes: noise independent in each colour channel,
noise of brightness only (the same in all three channels, as a camera's colour noise reduction or a
grey photo leaves it) and synthetic camera noise, on the same clean photos.

For each kind, each level and each ``--weights``: the PSNR of the input and of the output (RGB, 8-bit
files as a user saves them) and the share of the noise the output keeps (the output's error
projected onto the input's noise: 0 removed, 1 left in place)::

    python benchmarks/denoise_noise_kinds.py --clean DIR [--limit 12] [--sigmas 5,15] \\
        [--weights shipped=denoise --weights new=FOLDER]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from restormixer_cli.api import load_restorer
from restormixer_cli.hub.registry import load_registry
from restormixer_cli.io.formats import quantize
from restormixer_cli.metrics import eight_bit_levels, psnr
from restormixer_cli.training.data import load_training_images
from restormixer_cli.training.degradations import make_degradation


def _psnr(image: np.ndarray, clean: np.ndarray) -> float:
    """RGB PSNR of two (H, W, 3) images in [0, 1], as 8-bit files."""
    return psnr(eight_bit_levels(image), eight_bit_levels(clean), 0, False)


def _as_saved(image: np.ndarray) -> np.ndarray:
    """An image in [0, 1] as an 8-bit file holds it, back in [0, 1]."""
    return quantize(image).astype(np.float32) / 255


def noise_kept(noisy: np.ndarray, restored: np.ndarray, clean: np.ndarray) -> float:
    """The share of the input's noise left in the output: its error projected onto the noise."""
    noise = noisy - clean
    return float(((restored - clean) * noise).sum() / (noise * noise).sum())


def measure(restorer: Callable[[np.ndarray], np.ndarray], cases: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Mean output PSNR and mean share of noise kept over (noisy, clean) pairs."""
    outputs = [(_as_saved(np.clip(restorer(noisy), 0, 1)), noisy, clean) for noisy, clean in cases]
    return {"psnr": np.mean([_psnr(out, clean) for out, _, clean in outputs]),
            "kept": np.mean([noise_kept(noisy, out, clean) for out, noisy, clean in outputs])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clean", type=Path, required=True, help="clean photos (e.g. CBSD68)")
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--sigmas", default="5,15")
    parser.add_argument("--weights", action="append", metavar="LABEL=PATH",
                        help="a task name or weights (file or folder); default: the denoise checkpoint")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tasks = load_registry()
    chosen = dict(item.split("=", 1) for item in args.weights or ["denoise=denoise"])
    restorers = {label: load_restorer(task=path, device="cpu") if path in tasks
                 else load_restorer(weights=path, device="cpu") for label, path in chosen.items()}
    clean = [image.astype(np.float32) / 255 for image in load_training_images([args.clean])[1][: args.limit]]
    kinds = [f"{kind}:{sigma}" for sigma in args.sigmas.split(",") for kind in ("noise", "grey-noise")]
    print(f"{len(clean)} images of {args.clean.name}; each cell: PSNR (share of the noise kept)\n")
    print("| noise | input | " + " | ".join(restorers) + " |\n|---|---|" + "---|" * len(restorers))
    for kind in [*kinds, "camera-noise"]:
        degrade = make_degradation(kind)
        cases = [(_as_saved(degrade(image, np.random.default_rng([0, i]))), image) for i, image in enumerate(clean)]
        cells = [measure(restorer, cases) for restorer in restorers.values()]
        noisy = np.mean([_psnr(noisy, image) for noisy, image in cases])
        print(f"| {kind} | {noisy:.2f} | " + " | ".join(f"{c['psnr']:.2f} ({c['kept']:.2f})" for c in cells) + " |",
              flush=True)


if __name__ == "__main__":
    main()
