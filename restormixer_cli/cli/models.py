"""`restormixer models` and `restormixer download-weights`: the task registry and its checkpoints."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..hub.registry import load_registry
from .common import Task, console, fail, shown


def models(as_json: Annotated[bool, typer.Option("--json", help="Print the registry as JSON.")] = False) -> None:
    """The task registry: checkpoints, their status, size and scores."""
    from .models_run import registry_rows

    if as_json:
        print(json.dumps({name: entry.as_json() for name, entry in load_registry().items()}, indent=2))
        return

    table = Table(title="RestorMixer checkpoints")
    for column in ("task", "status", "size", "scores", "source"):
        table.add_column(column)
    for row in registry_rows():
        table.add_row(row.task, row.status, row.size, row.scores, row.source)
    console.print(table)


def download_weights(
    tasks: Annotated[Optional[list[Task]], typer.Argument(help="Tasks to download (see `restormixer models`).")] = None,
    all_tasks: Annotated[bool, typer.Option("--all", help="Every task's checkpoint (also what no task names means).")] = False,
    repo: Annotated[Optional[str], typer.Option(help="Download from this hub repo instead of the registry.")] = None,
    filename: Annotated[str, typer.Option(help="File to download with --repo.")] = "model.safetensors",
    revision: Annotated[str, typer.Option(help="Branch, tag or commit with --repo.")] = "main",
    endpoint: Annotated[Optional[str], typer.Option(help="Hub endpoint (default: $HF_ENDPOINT or huggingface.co).")] = None,
) -> None:
    """Download checkpoints into the Hugging Face cache (verified by sha256); a task whose hub repository is
    not published yet names its embedded copy, which restore uses."""
    from .models_run import download_tasks
    from ..hub.download import HubError

    try:
        fetched = download_tasks([t.value for t in tasks or []], all_tasks, repo, filename, revision, endpoint)
    except (HubError, ValueError) as exc:
        raise fail(exc)
    for item in fetched:
        where = "" if item.downloaded else "not published on the hub yet; the embedded copy is used: "
        console.print(f"{shown(item.label)}: {where}{shown(item.path)}", highlight=False)
