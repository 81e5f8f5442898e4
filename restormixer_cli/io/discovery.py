"""Finding input files (images, videos, animations): folders (recursive), glob patterns and single files."""

from __future__ import annotations

import errno
import glob
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from . import os_problem
from .formats import IMAGE_EXTENSIONS, MEDIA_EXTENSIONS


def is_media_path(path: Path) -> bool:
    """Whether ``path`` is named like a file restore reads: an image, a video or an animation."""
    return path.suffix.lower() in MEDIA_EXTENSIONS


@dataclass(frozen=True)
class Unreadable:
    """An input that cannot be looked at: a folder that cannot be listed, a file whose details
    cannot be read; ``reason`` says why in a few words."""

    path: Path
    reason: str


class UnreadableInput(ValueError):
    """Inputs that cannot be listed or read; the message names each of them."""

    def __init__(self, problems: list[Unreadable]):
        super().__init__("; ".join(f"{p.path}: {p.reason}" for p in problems))
        self.problems = problems


def _is_file(path: Path, problems: list[Unreadable]) -> bool:
    """Whether ``path`` is a regular file (through a symbolic link); a file whose details cannot be
    read (in a folder that can be listed but not entered) is one of the ``problems``."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):  # a broken link, or one removed meanwhile
        return False
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link loop
            return False
        problems.append(Unreadable(path, os_problem(exc)))
        return False


def _walk(folder: Path, extensions: frozenset[str], max_depth: int | None = None
          ) -> tuple[list[Path], list[Unreadable]]:
    """The files with one of ``extensions`` below ``folder`` (hidden files and folders skipped,
    symbolic links to folders not followed, so that a link loop ends; at most ``max_depth`` folders
    down), sorted, and what could not be listed or read on the way: skipping that silently would
    drop inputs the user asked for."""
    files: list[Path] = []
    problems: list[Unreadable] = []

    def unlistable(exc: OSError) -> None:
        problems.append(Unreadable(Path(exc.filename), os_problem(exc, "list the folder")))

    for root, folders, names in os.walk(folder, onerror=unlistable):
        too_deep = max_depth is not None and len(Path(root).relative_to(folder).parts) >= max_depth
        folders[:] = [] if too_deep else [name for name in folders if not name.startswith(".")]
        files += [Path(root) / name for name in names
                  if not name.startswith(".") and Path(name).suffix.lower() in extensions
                  and _is_file(Path(root) / name, problems)]
    return sorted(files), problems


def _listed(folder: Path, extensions: frozenset[str]) -> list[Path]:
    files, problems = _walk(folder, extensions)
    if problems:
        raise UnreadableInput(problems)
    return files


def list_images(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursive, hidden files skipped), sorted; UnreadableInput if
    something below cannot be listed or read."""
    return _listed(folder, IMAGE_EXTENSIONS)


def list_media(folder: Path) -> list[Path]:
    """Images, videos and animations below ``folder`` (recursive, hidden files skipped), sorted;
    UnreadableInput if something below cannot be listed or read."""
    return _listed(folder, MEDIA_EXTENSIONS)


@dataclass(frozen=True)
class InputFile:
    """An input file and its path relative to the input root it was found under."""

    path: Path
    relative: Path


def _matches(parts: tuple[str, ...], pattern: tuple[str, ...], partial: bool = False) -> bool:
    """Whether a relative path's ``parts`` match a glob ``pattern``'s parts (``**``: any number of
    folders); with ``partial``, whether something below the folder ``parts`` could."""
    if not parts:
        return partial or not pattern
    if not pattern:
        return False
    if pattern[0] == "**":
        return _matches(parts, pattern[1:], partial) or _matches(parts[1:], pattern, partial)
    return fnmatchcase(parts[0], pattern[0]) and _matches(parts[1:], pattern[1:], partial)


def _glob(pattern: str) -> tuple[Path, list[Path], list[Unreadable]]:
    """The folder a glob pattern starts from, the media files matching it (``**`` recursive) and what
    could not be listed or read where matches could be, as :func:`_walk` finds them. Unlike
    ``glob.glob``, ``**`` does not descend into symbolic links to folders, so a link loop ends."""
    parts = Path(pattern).parts
    first_magic = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    root = Path(*parts[:first_magic]) if first_magic else Path(".")
    wanted = parts[first_magic:]
    files, problems = _walk(root, MEDIA_EXTENSIONS, None if "**" in wanted else len(wanted) - 1)
    return (root, [f for f in files if _matches(f.relative_to(root).parts, wanted)],
            [p for p in problems if _matches(p.path.relative_to(root).parts, wanted, partial=True)])


def _skipper(root: Path, exclude: list[Path]) -> Callable[[Path], bool]:
    """A test for files below one of the ``exclude`` folders that lie inside ``root`` (a run's own
    output folder nested in its input folder); an excluded folder that holds ``root`` excludes nothing."""
    root = root.resolve()
    nested = [folder for folder in exclude if folder != root and folder.is_relative_to(root)]
    return lambda path: any(path.resolve().is_relative_to(folder) for folder in nested)


def _raise(problem: Unreadable) -> None:
    raise UnreadableInput([problem])


def expand_inputs(specs: list[str], exclude: Iterable[Path] = (),
                  on_unreadable: Callable[[Unreadable], None] = _raise) -> list[InputFile]:
    """Resolve a mix of files, folders and glob patterns into images, videos and animations, without duplicates.

    Files found in a folder keep their path relative to that folder, so outputs can mirror it.
    Folders and patterns skip everything below ``exclude`` (a run's own output folders). A folder
    that cannot be listed, or a file whose details cannot be read, goes to ``on_unreadable``
    (default: raise UnreadableInput). Raises FileNotFoundError for a spec that matches nothing and
    ValueError for a folder without any.
    """
    excluded = [Path(folder).resolve() for folder in exclude]
    found: dict[Path, InputFile] = {}
    for spec in specs:
        path = Path(spec)
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            on_unreadable(Unreadable(path, os_problem(exc, "access it")))
            continue
        if mode is not None and stat.S_ISDIR(mode):
            media, problems = _walk(path, MEDIA_EXTENSIONS)
            if not media and not problems:
                raise ValueError(f"{spec}: folder contains no images or videos ({', '.join(sorted(MEDIA_EXTENSIONS))})")
            entries = [(p, p.relative_to(path)) for p in media]
        elif mode is not None and stat.S_ISREG(mode):
            entries, problems = [(path, Path(path.name))], []
        elif glob.has_magic(spec):
            path, matches, problems = _glob(spec)
            if not matches and not problems:
                raise FileNotFoundError(f"{spec}: pattern matches no image or video files")
            entries = [(p, Path(p.name)) for p in matches]
        else:
            raise FileNotFoundError(f"{spec}: no such file or folder")
        skip = _skipper(path, excluded)
        for problem in problems:
            if not skip(problem.path):
                on_unreadable(problem)
        for file, relative in entries:
            if not skip(file):
                found.setdefault(file.resolve(), InputFile(file, relative))
    return list(found.values())
