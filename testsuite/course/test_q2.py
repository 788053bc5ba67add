"""Tests of the Q2 checks: the reference passes every tier; weak, broken and cheating models fail.

The reference code is the master notebook's ``q2-lib`` cells. The grader retrains a submission's
procedure in the kernel (``q2.retrain_procedure``); here that probe runs in this process through
the real exporter. Trained models are cached per seed (reference ~4 s, sample student ~2 s on one
CPU core), so the file takes about a minute.
"""

import hashlib
import inspect
import linecache
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

from grader.judge import modelspec
from grader.judge.exported_answers import ExportedAnswers
from grader.judge.hidden_tests import possible_points
from grader.judge.modelspec import ModelSpec, Scale, spec_from_module
from testsuite.helpers import export_in_process, hidden_tests, judged_feedback, question_module
from testsuite.notebook_code import MASTER_NOTEBOOK, exec_tagged_cells, same_class, tagged_sources

q2 = question_module("q2")

SEEDS = (0, 1, 2)
TIERS = (q2.check_mse_below_1e10, q2.check_mse_below_1e9, q2.check_mse_below_1e8)


@cache
def lib() -> dict[str, Any]:
    return exec_tagged_cells(MASTER_NOTEBOOK, "q2-lib")


def judge_seed(seed: int) -> int:
    return 1000 + seed


def submission_of(model: nn.Sequential, initial: nn.Sequential | None = None) -> ExportedAnswers:
    """``model`` as both the submitted q2_model and the procedure's retrained model."""
    initial = q2.reinitialised(model, seed=99) if initial is None else initial
    models = {q2.MODEL: model, q2.RETRAINED: model, q2.INITIAL: initial}
    return ExportedAnswers(models={name: spec_from_module(m) for name, m in models.items()})


def retrain_inputs(seed: int) -> dict[str, int]:
    """The grader's secret inputs, made deterministic: grader seed ``seed``."""
    seeds = {"model_seed": 1000 + seed, "train_seed": 2000 + seed, "test_seed": 3000 + seed}
    return q2.retrain_inputs() | seeds


def graded_procedure(namespace: dict[str, Any], seed: int) -> ExportedAnswers:
    """Export ``namespace`` as the kernel would, retraining its procedure with grader ``seed``."""
    with tempfile.TemporaryDirectory() as tmp, one_thread():
        answers = Path(tmp) / "answers"
        return export_in_process(namespace, answers, ["q2"], {"q2": retrain_inputs(seed)})


def assert_fails_every_tier(submission: ExportedAnswers, seed: int, reason: str) -> None:
    for check in TIERS:
        with pytest.raises(AssertionError, match=reason):
            check(submission, seed=judge_seed(seed))


@contextmanager
def one_thread() -> Iterator[None]:
    """Train small nets on one core: on a busy machine two threads can be 20 times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@cache
@one_thread()
def reference_model(seed: int) -> nn.Sequential:
    """The notebook's solution recipe (seed 0 is the notebook's own run)."""
    torch.manual_seed(seed)
    dataset = lib()["MultiplyDataset"]
    train_set, test_set = dataset(10_000, seed=2 * seed), dataset(2_000, seed=2 * seed + 1)
    model = lib()["build_q2_model"]()
    lib()["train_q2"](model, train_set, test_set)
    return model.eval()


@cache
@one_thread()
def sample_student_model(seed: int) -> nn.Sequential:
    """The sample submission: unscaled 2-100-100-1 sigmoid net, SGD lr 0.01, 20 epochs."""
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        lib()["MultiplyDataset"](10_000, seed=2 * seed), batch_size=100, shuffle=True
    )
    model = nn.Sequential(
        nn.Linear(2, 100), nn.Sigmoid(), nn.Linear(100, 100), nn.Sigmoid(), nn.Linear(100, 1)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(20):
        for x, y in loader:
            loss = nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def buggy_dataset(num_examples: int, seed: int) -> torch.utils.data.Dataset:
    """The hand-out's bug: uniform(-1000, 1000) * max_abs, so inputs in (-1e6, 1e6)."""
    dataset = lib()["MultiplyDataset"](num_examples, seed=seed)
    pairs = np.random.default_rng(seed).uniform(-1000, 1000, size=(num_examples, 2)) * 1000
    dataset.x = torch.tensor(pairs, dtype=torch.float32)
    dataset.y = dataset.x[:, :1] * dataset.x[:, 1:]
    return dataset


