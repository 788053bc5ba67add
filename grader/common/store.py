"""The results store: one JSON file per graded input in ``<out>/results/``, written when known.

A record is valid for an input when both the submission file's content and the autograder's
content (what decides points: ``autograder_digest``) are the ones it was graded with, so re-running
grades only what is missing or changed, and shards on several machines can share one store.
Records are written atomically (temporary file + rename): a killed run leaves no half record.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.common.names import safe_stem, short_digest
from grader.common.results import GradeRow
from grader.common.sources import PACKAGE, scoring_files

RESULTS_DIR = "results"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(path for path in folder.glob(pattern) if path.is_file()) if folder else []


def autograder_digest(tests_dir: Path, questions_dir: Path | None) -> str:
    """One digest of what decides points: the hidden tests, the course's question modules and
    the grader's scoring code (``grader.common.sources.SCORING``). A change to any of them
    regrades; a change to anything else (reports, the CLI, the build) does not."""
    digest = hashlib.sha256()
    for root, paths in (
        (tests_dir, _files(tests_dir, "**/*")),
        (questions_dir, _files(questions_dir, "*.py") if questions_dir else []),
        (PACKAGE, scoring_files()),
    ):
        for path in paths:
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass
class Record:
    """One graded input as stored: what was graded, with which autograder, and the result."""

    identity: str  # the input's name in the run (unique), e.g. a Canvas file name
    submission_sha256: str  # of the graded file ("" for a PDF without notebook: nothing to run)
    autograder: str
    row: GradeRow

    def to_json(self) -> dict:
        return {
            "identity": self.identity,
            "submission_sha256": self.submission_sha256,
            "autograder": self.autograder,
            "row": self.row.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict) -> Record:
        return cls(
            identity=data["identity"],
            submission_sha256=data["submission_sha256"],
            autograder=data["autograder"],
            row=GradeRow.from_json(data["row"]),
        )


class ResultStore:
    """The records under ``<out>/results``; safe for several processes and machines at once."""

    def __init__(self, out_dir: Path) -> None:
        self.folder = out_dir / RESULTS_DIR

    def path(self, identity: str) -> Path:
        """A file name that is safe, readable and unique per identity."""
        return self.folder / f"{safe_stem(identity)}-{short_digest(identity, 12)}.json"

    def get(self, identity: str) -> Record | None:
        try:
            return Record.from_json(json.loads(self.path(identity).read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or unreadable: grade it (again)

    def put(self, record: Record) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(record.identity)
        handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.folder)
        with os.fdopen(handle, "w") as file:
            json.dump(record.to_json(), file, indent=1)
        os.chmod(temporary, 0o644)  # like the other outputs (mkstemp makes it private)
        os.replace(temporary, target)

    def records(self) -> list[Record]:
        """Every readable record, in name order."""
        found = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                found.append(Record.from_json(json.loads(path.read_text())))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return found
