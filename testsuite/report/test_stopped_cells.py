"""Stopped or left-out cells reach the feedback, grades.csv's message and "needs a person"."""

from pathlib import Path

from grader.common.results import CaseResult, GradeRow, QuestionResult, Status
from grader.grade.grading import describe_stop
from grader.report.class_report import needs_a_person
from grader.report.gradebook import Gradebook, feedback_markdown, write_grades_csv
from testsuite.helpers import read_csv

STOP = {"cell": 30, "kind": "cpu", "reason": "stopped after 900 s of CPU time, the per-cell limit"}


def test_stopped_cells_are_named_everywhere(tmp_path: Path) -> None:
    line = describe_stop(STOP)
    assert line == "cell 30 was stopped after 900 s of CPU time, the per-cell limit"
    assert describe_stop({"cell": 2, "kind": "kernel", "reason": "the kernel died"}) == (
        "cell 2 was left out: the kernel died while it ran"
    )
    case = CaseResult("bn_accuracy", 0.5, 0.0, f"`q5_bn_model` could not be graded: {line}")
    row = GradeRow(
        submission="slow.ipynb",
        status=Status.TIMEOUT,
        message=line,
        questions={"q5": QuestionResult("q5", 0.5, [case])},
        stopped=[line],
    )
    assert GradeRow.from_json(row.to_json()) == row
    text = feedback_markdown(row)
    assert "## Cells that did not run to their end\n\n- cell 30 was stopped after 900 s" in text
    assert f"FAIL bn_accuracy (0/0.5): `q5_bn_model` could not be graded: {line}" in text
    write_grades_csv(Gradebook([row], {"q5": 0.5}), tmp_path / "grades.csv")
    assert read_csv(tmp_path / "grades.csv")[0]["message"] == line
    assert needs_a_person(row) == [f"timeout: {line}"]
