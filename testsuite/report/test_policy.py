"""The submission policy: late, missing-PDF and excused rows, course settings, `excuse`."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.common.results import CaseResult, GradeRow, QuestionResult, Status
from grader.common.store import Record, ResultStore, autograder_digest
from grader.report.gradebook import write_report
from grader.report.policy import NOT_GRADED, Policy, PolicyError, load_policy, read_excused
from testsuite.helpers import COURSE, MASTER, ROOT, read_csv

POSSIBLE = {"q1": 0.5, "q2": 2.5, "q4": 1.5, "q5": 2.0}
WRITTEN = "q1_explanation,q2_difficulties,q3,q4_explanation,q5_analysis"


def row(name: str, key: str, **extra) -> GradeRow:
    questions = {
        q: QuestionResult(q, p, [CaseResult("case", p, p, "")]) for q, p in POSSIBLE.items()
    }
    return GradeRow(name, Status.OK, key=key, questions=questions, **extra)


ROWS = [
    row("ontime_101_201_hw.ipynb", "ontime"),
    row("late_LATE_102_202_hw.ipynb", "late", late=True),
    row("nopdf_103_203_hw.ipynb", "nopdf", pdf_missing=True),
    row("excused_LATE_104_204_hw.ipynb", "excused", late=True, pdf_missing=True),
]


def marked_sheet(out: Path, rows: list[GradeRow], points: str = "0.5,0.5,2,0.5,1") -> None:
    lines = [f"submission,{WRITTEN}", *(f"{r.submission},{points}" for r in rows)]
    (out / "manual.csv").write_text("\n".join(lines) + "\n")


def run(out: Path, master: Path = MASTER) -> dict[str, dict[str, str]]:
    write_report(ROWS, POSSIBLE, out, "HW", master, stored={})
    return {r["submission"]: r for r in read_csv(out / "grades.csv")}


def test_late_is_not_graded_missing_pdf_costs_a_point_excused_is_spared(tmp_path: Path) -> None:
    (tmp_path / "excused.csv").write_text(
        "submission,reason,when\nexcused,extension to Friday,2026-12-01T10:00:00+00:00\n"
    )
    marked_sheet(tmp_path, [r for r in ROWS if not r.late or r.key == "excused"])
    rows = run(tmp_path)
    on_time, late, nopdf, excused = (rows[r.submission] for r in ROWS)
    assert (on_time["total"], on_time["deduction"], on_time["policy"]) == ("11", "", "")
    assert (late["autograded"], late["total"], late["deduction"]) == ("6.5", "0", "6.5")
    assert late["policy"] == "submitted late: not graded, 0 points (the course's submission policy)"
    assert (nopdf["total"], nopdf["deduction"]) == ("10", "1")
    assert nopdf["policy"] == "no PDF submitted: -1 point (the course's submission policy)"
    assert (excused["total"], excused["deduction"]) == ("11", "")
    assert excused["policy"] == (
        "submitted late and no PDF submitted, excused by the course staff: extension to Friday"
    )
    # The late row needs no marks: the import is complete without them.
    assert (tmp_path / "canvas_grades.csv").read_text().count("\n") == 5
    feedback = (tmp_path / "feedback" / "late.md").read_text()
    assert "Total: **0 / 11**" in feedback and "not final" not in feedback
    assert "## Submission policy\n\n- submitted late: not graded, 0 points" in feedback
    assert "- no PDF submitted: -1 point" in (tmp_path / "feedback" / "nopdf.md").read_text()
    assert "excused by the course staff" in (tmp_path / "feedback" / "excused.md").read_text()
    report = (tmp_path / "class_report.md").read_text()
    policy = report.split("## Submission policy (3)")[1].split("##")[0]
    assert "Course policy: late: not graded (0 points); no PDF: -1 point." in policy
    assert "- **late_LATE_102_202_hw.ipynb**: submitted late: not graded" in policy
    assert "- **nopdf_103_203_hw.ipynb**: no PDF submitted: -1 point" in policy
    assert "- **excused_LATE_104_204_hw.ipynb**: submitted late and no PDF" in policy
    assert "ontime" not in policy
    assert "| 4 / 4 |" not in report and "| 3 / 3 |" in report  # the late row is not to mark


def test_a_deduction_never_goes_below_zero(tmp_path: Path) -> None:
    zero = row("zero_105_205_hw.ipynb", "zero", pdf_missing=True)
    zero.questions = {}
    marked_sheet(tmp_path, [zero], "0,0,0.5,0,0")
    write_report([zero], POSSIBLE, tmp_path, "HW", MASTER, stored={})
    graded = read_csv(tmp_path / "grades.csv")[0]
    assert (graded["manual"], graded["total"], graded["deduction"]) == ("0.5", "0", "0.5")
    assert graded["policy"].startswith("no PDF submitted: -1 point")


def settings(tmp_path: Path, text: str) -> Path:
    master = tmp_path / "solutions" / "homework.ipynb"
    master.parent.mkdir()
    master.write_bytes(MASTER.read_bytes())
    (master.parent / "course.toml").write_text(text)
    return master


def test_course_settings_set_the_costs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    marked_sheet(out, ROWS)
    master = settings(tmp_path, '[submission_policy]\nlate = 2\nmissing_pdf = "not graded"\n')
    rows = run(out, master)
    late, nopdf = rows[ROWS[1].submission], rows[ROWS[2].submission]
    assert (late["total"], late["policy"]) == (
        "9",
        "submitted late: -2 points (the course's submission policy)",
    )
    assert (nopdf["total"], nopdf["deduction"]) == ("0", "11")
    assert load_policy(tmp_path / "missing.toml") == Policy(NOT_GRADED, 1.0)  # the defaults
    assert load_policy(ROOT / "course.toml") == Policy(NOT_GRADED, 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[submission_policy]\nlate = -1\n", "late = -1: use 'not graded' or the points"),
        ('[submission_policy]\nmissing_pdf = "free"\n', "missing_pdf = 'free'"),
        ("[submission_policy]\nlatte = 1\n", "unknown keys latte"),
        ("[submission_policy\n", "not valid TOML"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, text, message) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PolicyError, match=message):
        run(out, settings(tmp_path, text))
    assert not (out / "grades.csv").exists()


def graded_store(out: Path) -> None:
    digest = autograder_digest(COURSE.hidden_tests, COURSE.questions_dir)
    for graded in ROWS:
        ResultStore(out).put(Record(graded.submission, "0" * 64, digest, graded))


def test_excuse_command_records_and_withdraws_without_editing_files(tmp_path: Path) -> None:
    graded_store(tmp_path)
    runner = CliRunner()
    course = ["--out", str(tmp_path)]
    done = runner.invoke(app, ["excuse", "late", *course, "--reason", "extension to Friday"])
    assert done.exit_code == 0, done.output
    assert read_excused(tmp_path) == {"late": "extension to Friday"}
    assert read_csv(tmp_path / "excused.csv")[0]["when"].startswith("20")
    done = runner.invoke(app, ["report", *course, "--course", str(ROOT), "--partial"])
    assert done.exit_code == 0, done.output
    late = {r["submission"]: r for r in read_csv(tmp_path / "grades.csv")}[ROWS[1].submission]
    assert late["total"] == "6.5" and "excused by the course staff: extension" in late["policy"]
    assert "PARTIAL" in done.output

    done = runner.invoke(app, ["excuse", "nobody", *course, "--reason", "x"])
    assert done.exit_code == 1 and "No graded submission 'nobody'" in done.output
    done = runner.invoke(app, ["excuse", "late", *course])
    assert done.exit_code == 2 and "--withdraw" in done.output
    done = runner.invoke(app, ["excuse", ROWS[1].submission, *course, "--reason", "by file name"])
    assert done.exit_code == 0
    done = runner.invoke(app, ["excuse", "late", *course, "--withdraw"])
    assert done.exit_code == 0 and read_excused(tmp_path) == {ROWS[1].submission: "by file name"}
