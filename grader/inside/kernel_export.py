"""Runs INSIDE the sandboxed student kernel: export what the judge needs as plain data.

The runner sends this file's source to the kernel and calls ``export_answers``. It must only
use the standard library and torch. Nothing it writes is trusted: the judge re-validates all of it.
It knows no question: the request lists the names to export and the probes to run (their source,
entry function, grader inputs and time limit; see ``grader.judge.protocol.Probe``).
"""

import json
import math
import shutil
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MAX_ELEMENTS = 1_000_000  # cap on exported array sizes
MAX_EXPORTED_FILE_BYTES = 20_000_000  # per file the notebook wrote (e.g. a figure)
# What the exporter writes into its answers folder (the judge reads the same names)
EXPORT_JSON = "export.json"
WEIGHTS_FILE = "weights.pt"
FILES_DIR = "files"


def _to_plain(value: Any, budget: list[int]) -> Any:
    """Convert to JSON-able data: numbers, strings, lists, str-keyed dicts."""
    import torch

    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError("value is too large to export")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) or isinstance(value, int) else str(value)
    if isinstance(value, torch.Tensor):
        return _to_plain(value.detach().cpu().tolist(), budget)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars
        return _to_plain(value.tolist(), budget)
    if isinstance(value, (list, tuple)):
        return [_to_plain(item, budget) for item in value]
    if isinstance(value, dict):
        return {str(key): _to_plain(item, budget) for key, item in value.items()}
    raise TypeError(f"values of type {type(value).__name__} cannot be graded")


def _allowed_leaf(layer: Any, layer_args: dict[str, list[str]]) -> bool:
    """A whitelisted layer: a genuine torch.nn class (or the notebook's ``Scale``)."""
    kind = type(layer).__name__
    from_torch = type(layer).__module__.startswith("torch.nn.")
    return kind in layer_args and (kind == "Scale" or from_torch)


def _layer_entry(layer: Any, layer_args: dict[str, list[str]]) -> list:
    """``[kind, constructor arguments]`` of a whitelisted layer, read from its attributes."""
    kind = type(layer).__name__
    args = {}
    for name in layer_args[kind]:
        arg = getattr(layer, name)
        args[name] = arg is not None if (kind, name) == ("Linear", "bias") else arg
    return [kind, _to_plain(args, [MAX_ELEMENTS])]


def _describe_model(model: Any, layer_args: dict[str, list[str]]) -> tuple[list, dict]:
    """Layer list and state_dict of a chain of whitelisted torch.nn layers.

    A Sequential of whitelisted layers is read directly; any other ``torch.nn.Module`` is
    traced with torch.fx (``_traced_chain``), which must find the same kind of chain.
    """
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"it is a {type(model).__name__}, not a torch.nn.Module")
    if not (
        isinstance(model, torch.nn.Sequential)
        and all(_allowed_leaf(layer, layer_args) for layer in model)
    ):
        try:
            return _traced_chain(model, layer_args)
        except _NotAChain as error:
            kind = type(model).__name__
            raise TypeError(f"{kind} is not a chain of allowed layers: {error}") from None
    layers = [_layer_entry(layer, layer_args) for layer in model]
    state = {key: tensor.detach().cpu().clone() for key, tensor in model.state_dict().items()}
    return layers, state


# Tracing a student's own nn.Module (torch.fx) ---------------------------------------------------

_ACTIVATION_METHODS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}
_PRODUCTS = {"mul", "matmul", "mm", "bmm", "outer", "einsum", "prod", "cumprod", "pow", "square"}
_RESHAPES = {"view", "reshape"}
_NO_OPS = {"contiguous", "float"}  # nothing to do on the judge's float32 inputs


class _NotAChain(TypeError):
    """The traced computation is not a chain of whitelisted layers."""


def _log_softmax_layer(dim: Any = None, _stacklevel: int = 3, dtype: Any = None) -> Any:
    """``F.log_softmax(x, dim)`` as a layer (torch.fx records its private ``_stacklevel``)."""
    import torch

    if dtype is not None:
        raise ValueError("a dtype changes what the layer computes")
    return torch.nn.LogSoftmax(dim)


def _functional_layers() -> dict[Any, Any]:
    """Functional activations and the torch.nn layer that computes the same."""
    import torch

    nn, functional = torch.nn, torch.nn.functional
    pairs = [
        ((functional.relu, torch.relu), nn.ReLU),
        ((functional.sigmoid, torch.sigmoid), nn.Sigmoid),
        ((functional.tanh, torch.tanh), nn.Tanh),
        ((functional.gelu,), nn.GELU),
        ((functional.silu,), nn.SiLU),
        ((functional.elu,), nn.ELU),
        ((functional.leaky_relu,), nn.LeakyReLU),
        ((functional.softplus,), nn.Softplus),
        ((functional.log_softmax, torch.log_softmax), _log_softmax_layer),
    ]
    return {function: layer for functions, layer in pairs for function in functions}