@pytest.mark.parametrize("seed", SEEDS)
def test_given_dataset(seed: int) -> None:
    dataset = lib()["MultiplyDataset"](500, seed=seed)
    x, y = dataset[3]
    assert x.shape == (2,) and y.shape == (1,) and x.dtype == y.dtype == torch.float32
    assert len(dataset) == 500 and dataset.x.abs().max() < 1000 and dataset.x.abs().max() > 900
    assert torch.equal(dataset.y, dataset.x[:, :1] * dataset.x[:, 1:])
    assert torch.equal(lib()["MultiplyDataset"](500, seed=seed).x, dataset.x)
    assert not torch.equal(lib()["MultiplyDataset"](500, seed=seed + 1).x, dataset.x)
    assert lib()["MultiplyDataset"](10, max_abs=1.0, seed=seed).x.abs().max() < 1


@pytest.mark.parametrize("seed", SEEDS)
def test_fresh_test_data(seed: int) -> None:
    x, y = q2.fresh_test_data(seed)
    assert x.shape == (q2.NUM_TEST, 2) and x.dtype == torch.float32 and y.dtype == torch.float64
    assert x.abs().max() < q2.MAX_ABS and torch.equal(y, x[:, :1].double() * x[:, 1:].double())
    assert abs(y.pow(2).mean().item() / q2.BASELINE_MSE - 1) < 0.1
    assert not torch.equal(q2.fresh_test_data(seed + 1)[0], x)
    assert not torch.equal(lib()["MultiplyDataset"](q2.NUM_TEST, seed=seed).x, x)


@cache
def reference_retrained(seed: int) -> ExportedAnswers:
    """The reference notebook (its own run as q2_model), its procedure retrained by the grader."""
    return graded_procedure(lib() | {q2.MODEL: reference_model(0)}, seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_reference_passes_every_tier(seed: int) -> None:
    submission = reference_retrained(seed)
    assert submission.problems == {}
    for check in TIERS:
        check(submission, seed=judge_seed(seed))
    evaluation = q2.evaluate(submission, seed=judge_seed(seed), name=q2.RETRAINED)
    assert evaluation.mse < 1e7 and min(evaluation.reinit_mses) > 1e10
    assert q2.evaluate(submission, seed=judge_seed(seed), name=q2.INITIAL).mse > 1e10


def test_trusted_dataset_is_the_given_one() -> None:
    assert same_class(MASTER_NOTEBOOK, q2.MultiplyDataset)


@pytest.mark.parametrize("seed", SEEDS)
def test_sample_student_net_fails(seed: int) -> None:
    assert_fails_every_tier(submission_of(sample_student_model(seed)), seed, "not below")


@pytest.mark.parametrize("seed", SEEDS)
@one_thread()
def test_model_trained_on_buggy_generator_fails(seed: int) -> None:
    torch.manual_seed(seed)
    model = lib()["build_q2_model"]()
    lib()["train_q2"](model, buggy_dataset(10_000, 2 * seed), buggy_dataset(2_000, 2 * seed + 1))
    assert_fails_every_tier(submission_of(model.eval()), seed, "not below")


@pytest.mark.parametrize("seed", SEEDS)
def test_constant_zero_fails(seed: int) -> None:
    model = nn.Sequential(nn.Linear(2, 1))
    nn.init.zeros_(model[0].weight)
    nn.init.zeros_(model[0].bias)
    assert_fails_every_tier(submission_of(model), seed, "not below")


PARAMETER_FREE = {  # whitelisted layers whose output ignores the parameters' values
    "always zero": nn.Sequential(nn.Linear(2, 1), nn.LayerNorm(1, elementwise_affine=False)),
    "times zero": nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 1), Scale(0.0)),
    "batch-standardised sign": nn.Sequential(
        nn.LayerNorm(2, elementwise_affine=False),
        nn.Linear(2, 1),
        nn.BatchNorm1d(1, affine=False, track_running_stats=False),
        Scale(3.3e5),
    ),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", PARAMETER_FREE)
