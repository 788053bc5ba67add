"""Question 2: learn y = x1 * x2 on (-1000, 1000)^2 (3 points, one per MSE tier).

Q2 grades the procedure, not only its artifact. After the notebook ran, the in-kernel probe
``retrain_procedure`` seeds torch with a secret grader seed, calls the student's
``build_q2_model()`` and trains that model with the student's ``train_q2(model, train_set,
test_set)`` (its own defaults) on the grader's copy of ``MultiplyDataset`` drawn with secret seeds
(TRAIN_SIZE / TEST_SIZE pairs, RETRAIN_THREADS thread, at most RETRAIN_SECONDS of CPU time,
in a kernel of its own that ran only the definitions of the set-up and of Q2's section).
It returns the fresh model and the trained one. The judge draws its own test pairs (never with
the student's dataset class), from a seed the caller passes or, by default, one drawn from
``secrets`` once per process, and each tier requires, in this order:
1. ``q2_model`` (the notebook's own run) can be rebuilt;
2. the procedure could be retrained, and ``train_q2`` changed the fresh model's weights;
3. the retrained model's MSE is below the tier's bound;
4. the fresh ``build_q2_model()`` is at least REINIT_FACTOR times worse than the trained one
   (weights set by hand in ``build_q2_model`` fail here);
5. the re-initialisation gate below passes for the retrained model and for ``q2_model`` (so a
   submission cannot score with a procedure that does not produce its model).
A hand-set ``q2_model`` with no working procedure, a ``train_q2`` that does not train and a
procedure that only works for the notebook's seed all lose the points (``test_q2.py``).

Tiers (test MSE of the retrained model on NUM_TEST fresh pairs, raw units):
predicting 0 gives Var(y) = (1000^2 / 3)^2 = 1.11e11.
- below 1e10: beats the predict-zero baseline 11-fold (a real, if rough, fit);
- below 1e9:  RMS error 3.2e4, under 10% of std(y) = 3.3e5;
- below 1e8:  RMS error 1.0e4, 3% of std(y) (scaled inputs/targets and a careful optimiser).

Measured with the retrained model (bench/q2_training.py: the real probe through the exporter, one
thread; grader seeds s = 0-4, judge seeds 1000+s; 2-core machine at load average ~10):
- reference (notebook q2-lib: Scale(1e-3), 2-64-64-1 ReLU, Scale(1e6); Adam lr 1e-2, cosine,
  3000 steps of 100 on 10,000 pairs), retrained MSE: 3.30e6, 3.77e6, 3.49e6, 3.01e6, 2.78e6.
  Worst 3.77e6: margins 26.5x to 1e8, 265x to 1e9, 2650x to 1e10. Its fresh models: 1.15e11 -
  1.70e11 (>= 3e4 times the trained MSE, gate 5x); re-initialised copies >= 1.07e11.
  Extra grading time per submission: the retraining, 8.3-10.1 s at that load (~2.5 s on an idle
  core; RETRAIN_SECONDS = 60 leaves 6x at load 10), plus 0.1 s for the judge's evaluations.
Earlier measurements of the notebook's own model (judge seeds 1000+s, same bench before retraining):
- reference, seeds 0-7: 2.49e6-3.42e6 (2.8-6.5 s each); margins 29x to 1e8.
- naive but honest: the same net without Scale layers, Adam lr 1e-3: 4.55e9-4.66e9 (seeds
  0-2), tier 1 only (2.1x under 1e10, 4.6x over 1e9).
- the sample student's unscaled sigmoid 2-100-100-1, SGD lr 0.01, 20 epochs: 5.2e10-1.2e11
  (seeds 0-4), fails every tier (5.2x over 1e10 at best).
- the reference trained on the hand-out's buggy (-1e6, 1e6) generator: 5.4e16-2.2e17 (seeds 0-4).
- constant 0: 1.11e11; parameter-free models: re-initialised MSE / MSE = 1.

Re-initialisation gate: the judge rebuilds a model from genuine torch.nn classes (a model that is
not a chain of whitelisted layers, e.g. one whose forward multiplies its inputs, cannot be
exported and fails every tier with the exporter's reason), then re-initialises all its
parameters (``reset_parameters`` on every layer that has one; BatchNorm running statistics
included) with REINIT_SEEDS seeds. If any
re-initialised copy has an MSE below REINIT_FACTOR times the model's own MSE, the accuracy did
not come from training and every tier fails. A random network predicts about 0, so its MSE is
at least about the baseline (1.07e11 the lowest seen), while passing the loosest tier needs an
MSE below 1e10: a tier-passing model's ratio is above 10, twice REINIT_FACTOR. The gates are
checked after the bound, so a weak honest model is told its MSE, not accused of cheating.

``review`` flags, for a person, code that multiplies inputs in a forward
(``find_input_products``) and weights written directly in ``build_q2_model``/``train_q2``
(``find_weight_writes``); the pipeline shows them as review notes, never as points.
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

from grader.common.cell_source import without_magics
from grader.judge.exported_answers import ExportedAnswers
from grader.judge.modelspec import ModelSpec
from grader.judge.protocol import Probe, probe_model

VALUES = ["q2_best_train_mse", "q2_best_test_mse"]
MODELS = ["q2_model"]
FILES: list[str] = []

MODEL = "q2_model"
RETRAINED = probe_model("q2", "trained")  # build_q2_model() trained by train_q2, in the kernel
INITIAL = probe_model("q2", "initial")  # the same fresh model before train_q2
RETRAIN_SECONDS = 60  # CPU seconds (wall cap: --wall-factor x); the reference needs 2.5-6.5
RETRAIN_THREADS = 1
TRAIN_SIZE, TEST_SIZE = 10_000, 2_000  # the notebook's own sizes
MAX_ABS = 1000.0
NUM_TEST = 10_000
EVAL_BATCH = 1000
MAX_PARAMETERS = 2_000_000
BASELINE_MSE = (MAX_ABS**2 / 3) ** 2  # MSE of always predicting 0: 1.11e11
REINIT_SEEDS = 3
REINIT_FACTOR = 5.0
SESSION_SEED = secrets.randbits(32)
LABELS_MODEL = f"`{MODEL}`"
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


def prepare(data_dir: object = None) -> None:
    """Draw this grading session's fresh test pairs before any submission runs (no data needed)."""
    fresh_test_data(SESSION_SEED)