def _line(number: Any, code: str | None) -> str:
    return f"line {number}: `{code.strip()}`" if code and code.strip() else f"line {number}"


def _where(stack_trace: str | None) -> str:
    """``, line N: `code``` of the student's last frame in an fx stack trace ('' if none)."""
    import os
    import re

    import torch

    torch_dir = os.path.dirname(torch.__file__)
    found = ""
    lines = (stack_trace or "").splitlines()
    for index, text in enumerate(lines):
        frame = re.match(r'\s*File "([^"]*)", line (\d+), in ', text)
        if frame and not frame.group(1).startswith(torch_dir):
            code = lines[index + 1] if index + 1 < len(lines) else ""
            found = _line(frame.group(2), "" if code.lstrip().startswith("File ") else code)
    return f", {found}" if found else ""


def _op_name(node: Any) -> str:
    """``F.relu``-style name of a traced call, for messages."""
    if node.op == "call_method":
        return f".{node.target}()"
    if node.op in ("call_module", "get_attr"):
        return f"layer {node.target}" if node.target[:1].isdigit() else f"self.{node.target}"
    return getattr(node.target, "__name__", str(node.target))


def _refuse(node: Any, why: str) -> _NotAChain:
    return _NotAChain(f"`{_op_name(node)}`{_where(node.stack_trace)}: {why}")


def _trace(model: Any, layer_args: dict[str, list[str]]) -> Any:
    """The fx graph of ``model`` with whitelisted layers (and unknown torch.nn ones) as leaves."""
    import traceback

    import torch
    from torch import fx

    containers = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)

    class ChainTracer(fx.Tracer):
        def is_leaf_module(self, module: Any, qualified_name: str) -> bool:
            genuine = type(module).__module__.startswith("torch.nn.")
            return _allowed_leaf(module, layer_args) or (
                genuine and not isinstance(module, containers)
            )

    tracer = ChainTracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(model)
    except Exception as error:
        own = [
            frame
            for frame in traceback.extract_tb(error.__traceback__)
            if not frame.filename.startswith(str(Path(torch.__file__).parent))
            and frame.filename != _trace.__code__.co_filename  # the exporter's own frames
        ]
        where = f" at {_line(own[-1].lineno, own[-1].line)}" if own else ""
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise _NotAChain(f"torch.fx cannot trace its forward{where} ({reason})") from None
    return graph


def _is_batch_size(node: Any, data: set) -> bool:
    """``x.size(0)``, ``x.shape[0]`` or ``x.size()[0]`` of a tensor computed from the input."""
    import operator

    if node.op == "call_method" and node.target == "size":
        return bool(node.args) and node.args[0] in data and tuple(node.args[1:]) == (0,)
    if node.op == "call_function" and node.target is operator.getitem and node.args[1] == 0:
        base = node.args[0]
        if not hasattr(base, "op"):
            return False
        shape = base.op == "call_function" and base.target is getattr and base.args[1] == "shape"
        size = base.op == "call_method" and base.target == "size" and len(base.args) == 1
        return (shape or size) and base.args[0] in data
    return False


def _reshape_layer(node: Any, data: set) -> Any:
    """``view``/``reshape`` to (batch, -1) (or (-1, k)) is a Flatten; anything else is refused."""
    import torch

    shape = list(node.args[1:])
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = list(shape[0])
    first_ok = len(shape) == 2 and (shape[0] == -1 or _is_batch_size(shape[0], data))
    second_ok = len(shape) == 2 and (shape[1] == -1 or (type(shape[1]) is int and shape[1] > 0))
    if not (first_ok and second_ok) or shape == [-1, -1]:
        raise _refuse(node, "only a reshape to (batch size, -1) counts as a layer (a Flatten)")
    return torch.nn.Flatten()


def _flatten_layer(node: Any) -> Any:
    """``torch.flatten(x, start, end)`` or ``x.flatten(...)`` (both start at dim 0 by default)."""
    import torch

    names = ("start_dim", "end_dim")
    args = dict(zip(names, node.args[1:], strict=False)) | dict(node.kwargs)
    if not all(type(value) is int for value in args.values()) or set(args) - set(names):
        raise _refuse(node, "a flatten needs constant int dimensions")
    return torch.nn.Flatten(args.get("start_dim", 0), args.get("end_dim", -1))


