"""Q1 hidden checks: on hand-made probe results, and on modules run through the real probe."""

from pathlib import Path

import pytest
import torch

from grader.judge.exported_answers import ExportedAnswers
from testsuite.helpers import export_in_process, judged_feedback, question_module

q1 = question_module("q1")

INPUTS = q1.probe_inputs(seed=7)
PAIRS = torch.tensor(INPUTS["pairs"])


def probed(outputs, weight=((1.0, 1.0),), bias=(0.0,), other_outputs=None) -> ExportedAnswers:
    if other_outputs is None:
        other_weight = torch.tensor(INPUTS["other_weight"])
        other_bias = 0.0 if bias is None else INPUTS["other_bias"]
        other_outputs = (PAIRS @ other_weight.T + other_bias).tolist()
    probe = {
        "weight": [list(w) for w in weight],
        "bias": bias if bias is None else list(bias),
        "outputs": outputs,
        "other_outputs": other_outputs,
    }
    return ExportedAnswers(probes={"q1": probe}, grader_inputs={"q1": INPUTS})


def correct_sums() -> list[list[float]]:
    return PAIRS.sum(dim=1, keepdim=True).tolist()


def test_probe_inputs_reach_1e6() -> None:
    assert max(abs(x) for pair in INPUTS["pairs"] for x in pair) >= 1e6
    assert q1.probe_inputs(seed=1) != q1.probe_inputs(seed=2)


def test_identity_module_passes() -> None:
    q1.check_adds_any_magnitude(probed(correct_sums()))
    q1.check_good_weights(probed(correct_sums()))


def test_hardtanh_fails_both() -> None:
    clamped = torch.tensor(correct_sums()).clamp(-1, 1).tolist()
    with pytest.raises(AssertionError, match="sums are wrong"):
        q1.check_adds_any_magnitude(probed(clamped))
    with pytest.raises(AssertionError, match="not fixed"):
        q1.check_good_weights(probed(clamped))


@pytest.mark.parametrize(("weight", "bias"), [(((1.0, 0.9),), (0.0,)), (((1.0, 1.0),), (0.5,))])
def test_wrong_weights_fail(weight, bias) -> None:
    with pytest.raises(AssertionError, match="should be"):
        q1.check_good_weights(probed(correct_sums(), weight, bias))


def test_forged_outputs_for_other_inputs_fail() -> None:
    with pytest.raises(AssertionError):
        q1.check_adds_any_magnitude(probed([[2e6]] * len(PAIRS)))


def test_garbage_outputs_fail_cleanly() -> None:
    with pytest.raises(AssertionError):
        q1.check_adds_any_magnitude(probed("not numbers"))
    with pytest.raises(AssertionError, match="could not be probed"):
        q1.check_adds_any_magnitude(ExportedAnswers(grader_inputs={"q1": INPUTS}))


def test_output_that_ignores_other_weights_fails() -> None:
    with pytest.raises(AssertionError, match="does not compute its output with layer_1"):
        q1.check_adds_any_magnitude(probed(correct_sums(), other_outputs=correct_sums()))


# Whole modules, through the real probe (the exporter run here) and the real hidden tests.

LINEAR_FORWARD = "    def forward(self, x):\n        return self.layer_1(x)\n"
MODULES = {
    "bias-free": (
        "class FixedAddModule(torch.nn.Module):\n"
        "    def __init__(self, use_good_weights=False):\n"
        "        super().__init__()\n"
        "        self.layer_1 = torch.nn.Linear(2, 1, bias=False)\n"
        "        if use_good_weights:\n"
        "            with torch.no_grad():\n"
        "                self.layer_1.weight.fill_(1.0)\n" + LINEAR_FORWARD
    ),
    "scalar bias": (
        "class FixedAddModule(torch.nn.Module):\n"
        "    def __init__(self, use_good_weights=False):\n"
        "        super().__init__()\n"
        "        self.layer_1 = torch.nn.Linear(2, 1)\n"
        "        if use_good_weights:\n"
        "            self.layer_1.weight = torch.nn.Parameter(torch.ones(1, 2))\n"
        "            self.layer_1.bias = torch.nn.Parameter(torch.tensor(0.0))\n" + LINEAR_FORWARD
    ),
    "bypass": (
        "class FixedAddModule(torch.nn.Module):\n"
        "    def __init__(self, use_good_weights=False):\n"
        "        super().__init__()\n"
        "        self.layer_1 = torch.nn.Linear(2, 1)\n"
        "        if use_good_weights:\n"
        "            with torch.no_grad():\n"
        "                self.layer_1.weight.fill_(1.0)\n"
        "                self.layer_1.bias.zero_()\n"
        "    def forward(self, x):\n"
        "        return x.sum(dim=1, keepdim=True)\n"
    ),
}


def graded(tmp_path: Path, source: str) -> tuple[dict[str, float], str]:
    namespace = {"torch": torch}
    exec(source, namespace)
    data = export_in_process(namespace, tmp_path / "answers", ["q1"], {"q1": INPUTS})
    return judged_feedback(data, "q1")


@pytest.mark.parametrize("name", ["bias-free", "scalar bias"])
def test_exact_adder_without_a_bias_vector_earns_the_point(tmp_path: Path, name: str) -> None:
    points, feedback = graded(tmp_path, MODULES[name])
    assert points == {"q1": 0.5}  # all of its autograded points
    assert "## q1: 0.5 / 0.5" in feedback
    assert "- PASS good_weights (0.25/0.25)" in feedback


def test_module_that_bypasses_layer_1_earns_nothing(tmp_path: Path) -> None:
    points, feedback = graded(tmp_path, MODULES["bypass"])
    assert points == {"q1": 0.0}
    other = INPUTS["other_weight"][0]
    expected_line = (
        "- FAIL adds_any_magnitude (0/0.25): FixedAddModule does not compute its output with "
        f"layer_1: with layer_1's weights set to {other} and bias {INPUTS['other_bias']:g}, it "
        "gives "
    )
    assert expected_line in feedback
    assert "Keep layer_1 as the linear layer that adds" in feedback
    assert "- FAIL good_weights (0/0.25): the weights are right, but the module is not fixed" in (
        feedback
    )
