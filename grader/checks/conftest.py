"""Fixtures shared by the tests of the checks modules."""

from typing import Any

import pytest

from grader.checks import q5
from grader.exported_answers import load_exported_answers


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
