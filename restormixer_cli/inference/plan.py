"""The one planner of a restore run: what its output names (a local folder, one local file, or a
folder or prefix named by URI), each input's job, and every write claimed before any work. A run
that would replace an input, write twice to one path, or replace an existing file its options do
not let it replace raises PlanError and writes nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath

from ..io import storage
from ..io.discovery import InputFile, Unreadable, expand_inputs
from ..io.formats import ANIMATION_FORMATS, FORMATS, MEDIA_EXTENSIONS, VIDEO_FORMATS
from ..io.video import clip_kind, is_clip_output
from ..io.write_plan import AlreadyExists, PlanError, PlanRefusal, WritePlan, check_folder
from .files import FileJob, Job, OutputOptions, UnreadableJob
from .remote import RemoteJob


@dataclass(frozen=True)
class LocalOutput:
    """A local run's output: the folder its outputs mirror the inputs in, or its one output ``file``."""

    folder: Path
    file: Path | None = None


def names_file(output: str | Path) -> bool:
    """Whether ``output`` names one output file rather than a folder: a local path with an image or
    video extension that is not an existing folder and does not end with a separator (``photos.jpg/``
    is a folder)."""
    text = str(output)
    return (not storage.is_uri(text) and not text.endswith(("/", os.sep)) and not Path(text).is_dir()
            and Path(text).suffix.lower() in MEDIA_EXTENSIONS)


def plan_run(inputs: Iterable[str | Path], output: str | Path, options: OutputOptions, reports: Iterable[Path] = (),
             file_allowed: bool = False) -> list[Job]:
    """The jobs that restore ``inputs`` (files, folders and glob patterns; paths or URIs) into
    ``output``: a folder or URI prefix below which the inputs' folders are mirrored, or, with
    ``file_allowed``, the one output file that ``output`` names (:func:`names_file`). Local
    ``reports`` the run will write are claimed with its outputs."""
    specs = [str(spec) for spec in inputs]
    if any(map(storage.is_uri, [str(output), *specs])):
        return _plan_uris(specs, str(output), options)
    if file_allowed and names_file(output):
        return _plan_local(specs, LocalOutput(Path(output).parent, Path(output)), options, reports)
    return _plan_local(specs, LocalOutput(Path(output)), options, reports)


def output_name(relative: PurePath, options: OutputOptions, clip: bool = False) -> PurePath:
    """An input's output below the output folder, for an input at ``relative`` below its root;
    videos and animations keep their container (``ext`` is for images)."""
    suffix = relative.suffix.lower() if options.ext == "same" or clip else f".{options.ext}"
    if suffix not in FORMATS and not clip:
        suffix = ".png"
    return relative.with_name(relative.stem + options.suffix + suffix)


def is_restore_report(path: Path) -> bool:
    """Whether ``path`` holds a JSON report that restore wrote (a resumed run may replace it)."""
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and {"files", "summary", "settings"} <= report.keys()


def refuse_existing(existing: list[Path | str]) -> None:
    """Raise AlreadyExists naming the outputs of a run that exist already (none: nothing to say)."""
    if len(existing) == 1:
        raise AlreadyExists("{path} already exists; {skip} to resume or {overwrite} to replace it", path=existing[0])
    if existing:
        raise AlreadyExists("{path} and {more} more already exist; {skip} to resume or {overwrite} to replace them",
                            path=existing[0], more=len(existing) - 1)


def _plan_local(specs: list[str], output: LocalOutput, options: OutputOptions, reports: Iterable[Path]) -> list[Job]:
    """Find the local inputs (the run's own output and comparison folders skipped) and plan their
    writes; folders that cannot be listed (and files that cannot be looked at) come first, as
    :class:`~.files.UnreadableJob`."""
    own = [*([] if output.file is not None else [output.folder]), *filter(None, [options.compare_dir])]
    unreadable: list[Unreadable] = []
    sources = expand_inputs(specs, exclude=own, on_unreadable=unreadable.append)
    return [*map(UnreadableJob.of, unreadable), *_local_jobs(sources, output, options, reports)]


def _local_jobs(sources: list[InputFile], output: LocalOutput, options: OutputOptions,
                reports: Iterable[Path]) -> list[FileJob]:
    """Map inputs to outputs and comparison pictures and claim every write (``reports`` included).
    With ``existing="skip"`` existing outputs (and their comparison pictures) are kept, and a
    previous restore report may be replaced."""
    _check_output_file(output.file, len(sources), options)
    check_folder(output.folder, "output folder")
    if options.compare_dir is not None:
        check_folder(options.compare_dir, "comparison folder")
    jobs = [_local_job(source, output, options) for source in sources]
    plan = WritePlan((s.path for s in sources), overwrite=options.existing == "overwrite")
    for report in reports:
        plan.claim(report, "the report", check_existing=not (options.existing == "skip" and is_restore_report(report)))
    for job in jobs:
        plan.claim(job.output, f"the output of {job.source.path}", check_existing=False)
        if job.comparison is not None:
            resumed = options.existing == "skip" and job.output.exists()
            plan.claim(job.comparison, f"the comparison {'video' if job.clip else 'picture'} of {job.source.path}",
                       check_existing=not resumed)
    if options.existing == "error":
        refuse_existing([job.output for job in jobs if job.output.exists()])
    return jobs


def _check_output_file(file: Path | None, inputs: int, options: OutputOptions) -> None:
    """PlanError unless one output file, if named, takes the one input in a format ``ext`` agrees with."""
    if file is None:
        return
    if inputs != 1:
        raise PlanError(f"an output file ({file}) takes exactly one input image, not {inputs}; give an output folder")
    named = FORMATS.get(file.suffix.lower())
    if named and options.ext != "same" and FORMATS[f".{options.ext}"] != named:
        raise PlanRefusal("{ext} {value} and the output file {file} name different formats; give one of them",
                          value=options.ext, file=file)


def _local_job(source: InputFile, output: LocalOutput, options: OutputOptions) -> FileJob:
    """An input's job; PlanError if an output file was named whose format cannot hold that kind of input."""
    clip = clip_kind(source.path) is not None
    target = output.file or output.folder / output_name(source.relative, options, clip)
    comparison = (options.compare_dir / source.relative.with_suffix(".mp4" if clip else ".png")
                  if options.compare_dir is not None else None)
    job = FileJob(source, target, comparison, clip)
    if not (is_clip_output(target) if clip else target.suffix.lower() in FORMATS):
        raise PlanError(f"{source.path} is {'a video or animation' if clip else 'an image'}: "
                        f"it cannot be written to {target}")
    return job


def _plan_uris(specs: list[str], output: str, options: OutputOptions) -> list[RemoteJob]:
    """Jobs for inputs and an output folder of which at least one is named by URI, with the local
    runs' naming and checks."""
    if options.gt_dir is not None or options.compare_dir is not None:
        raise PlanRefusal("{gt_and_compare} take local runs only, not URIs")
    found = {uri: relative for spec in specs for uri, relative in storage.list_media(spec)}
    jobs = [RemoteJob(uri, relative, storage.join(output, PurePosixPath(output_name(relative, options,
                                                                                    _named_clip(relative)))))
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
        refuse_existing([job.output for job in jobs if storage.canonical(job.output) in there])
    return jobs


def _named_clip(name: PurePosixPath) -> bool:
    """Whether a file is a video or animation by its name alone (a WebP counts as a still image)."""
    suffix = name.suffix.lower()
    return suffix in VIDEO_FORMATS or ANIMATION_FORMATS.get(suffix) == "GIF"