def _scale_layer(node: Any, data: set, layer_args: dict[str, list[str]]) -> Any:
    """A tensor times or divided by a constant number: the ``Scale`` layer, if allowed."""
    import operator

    import torch

    numbers = [arg for arg in node.args if type(arg) in (int, float)]
    if "Scale" not in layer_args or len(node.args) != 2 or len(numbers) != 1 or node.kwargs:
        return None
    multiply = node.target in (operator.mul, torch.mul, "mul")
    divide = node.target in (operator.truediv, torch.div, torch.true_divide, "div")
    if not (multiply or divide) or (divide and node.args[1] is not numbers[0]):
        return None  # x + c, c / x, ...
    factor = 1 / numbers[0] if divide and numbers[0] else float(numbers[0])
    return ("Scale", {"factor": factor})


def _node_layer(node: Any, gm: Any, data: set, layer_args: dict[str, list[str]]) -> Any:
    """The layer one traced node computes (a module, or ``(kind, args)``); refuses the rest."""
    import torch

    if node.op == "call_module":
        layer = gm.get_submodule(node.target)
        if not _allowed_leaf(layer, layer_args):
            kind = type(layer).__name__
            raise _refuse(node, f"{kind} is not one of the allowed torch.nn layers")
        return layer
    if node.op == "get_attr":
        raise _refuse(node, "a tensor outside a layer (a parameter used directly) is not allowed")
    name = _call_name(node)
    if (node.op == "call_method" and name in _RESHAPES) or node.target is torch.reshape:
        return _reshape_layer(node, data)
    if name == "flatten" and (node.op == "call_method" or node.target is torch.flatten):
        return _flatten_layer(node)
    scale = _scale_layer(node, data, layer_args)
    if scale is not None:
        return scale
    functional = _functional_layers()
    constants = node.args[1:]
    if any(isinstance(arg, torch.fx.Node) for arg in [*constants, *node.kwargs.values()]):
        raise _refuse(node, "it combines several tensors, not one layer after another")
    try:
        if node.op == "call_method" and name.rstrip("_") in _ACTIVATION_METHODS and not constants:
            return getattr(torch.nn, _ACTIVATION_METHODS[name.rstrip("_")])()
        if node.op == "call_function" and node.target in functional:
            return functional[node.target](*constants, **node.kwargs)
    except (TypeError, ValueError) as error:
        raise _refuse(node, f"its arguments do not fit a layer ({error})") from None
    raise _refuse(node, "it is not one of the allowed layers or activations")


def _call_name(node: Any) -> str:
    return node.target if node.op == "call_method" else getattr(node.target, "__name__", "")


def _refuse_products(graph: Any) -> None:
    """Refuse, first, any product of two values computed from the input (or a power of one)."""
    from torch import fx

    derived: set = set()
    for node in graph.nodes:
        if node.op == "placeholder" or any(arg in derived for arg in node.all_input_nodes):
            derived.add(node)
        name = _call_name(node)
        if node.op not in ("call_function", "call_method") or name not in _PRODUCTS:
            continue
        args = [*node.args, *node.kwargs.values()]
        factors = [arg for arg in args if isinstance(arg, fx.Node) and arg in derived]
        if len(factors) >= 2 or (factors and name not in {"mul", "matmul", "mm", "bmm", "outer"}):
            raise _refuse(node, "it multiplies values computed from the input")


def _traced_chain(model: Any, layer_args: dict[str, list[str]]) -> tuple[list, dict]:
    """Trace ``model`` with torch.fx; its computation must be a chain of allowed layers."""
    from torch import fx

    gm = fx.GraphModule(model, _trace(model, layer_args))
    graph = gm.graph
    graph.eliminate_dead_code()  # an unused intermediate changes nothing
    _refuse_products(graph)
    inputs = [node for node in graph.nodes if node.op == "placeholder"]
    if len(inputs) != 1:
        raise _NotAChain(f"its forward takes {len(inputs)} inputs, not one tensor")
    current, data = inputs[0], set(inputs)
    layers, state = [], {}
    for node in graph.nodes:
        if node.op in ("placeholder", "output") or _is_batch_size(node, data):
            continue
        if node.op == "call_function" and node.target is getattr and node.args[1] == "shape":
            continue  # only x.shape[0] may use it (checked where it is used)
        if node.op == "call_method" and node.target == "size" and len(node.args) == 1:
            continue
        used = [arg for arg in node.all_input_nodes if arg in data]
        if used and used != [current]:
            raise _refuse(node, "it uses a value computed before the previous step (not a chain)")
        if node.op == "call_method" and node.target in _NO_OPS:
            data.add(node)
            current = node
            continue
        layer = _node_layer(node, gm, data, layer_args)
        if isinstance(layer, tuple):
            layers.append([layer[0], _to_plain(layer[1], [MAX_ELEMENTS])])
        else:
            layers.append(_layer_entry(layer, layer_args))
            index = len(layers) - 1
            for key, tensor in layer.state_dict().items():
                state[f"{index}.{key}"] = tensor.detach().cpu().clone()
        data.add(node)
        current = node
    output = next(node for node in graph.nodes if node.op == "output")
    if output.args[0] is not current:
        raise _NotAChain("its forward must return the last layer's output, one tensor")
    if not layers:
        raise _NotAChain("its forward computes no layer")
    return layers, state


