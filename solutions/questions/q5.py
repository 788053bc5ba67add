"""Question 5: reproduce Batch Normalization's MNIST experiment (Ioffe & Szegedy 2015, Fig. 1(a)).

Six hidden checks of 0.5 points: the two architectures, the two test accuracies, the BN network
ahead early in training, and the curves together with the figure.

Accuracy is measured here, on all 10,000 MNIST test images (float pixels in [0, 1] of shape
(N, 1, 28, 28), exactly what ``ToTensor()`` gives; flattened to (N, 784) for a model without a
leading ``Flatten``), with the rebuilt models in eval mode (BN uses its running statistics).

Paper (read off Fig. 1(a), no BN / BN): 5K 0.78 / 0.956, 10K 0.926 / 0.966, 20K 0.963 / 0.974,
30K 0.968 / 0.978, 40K 0.972 / 0.980, end ~0.972 / ~0.982. Measured here (torch 2.14 CPU,
bench/q5_training.py; full 10K test set, no BN / BN):
- reference (plain SGD, lr 0.1), seeds 0, 1, 2: 0.9739 / 0.9798, 0.9692 / 0.9793, 0.9705 / 0.9789;
- other optimizers, one run each: SGD lr 0.5 0.9749 / 0.9806, SGD lr 0.05 + momentum 0.9
  0.9763 / 0.9821, Adam lr 1e-3 0.9740 / 0.9810;
- failure modes: SGD lr 0.01 0.7990 / 0.9757 (the plain net sits at ~0.10 until ~20K steps);
  images multiplied by 0 (the hand-out's transform) 0.1135 / 0.0881; BN after each sigmoid
  instead of before it 0.9792 (the BN net: only the architecture check catches it).

PLAIN_MIN_ACCURACY 0.95: between the paper's plain curve at 10K (0.926) and 20K (0.963) steps;
the reference's worst seed clears it by 0.019, SGD at lr 0.01 misses it by 0.15.
BN_MIN_ACCURACY 0.97: the paper's BN curve is above it from 20K steps on (0.974, 0.982 at the
end); the reference's worst seed clears it by 0.009. A plain net put in the BN slot may pass it
(0.974): the BN architecture check catches that.

BN ahead early: over the curve points with step in EARLY_STEPS = 500..5,000 (whatever lies there,
at least MIN_EARLY_POINTS = 10 of them), the BN curve's mean must be at least EARLY_BN_FLOOR = 0.8
and above the plain curve's mean. One mistake costs one item: curves measured every 100 steps
instead of 20 (46 points in the window) lose the curves item only. Reference seeds
0, 1, 2 (plain / BN): 0.321 / 0.934, 0.338 / 0.931, 0.348 / 0.935; Adam lr 1e-3 0.938 / 0.948
(BN ahead by only 0.01, so no margin is required); SGD lr 0.01 0.100 / 0.906. Images multiplied
by 0 give 0.0999 / 0.1006: "BN above plain" alone passes that by chance, the floor does not
(the paper's BN curve is at 0.956 by 5K steps; every BN run above averages >= 0.90).

Architecture: the layers in order, once the eval-mode no-ops (Identity, Dropout) are left out; a
module of the student's own arrives traced into the same chain (``x.view(x.size(0), -1)`` as a
Flatten, ``torch.sigmoid`` as a Sigmoid).

Curves: lists of (int step, accuracy in [0, 1]) with strictly increasing steps, at most
MAX_GAP = 20 steps apart (from step 0), the last at step >= 49,980 (so counting steps from 0 or
from 1 both pass). Figure: a PNG that PIL decodes, sides of 100 to 6,000 pixels, not blank.
"""

import io
import math
from itertools import pairwise
from pathlib import Path
from typing import Any

import torch
import torchvision
from PIL import Image
from torch import nn

from grader.judge.exported_answers import ExportedAnswers
from grader.judge.modelspec import computing_layers

PLAIN_MODEL = "q5_plain_model"
BN_MODEL = "q5_bn_model"
PLAIN_CURVE = "q5_plain_curve"
BN_CURVE = "q5_bn_curve"
FIGURE = "q5_batchnorm_mnist.png"

VALUES = [PLAIN_CURVE, BN_CURVE]
MODELS = [PLAIN_MODEL, BN_MODEL]
FILES = [FIGURE]

INPUTS, HIDDEN, CLASSES, NUM_HIDDEN = 28 * 28, 100, 10, 3
PLAIN_MIN_ACCURACY = 0.95
BN_MIN_ACCURACY = 0.97
TOTAL_STEPS = 50_000
MAX_GAP = 20  # steps between two held-out measurements, at most
EARLY_STEPS = (500, 5_000)  # window (inclusive) in which the BN curve must be ahead on average
EARLY_BN_FLOOR = 0.8  # ... and itself have learned something (mean held-out accuracy in it)
MIN_EARLY_POINTS = 10  # measurements in that window needed to compare the curves at all
MAX_CURVE_POINTS = 1_000_000
MIN_FIGURE_SIDE, MAX_FIGURE_SIDE = 100, 6_000  # pixels
EVAL_BATCH = 2_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Curve = list[tuple[int, float]]


