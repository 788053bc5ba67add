"""Tests of the Q5 checks: the reference passes, the known failure modes fail.

Fast tests use hand-made models, curves and images. The slow ones use the reference networks
trained once per run (``q5_reference`` in conftest.py) and one more full training on images
multiplied by 0, the hand-out's bug (about a minute each on two idle cores).
"""

import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from grader.grade.data import default_data_dir, verify_data_dir
from grader.judge.exported_answers import ExportedAnswers
from grader.judge.modelspec import spec_from_module
from testsuite import notebook_code
from testsuite.helpers import (
    COURSE,
    export_in_process,
    hidden_tests,
    judged_feedback,
    question_module,
)

q5 = question_module("q5")

PLAIN_TOO_LOW = re.escape(f"below {q5.PLAIN_MIN_ACCURACY}")
BN_TOO_LOW = re.escape(f"below {q5.BN_MIN_ACCURACY}")
ALL_CHECKS = [
    q5.check_plain_architecture,
    q5.check_bn_architecture,
    q5.check_plain_accuracy,
    q5.check_bn_accuracy,
    q5.check_bn_ahead_early,
    q5.check_curves,
    q5.check_figure,
]


@contextmanager
def session_threads() -> Iterator[None]:
    """Restore the session's thread count (the q5-lib cell sets 1 for its two training threads)."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@cache
def lib() -> dict[str, Any]:
    with session_threads():
        return notebook_code.exec_tagged_cells(notebook_code.MASTER_NOTEBOOK, "q5-lib")


def mlp(hidden_block: Callable[[int], list[nn.Module]], flatten: bool = True) -> nn.Sequential:
    """784-100-100-100-10 with a given hidden block after each hidden Linear."""
    layers: list[nn.Module] = [nn.Flatten()] if flatten else []
    for width in (784, 100, 100):
        layers += [nn.Linear(width, 100), *hidden_block(100)]
    return nn.Sequential(*layers, nn.Linear(100, 10))


@cache
def png(draw: bool = True, size: tuple[int, int] = (640, 480)) -> bytes:
    """A line plot as PNG bytes, or a blank (single-colour) image of the same size."""
    buffer = io.BytesIO()
    if draw:
        figure = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
        axes = figure.subplots()
        axes.plot([0, 25_000, 50_000], [0.1, 0.95, 0.97], label="no BN")
        axes.plot([0, 25_000, 50_000], [0.1, 0.97, 0.98], label="BN")
        axes.legend()
        figure.savefig(buffer, format="png")
    else:
        Image.new("RGB", size, "white").save(buffer, format="PNG")
    return buffer.getvalue()


def flat_curve(level: float, every: int = 20, end: int = 50_000) -> list[list[float]]:
    """A curve as the exporter delivers it: a list of [step, accuracy] lists."""
    return [[step, level] for step in range(0, end + 1, every)]


def submission(
    models: dict[str, nn.Sequential] | None = None, figure: bytes | None = None, **values: Any
) -> ExportedAnswers:
    values = {q5.PLAIN_CURVE: flat_curve(0.9), q5.BN_CURVE: flat_curve(0.95)} | values
    return ExportedAnswers(
        values=values,
        models={name: spec_from_module(model) for name, model in (models or {}).items()},
        files={q5.FIGURE: png() if figure is None else figure},
    )


def reference_submission(reference: dict[str, Any], **changes: Any) -> ExportedAnswers:
    entries = reference | changes
    return submission(
        models={name: entries[name] for name in q5.MODELS},
        **{name: exported(entries[name]) for name in q5.VALUES},
    )


def exported(curve: list[tuple[int, float]]) -> list[list[float]]:
    """A curve as the exporter delivers it: tuples become lists."""
    return [list(pair) for pair in curve]


def sigmoid(width: int) -> list[nn.Module]:
    return [nn.Sigmoid()]


def bn_sigmoid(width: int) -> list[nn.Module]:
    return [nn.BatchNorm1d(width), nn.Sigmoid()]


# Architecture -------------------------------------------------------------------------------


def test_reference_builders_pass_architecture() -> None:
    build = lib()["build_mlp"]
    models = {q5.PLAIN_MODEL: build(batch_norm=False), q5.BN_MODEL: build(batch_norm=True)}
    q5.check_plain_architecture(submission(models))
    q5.check_bn_architecture(submission(models))


def test_flatten_is_optional() -> None:
    models = {q5.PLAIN_MODEL: mlp(sigmoid, flatten=False), q5.BN_MODEL: mlp(bn_sigmoid, False)}
    q5.check_plain_architecture(submission(models))
    q5.check_bn_architecture(submission(models))


def test_bn_after_the_nonlinearity_fails() -> None:
    model = mlp(lambda width: [nn.Sigmoid(), nn.BatchNorm1d(width)])
    with pytest.raises(AssertionError, match="Linear -> BatchNorm1d -> Sigmoid, three times"):
        q5.check_bn_architecture(submission({q5.BN_MODEL: model}))


def test_bn_missing_in_one_layer_fails() -> None:
    model = mlp(bn_sigmoid)
    del model[8]  # the third hidden layer's BatchNorm1d
    with pytest.raises(AssertionError, match="BatchNorm1d"):
        q5.check_bn_architecture(submission({q5.BN_MODEL: model}))


@pytest.mark.parametrize(
    "block", [lambda width: [], lambda width: [nn.ReLU()], lambda width: [nn.BatchNorm1d(width)]]
)
def test_models_without_sigmoids_fail(block) -> None:
    models = {q5.PLAIN_MODEL: mlp(block), q5.BN_MODEL: mlp(block)}
    with pytest.raises(AssertionError, match="Sigmoid"):
        q5.check_plain_architecture(submission(models))
    with pytest.raises(AssertionError, match="Sigmoid"):
        q5.check_bn_architecture(submission(models))


def test_swapped_architectures_fail() -> None:
    models = {q5.PLAIN_MODEL: mlp(bn_sigmoid), q5.BN_MODEL: mlp(sigmoid)}
    with pytest.raises(AssertionError, match="q5_plain_model"):
        q5.check_plain_architecture(submission(models))
    with pytest.raises(AssertionError, match="q5_bn_model"):
        q5.check_bn_architecture(submission(models))


def test_wrong_sizes_and_bn_options_fail() -> None:
    narrow = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 50), nn.Sigmoid(), nn.Linear(50, 100), nn.Sigmoid(),
        nn.Linear(100, 100), nn.Sigmoid(), nn.Linear(100, 10),
    )  # fmt: skip
    with pytest.raises(AssertionError, match="sizes"):
        q5.check_plain_architecture(submission({q5.PLAIN_MODEL: narrow}))
    frozen = mlp(lambda width: [nn.BatchNorm1d(width, affine=False), nn.Sigmoid()])
    with pytest.raises(AssertionError, match="affine"):
        q5.check_bn_architecture(submission({q5.BN_MODEL: frozen}))


def test_missing_model_fails() -> None:
    with pytest.raises(AssertionError, match="q5_bn_model"):
        q5.check_bn_architecture(submission())


# Students' habits: no-op placeholders, their own nn.Module ---------------------------------


class TutorialNet(nn.Module):
    """PyTorch-tutorial style, one class for both networks: a flag puts BN or an Identity."""

    def __init__(self, batch_norm: bool = False):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, 100), nn.Linear(100, 100)
        self.fc3, self.out = nn.Linear(100, 100), nn.Linear(100, 10)
        self.bn1, self.bn2, self.bn3 = (
            nn.BatchNorm1d(100) if batch_norm else nn.Identity() for _ in range(3)
        )
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(x.size(0), -1)
        x = torch.sigmoid(self.bn1(self.fc1(x)))
        x = F.sigmoid(self.bn2(self.fc2(x)))
        x = self.bn3(self.fc3(x)).sigmoid()
        return self.out(self.dropout(x))


def habit_feedback(models: dict[str, nn.Module], tmp_path: Path, monkeypatch) -> str:
    """The models exported by the real exporter with untrained weights and valid curves, judged:
    the architecture, curve and figure items pass, the accuracy items measure these weights."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / q5.FIGURE).write_bytes(png())
    namespace = {q5.PLAIN_CURVE: flat_curve(0.9), q5.BN_CURVE: flat_curve(0.95)} | models
    data = export_in_process(namespace, tmp_path / "answers", ["q5"], {})
    images = mnist_test_set_head()
    for name, model in models.items():  # the judge's rebuilt Sequential computes the same
        torch.testing.assert_close(data.model(name)(images), model.eval()(images))
    points, feedback = judged_feedback(data, "q5")
    passing = ("plain_architecture", "bn_architecture", "bn_ahead_early", "curves_and_figure")
    tests = hidden_tests("q5")["q5"].test_cases
    cases = {case.body.test_func.__name__: case.points for case in tests}
    assert points == {"q5": sum(cases[f"test_{item}"] for item in passing)}, feedback
    for item in passing:
        assert f"- PASS {item} (" in feedback
    assert "classifies" in feedback  # the accuracy items measured the (untrained) models
    return feedback


