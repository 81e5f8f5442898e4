"""How the command line reports problems: one line each, with user-provided text escaped (a file
named ``photo[red].png`` is printed as it is, not read as Rich markup; a newline in a name is
printed as ``\\n``)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape


_CONTROL = {code: repr(chr(code))[1:-1] for code in [*range(32), 127] if chr(code) != "\t"}


def shown(value: object) -> str:
    """``value`` as text for one line of Rich output: markup escaped, control characters and the
    bytes of file names that are not valid UTF-8 as escapes."""
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return escape(text.translate(_CONTROL))


def print_error(console: Console, message: object, code: int = 1) -> int:
    """Print ``error: message``; returns ``code``, the exit status to use."""
    console.print(f"[bold red]error:[/] {shown(message)}", highlight=False)
    return code


def print_note(console: Console, message: object) -> None:
    """Print ``note: message``."""
    console.print(f"[yellow]note:[/] {shown(message)}", highlight=False)
