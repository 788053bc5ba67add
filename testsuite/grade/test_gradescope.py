"""The Gradescope autograder: its zip, its scripts and results.json in Gradescope's format.

The slow tests unpack ``build/gradescope.zip`` into a temporary ``/autograder``-shaped folder
and run its ``run_autograder`` here, with this venv and MNIST in place of what ``setup.sh``
installs on Gradescope.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from grader.build import gradescope_zip
from grader.common.results import CaseResult, GradeRow, QuestionResult, Status
from grader.course import Course
from grader.grade import gradescope_entry as gradescope
from grader.grade.data import verify_data_dir
from grader.judge.hidden_tests import load_hidden_tests, possible_points
from testsuite.helpers import EXAMPLES, ROOT

COURSE = Course.load(ROOT)
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
NUMBER = {"type": "number"}
TEXT = {"type": "string"}
# Gradescope's autograder specification (results.json): the documented fields and their types.
RESULTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tests"],
    "properties": {
        "score": NUMBER,
        "execution_time": NUMBER,
        "output": TEXT,
        "output_format": TEXT,
        "test_output_format": TEXT,
        "test_name_format": TEXT,
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "score", "max_score", "output", "visibility"],
                "properties": {
                    "score": NUMBER,
                    "max_score": NUMBER,
                    "status": {"enum": ["passed", "failed"]},
                    "name": TEXT,
                    "name_format": TEXT,
                    "number": TEXT,
                    "output": TEXT,
                    "output_format": TEXT,
                    "tags": {"type": "array", "items": TEXT},
                    "visibility": VISIBILITY,
                    "extra_data": {"type": "object"},
                },
            },
        },
        "leaderboard": {"type": "array"},
    },
}


def valid(results: dict) -> dict:
    jsonschema.validate(results, RESULTS_SCHEMA)
    return results


def hidden_tests() -> dict:
    return load_hidden_tests(COURSE.hidden_tests)


def test_zip_holds_scripts_grader_and_both_test_sets() -> None:
    with zipfile.ZipFile(COURSE.gradescope_zip) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert {"setup.sh", "run_autograder", "requirements.txt", "course/data.sha256"} <= names
    assert {"grader/grade/gradescope_entry.py", "grader/grade/grading.py"} <= names
    assert {"course/course.toml", "course/solutions/questions/q5.py"} <= names
    for question in ("q1", "q2", "q4", "q5"):
        assert {f"tests/{question}.py", f"hidden_tests/{question}.py"} <= names
    assert not [name for name in names if "/test_" in name or name.endswith("conftest.py")]
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111


def test_scripts_pass_shellcheck() -> None:
    scripts = [gradescope_zip.FILES / name for name in gradescope_zip.SCRIPTS.values()]
    result = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_setup_verifies_the_mnist_checksums_the_judge_expects() -> None:
    with zipfile.ZipFile(COURSE.gradescope_zip) as archive:
        sums = archive.read(gradescope_zip.DATA_CHECKSUMS).decode().split()
    assert dict(zip(sums[1::2], sums[::2], strict=True)) == COURSE.data.sha256
    assert "sha256sum --check" in (gradescope_zip.FILES / "gradescope_setup.sh").read_text()


# Stand-ins for what setup.sh calls on Gradescope's image: they log their arguments; python3.11
# makes a venv whose pip logs too; curl serves the local MNIST files (gzipped, as the mirrors do).
FAKE_COMMANDS = {
    "apt-get": 'echo "apt-get $*" >>"$LOG"',
    "python3.11": "\n".join(
        [
            'echo "python3.11 $*" >>"$LOG"',
            'mkdir -p "$3/bin"',
            """printf '#!/usr/bin/env bash\\necho "pip $*" >>"$LOG"\\n' >"$3/bin/pip\"""",
            'chmod +x "$3/bin/pip"',
        ]
    ),
    "curl": "\n".join(
        [
            'name=$(basename "${*: -1}" .gz)',
            '[ "$name" = "$CORRUPT" ] && { echo corrupted | gzip -c; exit 0; }',
            'gzip -1c "$MNIST_FROM/MNIST/raw/$name"',
        ]
    ),
}


