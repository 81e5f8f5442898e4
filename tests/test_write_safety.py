"""Nothing a user owns is overwritten: outputs, comparison pictures and reports are checked against
every input and each other before any work; the run's own folders are never read as inputs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from restormixer_cli.cli import app
from restormixer_cli.io.atomic import atomic_path, is_part_name, remove_parts_of, remove_stale_parts
from restormixer_cli.io.discovery import expand_inputs
from restormixer_cli.signals import sigterm_as_interrupt

from .test_cli_restore import save_rgb

runner = CliRunner()


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def photos(tmp_path) -> Path:
    save_rgb(tmp_path / "photos" / "a.png", seed=1)
    save_rgb(tmp_path / "photos" / "b.png", seed=2)
    return tmp_path / "photos"


def restore(*args: str):
    return runner.invoke(app, ["restore", *args])


def test_refusals_name_each_file_once_in_a_sentence(photos, tiny_weights, tmp_path):
    """An output that would replace its own input, one existing output, several: each a sentence."""
    a = photos / "a.png"
    result = restore(str(a), "-o", str(photos), "--weights", str(tiny_weights))
    assert result.exit_code == 1
    assert result.output.strip() == f"error: the output of {a} would overwrite the input {a}; choose another path"
    out = tmp_path / "out"
    assert restore(str(photos), "-o", str(out), "--weights", str(tiny_weights), "--quiet").exit_code == 0
    result = restore(str(a), "-o", str(out), "--weights", str(tiny_weights))
    assert result.output.strip() == (f"error: {out / 'a.png'} already exists; pass --skip-existing to resume "
                                     "or --overwrite to replace it")
    result = restore(str(photos), "-o", str(out), "--weights", str(tiny_weights))
    assert f"{out / 'a.png'} and 1 more already exist;" in result.output
    compare = tmp_path / "cmp"
    (compare / "a.png").parent.mkdir()
    (compare / "a.png").write_bytes(b"mine")
    result = restore(str(a), "-o", str(tmp_path / "out2"), "--weights", str(tiny_weights), "--compare", str(compare))
    assert f"the comparison picture of {a} ({compare / 'a.png'}) already exists;" in result.output


@pytest.mark.parametrize("where", ["inputs", "outputs"])
def test_compare_folder_never_replaces_inputs_or_outputs(photos, tiny_weights, tmp_path, where):
    out = tmp_path / "out"
    before = digest(photos)
    compare = photos if where == "inputs" else out
    result = restore(str(photos), "-o", str(out), "--weights", str(tiny_weights), "--compare", str(compare))
    assert result.exit_code == 1
    assert "would" in result.output and "comparison picture" in result.output
    assert digest(photos) == before
    assert not out.exists() or not any(out.iterdir())


def test_report_named_like_an_input_is_refused(photos, tiny_weights, tmp_path):
    before = digest(photos)
    result = restore(str(photos / "a.png"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                     "--json", str(photos / "b.png"))
    assert result.exit_code == 1 and "already exists" in result.output
    result = restore(str(photos), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                     "--json", str(photos / "b.png"), "--overwrite")
    assert result.exit_code == 1 and "would overwrite the input" in result.output
    assert digest(photos) == before


def test_existing_report_and_comparison_need_overwrite(photos, tiny_weights, tmp_path):
    report, compare = tmp_path / "report.json", tmp_path / "cmp"
    report.write_text("my notes")
    args = [str(photos), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--compare", str(compare)]
    result = restore(*args, "--json", str(report))
    assert result.exit_code == 1 and "already exists" in result.output and report.read_text() == "my notes"
    assert restore(*args, "--quiet").exit_code == 0
    again = restore(*args, "--quiet", "--skip-existing")
    assert again.exit_code == 0, again.output  # a resumed run keeps the finished pictures
    (tmp_path / "out" / "a.png").unlink()
    again = restore(*args, "--quiet", "--skip-existing")
    assert again.exit_code == 1 and "comparison picture" in again.output
    assert restore(*args, "--quiet", "--overwrite", "--json", str(report)).exit_code == 0
    assert report.read_text().startswith("{")


def test_eval_reports_never_replace_images(photos, tmp_path):
    before = digest(photos)
    for option in ("--json", "--csv"):
        result = runner.invoke(app, ["eval", "--pred", str(photos), "--gt", str(photos), option, str(photos / "a.png")])
        assert result.exit_code == 1, result.output
    result = runner.invoke(app, ["eval", "--pred", str(photos), "--gt", str(photos), "--json", str(photos / "a.png"),
                                 "--overwrite"])
    assert result.exit_code == 1 and "would overwrite the input" in result.output
    assert digest(photos) == before
    existing = tmp_path / "scores.csv"
    existing.write_text("keep")
    result = runner.invoke(app, ["eval", "--pred", str(photos), "--gt", str(photos), "--csv", str(existing)])
    assert result.exit_code == 1 and existing.read_text() == "keep"
    result = runner.invoke(app, ["eval", "--pred", str(photos), "--gt", str(photos), "--csv", str(existing), "--overwrite"])
    assert result.exit_code == 0 and existing.read_text() != "keep"


def test_a_pipe_or_device_named_as_report_is_refused_not_replaced(photos, tiny_weights, tmp_path):
    """A report written to a FIFO (or /dev/stdout, /dev/null) would be renamed over it: the pipe gone,
    its reader waiting for ever, /dev/null a regular file for a root user."""
    fifo = tmp_path / "scores.fifo"
    os.mkfifo(fifo)
    for command in (["eval", "--pred", str(photos), "--gt", str(photos), "--csv", str(fifo), "--overwrite"],
                    ["restore", str(photos), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                     "--json", str(fifo), "--overwrite"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1 and "is a device, pipe or socket" in result.output, result.output
        assert fifo.is_fifo()
    assert not (tmp_path / "out").exists()


def test_a_report_named_by_a_symbolic_link_is_written_through_it(photos, tmp_path):
    """As a shell's redirection does: the link (to a shared folder, a log kept elsewhere) stays a link."""
    (tmp_path / "elsewhere").mkdir()
    real, link = tmp_path / "elsewhere" / "scores.csv", tmp_path / "scores.csv"
    real.write_text("last week's scores")
    link.symlink_to(real)
    result = runner.invoke(app, ["eval", "--pred", str(photos), "--gt", str(photos), "--csv", str(link), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and real.read_text().startswith("name")
    assert [p.name for p in real.parent.iterdir()] == ["scores.csv"]


def test_output_inside_input_folder_is_not_read_back(photos, tiny_weights):
    out = photos / "restored"
    assert restore(str(photos), "-o", str(out), "--weights", str(tiny_weights), "--quiet").exit_code == 0
    again = restore(str(photos), "-o", str(out), "--weights", str(tiny_weights), "--skip-existing")
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["a.png", "b.png"]
    assert len(expand_inputs([str(photos)], exclude=[out])) == 2
    assert len(expand_inputs([str(photos / "**" / "*.png")], exclude=[out])) == 2


def test_unusable_output_or_report_folder_fails_before_work(photos, tiny_weights, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    result = restore(str(photos), "-o", str(not_a_folder), "--weights", str(tiny_weights))
    assert result.exit_code == 1 and "is a file" in result.output
    result = restore(str(photos), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                     "--json", str(not_a_folder / "r.json"))
    assert result.exit_code == 1 and "is a file" in result.output
    assert not (tmp_path / "out").exists()
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = restore(str(photos), "-o", str(locked / "out"), "--weights", str(tiny_weights))
        assert result.exit_code == 1 and "not writable" in result.output


def test_recursive_glob_through_a_link_loop_ends(tmp_path):
    save_rgb(tmp_path / "a" / "x.png")
    (tmp_path / "a" / "back").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "a" / "self").symlink_to(tmp_path / "a", target_is_directory=True)
    found = expand_inputs([str(tmp_path / "**" / "*.png")])
    assert [f.path.name for f in found] == ["x.png"]


def test_report_in_a_missing_folder_is_created(photos, tiny_weights, tmp_path):
    report = tmp_path / "reports" / "deep" / "r.json"
    result = restore(str(photos), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--json", str(report))
    assert result.exit_code == 0 and json.loads(report.read_text())["summary"]["done"] == 2
    csv_report = tmp_path / "more" / "scores.csv"
    result = runner.invoke(app, ["eval", "--pred", str(photos), "--gt", str(photos), "--csv", str(csv_report)])
    assert result.exit_code == 0 and csv_report.read_text().startswith("name,psnr")


def test_full_disk_while_writing_the_report_is_one_line(photos, tiny_weights, tmp_path, monkeypatch):
    import errno

    from restormixer_cli.cli import restore_run

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(restore_run, "write_text_atomic", full)
    result = restore(str(photos), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                     "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 1 and "cannot write the report" in result.output and "No space" in result.output
    assert (tmp_path / "out" / "a.png").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_right_after_the_temporary_file_is_made_leaves_none(tmp_path, monkeypatch, sig):
    """Ctrl-C (or SIGTERM, as restore turns it into one) between creating the temporary file and
    the code that removes it on failure: the signal waits until that code is in place."""
    mkstemp = tempfile.mkstemp

    def signalled_after_creating(*args, **kwargs):
        made = mkstemp(*args, **kwargs)
        signal.raise_signal(sig)
        return made

    monkeypatch.setattr(tempfile, "mkstemp", signalled_after_creating)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own: Ray's tests replace it
    try:
        with sigterm_as_interrupt(), pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "out.png") as tmp:
            tmp.write_bytes(b"never finished")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert list(tmp_path.iterdir()) == []


def test_only_the_temporary_files_of_atomic_writes_are_swept(tmp_path):
    """Clearing what killed writers left behind never touches a user's own dotted or partial files."""
    with atomic_path(tmp_path / "photo.final.png") as tmp:
        assert is_part_name(tmp.name)
        left = tmp_path / ("left" + tmp.name)  # a copy that will outlive the write, as a killed writer's does
        left.write_bytes(b"half")
    left = left.rename(tmp_path / tmp.name)
    users = [".backup.part1.rar", ".thesis.part2.docx", ".video.mp4.part", ".x.partial", ".a.abcdefgh.part.png"]
    for name in users:
        (tmp_path / name).write_bytes(b"precious")
    for path in tmp_path.iterdir():
        os.utime(path, (1, 1))
    remove_parts_of(tmp_path / "photo.png")  # another target's leftovers stay
    assert left.exists()
    assert remove_stale_parts(tmp_path) == [left]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(users + ["photo.final.png"])


def test_names_that_are_not_utf8_are_written_and_reported(tmp_path, tiny_weights):
    folder = tmp_path / "in"
    save_rgb(folder / "plain.png")
    latin1 = os.fsdecode(b"caf\xe9.png")  # an old archive's name
    (folder / "plain.png").rename(folder / latin1)
    save_rgb(folder / "b.png", seed=3)
    out, report = tmp_path / "out", tmp_path / "r.csv"
    result = restore(str(folder), "-o", str(out), "--weights", str(tiny_weights), "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert sorted(os.fsencode(p.name) for p in out.iterdir()) == [b"b.png", b"caf\xe9.png"]
    assert len(json.loads((tmp_path / "r.json").read_text())["files"]) == 2
    evaluated = runner.invoke(app, ["eval", "--pred", str(out), "--gt", str(folder), "--csv", str(report)])
    assert evaluated.exit_code == 0, evaluated.output
    assert b"caf\xe9" in report.read_bytes()
