"""The results store: one JSON file per graded input in ``<out>/results/``, written when known.

A record is valid for an input when both the submission file's content and the autograder's
content (hidden tests and the grader's own code) are the ones it was graded with, so re-running
grades only what is missing or changed, and shards on several machines can share one store.
Records are written atomically (temporary file + rename): a killed run leaves no half record.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.results import GradeRow

RESULTS_DIR = "results"
GRADER_PACKAGE = Path(__file__).resolve().parent


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _grader_sources() -> list[Path]:
    """The grader's code that can change a score (its own tests excluded)."""
    return [
        path
        for path in sorted(GRADER_PACKAGE.rglob("*.py"))
        if not path.name.startswith(("test_", "conftest")) and path.name != "testing.py"
    ]


def autograder_digest(tests_dir: Path) -> str:
    """One digest of the hidden tests and the grader code: a change to either regrades."""
    digest = hashlib.sha256()
    for root, paths in (
        (tests_dir, sorted(p for p in tests_dir.rglob("*") if p.is_file())),
        (GRADER_PACKAGE, _grader_sources()),
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
        readable = re.sub(r"[^A-Za-z0-9._-]+", "_", identity)[:80]
        return self.folder / f"{readable}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}.json"

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
