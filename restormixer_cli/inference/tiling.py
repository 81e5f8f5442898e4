"""Overlapping tiles and their feathered blending weights."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length``; the last one ends at the edge."""
    if tile >= length:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


@dataclass(frozen=True)
class Tile:
    top: int
    left: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)


def balanced_tile(length: int, max_tile: int, overlap: int, multiple: int = 8) -> int:
    """The smallest tile (a multiple of ``multiple``, at most ``max_tile``) that covers ``length`` with
    as few tiles as ``max_tile`` needs, so that the overlap is not wasted on one thin last tile."""
    if length <= max_tile:
        return length
    count = math.ceil((length - overlap) / (max_tile - overlap))
    size = math.ceil((length - overlap) / count) + overlap
    return min(max_tile, -(-size // multiple) * multiple)


def plan_tiles(height: int, width: int, tile: int, overlap: int, balanced: bool = False) -> list[Tile]:
    """Equal-size tiles covering the image; ``tile`` 0 means one tile for the whole image.

    With ``balanced``, ``tile`` is an upper bound and each side uses :func:`balanced_tile`.
    """
    th = height if tile <= 0 else min(tile, height)
    tw = width if tile <= 0 else min(tile, width)
    if balanced and tile > 0:
        th, tw = balanced_tile(height, tile, overlap), balanced_tile(width, tile, overlap)
    return [
        Tile(top, left, th, tw)
        for top in tile_starts(height, th, overlap)
        for left in tile_starts(width, tw, overlap)
    ]


def _ramp(size: int, ramp_in: int, ramp_out: int) -> torch.Tensor:
    """1-D weights rising over ``ramp_in`` samples, flat, falling over ``ramp_out`` samples."""
    w = torch.ones(size)
    pos = torch.arange(size, dtype=torch.float32) + 0.5
    if ramp_in:
        w = torch.minimum(w, pos / ramp_in)
    if ramp_out:
        w = torch.minimum(w, (size - pos) / ramp_out)
    return w


def blend_weights(tile: Tile, height: int, width: int, overlap: int) -> torch.Tensor:
    """(h, w) feathering weights: linear ramps across the overlap on sides shared with other tiles.

    Sides on the image border stay at weight 1, so a single tile has weight 1 everywhere.
    """
    def ramps(start: int, size: int, length: int) -> torch.Tensor:
        ramp = min(overlap, size // 2)
        return _ramp(size, ramp if start > 0 else 0, ramp if start + size < length else 0)

    return ramps(tile.top, tile.height, height)[:, None] * ramps(tile.left, tile.width, width)[None, :]
