"""The public checks (tests/qN.py, from the master notebook) speak to students.

On the blank notebook, as the grader executed it, each question's check says in one line what
is still missing, with no Python internals; Q3's check says it is graded by hand.
"""

import re

import nbformat
import pytest

from grader.course import OTTER_OBJECT
from testsuite.helpers import GradedRun

INTERNALS = re.compile(r"NoneType|ellipsis|unpack|Traceback|object has no attribute")


def check_outputs(graded: GradedRun, submission: str) -> dict[str, str]:
    """{question: text printed by its checker.check cell} of an executed example."""
    notebook = nbformat.read(graded.out / "executed" / f"{submission}.ipynb", as_version=4)
    found = {}
    for cell in notebook.cells:
        match = re.fullmatch(rf'{OTTER_OBJECT}\.check\("(q\d)"\)', cell.source.strip())
        if cell.cell_type == "code" and match:
            found[match.group(1)] = "\n".join(
                str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
                for out in cell.outputs
            )
    return found


@pytest.mark.slow
def test_blank_notebook_checks_say_what_is_missing(graded_examples: GradedRun) -> None:
    checks = check_outputs(graded_examples, "blank")
    assert sorted(checks) == ["q1", "q2", "q3", "q4", "q5"]
    expected = {
        "q1": "FixedAddModule is not finished",
        "q2": "still to do: q2_model, q2_best_train_mse, q2_best_test_mse",
        "q4": "still to do: q4_1_kernel_1, q4_1_kernel_2, q4_2_kernel_1",
        "q5": "still to do: q5_plain_model, q5_bn_model, q5_plain_curve, q5_bn_curve",
    }
    for question, message in expected.items():
        text = checks[question]
        assert text.count("❌") == 1, f"{question}: one failed check, got:\n{text}"
        assert f"AssertionError: {message}" in text, text
        assert not INTERNALS.search(text), f"{question} shows Python internals:\n{text}"
    assert "graded by hand" in checks["q3"] and "❌" not in checks["q3"]


@pytest.mark.slow
def test_solution_passes_every_public_check(graded_examples: GradedRun) -> None:
    checks = check_outputs(graded_examples, "solution")
    assert sorted(checks) == ["q1", "q2", "q3", "q4", "q5"]
    for question, text in checks.items():
        assert "All test cases passed" in text, f"{question}:\n{text}"
