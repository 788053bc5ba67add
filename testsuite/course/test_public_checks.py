"""The public checks (tests/qN.py, from the master notebook) speak to students.

On the blank notebook, as the grader executed it, each question's check says in one line what
is still missing, with no Python internals; Q3's check says it is graded by hand.
"""

import re
from collections.abc import Callable

import nbformat
import pytest
import torch
from torch import nn

from grader.course import OTTER_OBJECT
from testsuite.course.test_q2 import IF_NET, TUTORIAL_NET, own_module_student
from testsuite.course.test_q5 import TutorialNet
from testsuite.helpers import GradedRun, question_module
from testsuite.notebook_code import MASTER_NOTEBOOK

q4 = question_module("q4")

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


def public_check(name: str) -> Callable[..., None]:
    """A public test function of the master notebook, run here on hand-made answers."""
    cells = nbformat.read(str(MASTER_NOTEBOOK), as_version=4).cells
    scope: dict = {}
    exec(next(cell.source for cell in cells if f"def {name}(" in cell.source), scope)
    return scope[name]


def test_public_checks_accept_what_the_grader_accepts() -> None:
    """Own modules traced by torch.fx, Identity/Dropout placeholders, int kernels."""
    torch.manual_seed(0)
    tutorial = (TutorialNet(), TutorialNet(batch_norm=True))
    hidden = [nn.Linear(100, 100), nn.Identity(), nn.Sigmoid(), nn.Dropout()]
    plain = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.Sigmoid(), *hidden, *hidden)
    placeholders = (nn.Sequential(*plain, nn.Linear(100, 10)), TutorialNet(batch_norm=True))
    for plain, bn in (tutorial, placeholders):
        public_check("test_architectures")(plain, bn, torch)
        public_check("test_output_shapes")(plain, bn, torch)
    q2_net = own_module_student(TUTORIAL_NET, train=False)["q2_model"]
    public_check("test_q2_model_layers")(q2_net, torch)
    public_check("test_q2_model_output_shape")(q2_net, torch)
    public_check("test_part_1_shapes")(q4.YouNet, 229, 229, torch)
    public_check("test_part_2_shapes")(q4.YouNet, 40, (40, 40), torch)


def test_public_checks_refuse_what_torch_fx_cannot_trace() -> None:
    data_if = own_module_student(IF_NET, train=False)["q2_model"]
    with pytest.raises(AssertionError, match=r"torch\.fx cannot trace q2_model.s forward"):
        public_check("test_q2_model_layers")(data_if, torch)
    with pytest.raises(AssertionError, match="q5_plain_model: expected"):
        public_check("test_architectures")(TutorialNet(batch_norm=True), TutorialNet(), torch)
