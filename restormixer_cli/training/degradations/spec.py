"""Degradation specs: names such as ``rain``, ``blind-noise:55`` or ``snow+low-light+noise:15``, and
the degradations they make."""

from __future__ import annotations

import math
from collections.abc import Callable

from .common import Degradation
from .exposure import low_light
from .haze import haze
from .jpeg import jpeg_artifacts
from .mixtures import compose, mixed, unchanged
from .noise import blind_noise, camera_noise, gaussian_noise
from .rain import RainStyle, synthetic_rain
from .resolution import downscale, super_resolution
from .snow import synthetic_snow

DEGRADATIONS: dict[str, Callable[[], Degradation]] = {
    "noise": lambda: gaussian_noise(25.0),
    "grey-noise": lambda: gaussian_noise(25.0, grey_share=1.0),
    "blind-noise": blind_noise,
    "camera-noise": camera_noise,
    "rain": synthetic_rain,
    "light-rain": lambda: synthetic_rain(RainStyle(classic_chance=1.0, light_share=1.0)),
    "snow": synthetic_snow,
    "haze": haze,
    "low-light": low_light,
    "jpeg": jpeg_artifacts,
    "mixed": mixed,
    "none": unchanged,
    "sr": super_resolution,
}

#: How the error for an unknown name shows the degradations that take an argument.
_WITH_ARGUMENT = {"noise": "noise[:SIGMA]", "grey-noise": "grey-noise[:SIGMA]",
                  "blind-noise": "blind-noise[:MAX_SIGMA]", "mixed": "mixed[:CLEAN]", "sr": "sr[:SCALE]"}

MAX_SCALE = 8  # beyond it a benchmark-sized image shrinks to a few pixels


def make_degradation(name: str) -> Degradation:
    """``noise`` / ``noise:SIGMA`` / ``grey-noise`` / ``grey-noise:SIGMA`` (the same noise in all three
    channels: brightness only) / ``blind-noise`` / ``blind-noise:MAX_SIGMA`` / ``camera-noise`` /
    ``rain`` / ``light-rain`` / ``snow`` / ``haze`` / ``low-light`` / ``jpeg`` / ``mixed`` / ``mixed:CLEAN`` (the
    fraction left unchanged, 0.1 by default) / ``none`` / ``sr`` / ``sr:SCALE`` / ``downscale:SCALE``,
    or several joined by ``+`` (applied left to right, e.g. ``rain+haze``)."""
    if "+" in name:
        return compose(*(make_degradation(part) for part in name.split("+")))
    kind, _, arg = name.partition(":")
    if kind in ("noise", "grey-noise") and arg:
        return gaussian_noise(_number(name, arg, 0, 255), grey_share=1.0 if kind == "grey-noise" else 0.0)
    if kind == "blind-noise" and arg:
        return blind_noise(max_sigma=_number(name, arg, 1, 255))
    if kind in ("sr", "downscale") and arg.isdigit() and int(arg) >= 2:
        scale = int(_number(name, arg, 2, MAX_SCALE))
        return super_resolution((scale,)) if kind == "sr" else downscale(scale)
    if kind == "mixed" and _is_fraction(arg):
        return mixed(clean=float(arg))
    if kind not in DEGRADATIONS or arg:
        raise _unknown(name)
    return DEGRADATIONS[kind]()


def _unknown(name: str) -> ValueError:
    """The error for a name no degradation has, listing the names there are."""
    choices = [_WITH_ARGUMENT.get(kind, kind) for kind in DEGRADATIONS] + ["downscale:SCALE"]
    return ValueError(f"unknown degradation {name!r}: use {', '.join(choices)}, or several joined by +")


def _number(name: str, text: str, low: float, high: float) -> float:
    """The number in a degradation's name, checked against its range (ValueError naming both)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # NaN fails too
        raise ValueError(f"degradation {name!r}: {text!r} is not a number from {low:g} to {high:g}")
    return value


def _is_fraction(text: str) -> bool:
    """Whether ``text`` is a number from 0 to 1."""
    try:
        return 0 <= float(text) <= 1
    except ValueError:
        return False
