"""Shared fixtures: grade the example submissions once per test run and reuse the results.

Grading the reference solution trains the Q5 networks; every test that needs trained reference
models or the executed solution notebook takes them from this one run. Helpers live in
``testsuite.helpers``.
"""

from pathlib import Path

import pytest

from testsuite.helpers import EXAMPLES, GradedRun, odd_inputs, run_grader


@pytest.fixture(scope="session")
def graded_examples(tmp_path_factory: pytest.TempPathFactory) -> GradedRun:
    """The example submissions plus broken and hostile ones, graded in one run."""
    *odd, download = odd_inputs(tmp_path_factory.mktemp("inputs"))
    inputs = sorted(EXAMPLES.glob("*.ipynb")) + odd
    return run_grader(inputs, tmp_path_factory.mktemp("graded"), downloads=[download])


@pytest.fixture(scope="session")
def executed_solution_notebook(graded_examples: GradedRun) -> Path:
    """The reference solution as the grader executed it: outputs and figures included."""
    return graded_examples.out / "executed" / "solution.ipynb"


@pytest.fixture(scope="session")
def reference_sentences() -> list[str]:
    """One plain sentence of each written reference answer (Q1, Q2, Q3, Q4, Q5)."""
    return [
        "Removing the activation (identity) leaves the linear unit",
        "The difficulty is scale.",
        "Fix any finite simple network with any weights; it fails on large inputs.",
        "so the transposed convolution cannot know the input had 257 rows",
        "BN makes the network learn much faster",
    ]
