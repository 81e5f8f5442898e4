"""An uploaded image: read into a request's scratch folder within the size limit, checked from its
header, and the name its restored copy is downloaded under."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message, Receive

from ..io.formats import FORMATS, IMAGE_FORMAT_NAMES, extension_for
from ..io.images import ImageReadError, ImageTooLarge, identify_image

CHUNK = 1 << 20
MAX_STEM = 200  # characters of the client's file name kept in the download's name


class UploadError(Exception):
    """The upload cannot be restored; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upload:
    path: Path  # in the scratch folder, named from the content's format, never from the client's name
    name: str  # the client's file name, or "" when it gave none


def _too_large(max_bytes: int) -> UploadError:
    return UploadError(413, f"the upload is larger than the limit of {max_bytes / 2**20:g} MiB")


def _limited(receive: Receive, max_bytes: int) -> Receive:
    """``receive`` that stops the request once its body passes ``max_bytes``, whatever it declared."""
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > max_bytes:
            raise _too_large(max_bytes)
        return message

    return limited


async def receive_upload(request: Request, folder: Path, max_bytes: int, max_pixels: int | None,
                         filename: str | None = None) -> Upload:
    """Write the request's image (a multipart form's ``file`` field, or the whole body) into ``folder``
    and check from its header that it is one image of a supported format within ``max_pixels``.
    Raises UploadError (400, 413 or 415)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    limited = Request(request.scope, _limited(request.receive, max_bytes))
    received = folder / "upload"
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        name = await _save_form_file(limited, received)
    else:
        name = filename or ""
        with open(received, "wb") as out:
            async for chunk in limited.stream():
                out.write(chunk)
    if received.stat().st_size == 0:
        raise UploadError(400, "empty upload: send an image as the request body or as a form field named 'file'")
    return Upload(received.rename(folder / f"input{_suffix(received, name, max_pixels)}"), name)


async def _save_form_file(request: Request, target: Path) -> str:
    """Save the form's ``file`` field to ``target``; returns its file name."""
    async with request.form(max_files=1, max_fields=16) as form:
        if any(isinstance(value, str) for value in form.values()):
            raise UploadError(400, "options go in the query string (/restore?task=denoise), not in form fields")
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UploadError(400, "the form has no file field named 'file'")
        with open(target, "wb") as out:
            while chunk := await upload.read(CHUNK):
                out.write(chunk)
        return upload.filename or ""


def _suffix(path: Path, name: str, max_pixels: int | None) -> str:
    """The extension of the image's own format: the client's, if it names that format (``.jpeg``
    stays ``.jpeg``, as restore keeps it). Raises UploadError when it is no image restore reads."""
    try:
        own = extension_for(identify_image(path, max_pixels))
    except ImageTooLarge as exc:
        raise UploadError(413, str(exc)) from None
    except ImageReadError as exc:
        raise UploadError(415, f"{exc} ({IMAGE_FORMAT_NAMES} images are restored)") from None
    given = _client_path(name).suffix.lower()
    return given if FORMATS.get(given) is FORMATS[own] else own


def _client_path(name: str) -> PurePosixPath:
    """The last part of a client's file name, whichever separator its system uses."""
    return PurePosixPath(PurePosixPath(name.replace("\\", "/")).name)


def download_name(name: str, suffix: str, extension: str) -> str:
    """The restored file's name, as restore names an output: the input's stem, ``suffix``, ``extension``."""
    stem = "".join(c for c in _client_path(name).stem if c.isprintable())[:MAX_STEM] or "image"
    return f"{stem}{suffix}{extension}"


def content_disposition(filename: str) -> str:
    """An attachment header that names ``filename`` exactly (RFC 6266) and in ASCII for old clients."""
    ascii_name = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