def test_model_that_survives_reinit_scores_zero(name: str, seed: int) -> None:
    submission = submission_of(PARAMETER_FREE[name])
    assert_fails_every_tier(submission, seed, "not below")
    with pytest.raises(AssertionError, match="re-initialised"):
        q2.check_learned(q2.evaluate(submission, seed=judge_seed(seed)))


@pytest.mark.parametrize("seed", SEEDS)
def test_gate_blocks_even_an_accurate_model(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """If re-initialising left the predictions intact, the reference would get 0 points."""
    submission = submission_of(reference_model(0))
    monkeypatch.setattr(q2, "reinitialised", lambda model, _seed: model)
    assert_fails_every_tier(submission, 100 + seed, "re-initialised")


NOT_EXPORTED = "TypeError: layer 0 (Net) is not one of the allowed torch.nn layers"
NOT_DEFINED = "NameError: `train_q2` is not defined after running the notebook"
SMALL = spec_from_module(nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)))
UNGRADABLE = {  # the submitted q2_model is a gradable model, unless the case is about it
    "q2_model not exported": (
        ExportedAnswers(problems={q2.MODEL: NOT_EXPORTED}),
        re.escape(f"`q2_model` could not be graded: {NOT_EXPORTED}"),
    ),
    "retrained not exported": (
        ExportedAnswers(models={q2.MODEL: SMALL}, problems={q2.RETRAINED: NOT_EXPORTED}),
        re.escape(NOT_EXPORTED),
    ),
    "procedure missing": (
        ExportedAnswers(models={q2.MODEL: SMALL}, problems={"q2": NOT_DEFINED}),
        re.escape(NOT_DEFINED),
    ),
    "nothing retrained": (
        ExportedAnswers(models={q2.MODEL: SMALL}),
        "could not retrain your procedure",
    ),
    "q2_model missing": (ExportedAnswers(), "not defined"),
    "layer not allowed": (
        ExportedAnswers(
            models={q2.MODEL: SMALL, q2.RETRAINED: ModelSpec(layers=[("Bilinear", {})])}
        ),
        "not allowed",
    ),
    "wrong output shape": (submission_of(nn.Sequential(nn.Linear(2, 2))), r"shape \(1000, 2\)"),
    "too large": (
        submission_of(nn.Sequential(nn.Linear(2, 800_000), nn.Linear(800_000, 2))),
        "parameters",
    ),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", UNGRADABLE)
def test_ungradable_model_fails_every_tier(name: str, seed: int) -> None:
    submission, reason = UNGRADABLE[name]
    assert_fails_every_tier(submission, seed, reason)


@pytest.mark.parametrize("seed", SEEDS)
def test_nan_model_fails(seed: int) -> None:
    model = nn.Sequential(nn.Linear(2, 1))
    nn.init.constant_(model[0].weight, float("nan"))
    assert_fails_every_tier(submission_of(model), seed, "NaN")


def test_reinitialised_resets_every_parameter_and_statistic() -> None:
    model = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.LayerNorm(4), nn.Linear(4, 1))
    model = modelspec.rebuild(spec_from_module(model.requires_grad_(False).apply(_fill)))
    fresh = q2.reinitialised(model, seed=5)
    for name, before in model.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            assert not torch.equal(before, fresh.state_dict()[name]), name
    assert torch.equal(fresh[0].weight, q2.reinitialised(model, seed=5)[0].weight)


def _fill(module: nn.Module) -> None:
    tensors = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
    for name, tensor in tensors:
        if tensor.is_floating_point():
            tensor.fill_(7.0 if "var" not in name else 3.0)


# Procedures the grader retrains: points and the feedback line the student reads.