def mnist_test_set_head() -> torch.Tensor:
    return q5.mnist_test_set()[0][:200]


def test_identity_and_dropout_placeholders_keep_the_architecture(tmp_path, monkeypatch) -> None:
    """One builder with a flag: Identity where BN would be, and a Dropout (before: 1.0 of 3)."""
    plain = mlp(lambda width: [nn.Identity(), nn.Sigmoid(), nn.Dropout(0.2)])
    bn = mlp(lambda width: [nn.BatchNorm1d(width), nn.Sigmoid(), nn.Identity()])
    habit_feedback({q5.PLAIN_MODEL: plain, q5.BN_MODEL: bn}, tmp_path, monkeypatch)


def test_tutorial_style_modules_are_graded_as_their_layers(tmp_path, monkeypatch) -> None:
    """``class Net(nn.Module)`` with x.view and torch.sigmoid: traced (before: 1.0 of 3)."""
    torch.manual_seed(0)
    models = {q5.PLAIN_MODEL: TutorialNet(), q5.BN_MODEL: TutorialNet(batch_norm=True)}
    habit_feedback(models, tmp_path, monkeypatch)


class LogSoftmaxNet(TutorialNet):
    """PyTorch's MNIST example ends with ``F.log_softmax`` and trains with ``nll_loss``."""

    def __init__(self, batch_norm: bool = False, dim: int = 1):
        super().__init__(batch_norm)
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(super().forward(x), dim=self.dim)


