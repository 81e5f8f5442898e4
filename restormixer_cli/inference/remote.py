"""Restoring files named by URI (object storage such as ``s3://``): each input is downloaded to a
temporary folder, restored there by :class:`~.files.FileRestorer` as a local file is, and its
output uploaded; the temporary files go with the job. :mod:`.plan` plans these jobs."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from ..io import storage
from ..io.discovery import InputFile
from ..io.video import clip_kind
from .files import FileJob, FileRestorer, FileResult
from .video import FrameCallback


@dataclass(frozen=True)
class RemoteJob:
    """An input and its output, either or both named by URI."""

    input: str
    relative: PurePosixPath  # below the input's root; the output mirrors it
    output: str

    @property
    def name(self) -> str:
        return self.relative.name

    @property
    def target(self) -> str:
        return self.output

    def local_outputs(self) -> list[Path]:
        return [] if storage.is_uri(self.output) else [Path(self.output)]  # object uploads leave no temporary files

    def restore(self, runner: FileRestorer, on_tile: Callable[[int, int], None] | None = None,
                on_frame: FrameCallback | None = None) -> FileResult:
        if runner.options.existing == "skip" and storage.exists(self.output):
            return FileResult(self.input, self.output, "skipped")
        with tempfile.TemporaryDirectory(prefix="restormixer-") as scratch:
            source = Path(scratch, "in", self.relative.name)
            source.parent.mkdir()
            try:
                storage.download(self.input, source)
            except OSError as exc:
                return FileResult(self.input, None, "failed", error=f"cannot download: {exc}")
            job = FileJob(InputFile(source, Path(self.relative)), Path(scratch, "out", PurePosixPath(self.output).name),
                          clip=clip_kind(source) is not None)
            job.output.parent.mkdir()
            result = runner.run(job, on_tile, on_frame)
            if result.status == "done":
                try:
                    storage.upload(job.output, self.output)
                except OSError as exc:
                    return replace(result, output=None, status="failed", error=f"cannot upload: {exc}")
        return replace(result, input=self.input, output=self.output if result.output else None)
