"""`homework-grader mark`: a clear message where there is nothing to mark or no port."""

from __future__ import annotations

import socket
from pathlib import Path

from typer.testing import CliRunner

from grader.cli import app
from testsuite.mark.classes import ROOT, examples_class


def test_mark_needs_a_graded_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["mark", "--out", str(tmp_path), "--course", str(ROOT)])
    assert result.exit_code == 2
    assert "run `grade` first" in result.output
    assert not (tmp_path / "marks.sqlite").exists()


def test_a_busy_port_is_named(tmp_path: Path) -> None:
    out = examples_class(tmp_path / "grades")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        arguments = ["mark", "--out", str(out), "--port", port, "--course", str(ROOT)]
        result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 2
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output
