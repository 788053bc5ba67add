"""The similarity report on a small class built from examples/ (fast: nothing is graded)."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from typer.testing import CliRunner

from grader.cli import app
from grader.common.results import GradeRow, Status
from grader.common.store import Record, ResultStore
from grader.report.gradebook import write_report
from grader.report.similarity import FOLDER, Submission, write_similarity_report
from grader.report.similarity.analysis import Analysis, Comparison, analyse
from grader.report.similarity.fingerprints import CODE, all_hashes, code_tokens, fingerprint
from grader.report.similarity.sections import Cell, own_sections, read_cells, starter_sections
from testsuite.helpers import MASTER
from testsuite.report.similarity_notebooks import (
    ROOT,
    STARTER,
    add_text_to_q5,
    example,
    planted_copy,
    with_blank_q5,
    with_other_q5,
    write_executed,
)

HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)>"
SHARED_TEXT = (
    f"{HOSTILE} We wrote this paragraph together: the curve with batch normalization climbs "
    "above ninety percent within a few hundred steps while the plain sigmoid network waits."
)
HOSTILE_NAME = "<img src=x onerror=alert(3)>mallory.ipynb"


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Submission]]:
    """alice and mallory (alice's Q5 disguised) share Q5; erin wrote her own Q5; bob has no Q5
    code; carol and dave handed in the blank notebook; zed's file is not a notebook."""
    out = tmp_path_factory.mktemp("graded")
    solution, partly_wrong = example("solution.ipynb"), example("partly_wrong.ipynb")
    write_executed(
        out,
        {
            "alice": add_text_to_q5(solution, SHARED_TEXT),
            "mallory": add_text_to_q5(planted_copy(solution), SHARED_TEXT),
            "erin": with_other_q5(partly_wrong),
            "bob": with_blank_q5(partly_wrong),
            "carol": example("blank.ipynb"),
            "dave": example("blank.ipynb"),
        },
    )
    (out / "executed" / "zed.ipynb").write_text('{"cells": [{"cell_type": "code", "sou')
    keys = ["alice", "mallory", "erin", "bob", "carol", "dave", "zed"]
    names = {key: f"{key}.ipynb" for key in keys} | {"mallory": HOSTILE_NAME}
    return out, [Submission(key, names[key]) for key in keys]


@pytest.fixture(scope="module")
def analysis(klass: tuple[Path, list[Submission]]) -> Analysis:
    out, submissions = klass
    return analyse(out, submissions, STARTER)


def comparison(analysis: Analysis, question: str, kind: str) -> Comparison:
    return next(c for c in analysis.comparisons if c.question == question and c.kind.name == kind)


def pair_keys(analysis: Analysis, found: Comparison) -> list[set[str]]:
    return [
        {analysis.submissions[found.members[p.a]].key, analysis.submissions[found.members[p.b]].key}
        for p in found.pairs
    ]


def member_keys(analysis: Analysis, found: Comparison) -> set[str]:
    return {analysis.submissions[m].key for m in found.members}


def test_planted_pair_ranks_first_for_its_question(analysis: Analysis) -> None:
    q5 = comparison(analysis, "q5", "code")
    assert pair_keys(analysis, q5)[0] == {"alice", "mallory"}
    assert q5.pairs[0].score > 0.8  # renamed, reordered, comments changed, a print added
    others = [p.score for p in q5.pairs[1:]]
    assert all(score < 0.2 for score in others), others  # erin's own Q5 shares little


def test_starter_code_alone_scores_zero() -> None:
    starter = read_cells(STARTER)
    assert all(not s.code and not s.text for s in own_sections(starter, starter).values())
    # Even as a submission's own cells (e.g. edited whitespace), the starter has no fingerprint.
    boilerplate = all_hashes([c for c in starter if c.kind == "code"], CODE)
    for question, section in starter_sections(starter).items():
        assert fingerprint(section.code, CODE, boilerplate).fingerprints == {}, question


def test_blank_notebooks_appear_in_no_pair(klass, analysis: Analysis) -> None:
    for found in analysis.comparisons:
        assert not member_keys(analysis, found) & {"carol", "dave"}, found.question
    out, submissions = klass
    write_similarity_report(out, submissions, STARTER)
    with (out / FOLDER / "pairs.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    listed = {row["key_a"] for row in rows} | {row["key_b"] for row in rows}
    assert listed and not listed & {"carol", "dave"}


def test_submission_without_code_for_a_question_is_skipped(analysis: Analysis) -> None:
    q5 = comparison(analysis, "q5", "code")
    assert member_keys(analysis, q5) == {"alice", "mallory", "erin"}
    assert q5.skipped == 3  # bob, carol, dave (zed: not readable)
    assert "bob" in member_keys(analysis, comparison(analysis, "q2", "code"))


def test_unreadable_notebook_is_named_not_compared(analysis: Analysis) -> None:
    unreadable = {analysis.submissions[i].key: why for i, why in analysis.unreadable.items()}
    assert list(unreadable) == ["zed"] and "JSON" in unreadable["zed"]


def test_written_answers_compared_without_the_template(analysis: Analysis) -> None:
    q5 = comparison(analysis, "q5", "written")
    assert pair_keys(analysis, q5)[0] == {"alice", "mallory"}
    assert not member_keys(analysis, q5) & {"bob", "carol", "dave", "erin"}


def _report_files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_two_runs_give_identical_reports(klass, tmp_path: Path) -> None:
    """Another process with another hash seed writes the same bytes."""
    out, submissions = klass
    write_similarity_report(out, submissions, STARTER)
    first = _report_files(out / FOLDER)
    code = (
        "import sys; from pathlib import Path\n"
        "from grader.report.similarity import Submission, write_similarity_report\n"
        "subs = [Submission(k, n) for k, n in zip(sys.argv[3::2], sys.argv[4::2])]\n"
        "write_similarity_report(Path(sys.argv[1]), subs, Path(sys.argv[2]))\n"
    )
    args = [x for s in submissions for x in (s.key, s.name)]
    environment = os.environ | {"PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-c", code, str(out), str(STARTER), *args], check=True, env=environment
    )
    assert _report_files(out / FOLDER) == first
    assert {"pairs.csv", "index.html", "summary.md", "plots/q5.png"} <= set(first)


def test_hostile_text_and_names_are_escaped(klass) -> None:
    out, submissions = klass
    section = "\n".join(write_similarity_report(out, submissions, STARTER))
    page = (out / FOLDER / "index.html").read_text()
    assert "script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page and "<img" not in page
    assert "&lt;img src=x onerror=alert(3)&gt;mallory.ipynb" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "\\<img src=x onerror=alert\\(3\\)\\>mallory" in section
    assert not re.search(r"(?<!\\)<", section)  # no unescaped markup in the class report


def _graded_copy(klass, folder: Path) -> list[GradeRow]:
    """The class's executed notebooks in ``folder`` with a result row each."""
    out, submissions = klass
    shutil.copytree(out / "executed", folder / "executed")
    return [GradeRow(s.name, Status.OK, key=s.key) for s in submissions]


def test_report_writes_the_similarity_section_and_changes_no_point(klass, tmp_path: Path) -> None:
    rows = _graded_copy(klass, tmp_path / "with")
    write_report(rows, {"q1": 1.0}, tmp_path / "with", "HW", MASTER, starter=STARTER)
    report = (tmp_path / "with" / "class_report.md").read_text()
    assert "## Similarity of code and written answers" in report
    assert "(similarity/index.html)" in report
    assert "![q5 pair scores](similarity/plots/q5.png)" in report
    assert (tmp_path / "with" / FOLDER / "index.html").is_file()
    _graded_copy(klass, tmp_path / "without")
    write_report(rows, {"q1": 1.0}, tmp_path / "without", "HW", MASTER)
    for name in ("grades.csv", "manual.csv"):
        assert (tmp_path / "with" / name).read_bytes() == (tmp_path / "without" / name).read_bytes()


def test_similarity_command_reads_the_results_store(klass, tmp_path: Path) -> None:
    rows = _graded_copy(klass, tmp_path)
    for row in rows:
        ResultStore(tmp_path).put(Record(row.submission, "", "any autograder", row))
    result = CliRunner().invoke(app, ["similarity", "--out", str(tmp_path), "--course", str(ROOT)])
    assert result.exit_code == 0, result.output
    summary = (tmp_path / FOLDER / "summary.md").read_text()
    assert "(index.html)" in summary and "alice.ipynb" in summary
    empty = CliRunner().invoke(app, ["similarity", "--out", str(tmp_path / "none")])
    assert empty.exit_code == 1


def test_page_in_a_browser_runs_nothing_and_loads_nothing(klass, tmp_path: Path) -> None:
    """Chromium shows the page with its style (CSP allows it), runs no script, fetches nothing."""
    out, submissions = klass
    write_similarity_report(out, submissions, STARTER)
    page_path = out / FOLDER / "index.html"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"))
        page = browser.new_page()
        requests, messages, dialogs = [], [], []
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda message: messages.append(message.text))
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        page.goto(page_path.as_uri())
        mark = page.locator("mark").first
        background = mark.evaluate("m => getComputedStyle(m).backgroundColor")
        columns = page.locator(".pair").first.evaluate(
            "p => getComputedStyle(p).gridTemplateColumns.split(' ').length"
        )
        page.screenshot(path=tmp_path / "similarity.png", full_page=False)
        browser.close()
    assert requests == [page_path.as_uri()] and not dialogs and not messages, (requests, messages)
    assert background == "rgb(255, 213, 79)" and columns == 2  # the hashed style sheet applied


