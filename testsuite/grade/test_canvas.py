"""Canvas bulk downloads in, gradebook import out."""

import csv
import zipfile
from pathlib import Path

from grader.common.canvas_names import parse_canvas_name
from grader.grade.canvas_inputs import expand_inputs, is_canvas_download
from grader.report.canvas_import import write_grade_import


def test_parses_canvas_file_names() -> None:
    on_time = parse_canvas_name(Path("doejane_101_201_homework.ipynb"))
    late = parse_canvas_name(Path("roejohn_LATE_102_203_homework-1.pdf"))
    assert (on_time.student, on_time.user_id, on_time.late) == ("doejane", "101", False)
    assert (late.student, late.user_id, late.late) == ("roejohn", "102", True)
    assert parse_canvas_name(Path("homework.ipynb")) is None


def test_expands_bulk_download_but_not_export_zip(tmp_path: Path) -> None:
    bulk, export = tmp_path / "submissions.zip", tmp_path / "export.zip"
    with zipfile.ZipFile(bulk, "w") as archive:
        archive.writestr("doejane_101_201_homework.ipynb", "{}")
        archive.writestr("nested/doejane_101_202_homework.pdf", "%PDF")
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("homework.ipynb", "{}")
    assert is_canvas_download(bulk) and not is_canvas_download(export)
    files = expand_inputs([bulk, export], tmp_path)
    assert [f.name for f in files] == [
        "doejane_101_201_homework.ipynb",
        "doejane_101_202_homework.pdf",
        "export.zip",
    ]


def test_a_students_upload_is_never_expanded(tmp_path: Path) -> None:
    """A student's zip whose members pose as other students' uploads stays one submission, even
    when the TA names it on the command line (``grade unpacked-download/*.zip``)."""
    upload = tmp_path / "mallory_103_204_submission.zip"
    with zipfile.ZipFile(upload, "w") as archive:
        archive.writestr("victim_104_205_homework.ipynb", "{}")
        archive.writestr("mallory_103_204_homework.pdf", "%PDF")
    assert not is_canvas_download(upload)
    assert expand_inputs([upload], tmp_path) == [upload]


def test_grade_import_has_canvas_columns(tmp_path: Path) -> None:
    path = tmp_path / "canvas.csv"
    rows = [("doejane_101_201_homework.ipynb", 8.5), ("local.ipynb", 3.0)]
    assert write_grade_import(rows, "Homework 1 (555)", path) == 1
    with path.open() as handle:
        table = list(csv.reader(handle))
    assert table == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 1 (555)"],
        ["doejane", "101", "", "", "", "8.5"],
    ]


def test_no_canvas_students_no_import_file(tmp_path: Path) -> None:
    path = tmp_path / "canvas.csv"
    assert write_grade_import([("local.ipynb", 3.0)], "Homework", path) == 0
    assert not path.exists()