# The grader's run of the student's procedure, in the sandboxed kernel ---------------------------


class MultiplyDataset(torch.utils.data.Dataset):
    """Pairs x = (x1, x2) drawn uniformly from (-max_abs, max_abs), with target y = x1 * x2.

    Item i is ``(x[i], y[i])``: float32 tensors of shapes (2,) and (1,), so a batch of B items
    has inputs of shape (B, 2) and targets of shape (B, 1). The same seed gives the same data.
    """

    def __init__(self, num_examples: int, max_abs: float = 1000.0, seed: int = 0):
        rng = np.random.default_rng(seed)
        pairs = rng.uniform(-1.0, 1.0, size=(num_examples, 2)) * max_abs
        self.x = torch.tensor(pairs, dtype=torch.float32)
        self.y = self.x[:, :1] * self.x[:, 1:]

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]


def retrain_inputs() -> dict[str, int]:
    """Secret seeds for one submission's retraining (model initialisation, train and test data)."""
    seeds = {key: secrets.randbits(31) for key in ("model_seed", "train_seed", "test_seed")}
    sizes = {"train_size": TRAIN_SIZE, "test_size": TEST_SIZE, "threads": RETRAIN_THREADS}
    return seeds | sizes


def retrain_procedure(namespace: dict, inputs: dict) -> dict:
    """In the kernel: ``build_q2_model()`` seeded by the grader, trained by ``train_q2``.

    The datasets are the grader's own copy of the given ``MultiplyDataset`` (sent with this
    function), drawn with the grader's secret seeds; ``train_q2`` runs with its own defaults.
    """
    import copy
    import time

    import torch

    for name in ("build_q2_model", "train_q2"):
        if not callable(namespace.get(name)):
            raise NameError(f"`{name}` is not defined after running the notebook")
    torch.set_num_threads(inputs["threads"])
    train_set = MultiplyDataset(inputs["train_size"], seed=inputs["train_seed"])
    test_set = MultiplyDataset(inputs["test_size"], seed=inputs["test_seed"])
    torch.manual_seed(inputs["model_seed"])
    model = namespace["build_q2_model"]()
    if not isinstance(model, torch.nn.Module):
        kind = type(model).__name__
        raise TypeError(f"build_q2_model() returned a {kind}, not a torch.nn.Module")
    initial = copy.deepcopy(model)
    start = time.perf_counter()
    namespace["train_q2"](model, train_set, test_set)
    return {"initial": initial, "trained": model, "seconds": time.perf_counter() - start}


