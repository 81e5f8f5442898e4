"""File names are shown as they are: Rich markup in a name is neither interpreted nor a crash."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from restormixer_cli.cli import app

from .test_cli_restore import save_rgb

runner = CliRunner()


@pytest.mark.parametrize("name", ["photo[red].png", "x[/]y.png", "[bold]b.png"])
def test_markup_in_file_names_is_printed_literally(tmp_path, tiny_weights, name):
    save_rgb(tmp_path / "in" / name)
    result = runner.invoke(app, ["restore", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                 "--weights", str(tiny_weights), "--gt", str(tmp_path / "in")])
    assert result.exit_code == 0, result.output
    assert name in result.output
    assert (tmp_path / "out" / name).exists()
    result = runner.invoke(app, ["eval", "--pred", str(tmp_path / "out"), "--gt", str(tmp_path / "in")])
    assert result.exit_code == 0 and name.rsplit(".", 1)[0] in result.output
    (tmp_path / "bad" / name).parent.mkdir(parents=True)
    (tmp_path / "bad" / name).write_bytes(b"not an image")
    result = runner.invoke(app, ["restore", str(tmp_path / "bad"), "-o", str(tmp_path / "out2"),
                                 "--weights", str(tiny_weights)])
    assert result.exit_code == 1 and name in result.output
