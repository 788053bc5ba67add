"""Question 2: learn y = x1 * x2 on (-1000, 1000)^2 (3 points, one per MSE tier).

The judge draws fresh test pairs itself (never with the student's dataset class), from a seed
the caller passes or, by default, one drawn from ``secrets`` once per process.

Tiers (test MSE of the rebuilt ``q2_model`` on NUM_TEST fresh pairs, raw units):
predicting 0 gives Var(y) = (1000^2 / 3)^2 = 1.11e11.
- below 1e10: beats the predict-zero baseline 11-fold (a real, if rough, fit);
- below 1e9:  RMS error 3.2e4, under 10% of std(y) = 3.3e5;
- below 1e8:  RMS error 1.0e4, 3% of std(y) (scaled inputs/targets and a careful optimiser).

Measured with judge seeds 1000+s (bench/q2_training.py, grader/checks/test_q2.py; one thread):
- reference (notebook q2-lib: Scale(1e-3), 2-64-64-1 ReLU, Scale(1e6); Adam lr 1e-2, cosine,
  3000 steps of 100 on 10,000 pairs), seeds 0-7, judge MSE: 2.74e6, 3.42e6, 3.25e6, 3.00e6,
  2.63e6, 2.95e6, 3.19e6, 2.49e6 (2.8-6.5 s each). Worst 3.42e6: margins 29x to 1e8, 290x to
  1e9, 2900x to 1e10. Its re-initialised copies: 1.07e11-1.68e11 (>= 3.3e4 times its MSE).
- naive but honest: the same net without Scale layers, Adam lr 1e-3: 4.55e9-4.66e9 (seeds
  0-2), tier 1 only (2.1x under 1e10, 4.6x over 1e9).
- the sample student's unscaled sigmoid 2-100-100-1, SGD lr 0.01, 20 epochs: 5.2e10-1.2e11
  (seeds 0-4), fails every tier (5.2x over 1e10 at best).
- the reference trained on the hand-out's buggy (-1e6, 1e6) generator: 5.4e16-2.2e17 (seeds 0-4).
- constant 0: 1.11e11; parameter-free models: re-initialised MSE / MSE = 1.

Anti-cheat gate on every tier: the judge rebuilds the model from genuine torch.nn
classes (a non-Sequential or non-whitelisted model cannot be exported and fails every tier with
the exporter's reason), then re-initialises all its parameters (``reset_parameters`` on every
layer that has one; BatchNorm running statistics included) with REINIT_SEEDS seeds. If any
re-initialised copy has an MSE below REINIT_FACTOR times the model's own MSE, the accuracy did
not come from training and every tier fails. A random network predicts about 0, so its MSE is
at least about the baseline (1.07e11 the lowest seen), while passing the loosest tier needs an
MSE below 1e10: a tier-passing model's ratio is above 10, twice REINIT_FACTOR. The gate is
checked after the bound, so a weak honest model is told its MSE, not accused of cheating.
``find_input_products`` is an extra, static check of the notebook source (not wired in here).
"""

import ast
import copy
import hashlib
import json
import math
import secrets
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from grader.exported_answers import ExportedAnswers
from grader.modelspec import ModelSpec

VALUES = ["q2_best_train_mse", "q2_best_test_mse"]
MODELS = ["q2_model"]
FILES: list[str] = []

MODEL = "q2_model"
MAX_ABS = 1000.0
NUM_TEST = 10_000
EVAL_BATCH = 1000
MAX_PARAMETERS = 2_000_000
BASELINE_MSE = (MAX_ABS**2 / 3) ** 2  # MSE of always predicting 0: 1.11e11
REINIT_SEEDS = 3
REINIT_FACTOR = 5.0
SESSION_SEED = secrets.randbits(32)
_DATA_STREAM = 0x51_32  # keeps judge data apart from any np.random.default_rng(seed) stream


@dataclass(frozen=True)
class Evaluation:
    """Test MSE of the submitted model and of its re-initialised copies, on one test set."""

    seed: int
    mse: float
    reinit_mses: tuple[float, ...]


