"""Canvas bulk downloads in, gradebook import out."""

import csv
import json
import shutil
import zipfile
from pathlib import Path

from grader.common.canvas_names import parse_canvas_name
from grader.grade.batch import collect_inputs
from grader.grade.canvas_inputs import BadMember, expand_inputs
from grader.report.canvas_import import write_grade_import


def test_parses_canvas_file_names() -> None:
    on_time = parse_canvas_name(Path("doejane_101_201_homework.ipynb"))
    late = parse_canvas_name(Path("roejohn_LATE_102_203_homework-1.pdf"))
    assert (on_time.student, on_time.user_id, on_time.late) == ("doejane", "101", False)
    assert (late.student, late.user_id, late.late) == ("roejohn", "102", True)
    assert parse_canvas_name(Path("homework.ipynb")) is None


def test_only_a_named_download_is_expanded(tmp_path: Path) -> None:
    """A download is named (``--canvas``), never guessed: the same zip named as a submission
    stays one submission (this used to be guessed from the members' Canvas names)."""
    bulk, export = tmp_path / "submissions.zip", tmp_path / "export.zip"
    with zipfile.ZipFile(bulk, "w") as archive:
        archive.writestr("doejane_101_201_homework.ipynb", "{}")
        archive.writestr("nested/doejane_101_202_homework.pdf", "%PDF")
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("homework.ipynb", "{}")
    files = expand_inputs([export], tmp_path, [bulk])
    assert [f.name for f in files] == [
        "export.zip",
        "doejane_101_201_homework.ipynb",
        "doejane_101_202_homework.pdf",
    ]
    assert expand_inputs([bulk], tmp_path) == [bulk]


def test_a_students_upload_is_never_expanded(tmp_path: Path) -> None:
    """A student's zip whose members pose as other students' uploads stays one submission, even
    when the TA names it on the command line (``grade unpacked-download/*.zip``)."""
    upload = tmp_path / "mallory_103_204_submission.zip"
    with zipfile.ZipFile(upload, "w") as archive:
        archive.writestr("victim_104_205_homework.ipynb", "{}")
        archive.writestr("mallory_103_204_homework.pdf", "%PDF")
    assert expand_inputs([upload], tmp_path) == [upload]
    disguised = tmp_path / "submissions.zip"  # no Canvas prefix of its own, Canvas members
    shutil.copy(upload, disguised)
    assert expand_inputs([disguised], tmp_path) == [disguised]


def corrupt_member(download: Path, name: str) -> None:
    """Flip bytes in the middle of ``name``'s compressed data (its CRC no longer matches)."""
    with zipfile.ZipFile(download) as archive:
        info = archive.getinfo(name)
    data = bytearray(download.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + 5, start + 25):
        data[offset] ^= 0xFF
    download.write_bytes(bytes(data))


def test_each_bad_member_costs_only_itself(tmp_path: Path) -> None:
    download = tmp_path / "submissions.zip"
    honest = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    with zipfile.ZipFile(download, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doejane_101_201_homework.ipynb", honest * 50)
        archive.writestr("../../x_444_4_slip.ipynb", honest)
        archive.writestr("broken_105_206_homework.ipynb", honest * 50)
        link = zipfile.ZipInfo("linky_106_207_homework.ipynb")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("roejohn_102_203_homework.ipynb", honest)
    corrupt_member(download, "broken_105_206_homework.ipynb")
    found = expand_inputs([], tmp_path, [download])
    files = sorted(item.name for item in found if isinstance(item, Path))
    assert files == ["doejane_101_201_homework.ipynb", "roejohn_102_203_homework.ipynb"]
    bad = {item.base_name: item.reason for item in found if isinstance(item, BadMember)}
    assert "leaves the download's folder" in bad["x_444_4_slip.ipynb"]
    assert "corrupted" in bad["broken_105_206_homework.ipynb"]
    assert "link" in bad["linky_106_207_homework.ipynb"]
    (tmp_path / "again").mkdir()
    inputs = {item.identity: item for item in collect_inputs([], tmp_path / "again", [download])}
    slip = inputs["x_444_4_slip.ipynb"]
    assert slip.problem and slip.label == "../../x_444_4_slip.ipynb"
    assert slip.canvas.user_id == "444"  # its student gets the row
    assert not inputs["doejane_101_201_homework.ipynb"].problem


def test_an_unreadable_download_gets_one_row(tmp_path: Path) -> None:
    download = tmp_path / "submissions.zip"
    download.write_bytes(b"PK\x03\x04 not really a zip")
    [item] = collect_inputs([], tmp_path, [download])
    assert item.problem and "not a readable zip" in item.problem


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
