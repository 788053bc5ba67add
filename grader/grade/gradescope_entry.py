"""Gradescope: what ``run_autograder`` runs for each submission (the zip: ``grader.build``).

For every submission in its own container, ``run_autograder`` calls
``python -m grader.grade.gradescope_entry``: the submission in ``/autograder/submission`` is graded
by the same runner + judge as ``grader grade``, with the course the zip carries
(``source/course``), and ``/autograder/results/results.json`` is written in Gradescope's format.
``AUTOGRADER_ROOT`` (and ``--root``) move ``/autograder`` for tests.
"""

import argparse
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import nbformat

from grader.common.results import GradeRow, Status
from grader.course import OTTER_OBJECT, Course

# Folders of the zip, as Gradescope unpacks it into /autograder/source.
HIDDEN_TESTS = "hidden_tests"  # otter's autograder tests (hidden cases)
PUBLIC_TESTS = "tests"
COURSE = "course"  # the course's course.toml and question modules
HIDDEN, VISIBLE = "after_published", "visible"


# Grading one submission -------------------------------------------------------------------


def find_notebook(submission_dir: Path, wanted: str) -> tuple[Path | None, str]:
    """The file to grade among what the student uploaded (preferably ``wanted``, the student
    notebook's name), or None and the reason."""
    files = [
        path
        for path in sorted(submission_dir.rglob("*"))
        if path.is_file() and not {"__MACOSX", ".ipynb_checkpoints"} & set(path.parts)
    ]
    notebooks = [path for path in files if path.suffix.lower() == ".ipynb"]
    preferred = [path for path in notebooks if path.name == wanted]
    if len(preferred) == 1 or len(notebooks) == 1:
        return (preferred or notebooks)[0], ""
    if notebooks:
        names = ", ".join(path.name for path in notebooks)
        return None, f"Several notebooks were submitted ({names}): submit only {wanted}."
    zips = [path for path in files if path.suffix.lower() == ".zip"]
    if len(zips) == 1:
        return zips[0], ""
    uploaded = ", ".join(path.name for path in files) or "nothing"
    return None, f"No notebook was submitted (found {uploaded}): upload {wanted}."


def grade_with_pipeline(
    notebook: Path, source: Path, course: Course, work: Path
) -> tuple[GradeRow, dict]:
    """The one call into the shared pipeline (runner + judge), exactly as ``grader grade``.

    Returns the row and the hidden test files (for the checks a failed run never reached).
    Gradescope gives every submission its own container; where its kernel forbids the sandbox,
    the container is the isolation (see README).
    """
    from grader.grade.grading import GradingSetup, grade_one
    from grader.grade.sandbox import SandboxUnavailable

    def setup(sandbox: bool) -> GradingSetup:
        return GradingSetup(
            course=course,
            out_dir=work,
            settings=course.settings.with_environment(),
            sandbox=sandbox,
            tests_dir=source / HIDDEN_TESTS,
            public_tests_dir=source / PUBLIC_TESTS,
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
    if row.status != Status.OK and not row.questions:
        summary = f"Your notebook could not be graded ({row.status}): {row.message}\n{summary}"
    elif row.status != Status.OK:  # graded, but cells were stopped or left out
        summary = f"Parts of your notebook did not run ({row.status}): {row.message}\n{summary}"
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
    course = Course.load(source / COURSE)
    path, problem = find_notebook(root / "submission", course.student_notebook.name)
    if path is None:
        return failure_results(problem)
    row, hidden_tests = grade_with_pipeline(path, source, course, work)
    executed = next((work / "executed").glob("*.ipynb"), None)
    questions = sorted(p.stem for p in (source / PUBLIC_TESTS).glob("q*.py"))
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
