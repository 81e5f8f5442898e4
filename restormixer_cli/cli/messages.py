"""How the command line reports problems: one line each, with user-provided text escaped (a file
named ``photo[red].png`` is printed as it is, not read as Rich markup)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape


def print_error(console: Console, message: object, code: int = 1) -> int:
    """Print ``error: message``; returns ``code``, the exit status to use."""
    console.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False)
    return code


def print_note(console: Console, message: object) -> None:
    """Print ``note: message``."""
    console.print(f"[yellow]note:[/] {escape(str(message))}", highlight=False)