@lru_cache(maxsize=4)
def fresh_test_data(seed: int, num_examples: int = NUM_TEST) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (N, 2) float32 uniform on (-MAX_ABS, MAX_ABS) and exact targets (N, 1) float64."""
    rng = np.random.default_rng([seed, _DATA_STREAM])
    x = torch.tensor(rng.uniform(-1.0, 1.0, size=(num_examples, 2)) * MAX_ABS, dtype=torch.float32)
    y = x[:, :1].double() * x[:, 1:].double()  # exact: a product of two float32s fits a float64
    return x, y


def prepare() -> None:
    """Draw this grading session's fresh test pairs before any submission runs."""
    fresh_test_data(SESSION_SEED)


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Predictions (N, 1) as float64, in batches; AssertionError if the model cannot run."""
    outputs = []
    with torch.no_grad():
        for batch in torch.split(x, EVAL_BATCH):
            try:
                output = model(batch)
            except (RuntimeError, TypeError, ValueError) as error:
                message = f"`{MODEL}` fails on inputs of shape (N, 2): {error}"
                raise AssertionError(message) from error
            shape = tuple(output.shape)
            assert shape == (len(batch), 1), f"`{MODEL}` returns shape {shape}, not (N, 1)"
            outputs.append(output.double())
    return torch.cat(outputs)


def mean_squared_error(model: nn.Module, seed: int) -> float:
    """Test MSE in raw units on the judge's fresh pairs (inf if a prediction is not finite)."""
    x, y = fresh_test_data(seed)
    prediction = predict(model, x)
    if not torch.isfinite(prediction).all():
        return math.inf
    return (prediction - y).pow(2).mean().item()


def reinitialised(model: nn.Sequential, seed: int) -> nn.Sequential:
    """A copy of ``model`` with every parameter and BatchNorm statistic re-initialised."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for module in fresh.modules():
            if callable(getattr(module, "reset_parameters", None)):
                module.reset_parameters()
            elif any(True for _ in module.parameters(recurse=False)):
                for parameter in module.parameters(recurse=False):
                    nn.init.normal_(parameter)
    return fresh


def _digest(spec: ModelSpec) -> str:
    """A fingerprint of the layers and weights, so the three tiers evaluate a model once."""
    hasher = hashlib.sha256(json.dumps(spec.layers, sort_keys=True, default=repr).encode())
    for key in sorted(spec.state_dict):
        tensor = spec.state_dict[key].detach().cpu().contiguous().flatten()
        hasher.update(f"{key}:{tensor.dtype}:{tensor.numel()}".encode())
        hasher.update(tensor.view(torch.uint8).numpy().tobytes())
    return hasher.hexdigest()


_EVALUATIONS: dict[tuple[str, int], Evaluation] = {}


def measure(model: nn.Sequential, seed: int) -> Evaluation:
    """MSE of a rebuilt model and of REINIT_SEEDS re-initialised copies of it."""
    mse = mean_squared_error(model, seed)
    assert math.isfinite(mse), f"`{MODEL}` predicts NaN or infinite values"
    copies = (reinitialised(model, seed + k + 1) for k in range(REINIT_SEEDS))
    return Evaluation(seed, mse, tuple(mean_squared_error(c, seed) for c in copies))


def evaluate(submission: ExportedAnswers, seed: int | None = None) -> Evaluation:
    """Rebuild ``q2_model`` (AssertionError with the reason if impossible) and measure it."""
    seed = SESSION_SEED if seed is None else seed
    if MODEL in submission.models:  # check the size before rebuilding allocates the layers
        state = submission.models[MODEL].state_dict.values()
        size = sum(t.numel() for t in state if isinstance(t, torch.Tensor))
        assert size <= MAX_PARAMETERS, f"`{MODEL}` has {size:,} parameters, over {MAX_PARAMETERS:,}"
    model = submission.model(MODEL)
    key = (_digest(submission.models[MODEL]), seed)
    if key not in _EVALUATIONS:
        if len(_EVALUATIONS) >= 32:
            _EVALUATIONS.clear()
        _EVALUATIONS[key] = measure(model, seed)
    return _EVALUATIONS[key]


def check_learned(evaluation: Evaluation) -> None:
    """The anti-cheat gate: re-initialising the parameters must destroy the accuracy."""
    best_reinit = min(evaluation.reinit_mses)
    assert best_reinit >= REINIT_FACTOR * evaluation.mse, (
        f"`{MODEL}` is about as accurate with re-initialised parameters (MSE {best_reinit:.3g}) as "
        f"trained (MSE {evaluation.mse:.3g}): its predictions do not come from trained weights, "
        "so no Q2 tier can be awarded"
    )


def _check_tier(submission: ExportedAnswers, bound: float, seed: int | None) -> None:
    """Award a tier only for an MSE below ``bound`` that re-initialisation destroys."""
    evaluation = evaluate(submission, seed)
    assert evaluation.mse < bound, (
        f"`{MODEL}` test MSE {evaluation.mse:.3g} on {NUM_TEST:,} fresh pairs from "
        f"(-{MAX_ABS:g}, {MAX_ABS:g})^2 is not below {bound:.0e} "
        f"(predicting 0 gives {BASELINE_MSE:.2g})"
    )
    check_learned(evaluation)


def check_mse_below_1e10(submission: ExportedAnswers, seed: int | None = None) -> None:
    """Tier 1: clearly better than predicting 0."""
    _check_tier(submission, 1e10, seed)


def check_mse_below_1e9(submission: ExportedAnswers, seed: int | None = None) -> None:
    """Tier 2: RMS error below 10% of the targets' standard deviation."""
    _check_tier(submission, 1e9, seed)


