"""Finding image files: folders (recursive), glob patterns and single files."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"})


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursive, hidden files skipped), sorted."""
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and is_image_path(p) and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


@dataclass(frozen=True)
class InputFile:
    """An input image and its path relative to the input root it was found under."""

    path: Path
    relative: Path


def expand_inputs(specs: list[str]) -> list[InputFile]:
    """Resolve a mix of files, folders and glob patterns into image files, without duplicates.

    Files found in a folder keep their path relative to that folder, so outputs can mirror it.
    Raises FileNotFoundError for a spec that matches nothing and ValueError for a folder
    without images.
    """
    found: dict[Path, InputFile] = {}
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            images = list_images(path)
            if not images:
                raise ValueError(f"{spec}: folder contains no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
            for p in images:
                found.setdefault(p.resolve(), InputFile(p, p.relative_to(path)))
        elif path.is_file():
            found.setdefault(path.resolve(), InputFile(path, Path(path.name)))
        elif glob.has_magic(spec):
            matches = [Path(m) for m in sorted(glob.glob(spec, recursive=True))]
            files = [m for m in matches if m.is_file() and is_image_path(m)]
            if not files:
                raise FileNotFoundError(f"{spec}: pattern matches no image files")
            for p in files:
                found.setdefault(p.resolve(), InputFile(p, Path(p.name)))
        else:
            raise FileNotFoundError(f"{spec}: no such file or folder")
    return list(found.values())
