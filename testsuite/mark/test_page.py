"""The marking page in Chromium: keyboard-only grading, rubric edits, SIGKILL, two TAs, hostile
answers, the token. Each test runs its own `homework-grader mark` on a hand-built class."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from grader.common.results import CaseResult, GradeRow, QuestionResult, Status
from grader.judge.hidden_tests import load_hidden_tests, possible_points
from grader.mark.store import AUTO_GRADER, NO_ANSWER, MarkStore
from grader.report.gradebook import write_report
from grader.report.policy import set_excuse
from testsuite.helpers import COURSE, MASTER, read_csv
from testsuite.mark.classes import (
    HOSTILE,
    TOKEN,
    Server,
    example,
    examples_class,
    items,
    make_class,
    server,
    with_answers,
)

ALL_GRADED = "Every answer to this item is graded"


class TA:
    """One TA in a browser context of their own, recording dialogs and off-site requests."""

    def __init__(self, browser: Browser, running: Server, name: str, where: str = "") -> None:
        self.base = running.base
        self.context: BrowserContext = browser.new_context(viewport={"width": 1400, "height": 900})
        self.dialogs: list[str] = []
        self.outside: list[str] = []
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()
        self.page.on(
            "dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss())
        )
        self.page.goto(running.url + where)
        self.page.keyboard.type(name)  # the name box has the focus
        self.page.keyboard.press("Enter")
        self.settle()

    def _route(self, route: Route) -> None:
        if route.request.url.startswith(self.base + "/") or route.request.url == self.base:
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def settle(self) -> None:
        self.page.wait_for_selector("body[data-pending='0']", state="attached", timeout=20_000)

    def press(self, *keys: str) -> None:
        for key in keys:
            self.page.keyboard.press(key)
            self.settle()

    def comment(self, text: str) -> None:
        self.press("c")
        self.page.keyboard.type(text)
        self.press("Escape")

    def status(self) -> str:
        return self.page.inner_text("#status")

    def number(self) -> int:
        return int(self.page.evaluate("location.hash").split("/")[1])


def grade_item_by_keyboard(ta: TA, rubric_key: str = "1", comment: str = "") -> int:
    """Apply one rubric item to every ungraded answer of the item shown; how many answers."""
    graded = 0
    while ALL_GRADED not in ta.status():
        assert graded < 10, ta.status()
        ta.press(rubric_key)
        if comment:
            ta.comment(comment)
        ta.press("n")
        graded += 1
    return graded


def test_a_ta_grades_every_written_item_by_keyboard_alone(browser: Browser, tmp_path: Path) -> None:
    out = examples_class(tmp_path / "grades")
    with server(out) as running:
        ta = TA(browser, running, "alice")
        assert "Class: 5/15" in ta.page.inner_text("#class-progress")  # blank: auto "no answer"
        assert ta.page.inner_text("#answer-head").startswith("Answer #")
        assert "solution" not in ta.page.inner_text("#answer-pane")  # blind by default
        for _ in items():
            grade_item_by_keyboard(ta, "1", "Well argued.")
            ta.press("]")
        assert "Class: 15/15" in ta.page.inner_text("#class-progress")
        assert not ta.outside and not ta.dialogs
    marks = MarkStore(out / "marks.sqlite").marks()
    for item in items():
        for key in ("solution", "partly_wrong"):
            mark = marks[key, item.key]
            assert mark.applied == item.rubric[:1]
            assert mark.points == min(item.rubric[0].points, item.max_points)
            assert (mark.grader, mark.comment) == ("alice", "Well argued.")
        blank = marks["blank", item.key]
        assert (blank.points, blank.comment, blank.grader) == (0.0, NO_ANSWER, AUTO_GRADER)


def test_names_are_shown_on_request_and_q5_has_its_figure(browser: Browser, tmp_path: Path) -> None:
    out = examples_class(tmp_path / "grades")
    with server(out) as running:
        ta = TA(browser, running, "alice", "#q5_analysis/1")
        ta.press("b")
        head = ta.page.inner_text("#answer-head")
        assert any(name in head for name in ("solution", "partly_wrong", "blank"))
        ta.press("b")
        assert "solution" not in ta.page.inner_text("#answer-head")
        assert ta.page.evaluate("document.getElementById('figure-img').naturalWidth") > 100
        ta.page.screenshot(path=tmp_path / "page.png", full_page=True)


def test_a_rubric_edit_rescores_those_who_have_the_item(browser: Browser, tmp_path: Path) -> None:
    out = examples_class(tmp_path / "grades")
    with server(out) as running:
        ta = TA(browser, running, "alice", "#q1_explanation/1")
        ta.press("2")  # "verdict_only", 0.25
        assert ta.page.inner_text("#score") == "0.25 / 0.5 points"
        ta.press("e")
        row = ta.page.locator("#rubric-editor div").nth(1)
        row.locator("input").first.fill("0.4")
        row.get_by_role("button", name="Save", exact=True).click()
        ta.settle()
        assert ta.page.inner_text("#score") == "0.4 / 0.5 points"
        store = MarkStore(out / "marks.sqlite")
        (graded,) = [mark for mark in store.marks().values() if mark.grader == "alice"]
        assert graded.points == 0.4
        ta.page.locator("#rubric-editor div").last.locator("input").nth(1).fill("Bonus.")
        ta.page.get_by_role("button", name="Add", exact=True).click()
        ta.settle()
        assert ta.page.inner_text("#score") == "0.4 / 0.5 points"  # adding changes no one
        assert ta.page.locator("#rubric li").count() == 4
        ta.page.locator("#rubric-editor div").nth(1).get_by_role(
            "button", name="Delete", exact=True
        ).click()
        ta.settle()
        assert ta.page.inner_text("#score") == "0 / 0.5 points"  # deleting re-scores
        assert store.marks()[graded.submission, "q1_explanation"].points == 0.0


def test_sigkill_mid_grading_loses_nothing(browser: Browser, tmp_path: Path) -> None:
    out = examples_class(tmp_path / "grades")
    running = Server(out)
    try:
        ta = TA(browser, running, "alice")
        ta.press("1")
        ta.comment("Kept?")
        first = ta.number()
        ta.press("n", "2")
        second = ta.number()
    finally:
        running.kill()
    with server(out) as restarted:
        again = TA(browser, restarted, "alice", f"#q1_explanation/{first}")
        assert again.page.input_value("#comment") == "Kept?"
        assert "Graded by alice" in again.status()
        again.page.goto(f"{restarted.base}/#q1_explanation/{second}")
        again.settle()
        assert "Graded by alice" in again.status()
    marks = MarkStore(out / "marks.sqlite").marks()
    assert sorted(mark.applied[0].key for mark in marks.values() if mark.grader == "alice") == [
        "correct",
        "verdict_only",
    ]


def test_two_tas_grade_at_once_without_losing_marks(browser: Browser, tmp_path: Path) -> None:
    notebooks = {f"s{index}": example("solution") for index in range(4)}
    for index, notebook in enumerate(notebooks.values()):
        with_answers(notebook, {item.key: f"Answer {index} to {item.key}." for item in items()})
    out = make_class(tmp_path / "grades", notebooks)
    with server(out) as running:
        alice = TA(browser, running, "alice")
        bob = TA(browser, running, "bob")
        assert alice.number() != bob.number()  # "next ungraded" leased them different answers
        for _ in range(2):
            alice.press("1")
            bob.press("2")
            alice.press("n")
            bob.press("n")
        assert ALL_GRADED in alice.status() and ALL_GRADED in bob.status()
        # Both open one answer of Q2; bob's mark comes second, on a page showing no mark.
        alice.page.goto(f"{running.base}/#q2_difficulties/1")
        bob.page.goto(f"{running.base}/#q2_difficulties/1")
        alice.settle()
        bob.settle()
        alice.press("1")
        bob.press("3")
        assert "Another TA changed this answer" in bob.status()
        assert bob.page.inner_text("#score") == "0.5 / 0.5 points"
    marks = MarkStore(out / "marks.sqlite").marks()
    q1 = [mark for (_, item), mark in marks.items() if item == "q1_explanation"]
    assert sorted(mark.grader for mark in q1) == ["alice", "alice", "bob", "bob"]
    assert {mark.applied[0].key for mark in q1 if mark.grader == "bob"} == {"verdict_only"}
    q2 = [mark for (_, item), mark in marks.items() if item == "q2_difficulties"]
    assert [(mark.grader, mark.applied[0].key) for mark in q2] == [("alice", "scale")]


def test_identical_answers_are_graded_once_and_can_be_ungrouped(
    browser: Browser, tmp_path: Path
) -> None:
    notebooks = {f"s{index}": example("solution") for index in range(3)}
    with_answers(notebooks["s1"], {"q1_explanation": "  NO. Hardtanh   clamps. "})
    with_answers(notebooks["s2"], {"q1_explanation": "no. hardtanh clamps."})
    out = make_class(tmp_path / "grades", notebooks)
    with server(out) as running:
        ta = TA(browser, running, "alice", "#q1_explanation/1")
        heads = []
        for _ in range(2):
            heads.append(ta.page.inner_text("#answer-head"))
            ta.press("j")
        assert sum("group of 2 identical answers" in head for head in heads) == 1
        while "group of 2" not in ta.page.inner_text("#answer-head"):
            ta.press("k")
        ta.press("2")
        grouped = ta.number()
        marks = MarkStore(out / "marks.sqlite").marks()
        assert [marks[key, "q1_explanation"].points for key in ("s1", "s2")] == [0.25, 0.25]
        ta.press("u")
        assert "group of" not in ta.page.inner_text("#answer-head")
        ta.press("2", "1")  # only this one now
        assert ta.number() == grouped
    marks = MarkStore(out / "marks.sqlite").marks()
    points = sorted(marks[key, "q1_explanation"].points for key in ("s1", "s2"))
    assert points == [0.25, 0.5]


def test_an_auto_no_answer_can_be_overridden(browser: Browser, tmp_path: Path) -> None:
    out = make_class(tmp_path / "grades", {"blank": example("blank")})
    with server(out) as running:
        ta = TA(browser, running, "alice", "#q3/1")
        assert "Marked 0 automatically" in ta.status()
        ta.press("3")
        assert "Graded by alice" in ta.status()
    mark = MarkStore(out / "marks.sqlite").marks()["blank", "q3"]
    assert (mark.points, mark.comment, mark.grader) == (0.5, "", "alice")


def test_hostile_answers_run_nothing_and_fetch_nothing(browser: Browser, tmp_path: Path) -> None:
    notebooks = {}
    for index, answer in enumerate(HOSTILE):
        notebooks[f"h{index}"] = example("solution")
        huge = index == len(HOSTILE) - 1  # one 10 MB answer: the notebook stays under 25 MB
        keys = ["q5_analysis"] if huge else [item.key for item in items()]
        with_answers(notebooks[f"h{index}"], dict.fromkeys(keys, answer))
    out = make_class(tmp_path / "grades", notebooks)
    active = (  # MathJax keeps the TeX in inert math/tex scripts; its styles have no url()
        "script:not([type^='math/tex']), iframe, svg, form, img[src^='http'], [onerror], "
        "[onload], a[href], [style*='url']"
    )
    shown = []
    with server(out) as running:
        ta = TA(browser, running, "alice")
        for _ in items():
            for _ in HOSTILE:
                assert ta.page.locator("#answer").locator(active).count() == 0
                shown.append(ta.page.inner_text("#answer"))
                ta.press("j")
            ta.press("]")
        ta.page.wait_for_timeout(500)  # let any late fetch or timer show itself
        assert ta.dialogs == []
        assert ta.outside == []
    assert any("<script>alert('script')</script>" in text for text in shown)  # as text
    assert any("characters long: shown as plain text" in text for text in shown)


def test_math_is_typeset_in_the_first_answer_and_the_next(browser: Browser, tmp_path: Path) -> None:
    """MathJax loads without holding the page back; the answer shown before it is ready is
    typeset when it is, and so is every later one."""
    notebooks = {}
    for index in range(2):
        notebooks[f"s{index}"] = example("solution")
        with_answers(notebooks[f"s{index}"], {"q5_analysis": f"It grows like $x_{index}^2$."})
    out = make_class(tmp_path / "grades", notebooks)
    typeset = "#answer .mjx-chtml"
    with server(out) as running:
        ta = TA(browser, running, "alice", "#q5_analysis/1")
        ta.page.wait_for_selector(typeset, state="attached", timeout=20_000)
        ta.page.reload()  # the name is known now: the first answer comes at once
        ta.settle()
        ta.page.wait_for_selector(typeset, state="attached", timeout=20_000)
        ta.page.wait_for_selector(
            "#reference .mjx-chtml", state="attached", timeout=20_000
        )  # its ±0.01
        first = ta.page.inner_text("#answer")
        ta.press("j")
        ta.page.wait_for_selector(typeset, state="attached", timeout=20_000)
        assert ta.page.inner_text("#answer") != first


def test_every_request_needs_the_token(tmp_path: Path) -> None:
    out = examples_class(tmp_path / "grades")
    with server(out) as running, httpx.Client(base_url=running.base) as client:
        for path in ("/", "/api/items", "/static/app.js", "/figure/q5_analysis/1", "/mathjax/x"):
            assert client.get(path).status_code == 403
            assert client.get(path, params={"token": "wrong"}).status_code == 403
        response = client.post("/api/mark", json={"item": "q1_explanation", "n": 1})
        assert response.status_code == 403
        welcome = client.get("/", params={"token": TOKEN})
        assert welcome.status_code == 303 and welcome.headers["location"] == "/"
        assert "script-src 'self'" in welcome.headers["content-security-policy"]
        assert client.get("/api/items").status_code == 200  # the cookie now
        foreign = client.post(
            "/api/rubric",
            json={"item": "q1_explanation", "op": "add", "points": 1, "text": "x", "grader": "e"},
            headers={"Origin": "http://example.invalid"},
        )
        assert foreign.status_code == 403
        figure = client.get("/figure/q5_analysis/1")
        assert figure.status_code == 200 and figure.headers["content-type"] == "image/png"


@pytest.mark.parametrize("content", [b"<svg onload='alert(1)'/>", b"<html><script>x</script>"])
def test_a_figure_that_is_not_an_image_is_refused(tmp_path: Path, content: bytes) -> None:
    out = examples_class(tmp_path / "grades")
    for figure in (out / "answers").glob("*/files/*.png"):
        figure.write_bytes(content)
    with server(out) as running, httpx.Client(base_url=running.base) as client:
        client.get("/", params={"token": TOKEN})
        assert client.get("/figure/q5_analysis/1").status_code == 415


def graded_row(name: str, key: str, **policy: bool) -> GradeRow:
    """A stored result with every autograded point (the written items are the TA's)."""
    possible = possible_points(load_hidden_tests(COURSE.hidden_tests))
    questions = {
        q: QuestionResult(q, p, [CaseResult("case", p, p, "passed")]) for q, p in possible.items()
    }
    return GradeRow(name, Status.OK, key=key, questions=questions, **policy)


def test_what_was_clicked_reaches_grades_canvas_and_feedback(
    browser: Browser, tmp_path: Path
) -> None:
    """Keyboard marks, then `report`: grades.csv, the Canvas import and the feedback hold what was
    clicked; a late submission is not graded, a missing PDF costs a point, an excused one is not
    charged."""
    out = examples_class(tmp_path / "grades")
    with server(out) as running:
        ta = TA(browser, running, "alice")
        for _ in items():
            grade_item_by_keyboard(ta, "1", "Well argued.")
            ta.press("]")
        assert not ta.outside and not ta.dialogs
    rows = [
        graded_row("solution_101_201_homework.ipynb", "solution", late=True),
        graded_row("partly_102_202_homework.ipynb", "partly_wrong", pdf_missing=True),
        graded_row("blank_103_203_homework.ipynb", "blank", late=True),
    ]
    set_excuse(out, "blank", "extension to Friday")
    autograded = sum(possible_points(load_hidden_tests(COURSE.hidden_tests)).values())
    clicked = {item.key: min(item.rubric[0].points, item.max_points) for item in items()}
    book = write_report(rows, possible_points(load_hidden_tests(COURSE.hidden_tests)), out,
                        "HW 1", MASTER)  # fmt: skip
    assert book.canvas.startswith("complete")
    grades = {row["submission"]: row for row in read_csv(out / "grades.csv")}
    partly = grades["partly_102_202_homework.ipynb"]
    assert {key: float(partly[key]) for key in clicked} == clicked
    assert float(partly["total"]) == autograded + sum(clicked.values()) - 1  # no PDF: -1
    assert float(grades["solution_101_201_homework.ipynb"]["total"]) == 0  # late: not graded
    blank = grades["blank_103_203_homework.ipynb"]
    assert blank["deduction"] in ("", "0") and "extension to Friday" in blank["policy"]
    canvas = {row["Student"]: float(row["HW 1"]) for row in read_csv(out / "canvas_grades.csv")}
    assert canvas == {
        "solution": 0,
        "partly": float(partly["total"]),
        "blank": float(blank["total"]),
    }
    feedback = (out / "feedback" / "partly_wrong.md").read_text()
    for item in items():
        assert item.rubric[0].text in feedback
    assert "Well argued." in feedback and "no PDF submitted" in feedback
    late = (out / "feedback" / "solution.md").read_text()
    assert "submitted late" in late
