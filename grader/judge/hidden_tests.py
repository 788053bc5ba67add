"""Score exported submission data with the hidden otter tests, in this trusted process.

The autograder's test files (``build/autograder/tests/qN.py``, generated from the master
notebook) hold public and hidden cases; only hidden cases carry points and only they run here,
with ``submission`` (an ``ExportedAnswers``) and ``checks`` (the question's module of the course)
as their arguments.
"""

from pathlib import Path
from types import ModuleType

from otter.test_files import ExceptionTestFile

from grader.common.results import CaseResult, QuestionResult
from grader.judge.exported_answers import ExportedAnswers


def load_hidden_tests(tests_dir: Path) -> dict[str, ExceptionTestFile]:
    """Test files by question name, each reduced to its hidden cases.

    Questions without hidden cases (graded by people, e.g. a proof with a public reminder
    check) are not autograded and are left out.
    """
    test_files = {}
    for path in sorted(tests_dir.glob("q*.py")):
        test_file = ExceptionTestFile.from_file(str(path))
        test_file.test_cases = [case for case in test_file.test_cases if case.hidden]
        if test_file.test_cases:
            test_files[test_file.name] = test_file
    return test_files


def possible_points(test_files: dict[str, ExceptionTestFile]) -> dict[str, float]:
    """The autograded questions, in order, with the points their hidden cases carry."""
    return {name: sum(case.points for case in tf.test_cases) for name, tf in test_files.items()}


def _failure_reason(message: str) -> str:
    """The assertion text of otter's failure message (its last line), without the test source."""
    last = message.strip().splitlines()[-1] if message.strip() else "failed"
    return last.removeprefix("AssertionError: ")


def judge(
    data: ExportedAnswers,
    test_files: dict[str, ExceptionTestFile],
    modules: dict[str, ModuleType],
) -> dict[str, QuestionResult]:
    """Run every hidden case against ``data``, each question with its module as ``checks``."""
    results = {}
    possible = possible_points(test_files)
    for name, test_file in test_files.items():
        test_file.run({"submission": data, "checks": modules.get(name)})
        question = QuestionResult(name=name, possible=possible[name])
        for outcome in test_file.test_case_results:
            case = outcome.test_case
            question.cases.append(
                CaseResult(
                    name=case.body.test_func.__name__.removeprefix("test_"),
                    points=case.points,
                    earned=case.points if outcome.passed else 0.0,
                    message="passed" if outcome.passed else _failure_reason(outcome.message),
                )
            )
        results[name] = question
    return results
