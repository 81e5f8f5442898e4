"""Finding input files (images, videos, animations): folders (recursive), glob patterns and single files."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .formats import IMAGE_EXTENSIONS, MEDIA_EXTENSIONS


def is_media_path(path: Path) -> bool:
    """Whether ``path`` is named like a file restore reads: an image, a video or an animation."""
    return path.suffix.lower() in MEDIA_EXTENSIONS


def _list(folder: Path, extensions: frozenset[str]) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in extensions
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def list_images(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursive, hidden files skipped), sorted."""
    return _list(folder, IMAGE_EXTENSIONS)


def list_media(folder: Path) -> list[Path]:
    """Images, videos and animations below ``folder`` (recursive, hidden files skipped), sorted."""
    return _list(folder, MEDIA_EXTENSIONS)


@dataclass(frozen=True)
class InputFile:
    """An input file and its path relative to the input root it was found under."""

    path: Path
    relative: Path


def _glob(pattern: str) -> tuple[Path, list[Path]]:
    """The folder a glob pattern starts from, and the files matching it (``**`` recursive), hidden
    files skipped. Unlike ``glob.glob``, ``**`` does not descend into symbolic links to folders, so
    a link loop cannot make it endless."""
    parts = Path(pattern).parts
    first_magic = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    root = Path(*parts[:first_magic]) if first_magic else Path(".")
    matches = root.glob(str(Path(*parts[first_magic:])))
    return root, sorted(p for p in matches if not any(part.startswith(".") for part in p.relative_to(root).parts))


def _skipper(root: Path, exclude: list[Path]):
    """A test for files below one of the ``exclude`` folders that lie inside ``root`` (a run's own
    output folder nested in its input folder); an excluded folder that holds ``root`` excludes nothing."""
    root = root.resolve()
    nested = [folder for folder in exclude if folder != root and folder.is_relative_to(root)]
    return lambda path: any(path.resolve().is_relative_to(folder) for folder in nested)


def expand_inputs(specs: list[str], exclude: Iterable[Path] = ()) -> list[InputFile]:
    """Resolve a mix of files, folders and glob patterns into images, videos and animations, without duplicates.

    Files found in a folder keep their path relative to that folder, so outputs can mirror it.
    Folders and patterns skip everything below ``exclude`` (a run's own output folders). Raises
    FileNotFoundError for a spec that matches nothing and ValueError for a folder without any.
    """
    excluded = [Path(folder).resolve() for folder in exclude]
    found: dict[Path, InputFile] = {}
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            skip = _skipper(path, excluded)
            media = [p for p in list_media(path) if not skip(p)]
            if not media:
                raise ValueError(f"{spec}: folder contains no images or videos ({', '.join(sorted(MEDIA_EXTENSIONS))})")
            for p in media:
                found.setdefault(p.resolve(), InputFile(p, p.relative_to(path)))
        elif path.is_file():
            found.setdefault(path.resolve(), InputFile(path, Path(path.name)))
        elif glob.has_magic(spec):
            root, matches = _glob(spec)
            skip = _skipper(root, excluded)
            files = [m for m in matches if m.is_file() and is_media_path(m) and not skip(m)]
            if not files:
                raise FileNotFoundError(f"{spec}: pattern matches no image or video files")
            for p in files:
                found.setdefault(p.resolve(), InputFile(p, Path(p.name)))
        else:
            raise FileNotFoundError(f"{spec}: no such file or folder")
    return list(found.values())
