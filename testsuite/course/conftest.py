"""Fixtures shared by the tests of the checks modules."""

from typing import Any

import pytest

from grader.grade.data import default_data_dir
from grader.judge.exported_answers import load_exported_answers
from testsuite.helpers import COURSE, question_module

q5 = question_module("q5")


@pytest.fixture(scope="session", autouse=True)
def q5_test_set() -> None:
    """The judge's MNIST test set, loaded as grading loads it (``prepare`` with the data)."""
    q5.prepare(default_data_dir(COURSE.data))


@pytest.fixture(scope="session")
def q5_reference(graded_examples) -> dict[str, Any]:
    """The Q5 reference networks and curves, trained once per test run.

    They come from grading ``examples/solution.ipynb`` (the root conftest's ``graded_examples``):
    the notebook's own ``q5-run`` cell trained them in the sandbox, so the tests check exactly
    what a student running the reference would submit. Keys are the notebook's names.
    """
    data = load_exported_answers(graded_examples.out / "answers" / "solution")
    models = {name: data.model(name) for name in q5.MODELS}
    curves = {name: [tuple(pair) for pair in data.value(name)] for name in q5.VALUES}
    return models | curves
