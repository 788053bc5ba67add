"""A second course, graded by the same grader: a toy homework of two questions, without data.

The toy course (this folder: ``course.toml``, master notebook, question modules, example
mistake) is copied to a temporary folder and driven through the command line only, with no edit
under ``grader/``: what the grader takes from the real course instead of its ``course.toml``
fails here.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.course import Course
from grader.judge.hidden_tests import load_hidden_tests, possible_points
from testsuite.grade.test_gradescope import run_autograder
from testsuite.helpers import ROOT, read_csv, run_grader, sha256

TOY = Path(__file__).resolve().parent
POINTS = {"q1": 1.0, "q2": 2.0}


def grader(*args: str) -> subprocess.CompletedProcess:
    """``python -m grader ARGS`` from the checkout, as the other tests run it."""
    command = [sys.executable, "-m", "grader", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Course:
    """The toy course, copied (the test suite's files left behind) and built."""
    root = tmp_path_factory.mktemp("toy") / "course"
    ignore = shutil.ignore_patterns("__pycache__", "__init__.py", "test_*.py")
    shutil.copytree(TOY, root, ignore=ignore)
    grader("build", "--course", str(root))
    return Course.load(root)


def test_build_writes_the_toy_course(toy: Course) -> None:
    student = nbformat.read(toy.student_notebook, as_version=4)
    code = "\n".join(cell.source for cell in student.cells if cell.cell_type == "code")
    assert "q1_total = ..." in code and "19]" not in code  # solutions stripped
    assert sorted(path.name for path in toy.public_tests.glob("q*.py")) == ["q1.py", "q2.py"]
    assert possible_points(load_hidden_tests(toy.hidden_tests)) == POINTS
    assert {"solution.ipynb", "blank.ipynb", "partly_wrong.ipynb"} <= {
        path.name for path in toy.examples.iterdir()
    }
    with zipfile.ZipFile(toy.gradescope_zip) as archive:
        names = set(archive.namelist())
        assert archive.read("requirements.txt") == toy.requirements.read_bytes()
        assert archive.read("course/course.toml") == (toy.root / "course.toml").read_bytes()
    assert {"course/solutions/questions/q1.py", "course/solutions/questions/q2.py"} <= names
    assert {"hidden_tests/q1.py", "hidden_tests/q2.py", "tests/q2.py"} <= names
    assert not [name for name in names if name.startswith("course/data.")]  # no [data]
    assert "grader/grade/gradescope_entry.py" in names


@pytest.mark.slow
def test_grade_report_and_gradescope_on_the_toy_course(toy: Course, tmp_path: Path) -> None:
    right, wrong = toy.examples / "solution.ipynb", toy.examples / "partly_wrong.ipynb"
    out = tmp_path / "out"
    run = run_grader([right, wrong], out, "--course", str(toy.root))
    assert {name: row["total"] for name, row in run.rows.items()} == {
        "solution.ipynb": "3",
        "partly_wrong.ipynb": "2",  # Q2: the right count of primes, not the right primes
    }
    assert run.rows["partly_wrong.ipynb"]["q2"] == "1" and run.rows["solution.ipynb"]["q2"] == "2"
    assert all(row["status"] == "ok" for row in run.rows.values())
    assert all(sha256(path) == digest for path, digest in run.input_hashes.items())

    (out / "grades.csv").unlink()
    grader("report", "--course", str(toy.root), "--out", str(out))
    assert {row["submission"]: row["total"] for row in read_csv(out / "grades.csv")} == {
        "partly_wrong.ipynb": "2",
        "solution.ipynb": "3",
    }
    assert "| q2 | 2 |" in (out / "class_report.md").read_text()

    results = run_autograder(tmp_path / "gradescope", {"homework.ipynb": wrong}, toy)
    assert results["score"] == 2
    hidden = {t["name"]: t["score"] for t in results["tests"] if t["visibility"] != "visible"}
    assert hidden == {"q1: total": 1, "q2: count": 1, "q2: primes": 0}
    assert "Autograded points: 2 / 3" in results["output"]