def run_setup(tmp_path: Path, corrupt: str = "") -> subprocess.CompletedProcess:
    """setup.sh from the zip, with stand-in commands and every path under tmp_path."""
    source = tmp_path / "source"
    with zipfile.ZipFile(COURSE.gradescope_zip) as archive:
        archive.extractall(source)
    fake = tmp_path / "bin"
    fake.mkdir()
    for name, body in FAKE_COMMANDS.items():
        (fake / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (fake / name).chmod(0o755)
    env = dict(
        os.environ,
        PATH=f"{fake}:{os.environ['PATH']}",
        LOG=str(tmp_path / "log"),
        AUTOGRADER_SOURCE=str(source),
        GRADER_VENV=str(tmp_path / "venv"),
        GRADER_DATA=str(tmp_path / "data"),
        MNIST_FROM=os.environ.get("HOMEWORK_DATA_DIR", "data"),
        CORRUPT=corrupt,
    )
    return subprocess.run(
        ["bash", str(source / "setup.sh")], env=env, capture_output=True, text=True
    )


def test_setup_installs_cpu_torch_pins_and_verified_mnist(tmp_path: Path) -> None:
    result = run_setup(tmp_path)
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "log").read_text()
    assert "python3.11 python3.11-venv bubblewrap" in log
    assert f"python3.11 -m venv {tmp_path / 'venv'}" in log
    assert (
        "pip install -q --index-url https://download.pytorch.org/whl/cpu "
        "torch==2.14.1 torchvision==0.29.1" in log
    )
    assert f"pip install -q -r {tmp_path / 'source' / 'requirements.txt'}" in log
    for path in COURSE.data.sha256:
        assert f"{path}: OK" in result.stdout
    verify_data_dir(COURSE.data, tmp_path / "data")


def test_setup_fails_on_a_corrupted_mnist_download(tmp_path: Path) -> None:
    result = run_setup(tmp_path, corrupt="t10k-labels-idx1-ubyte")
    assert result.returncode != 0
    assert "t10k-labels-idx1-ubyte: FAILED" in result.stdout


def test_find_notebook(tmp_path: Path) -> None:
    assert gradescope.find_notebook(tmp_path, "homework.ipynb") == (
        None,
        "No notebook was submitted (found nothing): upload homework.ipynb.",
    )
    (tmp_path / "homework.pdf").write_bytes(b"%PDF")
    (tmp_path / "mine.ipynb").write_text("{}")
    assert gradescope.find_notebook(tmp_path, "homework.ipynb") == (tmp_path / "mine.ipynb", "")
    (tmp_path / "copy.ipynb").write_text("{}")
    path, problem = gradescope.find_notebook(tmp_path, "homework.ipynb")
    assert path is None and "Several notebooks" in problem
    (tmp_path / "homework.ipynb").write_text("{}")
    assert gradescope.find_notebook(tmp_path, "homework.ipynb") == (tmp_path / "homework.ipynb", "")


def test_results_of_a_judged_submission() -> None:
    tests = hidden_tests()
    row = GradeRow(submission="homework", status=Status.OK, message="1 cell(s) raised errors")
    row.questions["q1"] = QuestionResult(
        name="q1",
        possible=0.5,
        cases=[
            CaseResult("good_weights", 0.25, 0.25, "passed"),
            CaseResult("adds_any_magnitude", 0.25, 0.0, "wrong sum"),
        ],
    )
    public = {"q1": "q1 results: All test cases passed!", "q2": "q2 results: ... failed"}
    results = valid(gradescope.gradescope_results(row, tests, public))
    assert results["score"] == 0.25
    by_name = {test["name"]: test for test in results["tests"]}
    assert by_name["q1: adds_any_magnitude"]["output"] == "wrong sum"
    assert by_name["q1: good_weights"]["status"] == "passed"
    public_entries = [t for t in results["tests"] if t["visibility"] == "visible"]
    assert [t["status"] for t in public_entries] == ["passed", "failed"]
    assert {t["max_score"] for t in public_entries} == {0}
    hidden = [t for t in results["tests"] if t["visibility"] == "after_published"]
    assert len(hidden) == sum(len(tf.test_cases) for tf in tests.values())
    assert sum(t["max_score"] for t in hidden) == 6.5  # every hidden check, judged or not
    assert "1 cell(s) raised errors" in results["output"]