def _record(problems: dict[str, str], name: str, action: Any) -> Any:
    """Run one export step; on failure remember a one-line reason instead of stopping."""
    try:
        return action()
    except Exception as error:
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        problems[name] = last
        return None


@contextmanager
def _time_limit(seconds: float | None, wall_factor: float = 3.0) -> Iterator[None]:
    """Raise TimeoutError in the code run inside after ``seconds`` of this process's CPU time
    (the work it did, whatever the machine's load), or ``wall_factor`` times that of wall
    clock (code that only waits). Main thread only; repeated every second if caught."""
    import signal
    import threading

    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    wall = seconds * max(1.0, wall_factor)

    def stop_cpu(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"stopped after {seconds:g} s of CPU time, the probe's limit")

    def stop_wall(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"stopped after {wall:g} s of wall-clock time (the probe mostly waited)")

    previous = signal.signal(signal.SIGPROF, stop_cpu), signal.signal(signal.SIGALRM, stop_wall)
    signal.setitimer(signal.ITIMER_PROF, seconds, 1.0)
    signal.setitimer(signal.ITIMER_REAL, wall, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, previous[0])
        signal.signal(signal.SIGALRM, previous[1])


def _run_probe(namespace: dict[str, Any], probe: dict[str, Any]) -> dict[str, Any]:
    """Execute a probe's source in its own namespace and call its entry on the notebook's."""
    scope: dict[str, Any] = {"__name__": f"grader_probe_{probe['name']}"}
    exec(compile(probe["source"], f"<probe {probe['name']}>", "exec"), scope)
    with _time_limit(probe.get("seconds"), probe.get("wall_factor", 3.0)):
        result = scope[probe["entry"]](namespace, probe["inputs"])
    if not isinstance(result, dict):
        raise TypeError(f"the probe returned a {type(result).__name__}, not a dict")
    return result


def _export_probe_result(
    result: dict[str, Any], name: str, out: dict[str, Any], request: dict[str, Any]
) -> None:
    """Plain values into probes[name]; models as models named ``name:key``."""
    import torch

    plain = {}
    for key, value in result.items():
        if isinstance(value, torch.nn.Module):
            model_name = f"{name}:{key}"
            described = _record(
                out["problems"],
                model_name,
                lambda v=value: _describe_model(v, request["layer_args"]),
            )
            if described is not None:
                out["models"][model_name], out["weights"][model_name] = described
        else:
            plain[key] = _to_plain(value, [MAX_ELEMENTS])
    out["probes"][name] = plain


def export_answers(namespace: dict[str, Any], out_dir: str, request: dict[str, Any]) -> None:
    """Write export.json, weights.pt and files/ for the names in ``request``."""
    import torch

    out = Path(out_dir)
    (out / FILES_DIR).mkdir(parents=True, exist_ok=True)
    values, models, weights, probes, problems = {}, {}, {}, {}, {}
    for name in request["values"]:
        if name in namespace:
            plain = _record(problems, name, lambda n=name: _to_plain(namespace[n], [MAX_ELEMENTS]))
            if name not in problems:
                values[name] = plain
    for name in request["models"]:
        if name in namespace:
            described = _record(
                problems, name, lambda n=name: _describe_model(namespace[n], request["layer_args"])
            )
            if described is not None:
                models[name], weights[name] = described
    for name in request["files"]:
        source = Path(name)
        if source.is_file() and source.stat().st_size <= MAX_EXPORTED_FILE_BYTES:
            shutil.copyfile(source, out / FILES_DIR / source.name)
    out_data = {"problems": problems, "models": models, "weights": weights, "probes": probes}
    for probe in request.get("probes", []):
        name = probe["name"]
        result = _record(problems, name, lambda p=probe: _run_probe(namespace, p))
        if result is not None:
            _record(
                problems,
                name,
                lambda r=result, n=name: _export_probe_result(r, n, out_data, request),
            )
    torch.save(weights, out / WEIGHTS_FILE)
    exported = {"values": values, "models": models, "probes": probes, "problems": problems}
    (out / EXPORT_JSON).write_text(json.dumps(exported))
