"""Generated files: no solutions reach students, hidden tests stay hidden, drift is caught."""

import re
import shutil
from pathlib import Path

import nbformat

from grader.build.assign import check_generated, committed_outputs
from grader.common.master_notebook import question_configs
from grader.course import Course
from grader.judge.hidden_tests import load_hidden_tests, possible_points
from testsuite.helpers import COURSE, MASTER, ROOT
from grader.report.written import written_items

TRIVIAL = re.compile(r"^[\s()\[\]{},:]*$")


def solution_lines(master: nbformat.NotebookNode) -> set[str]:
    """Lines that only the solution has: marked code lines and written reference answers."""
    lines, given, in_solution_block = set(), set(), False
    for cell in master.cells:
        if cell.cell_type == "raw":
            in_solution_block = {"# BEGIN SOLUTION": True, "# END SOLUTION": False}.get(
                cell.source.strip(), in_solution_block
            )
            continue
        inline = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith("# BEGIN SOLUTION") or stripped.startswith("# END SOLUTION"):
                inline = stripped.startswith("# BEGIN")
                continue
            marked = stripped.endswith("# SOLUTION") or stripped.endswith("# SOLUTION NO PROMPT")
            answer = in_solution_block and cell.cell_type == "markdown" and len(stripped) > 30
            if (marked or inline or answer) and not TRIVIAL.match(stripped):
                lines.add(re.sub(r"\s*# SOLUTION( NO PROMPT)?$", "", stripped))
            elif not in_solution_block:
                given.add(stripped)
    return lines - given  # lines the given code shows too (e.g. AddModule's) are no secret


def test_student_notebook_has_no_solution() -> None:
    secret = solution_lines(nbformat.read(MASTER, as_version=4))
    assert len(secret) > 10  # the master really has solutions to hide
    student = nbformat.read(ROOT / "homework.ipynb", as_version=4)
    shown = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    assert not secret & shown


def test_public_tests_have_no_hidden_cases() -> None:
    for path in (ROOT / "tests").glob("*.py"):
        text = path.read_text()
        assert "hidden=True" not in text and "grader.judge.protocol" not in text, path


def test_drift_is_detected(tmp_path: Path) -> None:
    course_files = (ROOT / "course.toml", ROOT / "requirements.txt", ROOT / "solutions")
    for source in (*committed_outputs(COURSE), *course_files):
        name = source.relative_to(ROOT)
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    copy = Course.load(tmp_path)
    assert check_generated(copy) == []
    (tmp_path / "tests" / "q1.py").write_text("# edited by hand\n")
    (tmp_path / "tests" / "stray.py").write_text("")
    assert check_generated(copy) == ["tests/q1.py", "tests/stray.py"]


def test_points_agree_everywhere() -> None:
    """Each question's points: its configs (autograded + written), heading, intro, hidden tests."""
    master = nbformat.read(MASTER, as_version=4)
    configs = question_configs(MASTER).items()
    config = {name: c.points for name, c in configs if c.points is not None}
    per_question: dict[str, float] = {}
    for name, points in config.items():
        number = re.match(r"q\d+", name)
        assert number, name
        per_question[number.group()] = per_question.get(number.group(), 0) + points
    headings = {
        f"q{number}": float(points)
        for cell in master.cells
        if cell.cell_type == "markdown"
        for number, points in re.findall(r"^## Question (\d+):.*\((\d+) points?\)", cell.source)
    }
    assert per_question == headings and len(headings) == 5
    intro = master.cells[1].source
    listed = {f"q{n}": float(p) for n, p in re.findall(r"\*\*Q(\d+)\*\*[^(]*\((\d+)\)", intro)}
    assert listed == headings
    total = re.search(r"questions, (\d+) points", intro)
    assert total and float(total.group(1)) == sum(headings.values()) == 11
    hidden = load_hidden_tests(COURSE.hidden_tests)
    for name, possible in possible_points(hidden).items():
        assert possible == config[name], name
    written = {item.key: item.max_points for item in written_items(MASTER)}
    assert set(written) | set(possible_points(hidden)) == set(config)
    # Every hidden case and written item is in quarter points, so a gradebook shows them cleanly.
    cases = [case.points for tf in hidden.values() for case in tf.test_cases]
    assert all(float(4 * points).is_integer() for points in [*cases, *written.values()])


def test_written_prompts_state_their_points() -> None:
    """The student reads each written part's points beside its question."""
    student = "\n".join(
        c.source for c in nbformat.read(ROOT / "homework.ipynb", as_version=4).cells
    )
    for item in written_items(MASTER):
        if item.key == item.question:  # a whole question written (Q3): its heading says it
            continue
        points = f"{item.max_points:g} point" + ("" if item.max_points == 1 else "s")
        assert re.search(rf"^\*\*{item.question.upper()}[^*]*\({points}\)\.\*\*", student, re.M)


def test_rubrics_and_references_never_reach_students() -> None:
    """The written items' reference answers and rubric sentences stay in the master."""
    student = nbformat.read(ROOT / "homework.ipynb", as_version=4)
    shown = "\n".join(cell.source for cell in student.cells)
    public = "\n".join(path.read_text() for path in (ROOT / "tests").glob("*.py"))
    for item in written_items(MASTER):
        for paragraph in item.reference.split("\n\n"):
            assert paragraph[:50] not in shown, item.key
        for rubric in item.rubric:
            assert rubric.text not in shown and rubric.text not in public, (item.key, rubric.key)
    assert "```yaml" not in shown
