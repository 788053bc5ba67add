"""Q1 hidden checks: FixedAddModule with good weights adds any two reals, through ``layer_1``.

The question: keep ``layer_1`` as the linear layer and make the module compute x1 + x2 exactly.
The in-kernel probe (``probe_fixed_add_module``, sent to the kernel as source) builds
``FixedAddModule(use_good_weights=True)``, reads ``layer_1`` and runs the module on pairs drawn
here for each submission (magnitudes from 1e-2 up to 1e6), so a clamp such as Hardtanh fails as
soon as a sum leaves [-1, 1]. It then writes other secret weights into ``layer_1`` and runs the
module again: a module that adds without its linear layer (``x.sum(dim=1, keepdim=True)``) does
not follow them and loses the point. A bias-free ``layer_1`` (``Linear(2, 1, bias=False)``) or a
zero bias of another shape (a 0-d tensor) adds just as well and earns it.
"""

import secrets
from typing import Any

import torch

from grader.judge.protocol import Probe

# float32 sums near 2e6 are exact to ~0.25; compare relative to the magnitude of the terms.
RELATIVE_TOLERANCE = 1e-5
ABSOLUTE_TOLERANCE = 1e-4
NUM_PAIRS = 64


def probe_inputs(seed: int | None = None, count: int = NUM_PAIRS) -> dict[str, Any]:
    """Fresh input pairs (log-uniform magnitudes in [1e-2, 1e6], random signs) and other weights.

    ``other_weight`` and ``other_bias`` are written into ``layer_1`` for a second run: the module
    must then compute x @ other_weight.T + other_bias, as a module built on ``layer_1`` does.
    """
    generator = torch.Generator().manual_seed(secrets.randbits(31) if seed is None else seed)
    magnitude = 10 ** (torch.rand(count, 2, generator=generator) * 8 - 2)
    sign = torch.randint(0, 2, (count, 2), generator=generator) * 2 - 1
    pairs = (magnitude * sign).to(torch.float32)
    pairs[0] = torch.tensor([1e6, 1e6])  # always include the largest magnitude
    other_weight = (torch.rand(1, 2, generator=generator) * 1.5 + 0.5).to(torch.float32)
    other_bias = float(torch.rand(1, generator=generator).item() * 6 - 3)
    return {
        "pairs": pairs.tolist(),
        "other_weight": other_weight.tolist(),
        "other_bias": other_bias,
    }


def probe_fixed_add_module(namespace: dict, inputs: dict) -> dict:
    """In the kernel: outputs and ``layer_1`` of FixedAddModule, then outputs with other weights."""
    import torch

    if "FixedAddModule" not in namespace:
        raise NameError("`FixedAddModule` is not defined after running the notebook")
    module = namespace["FixedAddModule"](use_good_weights=True)
    x = torch.tensor(inputs["pairs"], dtype=torch.float32)
    with torch.no_grad():
        result = {"outputs": module(x)}
        layer = module.layer_1
        result["weight"] = layer.weight.detach().clone()
        result["bias"] = None if layer.bias is None else layer.bias.detach().clone()
        try:
            layer.weight.copy_(torch.tensor(inputs["other_weight"]))
            if layer.bias is not None:
                layer.bias.fill_(inputs["other_bias"])
            result["other_outputs"] = module(x)
        except Exception as error:  # reported to the student by the judge
            result["other_error"] = f"{type(error).__name__}: {error}"
    return result


PROBES = [Probe("q1", probe_fixed_add_module, probe_inputs)]


def _probe(submission) -> dict:
    try:
        probe = submission.probe("q1")
    except AssertionError as error:
        reason = submission.problems.get("q1", str(error))
        raise AssertionError(f"FixedAddModule could not be probed: {reason}") from None
    if not isinstance(probe, dict):
        raise AssertionError("FixedAddModule could not be probed")
    return probe