_TEST_SET: list[tuple[torch.Tensor, torch.Tensor]] = []  # filled once by prepare


def prepare(data_dir: Path) -> None:
    """Before any submission runs, load the test set (the grader has verified the files in
    ``data_dir``): the judge must hold it before any student code could touch them."""
    if not _TEST_SET:
        _TEST_SET.append(load_test_set(data_dir))


def load_test_set(data_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """All 10,000 test images as (N, 1, 28, 28) floats in [0, 1], and their labels."""
    dataset = torchvision.datasets.MNIST(root=data_dir, train=False, download=False)
    return dataset.data.unsqueeze(1).float() / 255, dataset.targets


def mnist_test_set() -> tuple[torch.Tensor, torch.Tensor]:
    """The test set ``prepare`` loaded."""
    if not _TEST_SET:
        raise RuntimeError("q5.prepare(data_dir) must run before the checks")
    return _TEST_SET[0]


# Architecture -------------------------------------------------------------------------------


def _hidden_block(batch_norm: bool) -> list[type[nn.Module]]:
    return [nn.Linear, nn.BatchNorm1d, nn.Sigmoid] if batch_norm else [nn.Linear, nn.Sigmoid]


def _describe(kinds: list[type[nn.Module]]) -> str:
    return " -> ".join(kind.__name__ for kind in kinds)


def _check_architecture(name: str, model: nn.Sequential, batch_norm: bool) -> None:
    layers = computing_layers(model)  # Identity and Dropout change nothing in eval mode
    if layers and isinstance(layers[0], nn.Flatten):
        flatten = layers.pop(0)
        assert (flatten.start_dim, flatten.end_dim) == (1, -1), (
            f"`{name}`: use nn.Flatten() (start_dim=1, end_dim=-1), got {flatten}"
        )
    if layers and isinstance(layers[-1], nn.LogSoftmax):  # for NLLLoss: the same predictions
        output = layers.pop()
        assert output.dim in (1, -1, None), f"`{name}`: LogSoftmax must be over the classes (dim=1)"
    expected = _hidden_block(batch_norm) * NUM_HIDDEN + [nn.Linear]
    got = [type(layer) for layer in layers]
    assert got == expected, (
        f"`{name}` must be (Flatten ->) {_describe(_hidden_block(batch_norm))}, three times, then "
        f"Linear (-> LogSoftmax); Identity and Dropout layers aside; got {_describe(got)}"
    )
    linears = [layer for layer in layers if isinstance(layer, nn.Linear)]
    sizes = [(layer.in_features, layer.out_features) for layer in linears]
    wanted = [(INPUTS, HIDDEN)] + [(HIDDEN, HIDDEN)] * (NUM_HIDDEN - 1) + [(HIDDEN, CLASSES)]
    assert sizes == wanted, f"`{name}`: Linear (in, out) sizes must be {wanted}, got {sizes}"
    for layer in layers:
        if isinstance(layer, nn.BatchNorm1d):
            assert layer.num_features == HIDDEN, f"`{name}`: {layer} must normalise 100 features"
            assert layer.affine and layer.track_running_stats, (
                f"`{name}`: keep BatchNorm1d's learned scale/shift and running statistics "
                f"(affine=True, track_running_stats=True), got {layer}"
            )


def check_plain_architecture(submission: ExportedAnswers) -> None:
    """784-100-100-100-10, each hidden Linear followed by Sigmoid, no BN."""
    _check_architecture(PLAIN_MODEL, submission.model(PLAIN_MODEL), batch_norm=False)


def check_bn_architecture(submission: ExportedAnswers) -> None:
    """As the plain net, with BatchNorm1d(100) between every hidden Linear and its Sigmoid."""
    _check_architecture(BN_MODEL, submission.model(BN_MODEL), batch_norm=True)


# Accuracy -----------------------------------------------------------------------------------


def mnist_accuracy(model: nn.Module, name: str = "the model") -> float:
    """Accuracy of an eval-mode model on the 10,000 MNIST test images."""
    images, labels = mnist_test_set()
    first = next(iter(computing_layers(model)), None)
    if not isinstance(first, nn.Flatten):
        images = images.flatten(1)
    correct = 0
    with torch.no_grad():
        batches = zip(images.split(EVAL_BATCH), labels.split(EVAL_BATCH), strict=True)
        for batch, batch_labels in batches:
            try:
                scores = model(batch)
            except (RuntimeError, ValueError, TypeError) as error:
                raise AssertionError(
                    f"`{name}` cannot run on a batch of MNIST images of shape "
                    f"{tuple(batch.shape)}: {error}"
                ) from error
            assert scores.shape == (len(batch), CLASSES), (
                f"`{name}` must map {tuple(batch.shape)} to ({len(batch)}, {CLASSES}) class "
                f"scores, got {tuple(scores.shape)}"
            )
            correct += int((scores.argmax(dim=1) == batch_labels).sum())
    return correct / len(labels)


def _check_accuracy(submission: ExportedAnswers, name: str, bound: float) -> None:
    model = submission.model(name)
    model.eval()
    accuracy = mnist_accuracy(model, name)
    assert accuracy >= bound, (
        f"`{name}` classifies {accuracy:.4f} of the 10,000 MNIST test images correctly, below "
        f"{bound} (the grader feeds (N, 1, 28, 28) pixels in [0, 1], as ToTensor() gives them, "
        f"and evaluates in eval() mode)"
    )


def check_plain_accuracy(submission: ExportedAnswers) -> None:
    """The trained network without BN reaches PLAIN_MIN_ACCURACY on the MNIST test set."""
    _check_accuracy(submission, PLAIN_MODEL, PLAIN_MIN_ACCURACY)


def check_bn_accuracy(submission: ExportedAnswers) -> None:
    """The trained BN network reaches BN_MIN_ACCURACY on the MNIST test set."""
    _check_accuracy(submission, BN_MODEL, BN_MIN_ACCURACY)


# Curves and figure --------------------------------------------------------------------------


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def curve(submission: ExportedAnswers, name: str) -> Curve:
    """The exported curve as (step, accuracy) pairs, validated: int steps, accuracies in [0, 1]."""
    value = submission.value(name)
    shape_ok = (
        isinstance(value, list)
        and 0 < len(value) <= MAX_CURVE_POINTS
        and all(isinstance(pair, list) and len(pair) == 2 for pair in value)
    )
    assert shape_ok, f"`{name}` must be a non-empty list of (step, accuracy) pairs"
    points = []
    for step, accuracy in value:
        assert _number(step) and step == int(step) and step >= 0, (
            f"`{name}`: steps must be non-negative ints, got {step!r}"
        )
        assert _number(accuracy) and 0 <= accuracy <= 1, (
            f"`{name}`: accuracies must be fractions in [0, 1], got {accuracy!r} at step {step}"
        )
        points.append((int(step), float(accuracy)))
    return points


def _check_spacing(name: str, points: Curve) -> None:
    steps = [step for step, _ in points]
    assert all(a < b for a, b in pairwise(steps)), f"`{name}`: steps must be strictly increasing"
    steps = [0, *steps] if steps[0] else steps
    gaps = ((after - before, before, after) for before, after in pairwise(steps))
    widest = max(gaps, default=(0, 0, 0))
    assert widest[0] <= MAX_GAP, (
        f"`{name}`: measure the held-out accuracy at least every {MAX_GAP} steps; there is no "
        f"measurement between steps {widest[1]} and {widest[2]}"
    )
    assert steps[-1] >= TOTAL_STEPS - MAX_GAP, (
        f"`{name}` ends at step {steps[-1]}: train for {TOTAL_STEPS:,} steps and keep measuring "
        f"until the end"
    )


def check_curves(submission: ExportedAnswers) -> None:
    """Both curves: measurements at most MAX_GAP steps apart, up to TOTAL_STEPS."""
    for name in (PLAIN_CURVE, BN_CURVE):
        _check_spacing(name, curve(submission, name))


def early_mean(points: Curve, name: str) -> float:
    """Mean held-out accuracy over the measurements with step in EARLY_STEPS (inclusive)."""
    start, end = EARLY_STEPS
    window = [accuracy for step, accuracy in points if start <= step <= end]
    assert len(window) >= MIN_EARLY_POINTS, (
        f"`{name}` has {len(window)} measurements between steps {start} and {end}; at least "
        f"{MIN_EARLY_POINTS} are needed to compare the curves there"
    )
    return sum(window) / len(window)


def check_bn_ahead_early(submission: ExportedAnswers) -> None:
    """Mean held-out accuracy over steps 500-5,000: BN's at least EARLY_BN_FLOOR, above plain's."""
    plain = early_mean(curve(submission, PLAIN_CURVE), PLAIN_CURVE)
    bn = early_mean(curve(submission, BN_CURVE), BN_CURVE)
    start, end = EARLY_STEPS
    assert bn >= EARLY_BN_FLOOR, (
        f"between steps {start} and {end} the BN network's mean held-out accuracy is only "
        f"{bn:.4f} (the paper's is above 0.95 by step 5,000); below {EARLY_BN_FLOOR} it is not "
        f"learning early, so being ahead or not says nothing"
    )
    assert bn > plain, (
        f"between steps {start} and {end} the BN network's mean held-out accuracy ({bn:.4f}) "
        f"should be above the plain network's ({plain:.4f}), as in the paper"
    )


def check_figure(submission: ExportedAnswers) -> None:
    """The figure file is a readable PNG of reasonable size that is not blank."""
    data = submission.file(FIGURE)
    assert data.startswith(PNG_SIGNATURE), f"`{FIGURE}` is not a PNG file"
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            assert MIN_FIGURE_SIDE <= min(width, height) <= max(width, height) <= MAX_FIGURE_SIDE, (
                f"`{FIGURE}` is {width} x {height} pixels; save a normal-sized figure"
            )
            image.load()
            low, high = image.convert("L").getextrema()
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise AssertionError(f"`{FIGURE}` cannot be read as a PNG image: {error}") from error
    assert low < high, f"`{FIGURE}` is blank (a single colour)"
