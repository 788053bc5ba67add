"""The notebook's introduction states the grader's budgets: the numbers of grader/settings.py."""

import re

import nbformat

from grader.settings import Settings
from testsuite.helpers import COURSE


def stated_budgets(notebook_path) -> dict[str, float]:
    """The per-cell and whole-notebook minutes and the wall-clock factor the introduction gives."""
    notebook = nbformat.read(notebook_path, as_version=4)
    intro = next(cell.source for cell in notebook.cells if "how long it runs" in cell.source)
    text = " ".join(intro.split())
    cell = re.search(r"One cell may use \*\*(\d+) minutes\*\* of CPU time", text)
    whole = re.search(r"the whole notebook \*\*(\d+) minutes\*\*", text)
    factor = re.search(r"stopped after (\d+) times its limit of wall-clock time", text)
    assert cell and whole and factor, intro
    assert "on a CPU, without a GPU" in text and "hard-coded `.cuda()` fails" in text
    return {
        "cell_seconds": int(cell.group(1)) * 60,
        "notebook_seconds": int(whole.group(1)) * 60,
        "wall_factor": float(factor.group(1)),
    }


def test_the_notebook_states_the_graders_budgets() -> None:
    for path in (COURSE.master, COURSE.student_notebook):
        stated = stated_budgets(path)
        for settings in (Settings(), COURSE.settings):
            assert stated == {name: getattr(settings, name) for name in stated}, path
