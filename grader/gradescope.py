"""Gradescope: the autograder zip (``build/gradescope.zip``) and what it runs per submission.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once (Ubuntu 22.04
base image) and, for every submission in its own container, ``run_autograder``, which calls
``python -m grader.gradescope``: the submission in ``/autograder/submission`` is graded by the
same runner + judge as ``grader grade`` and ``/autograder/results/results.json`` written in
Gradescope's format. ``AUTOGRADER_ROOT`` (and ``--root``) move ``/autograder`` for tests.

Building the zip loads neither torch nor otter; grading imports ``grader.grading`` lazily.
"""

import argparse
import json
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import nbformat

from grader.course import OTTER_OBJECT, Course
from grader.results import GradeRow, Status

PACKAGE = Path(__file__).resolve().parent
FILES = PACKAGE / "files"
HIDDEN_TESTS = "hidden_tests"  # folder in the zip: otter's autograder tests (hidden cases)
SCRIPTS = {"setup.sh": "gradescope_setup.sh", "run_autograder": "run_autograder"}
DEFAULT_TIMEOUT = 1200  # seconds one notebook may run; set Gradescope's limit above it
HIDDEN, VISIBLE = "after_published", "visible"
NOT_IN_GRADESCOPE = ("test_", "conftest.py", "testing.py")  # grader's own tests stay out
FIXED_TIME = (2000, 1, 1, 0, 0, 0)  # the same zip bytes for the same sources


# Building ---------------------------------------------------------------------------------


