"""The package's imports point down its layers and form no loop (scripts/check_layers.py)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_layers", ROOT / "scripts" / "check_layers.py")
check_layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_layers)


def test_no_upward_import_and_no_loop():
    assert check_layers.problems(ROOT / "restormixer_cli") == []


def test_the_check_finds_an_upward_import_and_a_loop(tmp_path):
    package = tmp_path / "restormixer_cli"
    for name, source in {
        "__init__.py": "",
        "io/__init__.py": "from ..api import restore\n",          # io reaches up to api
        "api.py": "def restore():\n    from . import io\n",  # and api imports io back: a loop
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(source)
    found = check_layers.problems(package)
    assert "upward import: restormixer_cli.io -> restormixer_cli.api" in found
    assert any(line.startswith("import loop:") and "restormixer_cli.api" in line for line in found)
    assert any(line.startswith("package loop:") for line in found)
