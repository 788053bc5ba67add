"""grades.csv, manual points, the Canvas import and the class report, from rows (fast).

The questions here are made up: the report's columns come from the points it is given.
"""

import csv
from pathlib import Path

import pytest
from matplotlib.image import imread

from grader.common.results import CaseResult, GradeRow, QuestionResult, Status
from grader.report import manual
from grader.report.gradebook import write_report
from testsuite.helpers import MASTER, read_csv

POSSIBLE = {"alpha": 1.0, "beta": 2.0}


def judged(submission: str, alpha: float, beta: float, **extra) -> GradeRow:
    questions = {
        name: QuestionResult(name, POSSIBLE[name], [CaseResult("case", POSSIBLE[name], earned, "")])
        for name, earned in (("alpha", alpha), ("beta", beta))
    }
    return GradeRow(submission=submission, status=Status.OK, questions=questions, **extra)


ROWS = [
    judged("doejane_101_201_hw.ipynb", 1, 2),
    judged("roejohn_LATE_102_203_hw.ipynb", 1, 0.5, late=True, pdf_missing=True),
    judged("cheat.ipynb", 0, 0, review=["cell 3: x1 * x2 in a forward"]),
    GradeRow(submission="broken.ipynb", status=Status.INVALID, message="not a notebook"),
]


