"""Restoring planned jobs on a Ray cluster with Ray Data (the ``ray`` extra).

The driver plans as the local engine does; Ray Data streams the jobs, one per block, through a
pool of actors that each load the model once and restore one job at a time with the same
:class:`~.files.FileRestorer` call; results stream back to the driver in completion order. Ray
restarts an actor whose process dies and runs its job again: writes are atomic and a redone job
removes its killed attempt's temporary files, so nothing is lost, doubled or left partial."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..io.atomic import remove_parts_of
from ..signals import StopSignals, handlers_kept
from .files import (FileJob, FileRestorer, FileResult, Job, OutputOptions, RestoreRun, disk_full_result,
                    remove_stale_outputs)
from .spec import RestorerSpec, build_restorer


MAX_BLOCKS = 10_000  # beyond this many files, blocks hold several jobs (a block is a task and an object)


@dataclass
class RayOptions:
    """Where and how wide to run: ``address`` None starts a local Ray instance for the run."""

    address: str | None = None
    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if self.gpus_per_worker < 0:
            raise ValueError(f"gpus per worker must not be negative, not {self.gpus_per_worker}")


class RestoreWorker:
    """A Ray Data actor: loads the model once, then restores the jobs of each batch it is given."""

    def __init__(self, spec: RestorerSpec, options: OutputOptions):
        self.runner = FileRestorer(build_restorer(spec), options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        rows = [self._restore(pickle.loads(blob)) for blob in batch["job"]]
        return {"index": list(batch["index"]), "result": [json.dumps(asdict(r)) for r in rows],
                "disk_full": [r.error == "disk full" for r in rows]}

    def _restore(self, job: Job) -> FileResult:
        for path in job.local_outputs():  # a killed attempt at this very job may have left them
            remove_parts_of(path)
        try:
            return job.restore(self.runner)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            return disk_full_result(job)


def _absolute(job: Job) -> Job:
    """``job`` with local paths made absolute: workers do not share the driver's working folder."""
    if not isinstance(job, FileJob):
        return job
    comparison = job.comparison.absolute() if job.comparison is not None else None
    return replace(job, source=replace(job.source, path=job.source.path.absolute()), output=job.output.absolute(),
                   comparison=comparison)


def _absolute_options(options: OutputOptions) -> OutputOptions:
    """``options`` with the ground-truth folder absolute, as jobs' paths are."""
    return options if options.gt_dir is None else replace(options, gt_dir=options.gt_dir.absolute())


@contextlib.contextmanager
def connect(ray_options: RayOptions) -> Iterator[None]:
    """Join the cluster at ``ray_options.address`` or start a local instance for the run (stopped
    after it); inside a process already connected, use that connection."""
    import ray

    if ray.is_initialized():
        yield
        return
    with handlers_kept():  # Ctrl-C and SIGTERM must still end the run the clean way
        if ray_options.address is None:
            # As many CPUs as the workers ask for, if that is more than there are: a pool that waits
            # for CPUs that never come would wait forever.
            cpus = max(os.cpu_count() or 1, math.ceil(ray_options.workers * ray_options.cpus_per_worker))
            ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING")
        else:
            ray.init(address=ray_options.address, logging_level="WARNING")
    try:
        yield
    finally:
        with handlers_kept():
            ray.shutdown()


def restore_on_ray(jobs: list[Job], spec: RestorerSpec, options: OutputOptions, ray_options: RayOptions,
                   on_result: Callable[[FileResult], None] = lambda result: None,
                   stops: StopSignals | None = None) -> RestoreRun:
    """Restore planned ``jobs`` on Ray workers, each building the restorer of ``spec`` once;
    the same results as :func:`~.files.restore_jobs`, in plan order, and the same stops (Ctrl-C,
    SIGTERM with ``stops``, a full disk)."""
    stops = stops or StopSignals()
    try:
        import ray
        import ray.data
    except ImportError:
        raise RuntimeError("the ray engine needs Ray: pip install 'restormixer-cli[ray]'") from None
    remove_stale_outputs(jobs)
    results: dict[int, FileResult] = {}
    run = RestoreRun()
    with connect(ray_options):
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the command line shows its own
        context.print_on_execution_start = False
        rows = [{"index": i, "job": pickle.dumps(_absolute(job))} for i, job in enumerate(jobs)]
        # One job per block (up to MAX_BLOCKS): a retried block then redoes that one job only.
        dataset = ray.data.from_items(rows, override_num_blocks=max(min(len(rows), MAX_BLOCKS), 1))
        # Ray Data's actor pools restart dead actors and retry their tasks without limit by default
        # (max_restarts=-1, max_task_retries=-1): a killed worker is replaced and its jobs redone.
        restored = dataset.map_batches(
            RestoreWorker, batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=ray_options.workers),
            # workers may start in another folder
            fn_constructor_kwargs={"spec": spec.with_absolute_weights(), "options": _absolute_options(options)},
            num_cpus=ray_options.cpus_per_worker, num_gpus=ray_options.gpus_per_worker or None)
        rows = iter(restored.iter_rows())
        try:
            while True:
                with stops.interruptible():  # waiting for workers; never while a result is shown
                    row = next(rows, None)
                if row is None:
                    break
                index = int(row["index"])
                if index in results:  # a retried block of several jobs may repeat the ones it had finished
                    continue
                job = jobs[index]  # results name files as the plan does, not as the workers saw them
                result = FileResult(**json.loads(row["result"]))
                result = replace(result, input=job.input, output=job.target if result.output else None)
                results[index] = result
                on_result(result)
                if row["disk_full"]:
                    run.disk_full = job.target
                    break
        except KeyboardInterrupt as exc:
            run.interrupted = getattr(exc, "exit_code", 130)
    run.interrupted = run.interrupted or stops.exit_code
    _remove_parts_of_unfinished(jobs, results)
    run.results = [results[i] for i in sorted(results)]
    return run


def _remove_parts_of_unfinished(jobs: list[Job], results: dict[int, FileResult]) -> None:
    """After a stopped run (Ctrl-C, a full disk), delete what its workers, killed with the Ray
    instance while they wrote, left of the jobs that did not finish."""
    for index, job in enumerate(jobs):
        if index not in results:
            for path in job.local_outputs():
                remove_parts_of(path)
