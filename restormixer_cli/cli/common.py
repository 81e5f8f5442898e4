"""What every command shares: the consoles, the choices of its options, its exit codes, and how it
reports problems: one line each, with user-provided text escaped (a file named ``photo[red].png``
is printed as it is, not read as Rich markup; a newline in a name is printed as ``\\n``), and the
library's refusals worded with the flags that answer them."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..hub.registry import load_registry
from ..inference import PRECISIONS
from ..io.formats import OUTPUT_EXTENSIONS, VIDEO_CODECS
from ..refusals import Refusal, RefusalText

console = Console()
err = Console(stderr=True, soft_wrap=True)
USAGE_ERROR = 2  # the exit status of a command line that cannot work, as Click's own
STDOUT = Path("-")  # standard input or output: `restore - -o -`, `--json -`
DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps."
#: The --threads option of the commands that run a model on this process's CPU.
Threads = Annotated[int, typer.Option(help="CPU threads (0 = PyTorch's default: every core).")]

#: The flags that answer the library's refusals (see :data:`~restormixer_cli.refusals.PLAIN_WORDS`).
FLAG_WORDS = {
    "skip": "pass --skip-existing",
    "overwrite": "--overwrite",
    "allow_overwrite": "pass --overwrite",
    "ext": "--ext",
    "gt_and_compare": "--gt and --compare",
    "task_or_weights": "give --task (see `restormixer models`) or --weights",
    "weights": "pass --weights FILE",
    "local_weights": "pass --weights FILE",
    "download": "run restormixer download-weights",
    "see_registry": "see restormixer models",
}


def choices(name: str, values: Iterable[str]) -> type[enum.Enum]:
    """A str enum, which Typer shows in --help and offers in shell completion."""
    return enum.Enum(name, {value: value for value in values}, type=str)


Task = choices("Task", sorted(load_registry()))
Precision = choices("Precision", PRECISIONS)
Extension = choices("Extension", OUTPUT_EXTENSIONS)
Codec = choices("Codec", VIDEO_CODECS)
Engine = choices("Engine", ("local", "ray"))


def complete_device(incomplete: str) -> list[str]:
    """The device names that start with what was typed, for shell completion."""
    return [d for d in ("auto", "cpu", "cuda", "cuda:0", "mps") if d.startswith(incomplete)]


def is_stdout(path: str | Path | None) -> bool:
    """Whether an input, output or report path is ``-``: standard input or output."""
    return path is not None and Path(path) == STDOUT


_CONTROL = {code: repr(chr(code))[1:-1] for code in [*range(32), 127] if chr(code) != "\t"}


def shown(value: object) -> str:
    """``value`` as text for one line of Rich output: markup escaped, control characters and the
    bytes of file names that are not valid UTF-8 as escapes."""
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return escape(text.translate(_CONTROL))


def flag_worded(message: object) -> object:
    """``message``; a refusal, or a refusal's text, worded with the flags that answer it."""
    refusal = message.refusal if isinstance(message, RefusalText) else message
    return refusal.worded(FLAG_WORDS) if isinstance(refusal, Refusal) else message


def print_error(console: Console, message: object, code: int = 1) -> int:
    """Print ``error: message`` (a refusal names the flags that answer it); returns ``code``, the
    exit status to use."""
    console.print(f"[bold red]error:[/] {shown(flag_worded(message))}", highlight=False)
    return code


def print_note(console: Console, message: object) -> None:
    """Print ``note: message`` (a refusal's text names the flags that answer it)."""
    console.print(f"[yellow]note:[/] {shown(flag_worded(message))}", highlight=False)


def fail(message: object, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    return typer.Exit(print_error(err, message, code))
