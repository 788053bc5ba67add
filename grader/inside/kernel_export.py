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


def _describe_model(model: Any, layer_args: dict[str, list[str]]) -> tuple[list, dict]:
    """Layer list and state_dict of a Sequential made of whitelisted torch.nn layers."""
    import torch

    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"it is a {type(model).__name__}, not a torch.nn.Sequential")
    layers = []
    for index, layer in enumerate(model):
        kind = type(layer).__name__
        from_torch = type(layer).__module__.startswith("torch.nn.")
        if kind not in layer_args or (kind != "Scale" and not from_torch):
            raise TypeError(f"layer {index} ({kind}) is not one of the allowed torch.nn layers")
        args = {}
        for name in layer_args[kind]:
            arg = getattr(layer, name)
            args[name] = arg is not None if (kind, name) == ("Linear", "bias") else arg
        layers.append([kind, _to_plain(args, [MAX_ELEMENTS])])
    state = {key: tensor.detach().cpu().clone() for key, tensor in model.state_dict().items()}
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
    (out / "files").mkdir(parents=True, exist_ok=True)
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
            shutil.copyfile(source, out / "files" / source.name)
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
    torch.save(weights, out / "weights.pt")
    exported = {"values": values, "models": models, "probes": probes, "problems": problems}
    (out / "export.json").write_text(json.dumps(exported))
