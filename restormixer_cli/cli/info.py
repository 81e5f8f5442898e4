"""`restormixer info`: versions, devices and the selective-scan backend."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from .common import console, fail


def info(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Versions, devices, and the active selective-scan backend."""
    from ..info import environment_report  # PyTorch

    try:
        report = environment_report()
    except ValueError as exc:
        raise fail(exc)
    if as_json:
        console.print_json(json.dumps(report))
        return
    table = Table(show_header=False, box=None)
    table.add_row("restormixer", report["restormixer"])
    table.add_row("python", f"{report['python']} ({report['platform']})")
    for name, version in report["packages"].items():
        table.add_row(name, version)
    for device, description in report["devices"].items():
        table.add_row(f"device {device}", description)
    scan = report["scan"]
    table.add_row("scan requested", f"{scan['requested']} (RESTORMIXER_SCAN)")
    for device in ("cpu", "cuda", "mps"):
        if device in scan:
            table.add_row(f"scan backend on {device}", scan[device])
    table.add_row("scan backends installed", ", ".join(scan["installed"]))
    console.print(table)