HAND_SET = """
def build_q2_model(hidden=200):
    # x1 * x2 = ((x1 + x2)^2 - (x1 - x2)^2) / 4, each square piecewise linear: weights by hand
    step = 2000.0 / hidden
    knots = torch.arange(hidden) * step
    slopes = torch.full((hidden,), 2 * step)
    slopes[0] = step
    u, v = torch.tensor([1.0, 1.0]), torch.tensor([1.0, -1.0])
    first, last = torch.nn.Linear(2, 4 * hidden), torch.nn.Linear(4 * hidden, 1)
    with torch.no_grad():
        first.weight.copy_(torch.cat([u, -u, v, -v]).reshape(4, 2).repeat_interleave(hidden, 0))
        first.bias.copy_(-knots.repeat(4))
        last.weight.copy_(torch.cat([slopes, slopes, -slopes, -slopes])[None] / 4)
        last.bias.fill_(0.0)
    return torch.nn.Sequential(first, torch.nn.ReLU(), last)
"""
LIGHT_TRAINING = """
def train_q2(model, train_set, test_set, steps=20, lr=1e-9):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for step in range(steps):
        loss = torch.nn.functional.mse_loss(model(train_set.x[:100]), train_set.y[:100])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {"step": [], "train_mse": [], "test_mse": []}
"""
NO_TRAINING = """
def train_q2(model, train_set, test_set, steps=3000):
    return {"step": [], "train_mse": [], "test_mse": []}
"""
UNFILLED = """
def build_q2_model(hidden=64):
    ...


def train_q2(model, train_set, test_set, steps=3000):
    history = {"step": [], "train_mse": [], "test_mse": []}
    ...
    return history
"""
TUNED_TO_SEED_0 = """
reference_train_q2 = train_q2


def train_q2(model, train_set, test_set, steps=3000):
    # the schedule only works for the seed the notebook used
    steps = steps if torch.initial_seed() == 0 else 30
    return reference_train_q2(model, train_set, test_set, steps=steps)
"""


def student(*sources: str, q2_model: nn.Sequential | None = None) -> dict[str, Any]:
    """The reference notebook's namespace with the student's cells run after it."""
    namespace = dict(lib())
    for source in sources:
        exec(source, namespace)
    if q2_model is None:
        torch.manual_seed(0)
        q2_model = namespace["build_q2_model"]()
    return namespace | {q2.MODEL: q2_model}


def q2_feedback(namespace: dict[str, Any]) -> tuple[float, str]:
    points, feedback = judged_feedback(graded_procedure(namespace, seed=0), "q2")
    return points["q2"], feedback


def test_hand_set_q2_model_without_a_procedure_scores_zero() -> None:
    hand_set = student(HAND_SET)["build_q2_model"]()
    namespace = student(UNFILLED, q2_model=hand_set)
    judged = q2.evaluate(submission_of(hand_set))  # judged as an artifact it would pass
    assert judged.mse < 1e4 and min(judged.reinit_mses) > 1e10
    points, feedback = q2_feedback(namespace)
    assert points == 0
    assert (
        "- FAIL mse_beats_baseline (0/1): the grader could not retrain your procedure "
        "(`build_q2_model()`, then `train_q2(model, train_set, test_set)`): TypeError: "
        "build_q2_model() returned a NoneType, not a torch.nn.Module"
    ) in feedback


def test_weights_set_by_hand_in_build_q2_model_score_zero_and_are_flagged() -> None:
    points, feedback = q2_feedback(student(HAND_SET, LIGHT_TRAINING))
    assert points == 0
    strict = "- FAIL mse_strict (0/0.75): a fresh `build_q2_model()` is already about as accurate"
    assert strict in feedback
    assert "not from weights set by hand" in feedback
    findings = q2.review(HAND_SET)
    assert len(findings) == 4 and all("in build_q2_model() writes weights" in f for f in findings)


def test_train_q2_that_does_not_train_scores_zero() -> None:
    points, feedback = q2_feedback(student(NO_TRAINING, q2_model=reference_model(0)))
    assert points == 0
    assert (
        "- FAIL mse_good (0/0.75): `train_q2(model, train_set, test_set)` returned without "
        "changing the weights of a fresh `build_q2_model()`"
    ) in feedback


@one_thread()
def test_procedure_tuned_to_one_seed_loses_the_points() -> None:
    points, feedback = q2_feedback(student(TUNED_TO_SEED_0, q2_model=reference_model(0)))
    assert points <= 1  # 30 steps of Adam: a rough fit at best
    retrained = "- FAIL mse_strict (0/0.75): retrained by the grader (`build_q2_model()` with "
    assert retrained in feedback
    assert "your procedure's model has test MSE" in feedback