def _numbers(probe: dict, key: str) -> torch.Tensor:
    try:
        return torch.tensor(probe[key], dtype=torch.float64).reshape(-1)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise AssertionError(
            f"FixedAddModule returned something that is not numbers: {error}"
        ) from error


def _wrong(outputs: torch.Tensor, expected: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Which outputs are off by more than the float32 rounding of their terms allows."""
    assert outputs.shape == expected.shape, (
        f"FixedAddModule returned {outputs.numel()} numbers for {len(expected)} input pairs"
    )
    return (outputs - expected).abs() > RELATIVE_TOLERANCE * scale + ABSOLUTE_TOLERANCE


def check_adds_any_magnitude(submission) -> None:
    """The module outputs x1 + x2 on every probe pair, and computes it with ``layer_1``."""
    probe = _probe(submission)
    inputs = submission.grader_inputs["q1"]
    x = torch.tensor(inputs["pairs"], dtype=torch.float64)
    outputs, expected = _numbers(probe, "outputs"), x.sum(dim=1)
    wrong = _wrong(outputs, expected, x.abs().sum(dim=1))
    if wrong.any():
        index = int(wrong.nonzero()[0])
        x1, x2 = x[index].tolist()
        raise AssertionError(
            f"FixedAddModule(use_good_weights=True) gives {outputs[index].item():.6g} for "
            f"x1={x1:.6g}, x2={x2:.6g} (expected {expected[index].item():.6g}); "
            f"{int(wrong.sum())} of {len(expected)} sums are wrong"
        )
    _check_uses_layer_1(probe, inputs, x)


def _check_uses_layer_1(probe: dict, inputs: dict, x: torch.Tensor) -> None:
    """With other weights in ``layer_1`` the module must compute what ``layer_1`` then computes."""
    if "other_error" in probe:
        raise AssertionError(
            "the grader could not set layer_1's weights to check that the sum comes from "
            f"layer_1, a torch.nn.Linear(2, 1): {probe['other_error']}"
        )
    weight = torch.tensor(inputs["other_weight"], dtype=torch.float64).reshape(2)
    bias = 0.0 if probe.get("bias") is None else inputs["other_bias"]
    terms = x * weight
    expected = terms.sum(dim=1) + bias
    outputs = _numbers(probe, "other_outputs")
    wrong = _wrong(outputs, expected, terms.abs().sum(dim=1) + abs(bias))
    if wrong.any():
        index = int(wrong.nonzero()[0])
        x1, x2 = x[index].tolist()
        raise AssertionError(
            "FixedAddModule does not compute its output with layer_1: with layer_1's weights set "
            f"to {weight.tolist()} and bias {bias:g}, it gives {outputs[index].item():.6g} for "
            f"x1={x1:.6g}, x2={x2:.6g} instead of layer_1's {expected[index].item():.6g}. "
            "Keep layer_1 as the linear layer that adds"
        )


def check_good_weights(submission) -> None:
    """layer_1 has weight [[1, 1]] and bias 0 (or none), in a module that really adds.

    The given AddModule already has these weights, so they only earn the point together with the
    fix: a module that keeps the clamp, or adds without layer_1, loses all of Q1.
    """
    probe = _probe(submission)
    try:
        weight = torch.tensor(probe["weight"], dtype=torch.float64)
        bias = torch.tensor(0.0 if probe["bias"] is None else probe["bias"], dtype=torch.float64)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise AssertionError(f"layer_1 has no usable weight and bias: {error}") from error
    assert weight.shape == (1, 2) and torch.allclose(
        weight, torch.ones(1, 2, dtype=torch.float64)
    ), f"layer_1.weight should be [[1, 1]], got {weight.tolist()}"
    assert bias.numel() == 1 and torch.all(bias == 0), (
        f"layer_1.bias should be 0 (or absent), got {bias.tolist()}"
    )
    try:
        check_adds_any_magnitude(submission)
    except AssertionError as error:
        raise AssertionError(
            f"the weights are right, but the module is not fixed: {error}"
        ) from None