def test_a_final_log_softmax_is_the_same_classifier(tmp_path, monkeypatch) -> None:
    torch.manual_seed(0)
    models = {q5.PLAIN_MODEL: LogSoftmaxNet(), q5.BN_MODEL: LogSoftmaxNet(batch_norm=True)}
    habit_feedback(models, tmp_path, monkeypatch)


def test_a_log_softmax_over_the_batch_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    model = LogSoftmaxNet(dim=0)
    data = export_in_process({q5.PLAIN_MODEL: model}, tmp_path / "answers", ["q5"], {})
    with pytest.raises(AssertionError, match="LogSoftmax must be over the classes"):
        q5.check_plain_architecture(data)


def test_a_module_computing_more_than_layers_is_refused(tmp_path, monkeypatch) -> None:
    class Gated(TutorialNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            hidden = torch.sigmoid(self.fc1(x.view(x.size(0), -1)))
            return self.out(self.fc3(hidden) * self.fc2(hidden))

    monkeypatch.chdir(tmp_path)
    data = export_in_process({q5.PLAIN_MODEL: Gated()}, tmp_path / "answers", ["q5"], {})
    with pytest.raises(AssertionError, match="Gated is not a chain of allowed layers: `mul`, line"):
        q5.check_plain_architecture(data)


# Accuracy (fast: untrained and broken models) -----------------------------------------------


def test_untrained_models_fail_accuracy() -> None:
    torch.manual_seed(0)
    models = {q5.PLAIN_MODEL: mlp(sigmoid), q5.BN_MODEL: mlp(bn_sigmoid)}
    with pytest.raises(AssertionError, match=PLAIN_TOO_LOW):
        q5.check_plain_accuracy(submission(models))
    with pytest.raises(AssertionError, match=BN_TOO_LOW):
        q5.check_bn_accuracy(submission(models))


def test_model_that_cannot_run_fails_with_a_message() -> None:
    wrong_input = nn.Sequential(nn.Flatten(), nn.Linear(100, 10))
    with pytest.raises(AssertionError, match="cannot run"):
        q5.check_plain_accuracy(submission({q5.PLAIN_MODEL: wrong_input}))
    wrong_output = nn.Sequential(nn.Flatten(), nn.Linear(784, 5))
    with pytest.raises(AssertionError, match=r"\(2000, 10\)"):
        q5.check_plain_accuracy(submission({q5.PLAIN_MODEL: wrong_output}))


# Curves -------------------------------------------------------------------------------------


def test_regular_curves_pass() -> None:
    q5.check_curves(submission())
    zero_based = [[step, 0.9] for step in range(19, 50_000, 20)]  # steps counted from 0
    q5.check_curves(submission(q5_plain_curve=zero_based, q5_bn_curve=zero_based))


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        (flat_curve(0.9, every=25), "at least every 20 steps"),
        (flat_curve(0.9, end=40_000), "ends at step 40000"),
        (flat_curve(90.0), "fractions"),
        (flat_curve(0.9)[::-1], "increasing"),
        ([[step + 0.5, 0.9] for step in range(0, 50_001, 20)], "ints"),
        ([], "non-empty list"),
        ([[20, 0.9, 0.1]], "pairs"),
        ({"20": 0.9}, "pairs"),
        ([[20, "0.9"]], "fractions"),
        ([[20, float("nan")]], "fractions"),
        (flat_curve(0.9)[:100] + flat_curve(0.9)[200:], "between steps 1980 and 4000"),
    ],
)
def test_irregular_curves_fail(curve, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        q5.check_curves(submission(q5_bn_curve=curve))


def test_missing_curve_fails() -> None:
    data = submission()
    del data.values[q5.PLAIN_CURVE]
    with pytest.raises(AssertionError, match="q5_plain_curve"):
        q5.check_curves(data)


def test_bn_ahead_early() -> None:
    q5.check_bn_ahead_early(submission())
    for level in (0.9, 0.85):  # level with, or behind, the plain curve
        with pytest.raises(AssertionError, match="should be above"):
            q5.check_bn_ahead_early(submission(q5_bn_curve=flat_curve(level)))


def test_eval_every_100_steps_loses_the_curves_item_only() -> None:
    """One mistake, one deduction: sparse curves still show BN ahead early."""
    every_20 = judged_feedback(submission(), "q5")[0]["q5"]
    sparse = {
        q5.PLAIN_CURVE: flat_curve(0.9, every=100),
        q5.BN_CURVE: flat_curve(0.95, every=100),
    }
    points, feedback = judged_feedback(submission(**sparse), "q5")
    assert every_20 - points["q5"] == 0.25
    assert "- PASS bn_ahead_early (0.25/0.25)" in feedback
    assert (
        "- FAIL curves_and_figure (0/0.25): `q5_plain_curve`: measure the held-out accuracy at "
        "least every 20 steps; there is no measurement between steps "
    ) in feedback


def test_bn_ahead_of_a_plain_net_that_learns_nothing_is_not_enough() -> None:
    chance = submission(q5_plain_curve=flat_curve(0.098), q5_bn_curve=flat_curve(0.11))
    with pytest.raises(AssertionError, match="not learning early"):
        q5.check_bn_ahead_early(chance)


def test_bn_ahead_early_needs_measurements_in_the_window() -> None:
    late = [[step, 0.99] for step in range(6_000, 50_001, 20)]
    with pytest.raises(AssertionError, match="measurements between steps 500 and 5000"):
        q5.check_bn_ahead_early(submission(q5_bn_curve=late))


# Figure -------------------------------------------------------------------------------------


def test_plot_passes() -> None:
    q5.check_figure(submission())


@pytest.mark.parametrize(
    ("figure", "message"),
    [
        (png(draw=False), "blank"),
        (png(size=(60, 40)), "pixels"),
        (png()[:2000], "cannot be read"),
        (b"%PDF-1.4 not an image", "not a PNG"),
        (b"", "not a PNG"),
    ],
)
def test_bad_figures_fail(figure: bytes, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        q5.check_figure(submission(figure=figure))


def test_missing_figure_fails() -> None:
    data = submission()
    data.files.clear()
    with pytest.raises(AssertionError, match=re.escape(q5.FIGURE)):
        q5.check_figure(data)


# Trained reference (slow) -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("check", ALL_CHECKS)
def test_reference_passes(q5_reference, check) -> None:
    check(reference_submission(q5_reference))


@pytest.mark.slow
def test_reference_without_flatten_is_fed_flat_images(q5_reference) -> None:
    unflattened = {
        name: nn.Sequential(*list(q5_reference[name])[1:]) for name in (q5.PLAIN_MODEL, q5.BN_MODEL)
    }
    data = reference_submission(q5_reference, **unflattened)
    for check in ALL_CHECKS:
        check(data)


@pytest.mark.slow
def test_swapped_trained_models_fail_architecture(q5_reference) -> None:
    swapped = reference_submission(
        q5_reference,
        q5_plain_model=q5_reference[q5.BN_MODEL],
        q5_bn_model=q5_reference[q5.PLAIN_MODEL],
    )
    with pytest.raises(AssertionError, match="q5_plain_model"):
        q5.check_plain_architecture(swapped)
    with pytest.raises(AssertionError, match="q5_bn_model"):
        q5.check_bn_architecture(swapped)


@pytest.mark.slow
def test_swapped_curves_fail_bn_ahead_early(q5_reference) -> None:
    swapped = reference_submission(
        q5_reference,
        q5_plain_curve=q5_reference[q5.BN_CURVE],
        q5_bn_curve=q5_reference[q5.PLAIN_CURVE],
    )
    with pytest.raises(AssertionError, match="BN network's mean held-out accuracy"):
        q5.check_bn_ahead_early(swapped)


@pytest.mark.slow
def test_images_multiplied_by_zero_fail_accuracy() -> None:
    """The hand-out's transform zeroed every image: the full reference training learns nothing."""
    code = lib()
    images, labels = code["load_mnist"](train=True)
    held_images, held_labels = code["held_out_subset"](*code["load_mnist"](train=False))
    torch.manual_seed(0)
    plain, bn = code["build_mlp"](batch_norm=False), code["build_mlp"](batch_norm=True)
    with session_threads():
        torch.set_num_threads(1)  # as the q5-run cell trains: one thread per network
        curves = code["train_both"](plain, bn, (images * 0, labels), (held_images * 0, held_labels))
    data = submission(
        {q5.PLAIN_MODEL: plain, q5.BN_MODEL: bn},
        q5_plain_curve=exported(curves[0]),
        q5_bn_curve=exported(curves[1]),
    )
    with pytest.raises(AssertionError, match=PLAIN_TOO_LOW):
        q5.check_plain_accuracy(data)
    with pytest.raises(AssertionError, match=BN_TOO_LOW):
        q5.check_bn_accuracy(data)
    with pytest.raises(AssertionError, match="not learning early"):
        q5.check_bn_ahead_early(data)


def test_the_data_in_use_is_mnist() -> None:
    verify_data_dir(COURSE.data, default_data_dir(COURSE.data))
