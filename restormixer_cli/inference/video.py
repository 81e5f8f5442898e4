"""Restoring videos and animations: frames stream from the decoder through the engine to the
encoder, ``batch_size`` frames at a time, so that memory holds a few frames, never the video.

:class:`~restormixer_cli.inference.files.FileRestorer` hands its video and animation jobs here;
everything else (planning, skipping, failures, scores, comparisons) stays in that one pipeline."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import torch

from ..io.atomic import atomic_path
from ..io.images import ImageData
from ..io.video import ClipInfo, Encoding, probe_clip, read_clip, write_clip
from .engine import Restorer

FrameCallback = Callable[[int, int], None]


def _batches(frames: Iterable[ImageData], size: int) -> Iterator[list[ImageData]]:
    iterator = iter(frames)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class ClipRestorer:
    """Restores one video or animation file into another, atomically."""

    def __init__(self, restorer: Restorer, encoding: Encoding, max_pixels: int | None):
        self.restorer = restorer
        self.encoding = encoding
        self.max_pixels = max_pixels

    def probe(self, path: Path) -> ClipInfo:
        """What the clip holds; raises ClipReadError when it cannot be restored."""
        return probe_clip(path, self.max_pixels)

    def restore(self, source: Path, info: ClipInfo, output: Path,
                on_frame: FrameCallback | None = None) -> tuple[list[str], object | None]:
        """Restore every frame of ``source`` into ``output`` (a temporary file until the last frame is
        written and read back); returns notes on what the output could not keep, and the route the
        clip took (the default picks one per clip, from its first frame). Raises ClipReadError,
        ClipWriteError, NonFiniteOutput or OSError, and leaves no partial file."""
        output.parent.mkdir(parents=True, exist_ok=True)
        width, height = self.restorer.output_size(info.width, info.height)
        restored = dataclasses.replace(info, width=width, height=height)
        taken: list[object] = []
        with atomic_path(output) as tmp, closing(self._restored(source, info, on_frame, taken)) as frames:
            notes = write_clip(tmp, restored, frames, self.encoding, source)
        return notes, (taken or [None])[0]

    def _restored(self, source: Path, info: ClipInfo, on_frame: FrameCallback | None,
                  taken: list[object]) -> Iterator[ImageData]:
        """The restored frames; the route taken is appended to ``taken``."""
        done = 0
        runner = None
        with closing(read_clip(source, info)) as frames:
            for batch in _batches(frames, self.restorer.settings.batch_size):
                pixels = torch.from_numpy(np.stack([frame.pixels for frame in batch])).permute(0, 3, 1, 2)
                if runner is None:
                    runner, route = self.restorer.routed(pixels[0])
                    taken.append(route)
                for frame, restored in zip(batch, runner.restore_batch(pixels)):
                    yield runner.with_restored_pixels(frame, restored)
                done += len(batch)
                if on_frame:
                    on_frame(done, info.frames)