def _grader_sources() -> list[Path]:
    """The grader package as it runs on Gradescope: modules and data files, no tests."""
    return sorted(
        path
        for path in PACKAGE.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and not path.name.startswith(NOT_IN_GRADESCOPE)
        and path.suffix != ".pyc"
    )


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.external_attr = (0o755 if executable else 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def write_gradescope_zip(course: Course) -> Path:
    """Write ``build/gradescope.zip`` from the course's built tests; returns its path."""
    if not course.hidden_tests.is_dir():
        raise FileNotFoundError(f"{course.hidden_tests} is missing: run `grader build` first")
    course.gradescope_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(course.gradescope_zip, "w") as archive:
        for name, template in SCRIPTS.items():
            _add(archive, name, (FILES / template).read_bytes(), executable=True)
        _add(archive, "requirements.txt", (course.root / "requirements.txt").read_bytes())
        for path in _grader_sources():
            _add(archive, str(Path("grader") / path.relative_to(PACKAGE)), path.read_bytes())
        for folder, target in ((course.public_tests, "tests"), (course.hidden_tests, HIDDEN_TESTS)):
            for path in sorted(folder.glob("*.py")):
                _add(archive, f"{target}/{path.name}", path.read_bytes())
    return course.gradescope_zip


# Grading one submission -------------------------------------------------------------------


def find_notebook(submission_dir: Path) -> tuple[Path | None, str]:
    """The file to grade among what the student uploaded, or None and the reason."""
    files = [
        path
        for path in sorted(submission_dir.rglob("*"))
        if path.is_file() and not {"__MACOSX", ".ipynb_checkpoints"} & set(path.parts)
    ]
    notebooks = [path for path in files if path.suffix.lower() == ".ipynb"]
    preferred = [path for path in notebooks if path.name == "homework.ipynb"]
    if len(preferred) == 1 or len(notebooks) == 1:
        return (preferred or notebooks)[0], ""
    if notebooks:
        names = ", ".join(path.name for path in notebooks)
        return None, f"Several notebooks were submitted ({names}): submit only homework.ipynb."
    zips = [path for path in files if path.suffix.lower() == ".zip"]
    if len(zips) == 1:
        return zips[0], ""
    uploaded = ", ".join(path.name for path in files) or "nothing"
    return None, f"No notebook was submitted (found {uploaded}): upload homework.ipynb."


def grade_with_pipeline(notebook: Path, source: Path, work: Path) -> tuple[GradeRow, dict]:
    """The one call into the shared pipeline (runner + judge), exactly as ``grader grade``.

    Returns the row and the hidden test files (for the checks a failed run never reached).
    Gradescope gives every submission its own container; where its kernel forbids the sandbox,
    the container is the isolation (see README).
    """
    from grader.grading import GradingSetup, grade_one
    from grader.sandbox import SandboxUnavailable

    def setup(sandbox: bool) -> GradingSetup:
        return GradingSetup(
            tests_dir=source / HIDDEN_TESTS,
            public_tests_dir=source / "tests",
            out_dir=work,
            timeout=int(os.environ.get("GRADER_TIMEOUT", DEFAULT_TIMEOUT)),
            sandbox=sandbox,
        )

    try:
        chosen = setup(sandbox=True).prepare()
    except SandboxUnavailable:  # the container's kernel forbids user namespaces
        chosen = setup(sandbox=False).prepare()
    return grade_one(notebook, chosen), chosen.hidden_tests


def public_test_outputs(executed: Path, questions: list[str]) -> dict[str, str]:
    """What each ``checker.check("qN")`` cell printed when the grader ran the notebook."""
    notebook = nbformat.read(executed, as_version=4)
    outputs = {}
    for question in questions:
        call = re.compile(rf"{OTTER_OBJECT}\.check\(\s*['\"]{question}['\"]\s*\)")
        cells = [c for c in notebook.cells if call.search(c.source)]
        texts = [_output_text(output) for cell in cells for output in cell.get("outputs", [])]
        outputs[question] = "\n".join(filter(None, texts)) or (
            f'{OTTER_OBJECT}.check("{question}") did not run: the cell is missing or the notebook '
            "stopped before it."
        )
    return outputs


def _output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    return output.get("data", {}).get("text/plain", "")


def _hidden_entries(row: GradeRow, hidden_tests: dict) -> list[dict[str, Any]]:
    """One entry per hidden check; checks a failed run never reached score 0 with the reason."""
    entries = []
    for name, test_file in hidden_tests.items():
        question = row.questions.get(name)
        if question is not None:
            entries += [
                _entry(f"{name}: {case.name}", case.earned, case.points, case.message)
                for case in question.cases
            ]
            continue
        for case in test_file.test_cases:
            check = case.body.test_func.__name__.removeprefix("test_")
            reason = f"not graded: {row.message or row.status}"
            entries.append(_entry(f"{name}: {check}", 0.0, case.points, reason))
    return entries


def _entry(name: str, score: float, max_score: float, output: str) -> dict[str, Any]:
    return {
        "name": name,
        "score": score,
        "max_score": max_score,
        "status": "passed" if score >= max_score else "failed",
        "output": output,
        "visibility": HIDDEN,
    }


def gradescope_results(
    row: GradeRow, hidden_tests: dict, public_outputs: dict[str, str]
) -> dict[str, Any]:
    """``results.json`` for one graded submission (Gradescope's autograder specification)."""
    tests = [
        {
            "name": f"{question}: public tests ({OTTER_OBJECT}.check)",
            "score": 0.0,
            "max_score": 0.0,
            "status": "passed" if "All test cases passed" in text else "failed",
            "output": text,
            "visibility": VISIBLE,
        }
        for question, text in public_outputs.items()
    ]
    tests += _hidden_entries(row, hidden_tests)
    possible = sum(test["max_score"] for test in tests)
    summary = f"Autograded points: {row.total:g} / {possible:g} (hidden tests: after publishing)."
    if row.status != Status.OK:
        summary = f"Your notebook could not be graded ({row.status}): {row.message}\n{summary}"
    elif row.message:
        summary += f"\nNote: {row.message}"
    summary += "\nWritten answers are graded by a person from your PDF."
    return {
        "score": row.total,
        "output": summary,
        "visibility": VISIBLE,
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def failure_results(message: str) -> dict[str, Any]:
    """Results when there is nothing to grade or the autograder itself failed: 0 and why."""
    return {
        "score": 0.0,
        "output": message,
        "visibility": VISIBLE,
        "stdout_visibility": "hidden",
        "tests": [],
    }


def grade_submission(root: Path, work: Path) -> dict[str, Any]:
    """Grade ``root/submission`` with the tests in ``root/source``; returns results.json."""
    source = root / "source"
    path, problem = find_notebook(root / "submission")
    if path is None:
        return failure_results(problem)
    row, hidden_tests = grade_with_pipeline(path, source, work)
    executed = next((work / "executed").glob("*.ipynb"), None)
    questions = sorted(p.stem for p in (source / "tests").glob("q*.py"))
    public = public_test_outputs(executed, questions) if executed else {}
    return gradescope_results(row, hidden_tests, public)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    work = args.root / "grader-work"
    try:
        results = grade_submission(args.root, work)
    except Exception as error:  # the autograder broke: say so instead of leaving no results
        results = failure_results(
            f"The autograder failed ({type(error).__name__}: {error}); please tell your instructor."
        )
    results["execution_time"] = round(time.monotonic() - started)
    out = args.root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(results["output"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
