"""The protocol between the grader and a course's question modules.

The questions are the hidden test files the judge loaded (``build/autograder/tests/qN.py``, one
per autograded question of the master notebook). A question named ``qN`` may have a module
``qN.py`` in the course's questions folder (``course.toml``; loaded by path) that declares
everything the pipeline needs about it; every name is optional:

- ``VALUES``, ``MODELS``, ``FILES``: notebook variables (plain values, models: chains of
  whitelisted ``torch.nn`` layers) and files the in-kernel exporter copies out of the sandbox;
- ``PROBES``: ``Probe``s, code the kernel runs after the notebook on inputs the grader draws for
  each submission (Q1 runs ``FixedAddModule`` on secret pairs, Q2 retrains the procedure);
- ``prepare(data_dir)``: loads the judge's own data before any student code runs (``data_dir``
  is the course's verified data directory, None for a course without data);
- ``review(source)``: findings in one code cell for a person to look at (no points change);
- ``check_*`` functions that the notebook's hidden test cells call as ``checks.check_*(submission)``
  (the judge passes the question's module as ``checks``, the ``ExportedAnswers`` as ``submission``).

The installed grader names no question: adding one is a master-notebook section plus, if it needs
more than the notebook's own values, one module in the course.
"""

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat

from grader.course import Course
from grader.judge.modelspec import ALLOWED_LAYERS, LAYER_ARGS
from grader.judge.tampering import find_tampering

EXPORT_KINDS = ("VALUES", "MODELS", "FILES")


@dataclass(frozen=True)
class Probe:
    """Code the sandboxed kernel runs for a question after the notebook, with grader inputs.

    ``function(namespace, inputs)`` runs in the student's kernel, which cannot import the grader:
    it is sent as source (with ``helpers``, classes or functions it uses, after ``preamble``),
    so it must import what it needs itself (standard library, numpy, torch). It returns a dict;
    plain values land in ``ExportedAnswers.probes[name]`` and ``torch.nn`` models are exported
    like notebook models, as ``probe_model(name, key)``. ``inputs()`` draws the grader's inputs
    (JSON-able, e.g. secret numbers or seeds) afresh for each submission, in the trusted process;
    they reach the kernel on stdin only and the judge sees the same ones as
    ``grader_inputs[name]``. ``seconds`` limits the run in the kernel (a ``TimeoutError``).
    """

    name: str
    function: Callable[[dict[str, Any], Any], dict[str, Any]]
    inputs: Callable[[], Any]
    helpers: tuple[Any, ...] = ()
    preamble: str = ""
    seconds: float | None = None

    @property
    def source(self) -> str:
        parts = [self.preamble, *(inspect.getsource(obj) for obj in self.helpers)]
        return "\n\n".join([*filter(None, parts), inspect.getsource(self.function)])

    def request(self) -> dict[str, Any]:
        """What the exporter needs to run it: source, entry point, fresh inputs, time limit."""
        return {
            "name": self.name,
            "source": self.source,
            "entry": self.function.__name__,
            "inputs": self.inputs(),
            "seconds": self.seconds,
        }


def probe_model(probe: str, key: str) -> str:
    """The export name of a model that a probe returned (the exporter uses the same rule)."""
    return f"{probe}:{key}"


def question_modules(course: Course, questions: Iterable[str]) -> dict[str, ModuleType]:
    """The course's module of each question that has one, by question name."""
    modules = {name: course.question_module(name) for name in questions}
    return {name: module for name, module in modules.items() if module is not None}


def exported_names(modules: dict[str, ModuleType], kind: str) -> list[str]:
    """All names of one kind (``VALUES``, ``MODELS`` or ``FILES``) that the questions need."""
    return sorted({name for module in modules.values() for name in getattr(module, kind, ())})


def probes(modules: dict[str, ModuleType]) -> list[Probe]:
    return [probe for module in modules.values() for probe in getattr(module, "PROBES", ())]


def export_request(modules: dict[str, ModuleType]) -> dict[str, Any]:
    """What the in-kernel exporter must collect, with fresh probe inputs for one submission."""
    request: dict[str, Any] = {kind.lower(): exported_names(modules, kind) for kind in EXPORT_KINDS}
    request["layer_args"] = {name: list(LAYER_ARGS.get(name, ())) for name in ALLOWED_LAYERS}
    request["probes"] = [probe.request() for probe in probes(modules)]
    return request


def grader_inputs(request: dict[str, Any]) -> dict[str, Any]:
    """The inputs the grader sent to each probe, by probe name (the judge checks against them)."""
    return {probe["name"]: probe["inputs"] for probe in request.get("probes", [])}


def prepare_all(modules: dict[str, ModuleType], data_dir: Path | None) -> None:
    """Load the judge's own data (e.g. fresh test pairs, a verified test set) before any student
    code runs."""
    for module in modules.values():
        if callable(getattr(module, "prepare", None)):
            module.prepare(data_dir)


def review_flags(notebook: nbformat.NotebookNode, modules: dict[str, ModuleType]) -> list[str]:
    """Every question's review findings, per code cell: ``cell 12: q2: line 3: ...``."""
    reviewers = {"interpreter": find_tampering}  # every course: what could reach the probes
    reviewers |= {
        name: module.review
        for name, module in modules.items()
        if callable(getattr(module, "review", None))
    }
    return [
        f"cell {index}: {name}: {finding}"
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for name, review in reviewers.items()
        for finding in review(cell.source)
    ]
