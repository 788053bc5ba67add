"""The students' PDF route as a Python package: its entry point and what it writes."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from pdf_export.submission import FIXED_TIME, write_submission

REPO = Path(__file__).resolve().parents[2]


def test_submission_zip_is_deterministic(tmp_path: Path) -> None:
    """The same notebook and PDF give the same zip bytes; submission/ is made afresh."""
    zips = []
    for run in ("first", "second"):
        out = tmp_path / run
        (out / "submission").mkdir(parents=True)
        (out / "submission" / "stale.txt").write_text("from an earlier run")
        write_submission(out, "my homework", b'{"cells": []}', b"%PDF-1.5 fake")
        assert sorted(p.name for p in (out / "submission").iterdir()) == [
            "my homework.ipynb",
            "my homework.pdf",
        ]
        assert (out / "my homework.pdf").read_bytes() == b"%PDF-1.5 fake"
        zips.append((out / "submission.zip").read_bytes())
    assert zips[0] == zips[1]
    with zipfile.ZipFile(tmp_path / "first" / "submission.zip") as archive:
        assert archive.namelist() == ["my homework.ipynb", "my homework.pdf"]
        assert archive.read("my homework.ipynb") == b'{"cells": []}'
        # no clock in it: runs a second apart (or a day) give the same bytes too
        assert {info.date_time for info in archive.infolist()} == {FIXED_TIME}


def test_python_entry_point() -> None:
    """``python -m pdf_export`` is the route itself: usage, and one-line errors with status 1."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PDF_EXPORT_PROG", None)
    run = [sys.executable, "-m", "pdf_export"]
    result = subprocess.run([*run, "--help"], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and "Usage: python -m pdf_export [--web]" in result.stdout
    result = subprocess.run([*run, "--out"], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert result.stderr == "python -m pdf_export: error: --out needs a folder\n"
