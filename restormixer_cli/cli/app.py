"""The ``restormixer`` command line: the Typer app, assembled from one module per command."""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Annotated

import typer

from .. import DESCRIPTION, __version__
from . import degrade, demo, evaluate, export, info, models, restore, serve, train
from .common import console, err

app = typer.Typer(
    name="restormixer",
    help=DESCRIPTION,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"restormixer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    # tifffile logs, and Pillow warns of, doubts about files' metadata (corrupt EXIF); what matters
    # reaches the user as a file's one-line error
    logging.getLogger("tifffile").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


app.command()(info.info)
app.command()(models.models)
app.command("download-weights")(models.download_weights)
app.command(epilog=restore.EXAMPLES)(restore.restore)
app.command("eval")(evaluate.evaluate)
app.command()(degrade.degrade)
app.command()(train.train)
app.command()(export.export)
app.command(epilog=serve.EXAMPLES)(serve.serve)
app.command()(demo.demo)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt as exc:  # SIGTERM too, where a command turns it into one (Terminated: 143)
        err.print("interrupted")
        sys.exit(getattr(exc, "exit_code", 130))
