"""What the judge knows about a submission: plain data exported from the sandboxed kernel.

On disk (written by ``grader.kernel_export`` inside the kernel, read here without running any code):
``export.json`` (values, probes, problems, model layer lists), ``weights.pt`` (state dicts,
loaded with ``weights_only=True``) and ``files/`` (copies of files the notebook wrote).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from grader.modelspec import InvalidModel, ModelSpec, rebuild

EXPORT_JSON = "export.json"
WEIGHTS_FILE = "weights.pt"
FILES_DIR = "files"


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


def load_exported_answers(folder: Path) -> ExportedAnswers:
    """Read an export folder; raises ``ExportUnreadable`` with the reason if it is unusable."""
    try:
        exported = json.loads((folder / EXPORT_JSON).read_text())
        weights = torch.load(folder / WEIGHTS_FILE, weights_only=True) if exported["models"] else {}
        models = {
            name: ModelSpec(
                layers=[(kind, args) for kind, args in layers], state_dict=weights[name]
            )
            for name, layers in exported["models"].items()
        }
        files_dir = folder / FILES_DIR
        files = (
            {path.name: path.read_bytes() for path in files_dir.iterdir()}
            if files_dir.is_dir()
            else {}
        )
        return ExportedAnswers(
            values=exported["values"],
            models=models,
            files=files,
            probes=exported["probes"],
            problems=exported["problems"],
        )
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ExportUnreadable(f"unreadable export in {folder}: {error}") from error
