"""Q1 hidden checks: FixedAddModule with good weights adds any two reals.

The in-kernel probe builds ``FixedAddModule(use_good_weights=True)``, reads ``layer_1`` and runs
the module on inputs drawn here at grading time (magnitudes from 1e-2 up to 1e6), so a clamp such
as Hardtanh fails as soon as a sum leaves [-1, 1].
"""

import secrets

import torch

VALUES: list[str] = []
MODELS: list[str] = []
FILES: list[str] = []

# float32 sums near 2e6 are exact to ~0.25; compare relative to the magnitude.
RELATIVE_TOLERANCE = 1e-5
ABSOLUTE_TOLERANCE = 1e-4


def probe_inputs(seed: int | None = None, count: int = 64) -> list[list[float]]:
    """Fresh input pairs: log-uniform magnitudes in [1e-2, 1e6] with random signs."""
    generator = torch.Generator().manual_seed(secrets.randbits(31) if seed is None else seed)
    magnitude = 10 ** (torch.rand(count, 2, generator=generator) * 8 - 2)
    sign = torch.randint(0, 2, (count, 2), generator=generator) * 2 - 1
    pairs = (magnitude * sign).to(torch.float32)
    pairs[0] = torch.tensor([1e6, 1e6])  # always include the largest magnitude
    return pairs.tolist()


def _probe(submission) -> dict:
    probe = submission.probe("q1")
    if not isinstance(probe, dict):
        raise AssertionError("FixedAddModule could not be probed")
    return probe


def check_adds_any_magnitude(submission) -> None:
    """The module's output equals x1 + x2 on every probe pair."""
    probe = _probe(submission)
    inputs = torch.tensor(submission.grader_inputs["q1_inputs"], dtype=torch.float32)
    try:
        outputs = torch.tensor(probe["outputs"], dtype=torch.float64).reshape(-1)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise AssertionError(
            f"FixedAddModule returned something that is not numbers: {error}"
        ) from error
    expected = inputs.to(torch.float64).sum(dim=1)
    assert outputs.shape == expected.shape, (
        f"FixedAddModule returned {outputs.numel()} numbers for {len(expected)} input pairs"
    )
    wrong = ~torch.isclose(outputs, expected, rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE)
    if wrong.any():
        index = int(wrong.nonzero()[0])
        x1, x2 = inputs[index].tolist()
        raise AssertionError(
            f"FixedAddModule(use_good_weights=True) gives {outputs[index].item():.6g} for "
            f"x1={x1:.6g}, x2={x2:.6g} (expected {expected[index].item():.6g}); "
            f"{int(wrong.sum())} of {len(expected)} sums are wrong"
        )


def check_good_weights(submission) -> None:
    """layer_1 has weight [[1, 1]] and bias [0], in a module that really adds.

    The given AddModule already has these weights, so they only earn the point together with the
    fix: a module that keeps the clamp loses all of Q1.
    """
    probe = _probe(submission)
    try:
        weight = torch.tensor(probe["weight"], dtype=torch.float64)
        bias = torch.tensor(probe["bias"], dtype=torch.float64)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise AssertionError(f"layer_1 has no usable weight and bias: {error}") from error
    assert weight.shape == (1, 2) and torch.allclose(
        weight, torch.ones(1, 2, dtype=torch.float64)
    ), f"layer_1.weight should be [[1, 1]], got {weight.tolist()}"
    assert bias.shape == (1,) and torch.allclose(bias, torch.zeros(1, dtype=torch.float64)), (
        f"layer_1.bias should be [0], got {bias.tolist()}"
    )
    try:
        check_adds_any_magnitude(submission)
    except AssertionError as error:
        raise AssertionError(
            f"the weights are right, but the module is not fixed: {error}"
        ) from None
