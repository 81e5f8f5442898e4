"""Files on object storage or shared filesystems named by URI (``s3://bucket/key``, ``gs://...``),
through fsspec (the ``ray`` extra installs it with s3fs). S3 endpoints and credentials come the
standard way: ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``~/.aws/config`` and so on."""

from __future__ import annotations

import glob
import shutil
from pathlib import Path, PurePosixPath

from .atomic import atomic_path
from .discovery import is_media_path


def is_uri(spec: str | Path) -> bool:
    """Whether ``spec`` names a location by URI (``scheme://...``) rather than a local path."""
    return isinstance(spec, str) and "://" in spec


def _filesystem(uri: str):
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise RuntimeError("URIs need fsspec: pip install 'restormixer-cli[ray]'") from None
    fs, path = url_to_fs(uri)
    fs.invalidate_cache()  # listings cached by an earlier run in this process may be stale
    return fs, path


def canonical(uri: str) -> str:
    """``uri`` spelled one way (protocol, no trailing slash), to tell whether two URIs are one object."""
    fs, path = _filesystem(uri)
    return fs.unstrip_protocol(path.rstrip("/"))


def join(root: str, relative: PurePosixPath) -> str:
    """The URI of ``relative`` below the folder or prefix ``root``."""
    return f"{root.rstrip('/')}/{relative.as_posix()}"


def list_media(spec: str) -> list[tuple[str, PurePosixPath]]:
    """The images, videos and animations a URI names, with their paths relative to its root, sorted:
    an object, every object below a prefix (recursive, hidden names skipped, the output mirrors
    the tree) or those matching a glob pattern. Raises FileNotFoundError if there are none."""
    fs, path = _filesystem(spec)
    if glob.has_magic(path):
        found = {p: PurePosixPath(p).name for p in fs.glob(path) if fs.isfile(p)}
    elif fs.isdir(path):
        root = PurePosixPath(path)
        found = {p: PurePosixPath(p).relative_to(root) for p in fs.find(path)}
    elif fs.isfile(path):
        found = {path: PurePosixPath(path).name}
    else:
        raise FileNotFoundError(f"{spec}: no such object or prefix")
    media = sorted((fs.unstrip_protocol(p), PurePosixPath(rel)) for p, rel in found.items()
                   if is_media_path(Path(p)) and not any(part.startswith(".") for part in PurePosixPath(rel).parts))
    if not media:
        raise FileNotFoundError(f"{spec}: no image or video files there")
    return media


def existing(root: str) -> set[str]:
    """The canonical URIs of every object below ``root`` (one listing, however many there are)."""
    fs, path = _filesystem(root)
    return {fs.unstrip_protocol(p) for p in fs.find(path)} if fs.isdir(path) else set()


def exists(uri: str) -> bool:
    fs, path = _filesystem(uri)
    return fs.exists(path)


def download(uri: str, local: Path) -> None:
    """Copy the object ``uri`` to the local file ``local``."""
    fs, path = _filesystem(uri)
    fs.get_file(path, str(local))


def upload(local: Path, uri: str) -> None:
    """Copy ``local`` to ``uri`` so that no one ever sees a partial copy: object stores replace an
    object whole on upload, local and mounted filesystems get a temporary file renamed in place."""
    from fsspec.implementations.local import LocalFileSystem

    fs, path = _filesystem(uri)
    if not isinstance(fs, LocalFileSystem):
        fs.put_file(str(local), path)
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(local, tmp)
