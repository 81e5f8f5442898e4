"""The server: a web page and an HTTP API over the one restore pipeline (:mod:`..inference.files`).

Each task's model is loaded once, on the one worker thread that runs every restore (one model run
at a time on the device). A request takes a place in a bounded queue before its upload is read,
writes the upload into its own scratch folder, restores it there with the command line's
pipeline, and gets the file's bytes back; the folder is deleted before the place is given back.
A preview (an image as a PNG, for a browser that cannot show its format) takes a place the same
way but is rendered on a thread of its own, so that it does not wait for the model runs."""

from __future__ import annotations

import asyncio
import enum
import logging
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import torch
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from .. import DESCRIPTION, __version__
from ..hub.registry import default_task, load_registry, upscaling_factor
from ..inference import DEFAULT_OVERLAP
from ..inference.devices import resolve_device
from ..inference.engine import Restorer
from ..inference.files import FileRestorer, FileResult, OutputOptions, restore_jobs
from ..inference.plan import plan_run
from ..inference.spec import RestorerSpec, build_restorer
from ..io import DEFAULT_QUALITY
from ..io.formats import FORMATS, IMAGE_ACCEPT, IMAGE_FORMAT_NAMES, LOSSY_FORMAT_NAMES, OUTPUT_EXTENSIONS
from ..io.images import ImageReadError, read_image, write_image
from .queue import DEFAULT_QUEUE, Cancelled, QueueClosed, QueueFull, RunQueue
from .uploads import UploadError, content_disposition, download_name, receive_upload

log = logging.getLogger("restormixer.serve")
STATIC = Path(str(resources.files("restormixer_cli.serve") / "static"))
#: The page loads nothing from elsewhere: it works offline, and a browser refuses anything else.
PAGE_POLICY = "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
Extension = enum.Enum("Extension", {value: value for value in OUTPUT_EXTENSIONS}, type=str)


@dataclass(frozen=True)
class ServeLimits:
    """What a server accepts, so that it is safe to leave running."""

    max_upload_bytes: int = 50 * 2**20  # request body
    max_pixels: int | None = 16_000_000  # as restore --max-pixels, checked from the image's header
    queue: int = DEFAULT_QUEUE  # requests admitted at once: the one running and those waiting (more get 429)
    timeout: float = 300.0  # seconds for a whole request: upload, wait and run (then 503)

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1 or self.queue < 1 or self.timeout <= 0:
            raise ValueError("upload limit, queue size and timeout must be positive")


@dataclass
class ServedModel:
    """A served task's model, loaded in the background: its state, then its restorer or why it failed."""

    task: str
    description: str
    scales: tuple[int, ...] = ()  # the upscaling factors of a super-resolution task (the first by default)
    state: Literal["loading", "ready", "failed"] = "loading"
    restorer: Restorer | None = None
    error: str | None = None


@dataclass
class Server:
    """What a server holds while it runs (``app.state.server``): its models (the first serves requests
    that name no task), the device they run on, its limits, the queue of model runs and the preview
    renderer, and its scratch root, made at start-up and deleted at shutdown."""

    models: dict[str, ServedModel]
    device: str
    limits: ServeLimits
    loader: Callable[[str], Restorer]
    queue: RunQueue
    renderer: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="restormixer-preview"))
    scratch: Path | None = None

    @property
    def default(self) -> ServedModel:
        return next(iter(self.models.values()))


class ModelInfo(BaseModel):
    task: str
    description: str
    state: Literal["loading", "ready", "failed"]
    error: str | None = None
    scales: list[int] = []  # the upscaling factors of a super-resolution task (the first by default)


class Models(BaseModel):
    default: str
    device: str
    models: list[ModelInfo]


class Limits(BaseModel):
    max_upload_bytes: int
    max_pixels: int | None
    formats: str  # the image formats restored, for people
    accept: str  # the same for a file picker: media types and extensions
    extensions: list[str]  # the output formats /restore's ext takes ("same": the input's)
    queue: int = Field(description="Requests admitted at once: the one running and those waiting their turn; "
                                   "more get 429")
    timeout: float


class Health(BaseModel):
    status: Literal["ok", "loading", "degraded", "unavailable"]
    version: str
    device: str
    admitted: int = Field(description="Requests in progress: the one running and those waiting (at most limits.queue)")
    limits: Limits