TUTORIAL_NET = """
import torch.nn.functional as F


class Net(torch.nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.fc1 = torch.nn.Linear(2, hidden)
        self.fc2 = torch.nn.Linear(hidden, hidden)
        self.fc3 = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        x = x.view(x.size(0), -1) / 1000
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x) * 1e6


def build_q2_model(hidden=64):
    return Net(hidden)
"""
PRODUCT_NET = TUTORIAL_NET.replace(
    "x = x.view(x.size(0), -1) / 1000", "x = x[:, :1] * x[:, 1:] / 1e6"
).replace("Linear(2, hidden)", "Linear(1, hidden)")
IF_NET = TUTORIAL_NET.replace(
    "x = x.view(x.size(0), -1) / 1000", "if x.abs().max() > 1:\n            x = x / 1000"
)


def own_module_student(source: str, train: bool = True) -> dict[str, Any]:
    """The reference namespace with ``source`` run as a notebook cell (its lines in linecache,
    as IPython keeps them), and ``q2_model`` built and trained by the reference ``train_q2``."""
    namespace = dict(lib())
    filename = f"<cell {hashlib.sha256(source.encode()).hexdigest()[:8]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    with one_thread():
        torch.manual_seed(0)
        model = namespace["build_q2_model"]()
        dataset = lib()["MultiplyDataset"]
        if train:
            namespace["train_q2"](model, dataset(10_000, seed=0), dataset(2_000, seed=1))
    return namespace | {q2.MODEL: model}


def line_of(source: str, code: str) -> int:
    return next(n for n, line in enumerate(source.splitlines(), 1) if line.strip() == code)


def test_tutorial_style_module_gets_full_points() -> None:
    """``class Net(nn.Module)``, x.view(x.size(0), -1), F.relu, scaling in forward: 3 of 3."""
    points, feedback = q2_feedback(own_module_student(TUTORIAL_NET))
    assert points == possible_points(hidden_tests("q2"))["q2"], feedback


def test_module_multiplying_its_inputs_scores_zero_and_is_flagged() -> None:
    points, feedback = q2_feedback(own_module_student(PRODUCT_NET, train=False))
    assert points == 0
    code = "x = x[:, :1] * x[:, 1:] / 1e6"
    refusal = (
        f"Net is not a chain of allowed layers: `mul`, line {line_of(PRODUCT_NET, code)}: "
        f"`{code}`: it multiplies values computed from the input"
    )
    assert (
        f"- FAIL mse_beats_baseline (0/1): `q2_model` could not be graded: TypeError: {refusal}"
        in (feedback)
    )
    assert [finding.split(": `")[1] for finding in q2.review(PRODUCT_NET)] == [
        "x[:, :1] * x[:, 1:]` in forward()"
    ]


def test_module_with_an_if_on_the_data_is_refused_with_the_reason() -> None:
    points, feedback = q2_feedback(own_module_student(IF_NET, train=False))
    assert points == 0
    line = line_of(IF_NET, "if x.abs().max() > 1:")
    assert (
        "`q2_model` could not be graded: TypeError: Net is not a chain of allowed layers: "
        f"torch.fx cannot trace its forward at line {line}: `if x.abs().max() > 1:` (symbolically "
        "traced variables cannot be used as inputs to control flow)"
    ) in feedback


def test_review_flags_weight_writes_only_in_the_procedure() -> None:
    procedure = tagged_sources(MASTER_NOTEBOOK, "q2-lib")
    assert all(q2.review(source) == [] for source in procedure)
    writes = (
        "def train_q2(model, *args):\n    model[0].weight.data = w\n    model.load_state_dict(s)\n"
    )
    assert [f.split(": ")[0] for f in q2.review(writes)] == ["line 2", "line 3"]
    assert q2.review(writes.replace("train_q2", "helper")) == []


def test_prose_states_the_retraining_limits() -> None:
    prose = next(
        cell.source
        for cell in nbformat.read(str(MASTER_NOTEBOOK), as_version=4).cells
        if cell.source.startswith("## Question 2")
    ).replace("\n", " ")
    for fact in (
        f"{q2.TRAIN_SIZE:,} training",
        f"{q2.TEST_SIZE:,} test",
        f"{q2.RETRAIN_SECONDS} seconds",
    ):
        assert fact in prose, fact
    assert q2.RETRAIN_THREADS == 1 and "one CPU thread" in prose


