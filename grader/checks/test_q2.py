"""Tests of the Q2 checks: the reference passes every tier; weak, broken and cheating models fail.

The reference code is the master notebook's ``q2-lib`` cells. Trained models are cached per seed
(reference ~4 s, sample student ~2 s on one CPU core), so the file takes well under a minute.
"""

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

from grader import modelspec
from grader.checks import q2
from grader.exported_answers import ExportedAnswers
from grader.modelspec import ModelSpec, Scale, spec_from_module
from grader.notebook_code import MASTER_NOTEBOOK, exec_tagged_cells, tagged_sources

SEEDS = (0, 1, 2)
TIERS = (q2.check_mse_below_1e10, q2.check_mse_below_1e9, q2.check_mse_below_1e8)


@cache
def lib() -> dict[str, Any]:
    return exec_tagged_cells(MASTER_NOTEBOOK, "q2-lib")


def judge_seed(seed: int) -> int:
    return 1000 + seed


def submission_of(model: nn.Sequential) -> ExportedAnswers:
    return ExportedAnswers(models={q2.MODEL: spec_from_module(model)})


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


@pytest.mark.parametrize("seed", SEEDS)
def test_reference_passes_every_tier(seed: int) -> None:
    submission = submission_of(reference_model(seed))
    for check in TIERS:
        check(submission, seed=judge_seed(seed))
    evaluation = q2.evaluate(submission, seed=judge_seed(seed))
    assert evaluation.mse < 1e7 and min(evaluation.reinit_mses) > 1e10


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
    monkeypatch.setattr(q2, "reinitialised", lambda model, _seed: model)
    assert_fails_every_tier(submission_of(reference_model(seed)), 100 + seed, "re-initialised")


NOT_EXPORTED = "TypeError: it is a Net, not a torch.nn.Sequential"  # the exporter's reason
UNGRADABLE = {
    "not exported": (ExportedAnswers(problems={q2.MODEL: NOT_EXPORTED}), NOT_EXPORTED),
    "missing": (ExportedAnswers(), "not defined"),
    "layer not allowed": (
        ExportedAnswers(models={q2.MODEL: ModelSpec(layers=[("Bilinear", {})])}),
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
    with pytest.raises(AssertionError, match="not a Sequential"):
        tests["test_q2_model_layers"](NotSequential(), torch)
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
