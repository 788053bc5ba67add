"""Written items and rubrics from the master; a student's answer found wherever it was moved."""

import copy
from pathlib import Path

import nbformat
import pytest

from grader.report.written import (
    RubricError,
    WrittenItem,
    answer_text,
    is_unanswered,
    written_items,
)
from testsuite.helpers import MASTER, ROOT

ITEMS = written_items(MASTER)
BY_KEY = {item.key: item for item in ITEMS}


def student() -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "homework.ipynb", as_version=4)


def answer_cell(notebook: nbformat.NotebookNode, item: WrittenItem) -> int:
    return next(
        i for i, cell in enumerate(notebook.cells) if cell.source.startswith(f"**{item.label}")
    )


def test_master_written_items_points_and_rubrics() -> None:
    points = {item.key: item.max_points for item in ITEMS}
    assert points == {
        "q1_explanation": 0.5, "q2_difficulties": 0.5, "q3": 2.0,
        "q4_explanation": 0.5, "q5_analysis": 1.0,
    }  # fmt: skip
    assert [item.question for item in ITEMS] == ["q1", "q2", "q3", "q4", "q5"]
    assert BY_KEY["q5_analysis"].figure == "q5_batchnorm_mnist.png"
    assert BY_KEY["q1_explanation"].figure is None
    for item in ITEMS:
        assert item.title.startswith(item.question.upper() + ":")
        assert item.reference and "$" in item.reference + "$"
        assert not item.reference.startswith("**")  # the label is not part of the reference
        assert "Type your answer here" in item.template
        # A full mark is reachable, and every item's points fit in the maximum.
        assert max(rubric.points for rubric in item.rubric) == item.max_points
        assert all(abs(rubric.points) <= item.max_points for rubric in item.rubric)
        assert all(rubric.text for rubric in item.rubric)
    assert any(rubric.points < 0 for item in ITEMS for rubric in item.rubric)


def test_blank_notebook_is_unanswered_and_solution_answered() -> None:
    blank, solution = student(), nbformat.read(ROOT / "examples/solution.ipynb", as_version=4)
    for item in ITEMS:
        assert is_unanswered(answer_text(blank, item), item)
        answer = answer_text(solution, item)
        assert answer == item.reference and not is_unanswered(answer, item)


def test_answer_found_after_cells_are_moved_and_added() -> None:
    notebook = student()
    item = BY_KEY["q3"]
    cell = notebook.cells.pop(answer_cell(notebook, item))
    cell.source = cell.source.replace("_Type your answer here, replacing this text._", "No: ...")
    notebook.cells.insert(0, cell)  # moved to the top
    notebook.cells.insert(1, nbformat.v4.new_markdown_cell("my notes"))
    assert answer_text(notebook, item) == "No: ..."
    assert is_unanswered(answer_text(notebook, BY_KEY["q1_explanation"]), BY_KEY["q1_explanation"])


def test_copied_answer_cell_keeps_the_answered_copies() -> None:
    notebook = student()
    item = BY_KEY["q5_analysis"]
    index = answer_cell(notebook, item)
    copy_ = copy.deepcopy(notebook.cells[index])
    copy_.source = "**Q5 ANALYSIS:**   It worked."  # case and spacing differ
    notebook.cells.insert(index + 1, copy_)
    assert answer_text(notebook, item) == "It worked."


def test_missing_cell_is_none_and_unanswered() -> None:
    notebook = student()
    item = BY_KEY["q4_explanation"]
    del notebook.cells[answer_cell(notebook, item)]
    assert answer_text(notebook, item) is None
    assert is_unanswered(None, item)


@pytest.mark.parametrize(
    ("answer", "unanswered"),
    [
        ("", True),
        ("   \n", True),
        ("_type your   answer here, REPLACING this text._", True),
        ("Type your answer here, replacing this text.", True),
        ("**Q1 (a) answer:** _Type your answer here, replacing this text._", True),
        ("No.", False),
        ("_Type your answer here, replacing this text._ No, Hardtanh clamps.", False),
    ],
)
def test_is_unanswered(answer: str, unanswered: bool) -> None:
    assert is_unanswered(answer, BY_KEY["q1_explanation"]) is unanswered


def test_pdf_export_labels_the_same_cells() -> None:
    """The PDF's index for the TA and the marking page find the answers by the same labels."""
    from pdf_export.preprocessors import mark_for_grader

    index = mark_for_grader(student())
    labels = [entry["label"] for entry in index if entry["kind"] == "markdown"]
    assert labels == [f"{item.label} (not answered)" for item in ITEMS]
    solution = nbformat.read(ROOT / "examples/solution.ipynb", as_version=4)
    index = mark_for_grader(solution)  # its rubric cells ("**Q5 analysis rubric**") are no answers
    assert [entry["label"] for entry in index if entry["kind"] == "markdown"] == [
        item.label for item in ITEMS
    ]


def _master_with(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the master with ``old`` replaced in the first cell that holds it."""
    master = nbformat.read(MASTER, as_version=4)
    cell = next(cell for cell in master.cells if old in cell.source)
    cell.source = cell.source.replace(old, new, 1)
    path = tmp_path / "master.ipynb"
    nbformat.write(master, path)
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    points: 0.5\n", "    points: 5\n", "outside"),
        ("  - key: verdict_only", "  - key: correct", "unique"),
        ("  - key: verdict_only", "  - key: no", "quote it"),
        ('```yaml\ntitle: "Q1', '```text\ntitle: "Q1', "no ```yaml rubric"),
        ("name: q1_explanation\npoints: 0.5", "name: q1_explanation", "points above 0"),
        ("**Q1 (a) answer:** _Type", "Q1 (a) answer: _Type", "bold label"),
    ],
)
def test_malformed_rubric_is_refused(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(RubricError, match="q1_explanation") as refused:
        written_items(_master_with(tmp_path, old, new))
    assert message in str(refused.value)
