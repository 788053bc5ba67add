"""End to end: the real `python -m grader grade` on examples, broken and hostile submissions."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader.common.names import output_key
from grader.judge.hidden_tests import load_hidden_tests, possible_points
from testsuite.helpers import COURSE, ROOT, GradedRun, run_grader, sha256

pytestmark = pytest.mark.slow


def points(run: GradedRun, submission: str, column: str) -> float:
    return float(run.rows[submission][column])


def test_every_input_gets_a_row(graded_examples: GradedRun) -> None:
    expected = {
        "blank.ipynb": "ok",
        "solution.ipynb": "ok",
        "partly_wrong.ipynb": "ok",
        "corrupted.ipynb": "invalid",
        "notes.txt": "invalid",
        "not_a_notebook.ipynb": "invalid",
        "hostile.ipynb": "ok",
        "cheater.ipynb": "ok",
        "blank_export.zip": "ok",
        "doejane_101_201_homework.ipynb": "ok",
        "roejohn_LATE_102_203_homework.pdf": "invalid",
    }
    assert {name: row["status"] for name, row in graded_examples.rows.items()} == expected
    assert "not a notebook" in graded_examples.rows["corrupted.ipynb"]["message"]
    assert "not a Jupyter notebook" in graded_examples.rows["not_a_notebook.ipynb"]["message"]
    assert "solution.ipynb" in graded_examples.stdout  # the table is printed


def test_solution_earns_full_autograded_points(graded_examples: GradedRun) -> None:
    full = possible_points(load_hidden_tests(COURSE.hidden_tests))
    assert list(full) == ["q1", "q2", "q4", "q5"]
    for column, possible in (full | {"total": sum(full.values())}).items():
        assert points(graded_examples, "solution.ipynb", column) == possible, column
    assert graded_examples.rows["solution.ipynb"]["message"] == ""


def test_blank_notebook_earns_nothing(graded_examples: GradedRun) -> None:
    assert points(graded_examples, "blank.ipynb", "total") == 0
    assert points(graded_examples, "blank_export.zip", "total") == 0


def test_partly_wrong_loses_what_it_got_wrong(graded_examples: GradedRun) -> None:
    feedback = (graded_examples.out / "feedback" / "partly_wrong.md").read_text()
    assert points(graded_examples, "partly_wrong.ipynb", "q2") < 3  # unscaled: strict tier fails
    assert "FAIL bn_architecture (0/0.25)" in feedback  # BN after the sigmoid
    assert "PASS plain_architecture (0.25/0.25)" in feedback


def test_kept_hardtanh_loses_q1(graded_examples: GradedRun) -> None:
    assert points(graded_examples, "partly_wrong.ipynb", "q1") == 0


def test_wrong_stride_8_kernel_loses_part_2(graded_examples: GradedRun) -> None:
    feedback = (graded_examples.out / "feedback" / "partly_wrong.md").read_text()
    assert "FAIL part_2 (0/0.5)" in feedback
    assert "PASS part_1 (0.5/0.5)" in feedback
    assert points(graded_examples, "partly_wrong.ipynb", "q4") < 2


def test_hostile_kernel_cannot_forge_scores(graded_examples: GradedRun) -> None:
    assert points(graded_examples, "hostile.ipynb", "q1") == 0
    full_q4 = possible_points(load_hidden_tests(COURSE.hidden_tests))["q4"]
    assert points(graded_examples, "hostile.ipynb", "q4") == full_q4  # forged values: plain answers


def test_multiplying_layer_scores_zero_and_is_flagged(graded_examples: GradedRun) -> None:
    assert points(graded_examples, "cheater.ipynb", "q2") == 0
    assert "review: cell" in graded_examples.rows["cheater.ipynb"]["message"]
    feedback = (graded_examples.out / "feedback" / "cheater.md").read_text()
    assert "`q2_model` could not be graded: TypeError: Sequential is not a chain of allowed " in (
        feedback
    )
    assert "`return x[:, :1] * x[:, 1:]`: it multiplies values computed from the input" in feedback


def test_submissions_cannot_write_to_the_grader(graded_examples: GradedRun) -> None:
    planted = ROOT / "grader" / "pwned_by_submission.py"
    assert not planted.exists(), "a submission wrote into the grader's code"


def test_inputs_are_never_modified(graded_examples: GradedRun) -> None:
    for path, digest in graded_examples.input_hashes.items():
        assert sha256(path) == digest, f"{path} was modified"


def test_outputs_for_graders(graded_examples: GradedRun) -> None:
    key = output_key(Path("blank_export.zip"))  # a zip's files get a key of their own
    assert key.startswith("blank_export-")
    assert (graded_examples.out / "pdfs" / f"{key}.pdf").is_file()
    executed = nbformat.read(graded_examples.out / "executed" / "solution.ipynb", as_version=4)
    assert any(cell.get("outputs") for cell in executed.cells)
    assert (graded_examples.out / "feedback" / "hostile.md").is_file()


def test_crash_and_hang_are_reported(tmp_path) -> None:
    def notebook(name: str, source: str):
        path = tmp_path / name
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), path)
        return path

    crash = notebook("crash.ipynb", "import os\nos._exit(1)")
    hang = notebook("hang.ipynb", "while True:\n    pass")
    run = run_grader([crash, hang], tmp_path / "out", "--timeout", "20")
    assert run.rows["crash.ipynb"]["status"] == "error"
    assert "kernel died" in run.rows["crash.ipynb"]["message"]
    assert run.rows["hang.ipynb"]["status"] == "timeout"
    assert points(run, "hang.ipynb", "total") == 0


def test_grade_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "grader", "grade", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "--timeout" in result.stdout


def test_canvas_bulk_download(graded_examples: GradedRun, tmp_path: Path) -> None:
    out = graded_examples.out
    assert (out / "pdfs" / "doejane_101_201_homework.pdf").read_bytes() == b"%PDF-1.4 jane"
    assert "only a PDF" in graded_examples.rows["roejohn_LATE_102_203_homework.pdf"]["message"]
    assert not (out / "canvas_grades.csv").exists()  # written answers not marked yet
    shutil.copytree(out / "results", tmp_path / "results")
    command = [sys.executable, "-m", "grader", "report", "--out", str(tmp_path), "--partial"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    with (tmp_path / "canvas_grades.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["Student", "ID"]
    assert rows[1:] == [["doejane", "101", "", "", "", "0"], ["roejohn", "102", "", "", "", "0"]]
