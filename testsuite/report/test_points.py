"""Points follow the master notebook: README, Gradescope, Canvas import and class report agree."""

import re
from pathlib import Path

from grader.common.results import CaseResult, GradeRow, QuestionResult, Status
from grader.judge.hidden_tests import load_hidden_tests, possible_points
from grader.report.gradebook import write_report
from grader.report.written import written_items
from testsuite.helpers import MASTER, ROOT, read_csv

HIDDEN = possible_points(load_hidden_tests(ROOT / "build" / "autograder" / "tests"))
WRITTEN = {item.key: item.max_points for item in written_items(MASTER)}
AUTOGRADED = sum(HIDDEN.values())


def test_each_question_total_is_its_autograded_and_written_parts() -> None:
    per_question = {f"q{n}": 0.0 for n in range(1, 6)}
    for name, points in [*HIDDEN.items(), *WRITTEN.items()]:
        per_question[name[:2]] += points
    assert per_question == {"q1": 1, "q2": 3, "q3": 2, "q4": 2, "q5": 3}
    assert WRITTEN == {
        "q1_explanation": 0.5, "q2_difficulties": 0.5, "q3": 2,
        "q4_explanation": 0.5, "q5_analysis": 1,
    }  # fmt: skip
    assert AUTOGRADED == 6.5


def test_readme_states_the_masters_points() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = f"{AUTOGRADED:g}"
    assert f"worth the autograded points ({shown})" in readme
    assert f"`examples/solution.ipynb` ({shown}/{shown})" in readme
    assert re.search(r"\b11 points\b", readme)
    for item, points in WRITTEN.items():
        assert f"`{item}` ({points:g})" in readme, item  # the manual-points section lists them
    assert "9 of 11" not in readme and "(9)" not in readme


def test_gradebook_canvas_and_class_report_total_11(tmp_path: Path) -> None:
    """A full-marks submission, marked by hand in every written item, totals 11 everywhere."""
    questions = {
        name: QuestionResult(name, points, [CaseResult("all", points, points, "passed")])
        for name, points in HIDDEN.items()
    }
    row = GradeRow("doejane_101_201_hw.ipynb", Status.OK, key="doejane", questions=questions)
    sheet = ",".join(["submission", *WRITTEN]) + "\n"
    sheet += ",".join([row.submission, *(f"{p:g}" for p in WRITTEN.values())]) + "\n"
    (tmp_path / "manual.csv").write_text(sheet)
    book = write_report([row], HIDDEN, tmp_path, "HW", MASTER, stored={})
    assert book.point_columns()["total"] == 11 and book.canvas.startswith("complete")
    assert read_csv(tmp_path / "grades.csv")[0]["total"] == "11"
    assert (tmp_path / "canvas_grades.csv").read_text().splitlines()[1].endswith(",11")
    stats = {row["column"]: row for row in read_csv(tmp_path / "class_stats.csv")}
    assert stats["total"]["possible"] == "11" and stats["autograded"]["possible"] == "6.5"
    assert {column: stats[column]["possible"] for column in WRITTEN} == {
        column: f"{points:g}" for column, points in WRITTEN.items()
    }
    assert "Total: **11 / 11**" in (tmp_path / "feedback" / "doejane.md").read_text()
