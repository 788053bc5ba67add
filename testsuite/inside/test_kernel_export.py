"""The in-kernel exporter and the judge's loader, run in-process on a hand-made namespace."""

import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
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


class TutorialNet(nn.Module):
    """The PyTorch tutorials' style: layers as attributes, x.view and functional activations."""

    def __init__(self, batch_norm: bool = False):
        super().__init__()
        self.fc1 = nn.Linear(12, 8)
        self.norm = nn.BatchNorm1d(8) if batch_norm else nn.Identity()
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(x.size(0), -1)
        x = F.relu(self.norm(self.fc1(x)))
        x = torch.sigmoid(self.drop(x)) / 2
        return torch.tanh(self.fc2(x))


TUTORIAL_REST = ["ReLU", "Dropout", "Sigmoid", "Scale", "Linear", "Tanh"]


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.LeakyReLU(0.2))
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.elu(self.body(x), alpha=0.5)).reshape(x.shape[0], -1)


@pytest.mark.parametrize(
    ("model", "layers"),
    [
        (
            TutorialNet(),
            ["Flatten", "Linear", "Identity", *TUTORIAL_REST],
        ),
        (
            TutorialNet(batch_norm=True),
            ["Flatten", "Linear", "BatchNorm1d", *TUTORIAL_REST],
        ),
        (Nested(), ["Flatten", "Linear", "LeakyReLU", "ELU", "Linear", "Flatten"]),
        (nn.Sequential(nn.Flatten(), nn.Linear(12, 3), Doubler()), ["Flatten", "Linear", "Scale"]),
    ],
)
def test_own_modules_are_traced_into_the_same_chain(tmp_path: Path, model, layers) -> None:
    """The judge's rebuilt Sequential computes what the student's module computes."""
    model.train()(torch.randn(16, 3, 4))  # BatchNorm statistics that are not the defaults
    data = load_exported_answers(exported(tmp_path, {"q2_model": model}))
    assert [kind for kind, _ in data.models["q2_model"].layers] == layers
    x = torch.randn(5, 3, 4)
    assert torch.allclose(data.model("q2_model")(x), model.eval()(x), atol=1e-6)


def at(module: type, code: str) -> str:
    """``line N: `code``` for the line of ``module.forward`` holding ``code``."""
    lines, first = inspect.getsourcelines(module.forward)
    number = next(first + i for i, line in enumerate(lines) if line.strip() == code)
    return f"line {number}: `{code}`"


class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Product(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] * x[:, 1:]


class DataIf(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:
            return self.fc(x)
        return self.fc(-x)


class Skip(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + x


class Sine(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


class RawWeight(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (print, "it is a builtin_function_or_method, not a torch.nn.Module"),
        (nn.Sequential(nn.Conv1d(1, 1, 1)), "`layer 0`: Conv1d is not one of the allowed"),
        (
            Conv(),
            f"`self.conv`, {at(Conv, 'return self.conv(x)')}: Conv1d is not one of the allowed",
        ),
        (
            Product(),
            "Product is not a chain of allowed layers: `mul`, "
            f"{at(Product, 'return x[:, :1] * x[:, 1:]')}: it multiplies values computed from the "
            "input",
        ),
        (
            DataIf(),
            "DataIf is not a chain of allowed layers: torch.fx cannot trace its forward at "
            f"{at(DataIf, 'if x.mean() > 0:')} (symbolically traced variables cannot be used as "
            "inputs to control flow)",
        ),
        (Skip(), f"`add`, {at(Skip, 'return self.fc(x) + x')}: it uses a value computed before"),
        (Sine(), f"`sin`, {at(Sine, 'return torch.sin(x)')}: it is not one of the allowed layers"),
        (
            RawWeight(),
            f"`self.weight`, {at(RawWeight, 'return x @ self.weight')}: a tensor outside a layer",
        ),
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
