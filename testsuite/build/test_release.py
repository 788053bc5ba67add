"""The student release: exactly what students need, nothing they must not see, and it works."""

import re
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader.course import OTTER_OBJECT, Course
from grader.build.release import FOLDER, RELEASE_ZIP, SINGLE_FILE, write_release
from testsuite.build.test_build import solution_lines
from testsuite.helpers import MASTER, ROOT

QUESTIONS = tuple(sorted(path.stem for path in (ROOT / "tests").glob("q*.py")))
BY_HAND = ("q3",)  # its public check only says that a person grades it


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The release of this checkout, written into a copy's dist/ (the checkout stays as is)."""
    return write_release(copy_checkout(tmp_path_factory.mktemp("course")))


def copy_checkout(root: Path) -> Course:
    """A copy of this checkout's course files, shipped or not, as a course in ``root``."""
    for name in ("course.toml", "homework.ipynb", "tests", "requirements.txt", "requirements-web.txt"):
        source = ROOT / name
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            _copy_tree(source, target)
        else:
            target.write_bytes(source.read_bytes())
    for name in ("export_pdf.sh", "pdf_export", "testsuite", "solutions", "examples", "grader"):
        source = ROOT / name  # shipped or not: the release must pick only what it should
        (_copy_tree if source.is_dir() else _copy_file)(source, root / name)
    return Course.load(root)


def _copy_file(source: Path, target: Path) -> None:
    target.write_bytes(source.read_bytes())


def _copy_tree(source: Path, target: Path) -> None:
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            _copy_file(path, target / path.relative_to(source))


def release_texts(archive_path: Path) -> dict[str, str]:
    with zipfile.ZipFile(archive_path) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_release_holds_exactly_what_students_need(release: tuple[Path, Path]) -> None:
    archive, single = release
    assert archive.name == RELEASE_ZIP and single.name == SINGLE_FILE
    names = {name.removeprefix(f"{FOLDER}/") for name in release_texts(archive)}
    assert {
        "homework.ipynb",
        "README.md",
        "requirements.txt",
        "export_pdf.sh",
        "pdf_export/templates/homework_latex/index.tex.j2",
        *(f"tests/{question}.py" for question in QUESTIONS),
    } <= names
    tops = {name.split("/")[0] for name in names}
    assert tops == {
        "homework.ipynb",
        "README.md",
        "requirements.txt",
        "requirements-web.txt",
        "export_pdf.sh",
        "pdf_export",
        "tests",
    }


TEST_CODE = re.compile(r"(^|/)(test_[^/]*\.py|[^/]*_test\.py|conftest\.py|sample_notebooks\.py)$")


def test_release_has_no_test_code(release: tuple[Path, Path], tmp_path: Path) -> None:
    """No test code ships, not even test files planted beside the shipped PDF package."""
    names = list(release_texts(release[0]))
    assert any(name.endswith("pdf_export/preprocessors.py") for name in names)
    assert not [name for name in names if TEST_CODE.search(name)]
    course = copy_checkout(tmp_path)
    for planted in ("test_planted.py", "conftest.py", "templates/planted_test.py"):
        (course.root / "pdf_export" / planted).write_text("def test_x(): pass\n")
    planted_names = list(release_texts(write_release(course)[0]))
    assert sorted(planted_names) == sorted(names)


def test_release_has_no_solution_no_hidden_test_no_grader(release: tuple[Path, Path]) -> None:
    secret = solution_lines(nbformat.read(MASTER, as_version=4))
    assert len(secret) > 10
    texts = release_texts(release[0])
    texts["single-file.ipynb"] = release[1].read_text()
    for name, text in texts.items():
        assert not secret & shown_lines(name, text), name
        assert "hidden=True" not in text and "grader.judge.protocol" not in text, name
        assert "BEGIN SOLUTION" not in text and "# SOLUTION" not in text, name
    assert not [n for n in texts if "examples/" in n or "solutions/" in n or "grader/" in n]


def shown_lines(name: str, text: str) -> set[str]:
    """The stripped lines a student sees: cell sources for a notebook, else the file's lines."""
    if name.endswith(".ipynb"):
        text = "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
    return {line.strip() for line in text.splitlines()}


def run_check_cells(notebook_path: Path) -> dict[str, str]:
    """Execute the Otter set-up cell and every checker.check cell; returns their text output."""
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code"
        and ("otter.Notebook(" in cell.source or f"{OTTER_OBJECT}.check(" in cell.source)
    ]
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(notebook_path.parent)}},
    )
    client.execute()
    outputs = {}
    for cell in notebook.cells[1:]:
        text = "".join(
            o.get("text", "") + o.get("data", {}).get("text/plain", "") + o.get("evalue", "")
            for o in cell.outputs
        )
        outputs[cell.source.split('"')[1]] = text
    return outputs


def assert_public_tests_ran(outputs: dict[str, str]) -> None:
    """Each check found its test file and ran it (the blank notebook fails them, with reasons)."""
    assert sorted(outputs) == list(QUESTIONS)
    for question, text in outputs.items():
        assert f"{question} results:" in text, text
        assert "does not exist" not in text, text
        if question in BY_HAND:
            assert "graded by hand" in text, text
        else:
            assert "Test case failed" in text, text


@pytest.mark.slow
def test_unpacked_release_runs_its_public_tests(release: tuple[Path, Path], tmp_path: Path) -> None:
    with zipfile.ZipFile(release[0]) as archive:
        archive.extractall(tmp_path)
    assert_public_tests_ran(run_check_cells(tmp_path / FOLDER / "homework.ipynb"))


@pytest.mark.slow
def test_single_file_notebook_runs_its_public_tests_alone(
    release: tuple[Path, Path], tmp_path: Path
) -> None:
    notebook = tmp_path / "homework.ipynb"  # a folder holding only the notebook
    notebook.write_bytes(release[1].read_bytes())
    assert_public_tests_ran(run_check_cells(notebook))
    assert sorted(p.name for p in (tmp_path / "tests").iterdir()) == [
        f"{question}.py" for question in QUESTIONS
    ]