PROBES = [
    Probe(
        "q2",
        retrain_procedure,
        retrain_inputs,
        helpers=(MultiplyDataset,),
        preamble="import numpy as np\nimport torch",
        seconds=RETRAIN_SECONDS,
    )
]


def predict(model: nn.Module, x: torch.Tensor, label: str = LABELS_MODEL) -> torch.Tensor:
    """Predictions (N, 1) as float64, in batches; AssertionError if the model cannot run."""
    outputs = []
    with torch.no_grad():
        for batch in torch.split(x, EVAL_BATCH):
            try:
                output = model(batch)
            except (RuntimeError, TypeError, ValueError) as error:
                message = f"{label} fails on inputs of shape (N, 2): {error}"
                raise AssertionError(message) from error
            shape = tuple(output.shape)
            assert shape == (len(batch), 1), f"{label} returns shape {shape}, not (N, 1)"
            outputs.append(output.double())
    return torch.cat(outputs)


def mean_squared_error(model: nn.Module, seed: int, label: str = LABELS_MODEL) -> float:
    """Test MSE in raw units on the judge's fresh pairs (inf if a prediction is not finite)."""
    x, y = fresh_test_data(seed)
    prediction = predict(model, x, label)
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


def measure(model: nn.Sequential, seed: int, label: str = LABELS_MODEL) -> Evaluation:
    """MSE of a rebuilt model and of REINIT_SEEDS re-initialised copies of it."""
    mse = mean_squared_error(model, seed, label)
    assert math.isfinite(mse), f"{label} predicts NaN or infinite values"
    copies = (reinitialised(model, seed + k + 1) for k in range(REINIT_SEEDS))
    return Evaluation(seed, mse, tuple(mean_squared_error(c, seed, label) for c in copies))


LABELS = {
    MODEL: f"`{MODEL}`",
    RETRAINED: "the model your procedure trained for the grader",
    INITIAL: "the fresh `build_q2_model()`",
}


def evaluate(submission: ExportedAnswers, seed: int | None = None, name: str = MODEL) -> Evaluation:
    """Rebuild model ``name`` (AssertionError with the reason if impossible) and measure it."""
    seed = SESSION_SEED if seed is None else seed
    if name in submission.models:  # check the size before rebuilding allocates the layers
        state = submission.models[name].state_dict.values()
        size = sum(t.numel() for t in state if isinstance(t, torch.Tensor))
        label = LABELS.get(name, name)
        assert size <= MAX_PARAMETERS, f"{label} has {size:,} parameters, over {MAX_PARAMETERS:,}"
    model = submission.model(name)
    key = (_digest(submission.models[name]), seed)
    if key not in _EVALUATIONS:
        if len(_EVALUATIONS) >= 32:
            _EVALUATIONS.clear()
        _EVALUATIONS[key] = measure(model, seed, LABELS.get(name, name))
    return _EVALUATIONS[key]


def check_learned(evaluation: Evaluation, label: str = LABELS[MODEL]) -> None:
    """The anti-cheat gate: re-initialising the parameters must destroy the accuracy."""
    best_reinit = min(evaluation.reinit_mses)
    assert best_reinit >= REINIT_FACTOR * evaluation.mse, (
        f"{label} is about as accurate with re-initialised parameters (MSE {best_reinit:.3g}) as "
        f"trained (MSE {evaluation.mse:.3g}): its predictions do not come from trained weights, "
        "so no Q2 tier can be awarded"
    )


