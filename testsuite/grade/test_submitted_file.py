"""Reading submissions: every bad file gets a clear reason; nothing is executed or modified."""

import json
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.grade.submitted_file import InvalidSubmission, read_submitted_file


def write_notebook(path: Path) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), path)
    return path


def test_reads_a_notebook(tmp_path: Path) -> None:
    submission = read_submitted_file(write_notebook(tmp_path / "alice.ipynb"))
    assert submission.name == "alice"
    assert submission.notebook.cells[0].source == "x = 1"
    assert submission.pdf is None


def test_reads_an_export_zip_with_its_pdf(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "homework.ipynb")
    archive = tmp_path / "bob.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(notebook, "homework.ipynb")
        handle.writestr("homework.pdf", b"%PDF")
    submission = read_submitted_file(archive)
    assert submission.name == "bob" and submission.pdf == b"%PDF"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("a.ipynb", b"{not json", "invalid JSON"),
        ("b.ipynb", json.dumps([1, 2]).encode(), "not a Jupyter notebook"),
        ("c.ipynb", json.dumps({"cells": "nope", "nbformat": 4}).encode(), "not a valid Jupyter"),
        ("d.ipynb", b"\xff\xfe\x00", "invalid JSON"),
        ("e.pdf", b"%PDF", "not a notebook (.ipynb) or a submission zip"),
        ("f.zip", b"PK not really", "not a valid zip"),
    ],
)
def test_rejects_bad_files_with_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidSubmission, match=re.escape(reason)):
        read_submitted_file(path)
    assert path.read_bytes() == content


def test_rejects_zip_with_two_notebooks(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "n.ipynb")
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(notebook, "one.ipynb")
        handle.write(notebook, "two.ipynb")
    with pytest.raises(InvalidSubmission, match="holds 2 notebooks"):
        read_submitted_file(archive)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidSubmission, match="does not exist"):
        read_submitted_file(tmp_path / "gone.ipynb")