class Error(BaseModel):
    detail: str


IMAGE_TYPES = sorted({fmt.media_type for fmt in FORMATS.values()})
ERRORS = {
    400: "Not an upload this API takes (empty body, no 'file' field, options in form fields)",
    413: "The upload is over the size limit, or the image over the pixel limit",
    415: f"Not a {IMAGE_FORMAT_NAMES} image, or an animation",
    422: "Bad parameters (unknown task, ...), or an image that cannot be decoded",
    429: "The queue is full: retry after the seconds in Retry-After",
    503: "The task's model could not be loaded, the request timed out, or the server is shutting down",
}
PREVIEW_ERRORS = {**ERRORS, 422: "An image that cannot be decoded",
                  503: "The request timed out, or the server is shutting down"}
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string", "format": "binary"}}}},
        **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in (*IMAGE_TYPES, "application/octet-stream")},
    },
}


def _error_responses(errors: dict[int, str]) -> dict:
    return {code: {"model": Error, "description": text} for code, text in errors.items()}


def _load(model: ServedModel, loader: Callable[[str], Restorer]) -> None:
    """Load a task's model and run it once, so that its first request does not pay for compilation."""
    try:
        restorer = loader(model.task)
        restorer.restore(torch.rand(3, 32, 32))
        model.restorer, model.state = restorer, "ready"
    except Exception as exc:  # any failure leaves the task unavailable, not the server down
        log.exception("cannot load the %s model", model.task)
        model.state, model.error = "failed", f"the {model.task} model could not be loaded: {exc}"


def _restore_file(model: ServedModel, scale: int, outscale: float | None, source: Path, output: Path,
                  options: OutputOptions, cancel: threading.Event) -> FileResult:
    """Restore ``source`` into the folder ``output`` with the CLI's pipeline, upscaling ``scale``
    times (then to ``outscale``, if given); runs on the queue's worker thread."""
    if model.restorer is None:
        raise HTTPException(503, model.error or f"the {model.task} model is not loaded")

    def on_tile(done: int, total: int) -> None:
        if cancel.is_set():
            raise Cancelled

    run = restore_jobs(plan_run([source], output, options),
                       FileRestorer(model.restorer.at_scale(scale, outscale), options), on_tile=on_tile)
    if run.disk_full is not None:
        raise HTTPException(503, "the server's disk is full")
    return run.results[0]


def _render_preview(source: Path, max_pixels: int | None) -> Path:
    """An 8-bit PNG of ``source`` beside it, as restore reads the image (orientation applied, 16 bits
    scaled to 8, alpha and ICC profile kept), without its other metadata."""
    try:
        image = read_image(source, max_pixels)
    except ImageReadError as exc:
        raise HTTPException(422, str(exc)) from None
    target = source.with_name("preview.png")
    write_image(target, replace(image, bit_depth=8, exif=None))
    return target


