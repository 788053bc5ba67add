"""The per-question protocol: a new question flows through export, judge and report untouched.

A toy question ``qtoy`` is one module in a temporary course folder (nothing is written into the
checkout) and one hidden test file. Nothing else is edited: the exporter, the judge, the review
and the reports pick it up from the hidden tests.
"""

import csv
from pathlib import Path

import nbformat
import pytest
from rich.console import Console

from grader.common.results import GradeRow, Status
from grader.course import Course
from grader.judge import protocol
from grader.judge.hidden_tests import judge, load_hidden_tests, possible_points
from grader.report.gradebook import Gradebook, feedback_markdown, print_table, write_grades_csv
from testsuite.helpers import COURSE, export_in_process

TOY_MODULE = """
import secrets

from grader.judge.protocol import Probe

VALUES = ["toy_answer"]
MODELS = []
FILES = []


def toy_inputs():
    return {"number": secrets.randbelow(1000)}


def double_it(namespace, inputs):
    return {"doubled": namespace["double"](inputs["number"])}


PROBES = [Probe("qtoy", double_it, toy_inputs, seconds=1)]


def review(source):
    return ["says toy"] if "toy" in source else []


def check_answer(submission):
    assert submission.value("toy_answer") == 42, "toy_answer should be 42"


def check_doubles(submission):
    number = submission.grader_inputs["qtoy"]["number"]
    doubled = submission.probe("qtoy")["doubled"]
    assert doubled == 2 * number, f"double({number}) gave {doubled}"
"""

TOY_TESTS = """
from otter.test_files import test_case

OK_FORMAT = False

name = "qtoy"
points = 2

@test_case(points=0.5, hidden=True)
def test_answer(submission, checks):
    checks.check_answer(submission)

@test_case(points=1.5, hidden=True)
def test_doubles(submission, checks):
    checks.check_doubles(submission)
"""


@pytest.fixture
def toy_course(tmp_path: Path) -> Course:
    """A course folder with the toy question's module (probes are sent to the kernel as source)."""
    folder = tmp_path / "toy"
    (folder / "solutions" / "questions").mkdir(parents=True)
    (folder / "course.toml").write_text('[course]\ntitle = "toy"\n')
    (folder / "solutions" / "questions" / "qtoy.py").write_text(TOY_MODULE)
    return Course.load(folder)


@pytest.fixture
def toy_question(tmp_path: Path, toy_course: Course) -> Path:
    """A tests folder with the toy question's hidden tests."""
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "qtoy.py").write_text(TOY_TESTS)
    return tests


def test_toy_question_flows_through_export_judge_and_report(
    toy_question: Path, toy_course: Course, tmp_path: Path
) -> None:
    hidden = load_hidden_tests(toy_question)
    assert possible_points(hidden) == {"qtoy": 2.0}
    modules = protocol.question_modules(toy_course, hidden)
    request = protocol.export_request(modules)
    assert request["values"] == ["toy_answer"] and request["probes"][0]["name"] == "qtoy"
    namespace = {"toy_answer": 42, "double": lambda n: 2 * n}
    data = export_in_process(namespace, tmp_path / "answers", list(hidden), {}, toy_course)
    row = GradeRow(submission="toy.ipynb", status=Status.OK)
    row.questions = judge(data, hidden, modules)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# a toy cell")])
    row.review = protocol.review_flags(notebook, modules)
    assert row.total == 2 and row.review == ["cell 0: qtoy: says toy"]

    wrong_namespace = {"toy_answer": 41, "double": abs}
    wrong = export_in_process(wrong_namespace, tmp_path / "wrong", ["qtoy"], {}, toy_course)
    wrong_row = GradeRow(
        submission="wrong.ipynb", status=Status.OK, questions=judge(wrong, hidden, modules)
    )
    assert wrong_row.total == 0
    assert "- FAIL doubles (0/1.5): double(" in feedback_markdown(wrong_row)
    assert "## qtoy: 2 / 2" in feedback_markdown(row)

    write_grades_csv(Gradebook([row, wrong_row], possible_points(hidden)), tmp_path / "grades.csv")
    with (tmp_path / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["submission"], r["qtoy"], r["total"]) for r in rows] == [
        ("toy.ipynb", "2", "2"),
        ("wrong.ipynb", "0", "0"),
    ]
    console = Console(record=True, width=200)
    print_table(Gradebook([row], possible_points(hidden)), console)
    table = console.export_text()
    assert "qtoy /2" in table and "total /2" in table


def test_probe_time_limit_and_failures_are_reported(
    toy_question: Path, toy_course: Course, tmp_path: Path
) -> None:
    def slow(number: int) -> int:
        while True:
            pass

    hidden = load_hidden_tests(toy_question)
    modules = protocol.question_modules(toy_course, hidden)
    data = export_in_process({"double": slow}, tmp_path / "answers", list(hidden), {}, toy_course)
    assert data.problems["qtoy"] in {  # CPU time counts; the wall cap only if the load is high
        "TimeoutError: stopped after 1 s of CPU time, the probe's limit",
        "TimeoutError: stopped after 3 s of wall-clock time (the probe mostly waited)",
    }
    questions = judge(data, hidden, modules)
    row = GradeRow(submission="slow.ipynb", status=Status.OK, questions=questions)
    assert "could not be graded: TimeoutError" in feedback_markdown(row)


def test_questions_without_a_module_need_nothing() -> None:
    assert protocol.question_modules(COURSE, ["q3_no_such_module"]) == {}
    assert protocol.export_request({})["probes"] == []
