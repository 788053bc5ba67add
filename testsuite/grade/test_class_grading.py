"""End to end: parallel jobs, resume after a kill, the report command and manual points.

Every run here grades cheap submissions for real (the blank notebook, and complete or partly
wrong ones cut before Q5, so no network is trained); what needs the Q5-trained examples reuses
the session's ``graded_examples`` results instead of grading the solution again.
"""

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.build.examples import notebook_until
from testsuite.helpers import EXAMPLES, ROOT, GradedRun, read_csv, run_grader

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cheap_class(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("class")
    return [
        shutil.copy(EXAMPLES / "blank.ipynb", folder / "blank.ipynb"),
        shutil.copy(EXAMPLES / "corrupted.ipynb", folder / "corrupted.ipynb"),
        notebook_until(EXAMPLES / "solution.ipynb", "## Question 5", folder / "solved.ipynb"),
        notebook_until(EXAMPLES / "partly_wrong.ipynb", "## Question 5", folder / "wrong.ipynb"),
    ]


@pytest.fixture(scope="module")
def one_job(cheap_class: list[Path], tmp_path_factory: pytest.TempPathFactory) -> GradedRun:
    return run_grader(cheap_class, tmp_path_factory.mktemp("one_job"), "--jobs", "1")


def grade_command(inputs: list[Path], out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", "--out", str(out), *extra, *map(str, inputs)]


def test_one_job_grades_for_real(one_job: GradedRun) -> None:
    solved, wrong = one_job.rows["solved.ipynb"], one_job.rows["wrong.ipynb"]
    assert (solved["q1"], solved["q2"], solved["q4"], solved["q5"]) == ("0.5", "2.5", "1.5", "0")
    assert float(wrong["total"]) < 3
    assert "0 already graded, 4 to go" in one_job.stderr


def test_two_jobs_equal_one(cheap_class: list[Path], one_job: GradedRun, tmp_path: Path) -> None:
    two_jobs = run_grader(cheap_class, tmp_path, "--jobs", "2")
    assert (two_jobs.out / "grades.csv").read_text() == (one_job.out / "grades.csv").read_text()
    assert "failed" in two_jobs.stderr  # the progress bar counts failures (corrupted.ipynb)


def test_killed_run_resumes_where_it_stopped(
    cheap_class: list[Path], one_job: GradedRun, tmp_path: Path
) -> None:
    killed = subprocess.Popen(
        grade_command(cheap_class, tmp_path, "--jobs", "1"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    results = tmp_path / "results"
    deadline = time.monotonic() + 300
    while not list(results.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    killed.send_signal(signal.SIGTERM)  # what scancel or a closed terminal (SIGHUP) sends
    _, stderr = killed.communicate(timeout=120)
    assert killed.returncode == 130, stderr
    assert "run the same command again" in stderr
    stored = len(list(results.glob("*.json")))
    assert 1 <= stored < len(cheap_class)
    assert not (tmp_path / "grades.csv").exists()

    resumed = run_grader(cheap_class, tmp_path, "--jobs", "1")
    assert f"{stored} already graded, {len(cheap_class) - stored} to go" in resumed.stderr
    assert (tmp_path / "grades.csv").read_text() == (one_job.out / "grades.csv").read_text()
    again = run_grader(cheap_class, tmp_path)
    assert f"{len(cheap_class)} already graded, 0 to go" in again.stderr


def report(out: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "grader", "report", "--out", str(out), *extra]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def store_copy(graded: GradedRun, out: Path) -> Path:
    shutil.copytree(graded.out / "results", out / "results")
    return out


def test_report_merges_the_store_like_grade(graded_examples: GradedRun, tmp_path: Path) -> None:
    out = store_copy(graded_examples, tmp_path)
    result = report(out)
    assert result.returncode == 0, result.stderr
    assert (out / "grades.csv").read_text() == (graded_examples.out / "grades.csv").read_text()
    # Nothing is marked yet: neither writes a Canvas import, and both say why.
    assert not (out / "canvas_grades.csv").exists()
    assert not (graded_examples.out / "canvas_grades.csv").exists()
    assert "written answer(s) are not marked yet" in result.stderr
    assert (out / "feedback" / "solution.md").read_text() == (
        graded_examples.out / "feedback" / "solution.md"
    ).read_text()


def test_late_column_and_class_report_on_the_examples(graded_examples: GradedRun) -> None:
    out, rows = graded_examples.out, graded_examples.rows
    assert rows["roejohn_LATE_102_203_homework.pdf"]["late"] == "yes"
    assert rows["doejane_101_201_homework.ipynb"]["late"] == "no"
    stats = {row["column"]: row for row in read_csv(out / "class_stats.csv")}
    written = {"q1_explanation", "q2_difficulties", "q3", "q4_explanation", "q5_analysis"}
    assert set(stats) == {"q1", "q2", "q4", "q5", "autograded", *written, "manual", "total"}
    assert all(stats[column]["n"] == "0" for column in [*written, "manual"])  # none marked yet
    for column, row in stats.items():
        if column in written or column == "manual":
            continue
        values = [float(graded[column]) for graded in rows.values()]
        assert int(row["n"]) == len(values) == len(rows)
        assert float(row["mean"]) == pytest.approx(sum(values) / len(values), abs=0.005)
        full = sum(v == float(row["possible"]) for v in values)
        zero = sum(v == 0 for v in values)
        assert (int(row["full"]), int(row["zero"])) == (full, zero), column
        assert int(row["partial"]) == len(values) - full - zero
        assert (out / "plots" / f"{column}.png").stat().st_size > 1000
    assert stats["autograded"]["full"] == "1"  # the solution
    person = (out / "class_report.md").read_text().split("## Needs a person")[1]
    for name in ("corrupted.ipynb", "notes.txt", "cheater.ipynb", "roejohn_LATE_102_203_homework"):
        assert f"**{name}" in person, name
    assert "**solution.ipynb**" not in person


def test_manual_points_reach_grades_and_canvas(graded_examples: GradedRun, tmp_path) -> None:
    out = store_copy(graded_examples, tmp_path)
    blank_sheet = read_csv(graded_examples.out / "manual.csv")
    assert {row["submission"] for row in blank_sheet} == set(graded_examples.rows)
    assert all(row["q3"] == row["q5_analysis"] == "" for row in blank_sheet)
    (out / "manual.csv").write_text(
        "submission,q3\nsolution.ipynb,2\ndoejane_101_201_homework.ipynb,1.5\n"
    )
    assert report(out).returncode == 0
    assert not (out / "canvas_grades.csv").exists()  # other answers are not marked yet
    rows = {row["submission"]: row for row in read_csv(out / "grades.csv")}
    solution = rows["solution.ipynb"]
    assert (solution["autograded"], solution["q3"], solution["total"]) == ("6.5", "2", "8.5")
    partial = report(out, "--partial")
    assert "/11" in partial.stdout  # the table's total column
    assert "PARTIAL" in partial.stderr
    canvas = (out / "canvas_grades.csv").read_text().splitlines()
    assert canvas[1].startswith("doejane,101,") and canvas[1].endswith(",1.5")

    (out / "manual.csv").write_text("submission,q3\nsolution.ipynb,2\nblank.ipynb,2.5\n")
    refused = report(out)
    assert refused.returncode == 2
    assert "line 3 (blank.ipynb), column q3: 2.5 is outside 0..2" in refused.stderr.replace(
        "\n", " "
    )
