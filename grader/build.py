"""Generate everything that follows from the master notebook.

``solutions/homework.ipynb`` (otter assign format) -> ``homework.ipynb`` and ``tests/`` (committed,
for students), ``examples/`` (committed example submissions), ``build/autograder/`` (ignored:
hidden tests) and ``build/gradescope.zip`` (ignored: the Gradescope autograder; otter's own
``generate`` is off because its zip would run the judge in the student's process).
``check_generated`` regenerates into a temporary folder and lists drifted files.
"""

import filecmp
import shutil
import tempfile
from pathlib import Path

import nbformat
from otter.assign import main as otter_assign

from grader import course
from grader.course import Course
from grader.examples import write_examples
from grader.gradescope import write_gradescope_zip

ROOT = Path(__file__).resolve().parent.parent  # this checkout (tests); the CLI takes --course
MASTER = ROOT / course.MASTER
STUDENT_NOTEBOOK = course.STUDENT_NOTEBOOK
COMMITTED_OUTPUTS = ("homework.ipynb", "tests", "examples")
AUTOGRADER_DIR = Path("build") / "autograder"


def normalise(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Deterministic cell ids and no outputs, so regenerating gives byte-identical files."""
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index:03d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook


def run_otter_assign(work: Path, master: Path = MASTER) -> Path:
    """Run otter assign on the master notebook; returns its output folder."""
    result = work / "otter"
    otter_assign(str(master), str(result), no_pdfs=True, no_run_tests=True)
    return result


def generate(root: Path, master: Path = MASTER) -> None:
    """Write the student notebook, public tests, examples and autograder bundle under ``root``."""
    with tempfile.TemporaryDirectory() as tmp:
        otter = run_otter_assign(Path(tmp), master)
        student = normalise(nbformat.read(otter / "student" / STUDENT_NOTEBOOK, as_version=4))
        nbformat.write(student, root / STUDENT_NOTEBOOK)
        _replace_dir(otter / "student" / "tests", root / "tests")
        solution = normalise(nbformat.read(otter / "autograder" / STUDENT_NOTEBOOK, as_version=4))
        write_examples(student, solution, root / "examples")
        _replace_dir(otter / "autograder", root / AUTOGRADER_DIR)


def build_course(course: Course) -> None:
    """``grader build``: every generated file of ``course`` and its Gradescope zip."""
    generate(course.root, course.master)
    write_gradescope_zip(course)


def _replace_dir(source: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target)


def _tree_files(path: Path) -> set[str]:
    if path.is_file():
        return {""}
    return (
        {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}
        if path.exists()
        else set()
    )


def check_generated(root: Path = ROOT, master: Path = MASTER) -> list[str]:
    """Committed generated files that differ from a fresh generation (empty list: no drift)."""
    drifted = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh, master)
        for name in COMMITTED_OUTPUTS:
            for rel in sorted(_tree_files(fresh / name) | _tree_files(root / name)):
                ours, theirs = root / name / rel, fresh / name / rel
                if not (ours.is_file() and theirs.is_file() and filecmp.cmp(ours, theirs, False)):
                    drifted.append(str(Path(name) / rel))
    return drifted
