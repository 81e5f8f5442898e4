"""The default restoration: per photo (per clip), the checkpoints its degradations need.

:func:`~restormixer_cli.inference.diagnosis.diagnose` measures a photo's noise, brightness, haze and
JPEG blocks with classic estimators; rain and snow are found by what the derain and desnow
checkpoints take out of a few crops of the photo (:func:`~restormixer_cli.inference.diagnosis.removal`),
underexposure (a dim photo without highlights) by how much the all-in-one checkpoint brightens them.
:func:`plan_route` turns the measurements into a :class:`Route`: the checkpoints that undo what was
found, in the reverse of the order light met them (the sensor's noise last, so removed first), and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..io.images import ImageData
from .diagnosis import Diagnosis, Removal, diagnose, luminance, removal
from .engine import InferenceSettings, Restorer, TileCallback
from .kinds import restore_any

#: Measured noise (0-255 sigma of its white part) from which the denoise checkpoint runs. Real camera
#: noise is mostly correlated between neighbouring pixels, which the estimate barely sees: the
#: real-noise pairs measure 0.8-2.1 against 0.3-0.7 for their clean targets. The blind checkpoint
#: leaves clean photos within 42-48 dB of themselves, so erring towards it costs little.
NOISE_SHOWS = 0.75
#: Mean luminance (0-1) below which a photo is taken as shot in low light.
LOW_LIGHT_BELOW = 0.16
#: A photo darker than this on average whose highlights stay below HIGHLIGHTS_BELOW may be
#: underexposed: of 563 clean photos (CBSD68, Sun-Hays, BSDS500, the CC targets) 7 look so (2 by
#: mean luminance alone), of 32 real rain and snow photos none; of the same 548 photos darkened by the
#: low-light synthesis (exposure / 3 to / 25) 545, where mean luminance alone finds 330.
UNDEREXPOSED_BELOW = 0.35
HIGHLIGHTS_BELOW = 0.65
#: Such a photo is taken as underexposed when the all-in-one checkpoint brightens its probe crops by
#: at least this much (mean luminance, 0-1). It keeps dim photos that are meant to be dim (clean ones
#: above: +0.001 to +0.021; a real noisy one, a CC pair it would denoise 4 dB worse than the denoise
#: checkpoint: +0.022).
BRIGHTENED_ABOVE = 0.05
#: Mean dark channel (0-1) above which a photo is taken as hazy: above the brightest clean photos
#: measured (0.57), which the all-in-one checkpoint would denoise less well; faint haze is missed.
HAZE_ABOVE = 0.6
#: Block-edge steps this much larger than other steps show JPEG blocks.
JPEG_BLOCKS_ABOVE = 1.3
#: Rain: derain takes out at least this much from the median probe crop (RMS of luma, 0-255), and
#: the change runs mostly one way. Measured on whole photos, clean ones (CBSD68, Sun-Hays, the CC
#: targets) gave at most 8.7, and those above 3.9 were aligned at most 0.72; Rain12 / Rain100H gave
#: 1.8-11.5 / 21-46, aligned 0.82-0.97.
RAIN_REMOVED_ABOVE = 4.5
RAIN_ALIGNED_ABOVE = 0.75
#: Rain falls within this many degrees of the vertical (the synthesis: up to 45); aligned lines
#: across the frame (a brick wall's courses, which derain fades) are not rain.
RAIN_TILT_AT_MOST = 45.0
#: Snow: desnow takes out at least this much from the median probe crop. Clean photos, denoised
#: first, gave at most 2.7 (a noisy astronaut photo enlarged to 1024 px, 3.5); the snow synthesis
#: 7.3-21.5. Over all crops together (not the median) a clean photo's sky between branches or a
#: white space suit reached 6-10: a bright object fills a few crops, snow all of them. Measured
#: with the previous denoise checkpoint; with the current one the first 14 CBSD68 photos gave at
#: most 2.8, and faint snow falls below (4.5, as on the crops not denoised; the previous denoise
#: raised it to 5.1): BENCHMARKS.md, the default. ``benchmarks/probe_thresholds.py`` measures them.
SNOW_REMOVED_ABOVE = 5.0
#: Side of the probe crops, and how many (rows x columns) spread over the photo.
PROBE_SIZE = 128
PROBE_GRID = (2, 3)
#: The checkpoints the thresholds above were measured with (the first 12 hex digits of the sha256
#: of their weights): what derain and desnow take out of a photo's crops once denoised, and what
#: all-in-one adds to them, depend on them. A new checkpoint of one of these tasks needs the
#: thresholds measured again with it, then its entry here (a test compares these with the registry).
MEASURED_WITH = {"denoise": "0b7f7f12419b", "derain": "e34112248ed6", "desnow": "0663d70a9d42",
                 "all-in-one": "1cbd9f5708a9"}
GENERALIST = "all-in-one"


@dataclass(frozen=True)
class Weather:
    """What the derain and desnow checkpoints take out of a photo's probe crops."""

    rain: Removal
    snow: Removal

    @property
    def raining(self) -> bool:
        rain = self.rain
        falls = rain.alignment >= RAIN_ALIGNED_ABOVE and rain.tilt <= RAIN_TILT_AT_MOST
        return falls and rain.amount >= RAIN_REMOVED_ABOVE

    @property
    def snowing(self) -> bool:
        return self.snow.amount >= SNOW_REMOVED_ABOVE


