"""What the judge knows about a submission: plain data exported from the sandboxed kernel.

On disk (written by ``grader.inside.kernel_export`` inside the kernel, read here without running
any code):
``export.json`` (values, probes, problems, model layer lists), ``weights.pt`` (state dicts,
loaded with ``weights_only=True``) and ``files/`` (copies of files the notebook wrote). Every file
is read without following links and up to a cap (``grader.grade.sandbox.read_file``), so a hostile
export costs the trusted process at most about 150 MB.
"""

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from grader.common.safe_files import UnsafeFile, read_file, regular_files
from grader.inside.kernel_export import (
    EXPORT_JSON,
    FILES_DIR,
    MAX_EXPORTED_FILE_BYTES,
    WEIGHTS_FILE,
)
from grader.judge.modelspec import InvalidModel, ModelSpec, rebuild

MAX_EXPORT_JSON_BYTES = 8_000_000
MAX_WEIGHTS_BYTES = 64_000_000
MAX_EXPORTED_FILES = 4


class ExportUnreadable(ValueError):
    """The export folder is missing or malformed (the kernel died or was tampered with)."""


@dataclass
class ExportedAnswers:
    """Values, models, files and probe results of one executed submission."""

    values: dict[str, Any] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    probes: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    grader_inputs: dict[str, Any] = field(default_factory=dict)  # probe name -> inputs (trusted)

    def _missing(self, name: str) -> AssertionError:
        reason = self.problems.get(name, "it is not defined after running the notebook")
        return AssertionError(f"`{name}` could not be graded: {reason}")

    def value(self, name: str) -> Any:
        """The plain value of a notebook variable."""
        if name not in self.values:
            raise self._missing(name)
        return self.values[name]

    def model(self, name: str) -> nn.Sequential:
        """The notebook's model, rebuilt by the judge from whitelisted torch.nn layers."""
        if name not in self.models:
            raise self._missing(name)
        try:
            return rebuild(self.models[name])
        except InvalidModel as error:
            raise AssertionError(f"`{name}` is not a valid model: {error}") from error

    def file(self, name: str) -> bytes:
        """The bytes of a file that the notebook wrote into its working folder."""
        if name not in self.files:
            raise self._missing(name)
        return self.files[name]

    def probe(self, name: str) -> Any:
        """A question-specific probe result recorded in the kernel."""
        if name not in self.probes:
            raise self._missing(name)
        return self.probes[name]


def read_export_files(folder: Path) -> dict[str, bytes]:
    """The export's files by relative name, read safely; raises ``ExportUnreadable``."""
    try:
        raw = {EXPORT_JSON: read_file(folder, EXPORT_JSON, MAX_EXPORT_JSON_BYTES)}
        try:
            raw[WEIGHTS_FILE] = read_file(folder, WEIGHTS_FILE, MAX_WEIGHTS_BYTES)
        except UnsafeFile as error:
            if not isinstance(error.__cause__, FileNotFoundError):
                raise
        try:
            names = regular_files(folder, FILES_DIR, MAX_EXPORTED_FILES)
        except UnsafeFile as error:
            if not isinstance(error.__cause__, FileNotFoundError):
                raise
            names = []
        for name in names:
            raw[f"{FILES_DIR}/{name}"] = read_file(
                folder, f"{FILES_DIR}/{name}", MAX_EXPORTED_FILE_BYTES
            )
        return raw
    except UnsafeFile as error:
        raise ExportUnreadable(f"unreadable export: {error}") from error


def parse_exported_answers(raw: dict[str, bytes]) -> ExportedAnswers:
    """Answers from the files of ``read_export_files``; raises ``ExportUnreadable``."""
    try:
        exported = json.loads(raw[EXPORT_JSON].decode("utf-8"))
        weights = {}
        if exported["models"]:
            weights = torch.load(io.BytesIO(raw[WEIGHTS_FILE]), weights_only=True)
        models = {
            name: ModelSpec(
                layers=[(kind, dict(args)) for kind, args in layers], state_dict=weights[name]
            )
            for name, layers in exported["models"].items()
        }
        files = {
            name.removeprefix(f"{FILES_DIR}/"): data
            for name, data in raw.items()
            if name.startswith(f"{FILES_DIR}/")
        }
        answers = ExportedAnswers(
            values=exported["values"],
            models=models,
            files=files,
            probes=exported["probes"],
            problems=exported["problems"],
        )
        if not all(isinstance(part, dict) for part in (answers.values, answers.probes)):
            raise TypeError("values and probes must be objects")
        if not isinstance(answers.problems, dict):
            raise TypeError("problems must be an object")
        return answers
    except Exception as error:  # hostile bytes: pickles, bad JSON, wrong types, deep nesting
        reason = f"{type(error).__name__}: {error}".splitlines()[0][:200]
        raise ExportUnreadable(f"unreadable export: {reason}") from error


def load_exported_answers(folder: Path) -> ExportedAnswers:
    """Read an export folder; raises ``ExportUnreadable`` with the reason if it is unusable."""
    return parse_exported_answers(read_export_files(folder))
