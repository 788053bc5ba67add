"""The student release: what a course hands out, built from the committed student files.

``dist/student-release.zip`` holds ``homework/`` with the notebook, its public tests, the
requirements, the PDF export (``export_pdf.sh`` and its package ``pdf_export/``, no test code) and a
short README. Nothing else: no solutions,
no hidden tests, no grader. ``dist/homework-single-file.ipynb`` is the same notebook carrying
its public tests, for Colab or JupyterHub where students upload a single ``.ipynb``: its Otter
cell writes them as the ``tests/`` files ``grader.check`` reads. (otter's own notebook-metadata
tests would do on JupyterHub, but ``otter.Notebook`` refuses them on Colab, whose kernel cannot
read the notebook file.)
"""

import fnmatch
import pprint
import re
import zipfile
from pathlib import Path

import nbformat

from grader.common.zips import add_member, tree_files
from grader.course import OTTER_OBJECT, Course

RELEASE_ZIP = "student-release.zip"
SINGLE_FILE = "homework-single-file.ipynb"
FOLDER = "homework"  # the zip unpacks into one folder
EXECUTABLE = (".sh",)  # file endings that keep their execute bit
# Test code never ships, even beside shipped code (the project\'s tests live in testsuite/).
TEST_CODE = ("test_*.py", "*_test.py", "conftest.py")
INIT_MARK = "# Initialize Otter"

SINGLE_FILE_INIT = """# Initialize Otter. This single-file edition carries its public tests:
# it writes them to tests/ when that folder is missing (Colab, JupyterHub: only this file).
import pathlib

try:
    import otter
except ImportError:  # Colab does not come with otter-grader
    %pip install -q otter-grader=={otter_version}
    import otter

PUBLIC_TESTS = {tests}
for _name, _source in PUBLIC_TESTS.items():
    _path = pathlib.Path("tests", _name)
    if not _path.exists():
        _path.parent.mkdir(exist_ok=True)
        _path.write_text(_source)
{otter_object} = otter.Notebook("homework.ipynb")
"""


def shipped(course: Course) -> list[str]:
    """What the course hands out, relative to its folder (``course.toml`` ``[release] files``)."""
    return list(course.config.get("release", {}).get("files", []))


def _shipped(path: Path) -> bool:
    """Whether a file of a shipped folder ships: not a cache and not test code."""
    if "__pycache__" in path.parts or path.suffix == ".pyc":
        return False
    return not any(fnmatch.fnmatch(path.name, pattern) for pattern in TEST_CODE)


def _release_files(course: Course) -> list[Path]:
    files = []
    for name in shipped(course):
        path = course.root / name
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `grader build`")
        files += [file for file in tree_files(path) if _shipped(file)]
    return files


def student_readme(course: Course) -> Path:
    return course.root / course.config.get("release", {}).get("readme", "README.md")


def write_release_zip(course: Course) -> Path:
    """Write ``dist/student-release.zip``; returns its path."""
    course.dist.mkdir(parents=True, exist_ok=True)
    target = course.dist / RELEASE_ZIP
    with zipfile.ZipFile(target, "w") as archive:
        for path in _release_files(course):
            name = f"{FOLDER}/{path.relative_to(course.root)}"
            add_member(archive, name, path.read_bytes(), path.suffix in EXECUTABLE)
        add_member(archive, f"{FOLDER}/README.md", student_readme(course).read_bytes())
    return target


def single_file_notebook(course: Course) -> nbformat.NotebookNode:
    """The student notebook whose first code cell writes its public tests when they are absent."""
    notebook = nbformat.read(course.student_notebook, as_version=4)
    tests = {path.name: path.read_text() for path in sorted(course.public_tests.glob("*.py"))}
    init = [c for c in notebook.cells if c.cell_type == "code" and INIT_MARK in c.source]
    if len(init) != 1:
        raise ValueError(f"expected one '{INIT_MARK}' cell in the student notebook")
    pin = re.search(r"^otter-grader==(\S+)", course.requirements.read_text(), re.M)
    if pin is None:
        raise ValueError("requirements.txt does not pin otter-grader")
    init[0].source = SINGLE_FILE_INIT.format(
        tests=pprint.pformat(tests, width=100), otter_version=pin[1], otter_object=OTTER_OBJECT
    )
    return notebook


def write_release(course: Course) -> tuple[Path, Path]:
    """``grader release``: the student zip and the single-file notebook, in ``dist/``."""
    archive = write_release_zip(course)
    single = course.dist / SINGLE_FILE
    nbformat.write(single_file_notebook(course), single)
    return archive, single
