"""Q1 hidden checks on hand-made probe results."""

import pytest
import torch

from grader.checks import q1
from grader.exported_answers import ExportedAnswers

INPUTS = q1.probe_inputs(seed=7)


def probed(outputs, weight=((1.0, 1.0),), bias=(0.0,)) -> ExportedAnswers:
    probe = {"weight": [list(w) for w in weight], "bias": list(bias), "outputs": outputs}
    return ExportedAnswers(probes={"q1": probe}, grader_inputs={"q1_inputs": INPUTS})


def correct_sums() -> list[list[float]]:
    return torch.tensor(INPUTS).sum(dim=1, keepdim=True).tolist()


def test_probe_inputs_reach_1e6() -> None:
    assert max(abs(x) for pair in INPUTS for x in pair) >= 1e6
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
        q1.check_adds_any_magnitude(probed([[2e6]] * len(INPUTS)))


def test_garbage_outputs_fail_cleanly() -> None:
    with pytest.raises(AssertionError):
        q1.check_adds_any_magnitude(probed("not numbers"))
    with pytest.raises(AssertionError, match="could not be graded"):
        q1.check_adds_any_magnitude(ExportedAnswers(grader_inputs={"q1_inputs": INPUTS}))
