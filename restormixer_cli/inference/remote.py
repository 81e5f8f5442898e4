"""Restoring files named by URI (object storage such as ``s3://``): each input is downloaded to a
temporary folder, restored there by :class:`~.files.FileRestorer` as a local file is, and its
output uploaded; the temporary files go with the job."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from ..io import storage
from ..io.discovery import InputFile
from ..io.formats import ANIMATION_FORMATS, VIDEO_FORMATS
from ..io.video import clip_kind
from ..io.write_plan import PlanError
from .files import FileJob, FileRestorer, FileResult, OutputOptions, check_no_existing_outputs, output_path
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


def _named_clip(name: PurePosixPath) -> bool:
    """Whether a file is a video or animation by its name alone (a WebP counts as a still image)."""
    suffix = name.suffix.lower()
    return suffix in VIDEO_FORMATS or ANIMATION_FORMATS.get(suffix) == "GIF"


def plan_remote(inputs: list[str], output: str, options: OutputOptions) -> list[RemoteJob]:
    """Jobs for inputs and an output folder of which at least one is named by URI, with the local
    pipeline's naming rules and checks: PlanError if an output would replace an input, repeat, or
    exist already without ``existing="skip"`` or ``"overwrite"``."""
    if options.gt_dir is not None or options.compare_dir is not None or options.output_file is not None:
        raise PlanError("with URIs, give an output folder or prefix; --gt and --compare take local runs only")
    found = {uri: relative for spec in inputs for uri, relative in storage.list_media(spec)}
    naming = replace(options, output_dir=Path())
    jobs = [RemoteJob(uri, relative, storage.join(output, PurePosixPath(
        output_path(InputFile(Path(relative), Path(relative)), naming, _named_clip(relative)))))
        for uri, relative in found.items()]
    input_uris = {storage.canonical(uri) for uri in found}
    written: dict[str, str] = {}  # output -> the input it is restored from
    for job in jobs:
        target = storage.canonical(job.output)
        if target in input_uris:
            raise PlanError(f"the output of {job.input} would overwrite the input {job.output}; choose another path")
        if target in written:
            raise PlanError(f"the outputs of {written[target]} and {job.input} would both be written to {job.output}")
        written[target] = job.input
    if options.existing == "error":
        there = storage.existing(output)
        check_no_existing_outputs([job.output for job in jobs if storage.canonical(job.output) in there])
    return jobs