def _retrained(submission: ExportedAnswers, seed: int) -> Evaluation:
    """The grader's own run of the procedure, checked to have trained; its evaluation."""
    if RETRAINED not in submission.models:
        reason = submission.problems.get("q2") or submission.problems.get(RETRAINED)
        raise AssertionError(
            "the grader could not retrain your procedure (`build_q2_model()`, then "
            f"`train_q2(model, train_set, test_set)`): {reason or 'no model came back'}"
        )
    if INITIAL in submission.models:
        initial, trained = submission.models[INITIAL], submission.models[RETRAINED]
        assert _digest(initial) != _digest(trained), (
            "`train_q2(model, train_set, test_set)` returned without changing the weights of a "
            "fresh `build_q2_model()`: the grader retrains your procedure and grades that model, "
            "so train_q2 must train the model it is given, in place"
        )
    return evaluate(submission, seed, RETRAINED)


def _check_tier(submission: ExportedAnswers, bound: float, seed: int | None) -> None:
    """A tier: the retrained procedure's MSE below ``bound``, earned by training; q2_model too."""
    seed = SESSION_SEED if seed is None else seed
    submitted = evaluate(submission, seed, MODEL)  # first: a q2_model that cannot be graded
    retrained = _retrained(submission, seed)
    assert retrained.mse < bound, (
        f"retrained by the grader (`build_q2_model()` with the grader's seed, then `train_q2` on "
        f"{TRAIN_SIZE:,} new training pairs), your procedure's model has test MSE "
        f"{retrained.mse:.3g} on {NUM_TEST:,} fresh pairs from (-{MAX_ABS:g}, {MAX_ABS:g})^2, not "
        f"below {bound:.0e} (predicting 0 gives {BASELINE_MSE:.2g})"
    )
    initial = evaluate(submission, seed, INITIAL).mse
    assert initial >= REINIT_FACTOR * retrained.mse, (
        f"a fresh `build_q2_model()` is already about as accurate (MSE {initial:.3g}) as after "
        f"`train_q2` (MSE {retrained.mse:.3g}): the accuracy must come from training from a random "
        "initialisation, not from weights set by hand"
    )
    check_learned(retrained, LABELS[RETRAINED])
    check_learned(submitted)


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
        tree = ast.parse(without_magics(source))
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


_PROCEDURE = {"build_q2_model", "train_q2"}
_WEIGHT_WRITES = {"copy_", "fill_", "load_state_dict", "set_"}


def _writes_data(target: ast.AST) -> bool:
    """``p.data = ...`` or ``p.data[...] = ...``."""
    if isinstance(target, ast.Subscript):
        target = target.value
    return isinstance(target, ast.Attribute) and target.attr == "data"


def find_weight_writes(source: str) -> list[str]:
    """Weights written directly inside ``build_q2_model`` or ``train_q2`` (Q2: "do not set
    weights by hand"): ``.data =``, ``copy_``, ``fill_``, ``set_``, ``load_state_dict``.

    Like ``find_input_products`` a reason for a person to look (an initialiser such as
    ``bias.fill_(0.0)`` is fine), not a score. Unparsable source is reported by that function.
    """
    try:
        tree = ast.parse(without_magics(source))
    except SyntaxError:
        return []
    findings: dict[tuple[int, int], str] = {}
    for scope in ast.walk(tree):
        if not (isinstance(scope, ast.FunctionDef) and scope.name in _PROCEDURE):
            continue
        for node in ast.walk(scope):
            targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
            assigns = isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
            writes = assigns and any(_writes_data(t) for t in targets if t is not None)
            if writes or (isinstance(node, ast.Call) and _call_name(node) in _WEIGHT_WRITES):
                text = ast.unparse(node)
                text = text if len(text) <= 60 else text[:57] + "..."
                findings[(node.lineno, node.col_offset)] = (
                    f"line {node.lineno}: `{text}` in {scope.name}() writes weights directly"
                )
    return [findings[key] for key in sorted(findings)]


def review(source: str) -> list[str]:
    """Findings in one code cell for a person to look at: input products, weights set by hand."""
    return find_input_products(source) + find_weight_writes(source)