def check_mse_below_1e8(submission: ExportedAnswers, seed: int | None = None) -> None:
    """Tier 3: RMS error below 3% of the targets' standard deviation."""
    _check_tier(submission, 1e8, seed)


# Static check of the notebook source (defence in depth; the rebuilt model is the real guard).

_FORWARD_NAMES = {"forward", "__call__"}
_ALWAYS_PRODUCT = {
    "prod",
    "cumprod",
    "einsum",
    "square",
    "outer",
    "ger",
    "kron",
    "addcmul",
    "bilinear",
    "tensordot",
}
_BINARY_PRODUCT = {"mul", "multiply", "matmul", "mm", "bmm", "dot", "vdot", "inner"}
_POWERS = {"pow", "float_power"}
_LOGS = {"log", "log1p", "log2", "log10"}
_CONSTANT_NAMES = {"self", "torch", "math", "np", "numpy", "F", "nn"}


def _is_constant(node: ast.AST) -> bool:
    """No variable in it except ``self`` and module names: a constant or a module attribute."""
    return all(n.id in _CONSTANT_NAMES for n in ast.walk(node) if isinstance(n, ast.Name))


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _operands(node: ast.Call) -> list[ast.AST]:
    """Arguments, plus the receiver of a method call such as ``x.mul(y)``."""
    receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
    own = receiver is not None and not _is_constant(receiver)
    return [*([receiver] if own else []), *node.args]


def _is_power(base: ast.AST, exponent: ast.AST) -> bool:
    small = isinstance(exponent, ast.Constant) and isinstance(exponent.value, (int, float))
    return not _is_constant(base) and not (small and abs(exponent.value) < 2)


def _is_product(node: ast.AST) -> bool:
    """Whether ``node`` multiplies non-constant tensors (or squares, or exp(log(...)))."""
    if isinstance(node, (ast.BinOp, ast.AugAssign)):
        binary = isinstance(node, ast.BinOp)
        left, right = (node.left, node.right) if binary else (node.target, node.value)
        if isinstance(node.op, (ast.Mult, ast.MatMult)):
            return not (_is_constant(left) or _is_constant(right))
        return isinstance(node.op, ast.Pow) and _is_power(left, right)
    if not isinstance(node, ast.Call):
        return False
    name, operands = _call_name(node), _operands(node)
    if name in _ALWAYS_PRODUCT:
        return True
    if name in _BINARY_PRODUCT:
        return len(operands) >= 2 and not any(_is_constant(op) for op in operands)
    if name in _POWERS:
        return len(operands) >= 2 and _is_power(operands[0], operands[1])
    inner = [n for arg in node.args for n in ast.walk(arg) if isinstance(n, ast.Call)]
    return name == "exp" and any(_call_name(n) in _LOGS for n in inner)


def _without_magics(source: str) -> str:
    """Blank out IPython magics and shell lines (keeping line numbers and indentation)."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        magic = stripped.startswith(("%", "!"))
        lines.append(line[: len(line) - len(stripped)] + "pass" if magic else line)
    return "\n".join(lines)


def find_input_products(source: str) -> list[str]:
    """Products of non-constant tensors inside any ``forward`` method or lambda of ``source``.

    A heuristic, AST-based check: flags ``*``, ``@``, ``**`` (power 2 or more), ``torch.mul``,
    ``prod``, ``einsum``, ``square``, ``pow``, ``exp(log(...))`` and similar, unless one factor is
    a constant or an attribute of ``self`` (so ``Scale.forward``'s ``x * self.factor`` passes).
    Source that cannot be parsed is itself reported, so unparsable code cannot hide a product.
    It has false positives (a loss lambda such as ``lambda p, y: ((p - y) ** 2).mean()``) and
    misses aliased code, so treat findings as a reason for a person to look, not as a score.
    """
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError as error:
        return [f"the notebook code could not be checked (line {error.lineno}: {error.msg})"]
    findings: dict[tuple[int, int], str] = {}
    for scope in ast.walk(tree):
        if isinstance(scope, ast.Lambda):
            where = "a lambda"
        elif isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if scope.name not in _FORWARD_NAMES:
                continue
            where = f"{scope.name}()"
        else:
            continue
        for node in ast.walk(scope):
            if _is_product(node):
                text = ast.unparse(node)
                text = text if len(text) <= 60 else text[:57] + "..."
                where_at = (node.lineno, node.col_offset)
                findings[where_at] = f"line {node.lineno}: `{text}` in {where}"
    return [findings[key] for key in sorted(findings)]