# Public tests of the notebook section, run against the reference model.


def public_tests() -> dict[str, Any]:
    """The public Q2 test functions of the master notebook (cells defining ``test_q2_*``)."""
    notebook = nbformat.read(str(MASTER_NOTEBOOK), as_version=4)
    namespace: dict[str, Any] = {}
    for cell in notebook.cells:
        if cell.cell_type == "code" and "def test_q2_" in cell.source:
            exec(compile(cell.source, "public q2 test", "exec"), namespace)
    return {name: value for name, value in namespace.items() if name.startswith("test_q2_")}


def test_public_tests_accept_the_reference() -> None:
    tests = public_tests()
    names = {"test_q2_model_layers", "test_q2_model_output_shape", "test_q2_reported_mse"}
    assert set(tests) == names
    tests["test_q2_model_layers"](reference_model(0), torch)
    tests["test_q2_model_output_shape"](reference_model(0), torch)
    tests["test_q2_reported_mse"](2.6e6, 2.7e6)


class NotSequential(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] * x[:, 1:]


def test_public_tests_reject_broken_answers() -> None:
    tests = public_tests()
    with pytest.raises(AssertionError, match="multiplies values computed from the input"):
        tests["test_q2_model_layers"](NotSequential(), torch)
    with pytest.raises(AssertionError, match=r"not a torch\.nn\.Module"):
        tests["test_q2_model_layers"](lambda x: x, torch)
    with pytest.raises(AssertionError, match="not an allowed layer"):
        tests["test_q2_model_layers"](nn.Sequential(NotSequential()), torch)
    with pytest.raises(AssertionError, match=r"\(3, 1\)"):
        tests["test_q2_model_output_shape"](nn.Sequential(nn.Linear(2, 1), nn.Flatten(0)), torch)
    with pytest.raises(AssertionError, match="finite"):
        tests["test_q2_reported_mse"](float("nan"), 1.0)
    with pytest.raises(AssertionError, match="float"):
        tests["test_q2_reported_mse"](torch.tensor(1.0), 1.0)


# Static check of the notebook source.


def in_forward(*body: str) -> str:
    lines = "".join(f"        {line}\n" for line in body)
    return f"class M(torch.nn.Module):\n    def forward(self, x):\n{lines}"


FLAGGED = [
    in_forward("return x[:, :1] * x[:, 1:]"),
    in_forward("return torch.prod(x, 1, True)"),
    in_forward("return x.prod(dim=1)"),
    in_forward("a, b = x.T", "return torch.mul(a, b)"),
    in_forward("return torch.einsum('ni,ni->n', x, x)"),
    in_forward("return (x.sum(1) ** 2 - x.pow(2).sum(1)) / 2"),
    in_forward("return torch.square(x)"),
    in_forward("return torch.exp(torch.log(x).sum(1))"),
    in_forward("y = x[:, 0]", "y *= x[:, 1]", "return y"),
    "net = Wrapper(lambda x: x[:, 0] * x[:, 1])\n",
    "%matplotlib inline\n" + in_forward("return x @ x.T"),
    in_forward("return x").replace("(self, x):", "(self, x)"),  # unparsable: reported too
]
CLEAN = [
    inspect.getsource(Scale),
    in_forward("return self.net(x) * 1e6 + 2 * x.sum()"),
    in_forward("return x @ self.weight + x ** 1 - -1 * x"),
    "def train(x, y):\n    return (x * y).mean()  # products outside forward are fine\n",
    "!pip list\n%%time\nloss = (prediction - target) ** 2\n",
]


@pytest.mark.parametrize("source", FLAGGED)
def test_find_input_products_flags(source: str) -> None:
    assert q2.find_input_products(source)


@pytest.mark.parametrize("source", CLEAN)
def test_find_input_products_passes(source: str) -> None:
    assert q2.find_input_products(source) == []


def test_reference_cells_have_no_input_products() -> None:
    assert q2.find_input_products("\n".join(tagged_sources(MASTER_NOTEBOOK, "q2-lib"))) == []
