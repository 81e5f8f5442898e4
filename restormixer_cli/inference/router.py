"""The default restoration: per photo (per clip), the checkpoints its degradations need.

:func:`~restormixer_cli.inference.diagnosis.diagnose` measures a photo's noise, brightness, haze and
JPEG blocks with classic estimators; :func:`plan_route` turns the measurements into a :class:`Route`:
the checkpoints that undo what was found, and why. Rain and snow are not looked for: neither a
classifier trained on the project's rain and snow syntheses nor probing with the derain and desnow
checkpoints told them apart from clean texture on real photos, so they are left to ``--task``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..io.images import ImageData
from .diagnosis import Diagnosis, diagnose
from .engine import InferenceSettings, Restorer, TileCallback
from .kinds import restore_any

#: Measured noise (0-255 sigma of its white part) from which the denoise checkpoint runs. Real camera
#: noise is mostly correlated between neighbouring pixels, which the estimate barely sees: the
#: real-noise pairs measure 0.8-2.1 against 0.3-0.7 for their clean targets. The blind checkpoint
#: leaves clean photos within 42-48 dB of themselves, so erring towards it costs little.
NOISE_SHOWS = 0.75
#: Mean luminance (0-1) below which a photo is taken as shot in low light.
LOW_LIGHT_BELOW = 0.16
#: Mean dark channel (0-1) above which a photo is taken as hazy: above the brightest clean photos
#: measured (0.57), which the all-in-one checkpoint would denoise less well; faint haze is missed.
HAZE_ABOVE = 0.6
#: Block-edge steps this much larger than other steps show JPEG blocks.
JPEG_BLOCKS_ABOVE = 1.3
GENERALIST = "all-in-one"


@dataclass(frozen=True)
class Route:
    """The checkpoints a photo goes through, in order (none: it is left as it is), and why."""

    tasks: tuple[str, ...]
    found: str  # what was measured, e.g. "noise sigma ~24, low light"

    def __str__(self) -> str:
        return f"{self.found} -> {' then '.join(self.tasks) if self.tasks else 'left unchanged'}"


def plan_route(diagnosis: Diagnosis) -> Route:
    """Low light or haze go to the all-in-one checkpoint (the only one trained on them, and on noise
    too); noise alone to the denoise checkpoint. JPEG blocks are named, not removed: no checkpoint
    removes them without losing detail."""
    found = []
    if diagnosis.noise_sigma >= NOISE_SHOWS:
        found.append(f"noise sigma ~{diagnosis.noise_sigma:.{0 if diagnosis.noise_sigma >= 10 else 1}f}")
    if diagnosis.brightness < LOW_LIGHT_BELOW:
        found.append("low light")
    if diagnosis.dark_channel > HAZE_ABOVE:
        found.append("haze")
    if diagnosis.blockiness > JPEG_BLOCKS_ABOVE:
        found.append("JPEG blocks (kept)")
    if "low light" in found or "haze" in found:
        tasks: tuple[str, ...] = (GENERALIST,)
    else:
        tasks = ("denoise",) if diagnosis.noise_sigma >= NOISE_SHOWS else ()
    return Route(tasks, ", ".join(found) or "no noise, low light or haze found")


class Chain:
    """Restorers applied one after the other (none: the image as it is), with :class:`Restorer`'s
    image interface; all of them restore at scale 1."""

    scale = 1

    def __init__(self, restorers: list[Restorer], settings: InferenceSettings):
        self.restorers, self.settings = restorers, settings

    def restore_batch(self, images: torch.Tensor, on_tile: TileCallback | None = None) -> torch.Tensor:
        for restorer in self.restorers:
            images = restorer.restore_batch(images, on_tile)
        return images.float().clamp(0, 1)

    def restore(self, image: torch.Tensor, on_tile: TileCallback | None = None) -> torch.Tensor:
        return self.restore_batch(image[None], on_tile)[0]

    def restore_data(self, image: ImageData, on_tile: TileCallback | None = None) -> ImageData:
        tensor = torch.from_numpy(image.rgb.copy()).permute(2, 0, 1)
        return self.with_restored_pixels(image, self.restore(tensor, on_tile))

    @staticmethod
    def with_restored_pixels(image: ImageData, restored: torch.Tensor) -> ImageData:
        return image.with_pixels(restored.permute(1, 2, 0).numpy())


class AutoRestorer:
    """Restores each image (each clip) with the route its measurements call for.

    ``load_task`` gives the restorer of a task's checkpoint; each is loaded once, when first needed.
    """

    scale = 1
    largest_factor = 1
    source = "the default: checkpoints picked per photo"
    weights_sha256 = ""

    def __init__(self, load_task: Callable[[str], Restorer], settings: InferenceSettings):
        self.load_task = load_task
        self.settings = settings
        self._restorers: dict[str, Restorer] = {}

    def at_scale(self, scale: int, outscale: float | None = None) -> AutoRestorer:
        """This restorer; the default restores at the photo's own size."""
        if scale != 1 or outscale not in (None, 1):
            raise ValueError("the default restores at the photo's size; for super-resolution use the sr task")
        return self

    @staticmethod
    def output_size(width: int, height: int) -> tuple[int, int]:
        return width, height

    def __call__(self, image: object) -> object:
        """:class:`Restorer`'s call: any image kind in, the same kind out, restored along its route."""
        return restore_any(image, self.restore_data)

    def _restorer(self, task: str) -> Restorer:
        if task not in self._restorers:
            self._restorers[task] = self.load_task(task)
        return self._restorers[task]

    def routed(self, image: torch.Tensor) -> tuple[Chain, Route]:
        """The chain of restorers for a (3, H, W) image in [0, 1] (a clip's first frame), and its route."""
        route = plan_route(diagnose(image))
        return Chain([self._restorer(task) for task in route.tasks], self.settings), route

    def restore_data(self, image: ImageData, on_tile: TileCallback | None = None) -> ImageData:
        chain, _ = self.routed(torch.from_numpy(image.rgb.copy()).permute(2, 0, 1))
        return chain.restore_data(image, on_tile)

    def restore(self, image: torch.Tensor, on_tile: TileCallback | None = None) -> torch.Tensor:
        chain, _ = self.routed(image)
        return chain.restore(image, on_tile)

    def restore_batch(self, images: torch.Tensor, on_tile: TileCallback | None = None) -> torch.Tensor:
        """Each image of the batch with its own route."""
        return torch.stack([self.restore(image, on_tile) for image in images])

    with_restored_pixels = staticmethod(Chain.with_restored_pixels)
