"""Example submissions in ``examples/``, derived from the master so they never drift from it.

- ``solution.ipynb``: the reference solution, as a student would submit it.
- ``blank.ipynb``: the student notebook untouched.
- ``partly_wrong.ipynb``: the solution with the mistakes a real student made (the course's
  ``MISTAKES``, in its examples module; without one, no such example is written).
- ``corrupted.ipynb``: a file that is not valid notebook JSON, to show how bad input is reported.
"""

import copy
from pathlib import Path

import nbformat

CORRUPTED = '{"cells": [{"cell_type": "code", "source": "print(1)"'


def without_answer_prompts(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop the '_Type your answer here_' cells that otter keeps beside each written solution."""
    notebook = copy.deepcopy(solution)
    notebook.cells = [
        cell
        for cell in notebook.cells
        if not (
            cell.cell_type == "markdown" and "otter_answer_cell" in cell.metadata.get("tags", [])
        )
    ]
    return notebook


def with_mistakes(
    solution: nbformat.NotebookNode, mistakes: list[tuple[str, str]]
) -> nbformat.NotebookNode:
    """Apply ``mistakes``; each must match exactly once so a changed master fails loudly."""
    notebook = copy.deepcopy(solution)
    for old, new in mistakes:
        hits = [cell for cell in notebook.cells if old in cell.source]
        if len(hits) != 1:
            raise ValueError(f"example mistake {old!r} matches {len(hits)} cells, expected 1")
        hits[0].source = hits[0].source.replace(old, new)
    return notebook


def write_examples(
    student: nbformat.NotebookNode,
    solution: nbformat.NotebookNode,
    out: Path,
    mistakes: list[tuple[str, str]],
) -> None:
    """Write the example submissions into ``out`` (replacing what was there)."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.ipynb"):
        stale.unlink()
    reference = without_answer_prompts(solution)
    nbformat.write(reference, out / "solution.ipynb")
    nbformat.write(student, out / "blank.ipynb")
    if mistakes:
        nbformat.write(with_mistakes(reference, mistakes), out / "partly_wrong.ipynb")
    (out / "corrupted.ipynb").write_text(CORRUPTED)


def notebook_until(notebook_path: Path, heading: str, target: Path) -> Path:
    """Copy of a notebook without the cells from the first markdown cell containing ``heading``.

    ``notebook_until(solution, "## Question 5", ...)`` is a complete submission that trains no
    Q5 networks: real grading in seconds instead of minutes (tests, benchmarks).
    """
    notebook = nbformat.read(notebook_path, as_version=4)
    cut = next(
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "markdown" and heading in cell.source
    )
    notebook.cells = notebook.cells[:cut]
    nbformat.write(notebook, target)
    return target
