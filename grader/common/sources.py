"""The grader's own files, and which of them can change a score.

One list serves both the results store's key (``SCORING``: change one of these and every stored
result is graded again) and the Gradescope zip (every grader file, so it runs the same code).
"""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # grader/
# What decides points: the judge (hidden-test runner, loader, model rebuilding, the protocol),
# the code that runs inside the sandbox, what the probes' kernels run (probe_notebook), the
# result types and the budgets' defaults. The course's
# hidden tests and question modules count too (``grader.common.store.autograder_digest``).
SCORING = (
    "judge",
    "inside",
    "grade/probe_notebook.py",
    "common/cell_source.py",
    "common/results.py",
    "settings.py",
)


def grader_files(parts: tuple[str, ...] = ("",)) -> list[Path]:
    """The grader's files under ``parts`` (folders or files of ``grader/``), no caches."""
    found = set()
    for part in parts:
        path = PACKAGE / part
        candidates = [path] if path.is_file() else path.rglob("*")
        found |= {
            file
            for file in candidates
            if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc"
        }
    return sorted(found)


def scoring_files() -> list[Path]:
    """The grader's Python files that can change a score."""
    return [path for path in grader_files(SCORING) if path.suffix == ".py"]
