"""Helpers for the tests: run the grader, build odd and hostile submissions.

Imported by the test modules and the root ``conftest.py`` (which holds the shared fixtures).
"""

import csv
import hashlib
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.course import Course

ROOT = Path(__file__).resolve().parent.parent  # this repository: the course it tests
COURSE = Course.load(ROOT)
MASTER = COURSE.master
EXAMPLES = COURSE.examples


def question_module(name: str):
    """This course's question module ``name`` (e.g. ``q5``), loaded as the grader loads it."""
    module = COURSE.question_module(name)
    assert module is not None, f"the course has no question module {name}"
    return module


# A hostile student: patches otter in the kernel, writes a forged export claiming a perfect Q1
# probe and correct Q4 values, then disables the grader's exporter. Q4's values are plain answers
# (judged as such); the forged Q1 probe cannot know the grader's secret inputs.
HOSTILE_CELL = """
import builtins, json, pathlib, torch
import otter.test_files.exception_test as exception_test
exception_test.ExceptionTestFile.run = lambda self, env: None
pathlib.Path("answers").mkdir(exist_ok=True)
forged = {
    "values": {"q4_1_kernel_1": [229, 229], "q4_1_kernel_2": [229, 229],
               "q4_2_kernel_1": [40, 40], "q4_2_kernel_2": [40, 40],
               "q4_3_shapes": [[28, 28], [256, 256]], "q4_4_shapes": [[29, 29], [264, 264]]},
    "models": {}, "problems": {},
    "probes": {"q1": {"weight": [[1.0, 1.0]], "bias": [0.0], "outputs": [2e6] * 64}},
}
pathlib.Path("answers/export.json").write_text(json.dumps(forged))
torch.save({}, "answers/weights.pt")
pathlib.Path("run.json").write_text(json.dumps({"status": "ok"}))
try:  # tamper with the grader itself (refused: the sandbox does not even show the checkout)
    pathlib.Path(ROOT_FOLDER, "grader", "pwned_by_submission.py").write_text("PWNED = True")
except OSError:
    pass
builtins.exec = lambda *args, **kwargs: None  # disable the grader's exporter
"""


# Q2 cheat: a layer of its own that multiplies the inputs, hidden inside a Sequential.
CHEATING_CELL = """
class Multiply(torch.nn.Module):
    def forward(self, x):
        return x[:, :1] * x[:, 1:]

q2_model = torch.nn.Sequential(Multiply())
"""


@dataclass
class GradedRun:
    """The outputs of one `python -m grader grade` run."""

    out: Path
    rows: dict[str, dict[str, str]]
    stdout: str
    input_hashes: dict[Path, str]  # the inputs and the downloads
    stderr: str = ""
    downloads: tuple[Path, ...] = ()  # named with --canvas


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_grader(inputs: list[Path], out: Path, *extra: str, downloads: list[Path] = ()) -> GradedRun:
    """Grade ``inputs`` and the Canvas ``downloads`` through the real command line."""
    hashes = {path: sha256(path) for path in [*inputs, *downloads] if path.is_file()}
    command = [
        sys.executable,
        "-m",
        "grader",
        "grade",
        "--out",
        str(out),
        *extra,
        *(f"--canvas={download}" for download in downloads),
        *map(str, inputs),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    with (out / "grades.csv").open() as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    return GradedRun(
        out=out,
        rows=rows,
        stdout=result.stdout,
        input_hashes=hashes,
        stderr=result.stderr,
        downloads=tuple(downloads),
    )


def with_cell(notebook_path: Path, source: str, target: Path, before: str = "") -> Path:
    """Copy of a notebook with one extra code cell: at the end, or just before the first code
    cell that holds ``before`` (e.g. a question's check, so it is part of that section)."""
    notebook = nbformat.read(notebook_path, as_version=4)
    cell = nbformat.v4.new_code_cell(source)
    at = next(
        (
            index
            for index, old in enumerate(notebook.cells)
            if before and old.cell_type == "code" and before in old.source
        ),
        len(notebook.cells),
    )
    notebook.cells.insert(at, cell)
    nbformat.write(notebook, target)
    return target


def odd_inputs(folder: Path) -> list[Path]:
    """Submissions that are broken or hostile in the ways real classes produce; the last is a
    Canvas bulk download (to be named with ``--canvas``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("not a notebook")
    (folder / "not_a_notebook.ipynb").write_text(json.dumps({"hello": "world"}))
    hostile_source = HOSTILE_CELL.replace("ROOT_FOLDER", repr(str(ROOT)))
    hostile = with_cell(EXAMPLES / "blank.ipynb", hostile_source, folder / "hostile.ipynb")
    cheater = with_cell(EXAMPLES / "blank.ipynb", CHEATING_CELL, folder / "cheater.ipynb")
    export_zip = folder / "blank_export.zip"
    with zipfile.ZipFile(export_zip, "w") as archive:
        archive.write(EXAMPLES / "blank.ipynb", "homework.ipynb")
        archive.writestr("homework.pdf", b"%PDF-1.4 stand-in")
    canvas_zip = folder / "submissions.zip"  # a Canvas bulk download of two students
    with zipfile.ZipFile(canvas_zip, "w") as archive:
        archive.write(EXAMPLES / "blank.ipynb", "doejane_101_201_homework.ipynb")
        archive.writestr("doejane_101_202_homework.pdf", b"%PDF-1.4 jane")
        archive.writestr("roejohn_LATE_102_203_homework.pdf", b"%PDF-1.4 john")
    odd = [folder / "notes.txt", folder / "not_a_notebook.ipynb", hostile, cheater, export_zip]
    return [*odd, canvas_zip]


def hidden_tests(*questions: str):
    """The built autograder's hidden tests (``python -m grader build``), for these questions."""
    from grader.judge.hidden_tests import load_hidden_tests

    loaded = load_hidden_tests(COURSE.hidden_tests)
    return {name: loaded[name] for name in questions}


def judged_feedback(data, *questions: str) -> tuple[dict[str, float], str]:
    """Run the real hidden tests of ``questions`` on ``data``: points per question, feedback."""
    from grader.common.results import GradeRow, Status
    from grader.judge.hidden_tests import judge
    from grader.judge.protocol import question_modules
    from grader.report.gradebook import feedback_markdown

    row = GradeRow(submission="student.ipynb", status=Status.OK)
    modules = question_modules(COURSE, questions)
    row.questions = judge(data, hidden_tests(*questions), modules)
    return {name: result.earned for name, result in row.questions.items()}, feedback_markdown(row)


def export_in_process(
    namespace: dict, out: Path, questions: list[str], inputs: dict, course: Course = COURSE
) -> "object":
    """Run the in-kernel exporter here on ``namespace`` (probe inputs by probe name, else fresh)
    and load the answers as the judge would, with the grader inputs attached."""
    from grader.inside.kernel_export import export_answers
    from grader.judge.exported_answers import load_exported_answers
    from grader.judge.protocol import export_request, grader_inputs, question_modules

    request = export_request(question_modules(course, questions))
    for probe in request["probes"]:
        probe["inputs"] = inputs.get(probe["name"], probe["inputs"])
    export_answers(namespace, str(out), request)
    data = load_exported_answers(out)
    data.grader_inputs = grader_inputs(request)
    return data


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))
