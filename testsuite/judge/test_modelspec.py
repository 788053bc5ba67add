"""Models as data: only whitelisted layers are rebuilt, with exactly the exported weights."""

import ast
import re

import nbformat
import pytest
import torch
from torch import nn

from grader.judge.modelspec import (
    ALLOWED_LAYERS,
    InvalidModel,
    ModelSpec,
    Scale,
    rebuild,
    spec_from_module,
)
from grader.judge.protocol import export_request
from testsuite.notebook_code import MASTER_NOTEBOOK, same_class


def test_round_trip_keeps_weights_and_behaviour() -> None:
    model = nn.Sequential(
        Scale(1e-3), nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1)
    )
    model.eval()
    rebuilt = rebuild(spec_from_module(model))
    x = torch.randn(5, 2)
    assert torch.equal(model(x), rebuilt(x))
    assert not any(p.requires_grad for p in rebuilt.parameters())


def test_rejects_layers_outside_the_whitelist() -> None:
    with pytest.raises(InvalidModel, match="not allowed"):
        rebuild(ModelSpec(layers=[("Bilinear", {})]))


def test_rejects_unknown_arguments() -> None:
    with pytest.raises(InvalidModel, match="unexpected arguments"):
        rebuild(ModelSpec(layers=[("ReLU", {"inplace": True, "evil": 1})]))


def test_rejects_weights_that_do_not_fit() -> None:
    spec = spec_from_module(nn.Sequential(nn.Linear(2, 3)))
    spec.state_dict["0.weight"] = torch.zeros(4, 2)
    with pytest.raises(InvalidModel, match="do not fit"):
        rebuild(spec)


def test_rejects_empty_model() -> None:
    with pytest.raises(InvalidModel, match="no layers"):
        rebuild(ModelSpec(layers=[]))


def test_notebook_scale_matches_trusted_scale() -> None:
    """The Scale class students get must be exactly the judge's copy."""
    assert same_class(MASTER_NOTEBOOK, Scale)


@pytest.mark.parametrize(
    "args",
    [
        {"in_features": 10**9, "out_features": 10**9, "bias": True},
        {"in_features": 2, "out_features": -1, "bias": True},
        {"in_features": "2", "out_features": 1, "bias": True},
    ],
)
def test_refuses_absurd_sizes_before_allocating(args) -> None:
    with pytest.raises(InvalidModel, match="invalid size"):
        rebuild(ModelSpec(layers=[("Linear", args)]))


def test_refuses_too_many_parameters() -> None:
    wide = {"in_features": 100_000, "out_features": 1_000, "bias": True}
    with pytest.raises(InvalidModel, match="declares"):
        rebuild(ModelSpec(layers=[("Linear", wide)]))


def _master_cell(start: str) -> str:
    cells = nbformat.read(str(MASTER_NOTEBOOK), as_version=4).cells
    return next(cell.source for cell in cells if start in cell.source)


def test_whitelist_copies_agree() -> None:
    """The Q2 prompt and the Q2 public test state the whitelist that the judge rebuilds from.

    (The exporter receives its table from ``modelspec`` in the export request.)
    """
    prose = _master_cell("## Question 2")
    sentence = prose[
        prose.index("a chain of these layers only") : prose.index("The autograder rebuilds")
    ]
    stated = {
        re.sub(r"^torch\.nn\.|\(.*\)$", "", name) for name in re.findall(r"`([^`]+)`", sentence)
    }
    assert stated == set(ALLOWED_LAYERS)
    public = ast.parse(_master_cell("def test_q2_model_layers").split('""" # END TEST CONFIG')[-1])
    allowed = next(
        node.value
        for node in ast.walk(public)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "allowed"
    )
    assert set(ast.literal_eval(allowed)) == set(ALLOWED_LAYERS)
    request = export_request({})
    assert set(request["layer_args"]) == set(ALLOWED_LAYERS)
