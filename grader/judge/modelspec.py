"""Models as data: a chain of whitelisted ``torch.nn`` layers, described by its layers and weights.

A student's model leaves the sandbox only as a ``ModelSpec``: a ``torch.nn.Sequential`` is read
layer by layer, a module of the student's own is traced there with torch.fx into the same chain
(``grader.inside.kernel_export``). The judge rebuilds it as a Sequential of genuine ``torch.nn``
classes, so no code from the submission ever runs in the judge.
"""

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


class Scale(torch.nn.Module):
    """Multiply the input by a constant (e.g. to bring inputs and targets near unit scale)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


ALLOWED_LAYERS: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (
        nn.Linear,
        nn.Sigmoid,
        nn.ReLU,
        nn.LeakyReLU,
        nn.Tanh,
        nn.ELU,
        nn.GELU,
        nn.SiLU,
        nn.Softplus,
        nn.Identity,
        nn.Flatten,
        nn.BatchNorm1d,
        nn.LayerNorm,
        nn.Dropout,
        nn.LogSoftmax,
        Scale,
    )
}

# Layers that change nothing in eval mode, where the judge runs every model: a placeholder
# ``Identity`` (e.g. where the BN network has its BatchNorm1d) or a ``Dropout`` is no mistake.
NO_OP_LAYERS: tuple[type[nn.Module], ...] = (nn.Identity, nn.Dropout)


def computing_layers(model: nn.Sequential) -> list[nn.Module]:
    """The layers of a rebuilt model without its eval-mode no-ops (``NO_OP_LAYERS``)."""
    return [layer for layer in model if not isinstance(layer, NO_OP_LAYERS)]


# Constructor arguments of each layer, read back from the attributes of the same name.
LAYER_ARGS: dict[str, tuple[str, ...]] = {
    "Linear": ("in_features", "out_features", "bias"),
    "LeakyReLU": ("negative_slope",),
    "ELU": ("alpha",),
    "GELU": ("approximate",),
    "Softplus": ("beta", "threshold"),
    "Flatten": ("start_dim", "end_dim"),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine"),
    "Dropout": ("p",),
    "LogSoftmax": ("dim",),
    "Scale": ("factor",),
}


MAX_FEATURES = 100_000  # any size argument above this is refused before anything is allocated
MAX_MODEL_PARAMETERS = 10_000_000  # tensors a rebuilt model may allocate (40 MB of floats)
MAX_LAYERS = 1_000
MAX_SHAPE_DIMS = 4


class InvalidModel(ValueError):
    """The description does not denote a model built only from whitelisted layers."""


@dataclass
class ModelSpec:
    """Layer names with constructor arguments, plus the ``state_dict`` of the Sequential."""

    layers: list[tuple[str, dict[str, Any]]]
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)


def layer_args(layer: nn.Module) -> dict[str, Any]:
    """Constructor arguments of a whitelisted layer, as plain values."""
    args = {}
    for name in LAYER_ARGS.get(type(layer).__name__, ()):
        value = getattr(layer, name)
        if name == "bias":  # nn.Linear stores the tensor (or None), the constructor wants a flag
            value = value is not None
        args[name] = list(value) if isinstance(value, tuple) else value
    return args


def spec_from_module(model: nn.Sequential) -> ModelSpec:
    """Describe a trusted Sequential (used by tests and by the in-kernel exporter's twin)."""
    layers = [(type(layer).__name__, layer_args(layer)) for layer in model]
    state = {key: value.detach().clone() for key, value in model.state_dict().items()}
    return ModelSpec(layers=layers, state_dict=state)


def _build_layer(name: str, args: dict[str, Any]) -> nn.Module:
    if name not in ALLOWED_LAYERS:
        allowed = ", ".join(sorted(ALLOWED_LAYERS))
        raise InvalidModel(f"layer type {name!r} is not allowed (allowed: {allowed})")
    unknown = set(args) - set(LAYER_ARGS.get(name, ()))
    if unknown:
        raise InvalidModel(f"unexpected arguments {sorted(unknown)} for layer {name}")
    try:
        return ALLOWED_LAYERS[name](**args)
    except (TypeError, ValueError, RuntimeError) as error:
        raise InvalidModel(f"cannot build {name}({args}): {error}") from error


def _size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_FEATURES:
        raise InvalidModel(f"layer {name} has an invalid size {value!r}")
    return value


def declared_parameters(name: str, args: dict[str, Any]) -> int:
    """Numbers a layer would allocate (weights and buffers), refusing absurd sizes first.

    E.g. ``LayerNorm([8000, 8000])`` allocates 2 x 64 M, ``BatchNorm1d(n)`` 4 x n.
    """
    if name == "Linear":
        inputs, outputs = (
            _size(name, args.get("in_features")),
            _size(name, args.get("out_features")),
        )
        return inputs * outputs + outputs
    if name == "BatchNorm1d":
        return 4 * _size(name, args.get("num_features"))
    if name == "LayerNorm":
        shape = args.get("normalized_shape")
        shape = shape if isinstance(shape, list) else [shape]
        if not 0 < len(shape) <= MAX_SHAPE_DIMS:
            raise InvalidModel(f"layer {name} has an invalid shape {shape!r}")
        return 2 * math.prod(_size(name, size) for size in shape)
    return 0


def rebuild(spec: ModelSpec) -> nn.Sequential:
    """Build the described Sequential from genuine classes, load its weights, switch to eval."""
    if not spec.layers:
        raise InvalidModel("the model has no layers")
    if len(spec.layers) > MAX_LAYERS:
        raise InvalidModel(f"the model has {len(spec.layers):,} layers (at most {MAX_LAYERS:,})")
    declared = sum(declared_parameters(name, dict(args)) for name, args in spec.layers)
    if declared > MAX_MODEL_PARAMETERS:
        raise InvalidModel(
            f"the model declares {declared:,} parameters (at most {MAX_MODEL_PARAMETERS:,})"
        )
    model = nn.Sequential(*(_build_layer(name, args) for name, args in spec.layers))
    try:
        model.load_state_dict(spec.state_dict, strict=True)
    except (RuntimeError, KeyError, TypeError) as error:
        raise InvalidModel(f"the weights do not fit the layers: {error}") from error
    model.requires_grad_(False)
    return model.eval()