@dataclass(frozen=True)
class Route:
    """The checkpoints a photo goes through, in order (none: it is left as it is), and why."""

    tasks: tuple[str, ...]
    found: str  # what was measured, e.g. "noise sigma ~24, low light"

    def __str__(self) -> str:
        return f"{self.found} -> {' then '.join(self.tasks) if self.tasks else 'left unchanged'}"


def looks_underexposed(diagnosis: Diagnosis) -> bool:
    """Dim, with no highlights: underexposed, or a dim scene meant to stay so (the all-in-one
    checkpoint's brightening of it decides, see :data:`BRIGHTENED_ABOVE`)."""
    dim = LOW_LIGHT_BELOW <= diagnosis.brightness < UNDEREXPOSED_BELOW
    return dim and diagnosis.highlights < HIGHLIGHTS_BELOW


def plan_route(diagnosis: Diagnosis, weather: Weather | None = None, brightened: float = 0.0) -> Route:
    """Low light or haze go to the all-in-one checkpoint (the only one trained on them, and on noise,
    rain and snow too); otherwise noise to the denoise checkpoint, then rain to derain or snow to
    desnow (``weather``: measured after denoising). ``brightened``: how much the all-in-one
    checkpoint brightens a photo that :func:`looks_underexposed`. JPEG blocks are named, not removed:
    no checkpoint removes them without losing detail."""
    found = []
    if diagnosis.noise_sigma >= NOISE_SHOWS:
        found.append(f"noise sigma ~{diagnosis.noise_sigma:.{0 if diagnosis.noise_sigma >= 10 else 1}f}")
    underexposed = looks_underexposed(diagnosis) and brightened >= BRIGHTENED_ABOVE
    if diagnosis.brightness < LOW_LIGHT_BELOW:
        found.append("low light")
    elif underexposed:
        found.append(f"low light (highlights at {diagnosis.highlights:.0%})")
    hazy = diagnosis.dark_channel > HAZE_ABOVE
    if hazy:
        found.append("haze")
    if diagnosis.blockiness > JPEG_BLOCKS_ABOVE:
        found.append("JPEG blocks (kept)")
    if diagnosis.brightness < LOW_LIGHT_BELOW or underexposed or hazy:
        return Route((GENERALIST,), ", ".join(found))
    tasks: tuple[str, ...] = ("denoise",) if diagnosis.noise_sigma >= NOISE_SHOWS else ()
    if weather is not None and weather.raining:
        found.append(f"rain streaks ({weather.rain.alignment:.0%} aligned)")
        tasks += ("derain",)
    elif weather is not None and weather.snowing:
        found.append("snow")
        tasks += ("desnow",)
    return Route(tasks, ", ".join(found) or "no noise, rain, snow, low light or haze found")


def probe_crops(image: torch.Tensor) -> torch.Tensor | None:
    """Up to :data:`PROBE_GRID` crops of :data:`PROBE_SIZE` pixels spread evenly over a (3, H, W)
    image, as one batch (as many as fit side by side on a small photo); None when the image is
    smaller than one crop."""
    height, width = image.shape[-2:]
    if min(height, width) < PROBE_SIZE:
        return None
    tops, lefts = (torch.linspace(0, side - PROBE_SIZE, min(n, side // PROBE_SIZE)).round().int().tolist()
                   for side, n in zip((height, width), PROBE_GRID))
    return torch.stack([image[:, t : t + PROBE_SIZE, l : l + PROBE_SIZE] for t in tops for l in lefts])


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

    def _chain(self, tasks: tuple[str, ...]) -> Chain:
        return Chain([self._restorer(task) for task in tasks], self.settings)

    def weather(self, image: torch.Tensor, restored_before: tuple[str, ...] = ()) -> Weather | None:
        """What derain and desnow take out of a (3, H, W) image's probe crops once the ``restored_before``
        checkpoints have run on them; None for an image smaller than one crop."""
        crops = probe_crops(image)
        if crops is None:
            return None
        crops = self._chain(restored_before).restore_batch(crops)
        return Weather(*(removal(crops, self._restorer(task).restore_batch(crops)) for task in ("derain", "desnow")))

    def brightening(self, image: torch.Tensor) -> float:
        """How much the all-in-one checkpoint raises the mean luminance of a (3, H, W) image's probe
        crops (0 for an image smaller than one crop)."""
        crops = probe_crops(image)
        if crops is None:
            return 0.0
        return float(luminance(self._restorer(GENERALIST).restore_batch(crops).float()).mean() - luminance(crops).mean())

    def findings(self, image: torch.Tensor) -> tuple[Route, Weather | None]:
        """The route of a (3, H, W) image in [0, 1] and the weather measured for it (None where the
        photo goes to the generalist, which needs none, or is smaller than a probe crop)."""
        diagnosis = diagnose(image)
        brightened = self.brightening(image) if looks_underexposed(diagnosis) else 0.0
        route = plan_route(diagnosis, brightened=brightened)
        if route.tasks == (GENERALIST,):
            return route, None
        weather = self.weather(image, route.tasks)
        return plan_route(diagnosis, weather, brightened), weather

    def routed(self, image: torch.Tensor) -> tuple[Chain, Route]:
        """The chain of restorers for a (3, H, W) image in [0, 1] (a clip's first frame), and its route."""
        route, _ = self.findings(image)
        return self._chain(route.tasks), route

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