def test_a_heading_of_the_students_own_does_not_move_cells() -> None:
    starter = read_cells(STARTER)
    q2 = next(i for i, c in enumerate(starter) if c.source.count("## Question 2"))
    mine = [
        *starter[: q2 + 1],
        Cell(900, "markdown", "## My notes\n\nfirst try"),
        Cell(901, "code", "x = train(model)"),
        *starter[q2 + 1 :],
    ]
    sections = own_sections(mine, starter)
    assert [c.index for c in sections["q2"].code] == [901]
    assert [c.index for c in sections["q2"].text] == [900]
    assert all(not s.code for q, s in sections.items() if q != "q2")


def test_names_literals_comments_and_layout_do_not_count() -> None:
    first = 'def area(w, h=2):\n    """Doc."""\n    return w * h  # cm\n'
    second = "def surface(a, b=7.5):\n  return a * b  # another comment\n"
    broken = first + 's = """never closed\n'  # not Python: Pygments lexes it
    symbols = [[t.symbol for t in code_tokens(Cell(0, "code", s))] for s in (first, second)]
    expected = ["def", "V", "(", "V", ",", "V", "=", "N", ")", ":", "return", "V", "*", "V"]
    assert symbols[0] == symbols[1] == expected
    fallback = [t.symbol for t in code_tokens(Cell(0, "code", broken))]
    assert fallback[: len(symbols[0])] == symbols[0]


def test_imports_no_torch() -> None:
    code = "import sys, grader.report.similarity; assert 'torch' not in sys.modules, 'torch'"
    environment = os.environ | {"PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=environment)
