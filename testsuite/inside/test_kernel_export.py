"""The in-kernel exporter and the judge's loader, run in-process on a hand-made namespace."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from grader.inside.kernel_export import export_answers
from grader.judge.exported_answers import ExportUnreadable, load_exported_answers
from grader.judge.modelspec import Scale
from grader.judge.protocol import export_request, question_modules
from testsuite.helpers import COURSE


class Doubler(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x


class FixedAddModule(nn.Module):
    def __init__(self, use_good_weights: bool = False):
        super().__init__()
        self.layer_1 = nn.Linear(2, 1)
        if use_good_weights:
            with torch.no_grad():
                self.layer_1.weight.fill_(1.0)
                self.layer_1.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer_1(x)


QUESTIONS = ["q1", "q2", "q4", "q5"]


def exported(tmp_path: Path, namespace: dict, q1_inputs: dict | None = None) -> Path:
    request = export_request(question_modules(COURSE, QUESTIONS))
    for probe in request["probes"]:
        if probe["name"] == "q1" and q1_inputs is not None:
            probe["inputs"] = q1_inputs
    out = tmp_path / "export"
    export_answers(namespace, str(out), request)
    return out


def test_values_models_files_and_probe_round_trip(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("q5_batchnorm_mnist.png").write_bytes(b"\x89PNG fake")
    model = nn.Sequential(Scale(1e-3), nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    namespace = {
        "q4_1_kernel_1": (229, 229),
        "q4_3_shapes": ((28, 28), (256, 256)),
        "q2_best_test_mse": np.float64(3e6),
        "q5_plain_curve": [(0, torch.tensor(0.1)), (20, 0.5)],
        "q2_model": model,
        "FixedAddModule": FixedAddModule,
    }
    q1_inputs = {"pairs": [[1.0, 2.0]], "other_weight": [[2.0, 3.0]], "other_bias": 0.5}
    data = load_exported_answers(exported(tmp_path, namespace, q1_inputs))
    assert data.value("q4_1_kernel_1") == [229, 229]
    assert data.value("q4_3_shapes") == [[28, 28], [256, 256]]
    assert data.value("q2_best_test_mse") == 3e6
    assert data.value("q5_plain_curve") == [[0, pytest.approx(0.1)], [20, 0.5]]
    x = torch.randn(3, 2)
    assert torch.equal(data.model("q2_model")(x), model.eval()(x))
    assert data.file("q5_batchnorm_mnist.png") == b"\x89PNG fake"
    assert data.probe("q1") == {
        "weight": [[1.0, 1.0]],
        "bias": [0.0],
        "outputs": [[3.0]],
        "other_outputs": [[8.5]],
    }


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (Doubler(), "not a torch.nn.Sequential"),
        (nn.Sequential(nn.Linear(2, 2), Doubler()), "layer 1 (Doubler) is not one of the allowed"),
        (nn.Sequential(nn.Conv1d(1, 1, 1)), "layer 0 (Conv1d) is not one of the allowed"),
    ],
)
def test_models_outside_the_whitelist_are_not_exported(tmp_path: Path, model, reason) -> None:
    data = load_exported_answers(exported(tmp_path, {"q2_model": model}))
    assert "q2_model" not in data.models
    with pytest.raises(AssertionError, match=re.escape(reason)):
        data.model("q2_model")


def test_unexportable_values_and_broken_probe_are_reported(tmp_path: Path) -> None:
    class Broken(nn.Module):
        def __init__(self, use_good_weights: bool = False):
            raise RuntimeError("boom")

    namespace = {"q4_1_kernel_1": print, "FixedAddModule": Broken}
    data = load_exported_answers(exported(tmp_path, namespace))
    with pytest.raises(AssertionError, match="cannot be graded"):
        data.value("q4_1_kernel_1")
    with pytest.raises(AssertionError, match="boom"):
        data.probe("q1")
    with pytest.raises(AssertionError, match="not defined"):
        data.value("q4_2_kernel_1")


def test_missing_export_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ExportUnreadable):
        load_exported_answers(tmp_path)