class _Request:
    """A request's place in the queue and its scratch folder, both given back when the request and
    its run are over (a run that outlives a timed-out request stops at its next tile)."""

    def __init__(self, release: Callable[[], None], root: Path):
        self.release = release
        self.folder = Path(tempfile.mkdtemp(dir=root))
        self.cancel = threading.Event()
        self.run: Future | None = None

    def finish(self) -> None:
        self.cancel.set()
        if self.run is None or self.run.done() or self.run.cancel():
            self._clean()
        else:
            self.run.add_done_callback(lambda _: self._clean())

    def _clean(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.release()


def _result_response(result: FileResult, folder: Path, task: str, name: str, suffix: str) -> Response:
    if result.status != "done":
        error = (result.error or "failed").replace(f"{folder}/", "")
        raise HTTPException(422 if result.width is None else 500, error)
    output = Path(result.output)
    headers = {"Content-Disposition": content_disposition(download_name(name, suffix, output.suffix)),
               "X-Restormixer-Task": task, "X-Restormixer-Seconds": f"{result.seconds:.3f}"}
    if result.route:
        headers["X-Restormixer-Route"] = result.route
    if result.notes:
        headers["X-Restormixer-Notes"] = "; ".join(result.notes)
    return Response(output.read_bytes(), media_type=FORMATS[output.suffix].media_type, headers=headers)


def _one_line(exc: RequestValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or e['loc'][0]}: {e['msg']}" for e in exc.errors())


def create_app(tasks: Sequence[str] | None = None, device: str = "auto", precision: str = "auto",
               tile: int | None = None, limits: ServeLimits = ServeLimits(),
               loader: Callable[[str], Restorer] | None = None, tile_overlap: int = DEFAULT_OVERLAP) -> FastAPI:
    """The ASGI app that serves ``tasks`` (default: every available one, the registry's default task
    first: requests without a task get the first served) on ``device``; run it with
    any ASGI server (``restormixer serve`` uses uvicorn). ``loader`` builds a task's restorer (default:
    :func:`restormixer_cli.load_restorer` with the device, precision and tile given). Raises
    ValueError for an unknown or unavailable task or device."""
    registry = load_registry()
    names = _served_tasks(tasks, registry)
    device_name = str(resolve_device(device))
    specs = {name: RestorerSpec(name, device=device_name, precision=precision, tile=tile, tile_overlap=tile_overlap)
             for name in names}  # bad settings fail here, not in a load
    models = {name: ServedModel(name, registry[name].description, registry[name].scales) for name in specs}
    app = FastAPI(title="restormixer", version=__version__, lifespan=_lifespan, docs_url=None, redoc_url=None,
                  description=f"{DESCRIPTION} The restore command's pipeline over HTTP.")
    app.state.server = Server(models, device_name, limits, loader or (lambda task: build_restorer(specs[task])),
                              RunQueue(limits.queue))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(RequestValidationError, _bad_parameters)
    app.add_exception_handler(Exception, _internal_error)
    app.include_router(router)
    return app


def _served_tasks(tasks: Sequence[str] | None, registry: dict) -> list[str]:
    """The tasks to serve, once each: those named, or every available one with the default first;
    ValueError for a task that cannot be served."""
    default = default_task(registry)
    names = list(tasks) if tasks else sorted((n for n, e in registry.items() if e.available), key=lambda n: n != default)
    for name in names:
        if name not in registry or not registry[name].available:
            raise ValueError(f"task {name!r} cannot be served; available tasks: "
                             f"{', '.join(n for n, e in registry.items() if e.available)}")
    return list(dict.fromkeys(names))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Make the scratch root and start loading the models; at shutdown, stop the runs and delete it."""
    server: Server = app.state.server
    server.scratch = Path(tempfile.mkdtemp(prefix="restormixer-serve-"))
    for model in server.models.values():
        server.queue.submit(_load, model, server.loader)
    try:
        yield
    finally:
        await asyncio.to_thread(server.queue.close)
        await asyncio.to_thread(server.renderer.shutdown, cancel_futures=True)
        shutil.rmtree(server.scratch, ignore_errors=True)


async def _bad_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": _one_line(exc)}, status_code=422)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_POLICY})


@router.api_route("/models", methods=["GET", "HEAD"], response_model=Models,
                  summary="The tasks served, and whether each model is loaded")
async def list_models(request: Request) -> Models:
    server: Server = request.app.state.server
    return Models(default=server.default.task, device=server.device,
                  models=[ModelInfo(task=m.task, description=m.description, state=m.state, error=m.error,
                                    scales=list(m.scales)) for m in server.models.values()])


@router.api_route("/health", methods=["GET", "HEAD"], response_model=Health, responses={503: {"model": Health}},
                  summary="Whether the server can restore (503 while loading or when no model loaded)")
async def health(request: Request) -> JSONResponse:
    server: Server = request.app.state.server
    states = {m.state for m in server.models.values()}
    status = ("loading" if "loading" in states else "ok" if states == {"ready"}
              else "degraded" if "ready" in states else "unavailable")
    limits = server.limits
    body = Health(status=status, version=__version__, device=server.device, admitted=server.queue.admitted,
                  limits=Limits(max_upload_bytes=limits.max_upload_bytes, max_pixels=limits.max_pixels,
                                formats=IMAGE_FORMAT_NAMES, accept=IMAGE_ACCEPT, extensions=list(OUTPUT_EXTENSIONS),
                                queue=limits.queue, timeout=limits.timeout))
    return JSONResponse(body.model_dump(), status_code=200 if status in ("ok", "degraded") else 503)


@router.post("/restore", response_class=Response, openapi_extra={"requestBody": UPLOAD_BODY},
             summary="Restore an image: the restored file comes back in the input's format, metadata kept",
             responses={200: {"content": {kind: {} for kind in IMAGE_TYPES}, "description": "The restored image"},
                        **_error_responses(ERRORS)})
async def restore(
    request: Request,
    task: Annotated[str | None, Query(description="Task to restore with (GET /models); default: the first served")] = None,
    ext: Annotated[Extension, Query(description="Output format; same: the input's")] = Extension("same"),
    quality: Annotated[int, Query(ge=1, le=100, description=f"{LOSSY_FORMAT_NAMES} quality")] = DEFAULT_QUALITY,
    suffix: Annotated[str, Query(max_length=64, description="Appended to the file name's stem")] = "",
    filename: Annotated[str | None, Query(max_length=255, description="The image's file name, for a raw body")] = None,
    scale: Annotated[int | None, Query(description="Upscaling factor of a super-resolution task (GET /models "
                                                   "lists them); default: its first")] = None,
    outscale: Annotated[float | None, Query(gt=0, description="A super-resolution task's final factor, "
                                            "any number (3.5): the model upscales by scale (default: its "
                                            "smallest at or above it), then the result is resized")] = None,
) -> Response:
    server: Server = request.app.state.server
    model = server.models.get(task) if task else server.default
    if model is None:
        raise HTTPException(422, f"task {task!r} is not served here; served: {', '.join(server.models)}")
    try:
        factor = upscaling_factor(model.task, scale, outscale)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if model.state == "failed":
        raise HTTPException(503, model.error)
    try:
        options = OutputOptions(suffix=suffix, ext=ext.value, quality=quality, max_pixels=server.limits.max_pixels)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return await _admitted(server, lambda job: _serve(server, request, job, model, factor, outscale, options, filename))


@router.post("/preview", response_class=Response, openapi_extra={"requestBody": UPLOAD_BODY},
             summary="An image as an 8-bit PNG of the same size, to show where a browser cannot decode its "
                     "format: orientation applied, 16 bits scaled to 8, alpha and ICC profile kept",
             responses={200: {"content": {"image/png": {}}, "description": "The image as a PNG"},
                        **_error_responses(PREVIEW_ERRORS)})
async def preview(request: Request) -> Response:
    server: Server = request.app.state.server
    return await _admitted(server, lambda job: _preview(server, request, job))


async def _admitted(server: Server, serve: Callable[[_Request], Awaitable[Response]]) -> Response:
    """``serve(job)`` in a place of the queue and within the time limit, its failures as HTTP errors."""
    try:
        job = _Request(server.queue.admit(), server.scratch)
    except QueueFull as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": "1"}) from None
    except QueueClosed as exc:
        raise HTTPException(503, str(exc)) from None
    try:
        return await asyncio.wait_for(serve(job), server.limits.timeout)
    except asyncio.TimeoutError:
        raise HTTPException(503, f"the request took longer than the limit of {server.limits.timeout:g} s") from None
    except UploadError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    except ClientDisconnect:
        raise HTTPException(400, "the upload was cut off") from None
    finally:
        job.finish()


async def _serve(server: Server, request: Request, job: _Request, model: ServedModel, scale: int,
                 outscale: float | None, options: OutputOptions, filename: str | None) -> Response:
    """Receive the upload, restore it on the queue's worker thread and answer with the restored file."""
    limits = server.limits
    upload = await receive_upload(request, job.folder, limits.max_upload_bytes, limits.max_pixels, filename)
    job.run = server.queue.submit(_restore_file, model, scale, outscale, upload.path, job.folder / "out", options,
                                  job.cancel)
    result = await asyncio.wrap_future(job.run)
    return _result_response(result, job.folder, model.task, upload.name, options.suffix)


async def _preview(server: Server, request: Request, job: _Request) -> Response:
    """Receive the upload and answer with its PNG preview, rendered beside the model runs."""
    limits = server.limits
    upload = await receive_upload(request, job.folder, limits.max_upload_bytes, limits.max_pixels)
    job.run = server.renderer.submit(_render_preview, upload.path, limits.max_pixels)
    return Response((await asyncio.wrap_future(job.run)).read_bytes(), media_type="image/png")