@pytest.fixture
def items(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    items = {"proof": 2.0}
    monkeypatch.setattr(manual, "manual_items", lambda master: items)
    return items


def test_master_notebook_names_the_manual_items() -> None:
    assert manual.manual_items(MASTER) == {
        "q1_explanation": 0.5, "q2_difficulties": 0.5, "q3": 2.0,
        "q4_explanation": 0.5, "q5_analysis": 1.0,
    }  # fmt: skip


def test_grades_csv_columns_come_from_the_points(tmp_path: Path, items) -> None:
    write_report(ROWS, POSSIBLE, tmp_path, "HW", MASTER)
    rows = {row["submission"]: row for row in read_csv(tmp_path / "grades.csv")}
    assert list(rows["cheat.ipynb"]) == [
        "submission", "alpha", "beta", "autograded", "proof", "manual", "total",
        "deduction", "policy", "late", "status", "message",
    ]  # fmt: skip
    late = rows["roejohn_LATE_102_203_hw.ipynb"]
    assert late | {"message": "", "policy": ""} == {
        "submission": "roejohn_LATE_102_203_hw.ipynb", "alpha": "1", "beta": "0.5",
        "autograded": "1.5", "proof": "", "manual": "", "total": "0", "deduction": "1.5",
        "policy": "", "late": "yes", "status": "ok", "message": "",
    }  # fmt: skip
    assert late["policy"].startswith("submitted late: not graded, 0 points")
    assert rows["broken.ipynb"]["total"] == "0" and rows["broken.ipynb"]["late"] == "no"
    assert list(rows) == sorted(rows)


def test_blank_manual_sheet_written_once_and_never_over_a_filled_one(tmp_path, items) -> None:
    write_report(ROWS, POSSIBLE, tmp_path, "HW", MASTER)
    sheet = tmp_path / "manual.csv"
    assert read_csv(sheet) == [{"submission": row.submission, "proof": ""} for row in
                               sorted(ROWS, key=lambda r: r.submission)]  # fmt: skip
    sheet.write_text("submission,proof\ncheat.ipynb,1.5\n")
    write_report([*ROWS, judged("late_comer.ipynb", 0, 0)], POSSIBLE, tmp_path, "HW", MASTER)
    assert sheet.read_text() == "submission,proof\ncheat.ipynb,1.5\n"


def test_manual_points_join_grades_and_canvas_import(tmp_path: Path, items) -> None:
    (tmp_path / "manual.csv").write_text(
        "submission,proof\ndoejane_101_201_hw.ipynb,2\nroejohn_LATE_102_203_hw.ipynb,0.5\n"
        "cheat.ipynb,\nbroken.ipynb,\n"
    )
    book = write_report(ROWS, POSSIBLE, tmp_path, "HW 1", MASTER)
    rows = {row["submission"]: row for row in read_csv(tmp_path / "grades.csv")}
    jane = rows["doejane_101_201_hw.ipynb"]
    assert list(jane)[1:7] == ["alpha", "beta", "autograded", "proof", "manual", "total"]
    assert (jane["autograded"], jane["proof"], jane["manual"], jane["total"]) == (
        "3",
        "2",
        "2",
        "5",
    )
    assert rows["cheat.ipynb"]["proof"] == "" and rows["cheat.ipynb"]["total"] == "0"
    # cheat and broken are not marked: no Canvas import unless asked for a partial one.
    assert not (tmp_path / "canvas_grades.csv").exists()
    assert book.canvas.startswith("not written: 2 written answer(s) are not marked yet")
    book = write_report(ROWS, POSSIBLE, tmp_path, "HW 1", MASTER, partial=True)
    assert book.canvas.startswith("PARTIAL: 2 student(s), 2 written answer(s) not marked yet")
    assert "Canvas import: PARTIAL" in (tmp_path / "class_report.md").read_text()
    with (tmp_path / "canvas_grades.csv").open() as handle:
        canvas = list(csv.reader(handle))
    assert canvas[0][-1] == "HW 1"
    assert [(row[0], row[-1]) for row in canvas[1:]] == [("doejane", "5"), ("roejohn", "0")]
    feedback = (tmp_path / "feedback" / "doejane_101_201_hw.md").read_text()
    assert "### proof: 2 / 2" in feedback and "- Points given by hand (manual.csv)." in feedback
    assert "Total: **5 / 5**" in feedback


@pytest.mark.parametrize(
    ("value", "reason"),
    [("3", "outside 0..2"), ("-1", "outside 0..2"), ("two", "not a number"), ("nan", "outside")],
)
def test_manual_points_out_of_range_are_refused(tmp_path, items, value, reason) -> None:
    (tmp_path / "manual.csv").write_text(f"submission,proof\ncheat.ipynb,1\nbroken.ipynb,{value}\n")
    with pytest.raises(manual.ManualPointsError) as refused:
        write_report(ROWS, POSSIBLE, tmp_path, "HW", MASTER)
    assert "line 3 (broken.ipynb), column proof" in str(refused.value)
    assert reason in str(refused.value)
    assert not (tmp_path / "grades.csv").exists()  # nothing written


def test_manual_row_for_an_unknown_submission_is_refused(tmp_path, items) -> None:
    (tmp_path / "manual.csv").write_text("submission,proof\nnobody.ipynb,1\n")
    with pytest.raises(manual.ManualPointsError, match=r"line 2 .*no graded submission"):
        write_report(ROWS, POSSIBLE, tmp_path, "HW", MASTER)


def test_class_report_numbers_plots_and_who_needs_a_person(tmp_path: Path, items) -> None:
    write_report(ROWS, POSSIBLE, tmp_path, "HW", MASTER)
    stats = {row["column"]: row for row in read_csv(tmp_path / "class_stats.csv")}
    assert stats["alpha"] == {
        "column": "alpha", "possible": "1", "n": "4", "mean": "0.50", "median": "0.5",
        "full": "2", "partial": "0", "zero": "2",
    }  # fmt: skip
    assert (stats["beta"]["full"], stats["beta"]["partial"], stats["beta"]["zero"]) == (
        "1",
        "1",
        "2",
    )
    assert stats["total"]["mean"] == "0.75" and stats["total"]["median"] == "0"  # roejohn: late
    assert stats["proof"]["n"] == "0"  # nothing marked yet
    for column in ("alpha", "beta", "total"):
        image = imread(tmp_path / "plots" / f"{column}.png")
        assert image.shape[0] > 100 and image.shape[1] > 100
    report = (tmp_path / "class_report.md").read_text()
    person = report.split("## Needs a person (3)")[1].split("##")[0]
    assert "**broken.ipynb**: invalid: not a notebook" in person
    assert "**cheat.ipynb**: review: cell 3" in person
    assert "**roejohn_LATE_102_203_hw.ipynb**: no PDF submitted; late" in person
    assert "doejane" not in person
    assert "![beta](plots/beta.png)" in report