def test_results_of_a_submission_that_could_not_run() -> None:
    row = GradeRow(submission="homework", status=Status.TIMEOUT, message="ran longer than 1 s")
    results = valid(gradescope.gradescope_results(row, hidden_tests(), {}))
    assert results["score"] == 0
    assert "could not be graded (timeout): ran longer than 1 s" in results["output"]
    assert all(t["score"] == 0 and "ran longer" in t["output"] for t in results["tests"])


def test_a_failing_autograder_still_writes_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "homework.ipynb").write_text("{}")
    (tmp_path / "source" / "course").mkdir(parents=True)
    (tmp_path / "source" / "course" / "course.toml").write_text("")

    def broken(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(gradescope, "grade_with_pipeline", broken)
    assert gradescope.main(["--root", str(tmp_path)]) == 0
    results = valid(json.loads((tmp_path / "results" / "results.json").read_text()))
    assert results["score"] == 0
    assert results["output"].startswith("The autograder failed (OSError: disk full)")


def run_autograder(tmp_path: Path, submitted: dict[str, Path], course: Course = COURSE) -> dict:
    """Unpack the course's zip into an /autograder-shaped folder, submit, run run_autograder."""
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    with zipfile.ZipFile(course.gradescope_zip) as archive:
        archive.extractall(root / "source")
    for name, path in submitted.items():
        shutil.copyfile(path, root / "submission" / name)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), GRADER_PYTHON=sys.executable)
    subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, check=True)
    return valid(json.loads((root / "results" / "results.json").read_text()))


@pytest.mark.slow
def test_gradescope_gives_the_solution_full_points(tmp_path: Path) -> None:
    results = run_autograder(tmp_path, {"homework.ipynb": EXAMPLES / "solution.ipynb"})
    hidden = [t for t in results["tests"] if t["visibility"] == "after_published"]
    autograded = sum(possible_points(load_hidden_tests(COURSE.hidden_tests)).values())
    assert results["score"] == sum(t["max_score"] for t in hidden) == autograded == 6.5
    assert all(t["status"] == "passed" for t in results["tests"]), results
    assert "Autograded points: 6.5 / 6.5" in results["output"]


@pytest.mark.slow
def test_gradescope_gives_the_blank_notebook_zero(tmp_path: Path) -> None:
    results = run_autograder(tmp_path, {"homework.ipynb": EXAMPLES / "blank.ipynb"})
    assert results["score"] == 0
    public = [t for t in results["tests"] if t["visibility"] == "visible"]
    by_question = {t["name"].split(":")[0]: t for t in public}
    assert list(by_question) == ["q1", "q2", "q3", "q4", "q5"]
    assert "graded by hand" in by_question.pop("q3")["output"]  # its only public check
    assert all("results:" in t["output"] and t["status"] == "failed" for t in by_question.values())


@pytest.mark.slow
def test_gradescope_explains_a_corrupted_or_missing_notebook(tmp_path: Path) -> None:
    corrupted = run_autograder(tmp_path / "a", {"homework.ipynb": EXAMPLES / "corrupted.ipynb"})
    assert corrupted["score"] == 0
    assert "could not be graded (invalid)" in corrupted["output"]
    assert "not a notebook: invalid JSON" in corrupted["output"]
    missing = run_autograder(tmp_path / "b", {"homework.pdf": EXAMPLES / "corrupted.ipynb"})
    assert missing["score"] == 0 and missing["tests"] == []
    assert missing["output"].startswith("No notebook was submitted (found homework.pdf)")
