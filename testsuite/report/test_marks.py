"""report merges the marking page's store and manual.csv: columns, precedence, feedback, Canvas.

The marks are grader.mark.store's own Mark; one test swaps in a small fake MarkStore (in_out).
"""

import sys
import types
from pathlib import Path

import pytest

from grader.common.results import CaseResult, GradeRow, QuestionResult, Status
from grader.mark.store import Mark, clamp
from grader.report.gradebook import write_report
from grader.report.marks import stored_marks
from grader.report.written import written_items
from testsuite.helpers import MASTER, read_csv

ITEMS = {item.key: item for item in written_items(MASTER)}
POSSIBLE = {"q1": 0.5, "q2": 2.5, "q4": 1.5, "q5": 2.0}


def mark(submission: str, item: str, *keys: str, comment: str = "") -> Mark:
    applied = tuple(rubric for rubric in ITEMS[item].rubric if rubric.key in keys)
    points = clamp(sum(rubric.points for rubric in applied), ITEMS[item].max_points)
    return Mark(submission, item, points, applied, comment, "ta1", "2026-12-01T10:00:00")


def row(name: str, key: str, earned: float = 1.0, **extra) -> GradeRow:
    questions = {
        q: QuestionResult(q, p, [CaseResult("case", p, p * earned, "")])
        for q, p in POSSIBLE.items()
    }
    return GradeRow(name, Status.OK, key=key, questions=questions, **extra)


JANE = row("doejane_101_201_hw.ipynb", "doejane")
JOHN = row("roejohn_102_202_hw.ipynb", "roejohn", earned=0.0)
FULL = {"q1_explanation": "correct", "q2_difficulties": "scale", "q3": "proof",
        "q4_explanation": "both", "q5_analysis": "complete"}  # fmt: skip


def all_marked(submission: str, **override: tuple[str, ...]) -> dict:
    marks = {}
    for item, key in FULL.items():
        keys = override.get(item, (key,))
        marks[(submission, item)] = mark(submission, item, *keys, comment=f"on {item}")
    return marks


def report(out: Path, stored: dict, **options) -> dict[str, dict[str, str]]:
    book = write_report([JANE, JOHN], POSSIBLE, out, "HW 1", MASTER, stored=stored, **options)
    out.joinpath("canvas.txt").write_text(book.canvas)
    return {r["submission"]: r for r in read_csv(out / "grades.csv")}


def test_store_marks_fill_the_columns_and_a_complete_import(tmp_path: Path) -> None:
    stored = all_marked("doejane") | all_marked(
        JOHN.submission, q3=("wrong_reason", "contrast"), q5_analysis=("claim_only", "no_numbers")
    )
    rows = report(tmp_path, stored)
    jane, john = rows[JANE.submission], rows[JOHN.submission]
    assert list(jane)[:13] == [
        "submission", "q1", "q2", "q4", "q5", "autograded", "q1_explanation",
        "q2_difficulties", "q3", "q4_explanation", "q5_analysis", "manual", "total",
    ]  # fmt: skip
    assert (jane["autograded"], jane["manual"], jane["total"]) == ("6.5", "4.5", "11")
    assert (john["q3"], john["q5_analysis"], john["manual"], john["total"]) == (
        "1",
        "0",
        "2.5",
        "2.5",
    )
    assert (tmp_path / "canvas.txt").read_text().startswith("complete: 2 student(s), out of 11")
    canvas = (tmp_path / "canvas_grades.csv").read_text().splitlines()
    assert [line.rsplit(",", 1)[1] for line in canvas[1:]] == ["11", "2.5"]
    feedback = (tmp_path / "feedback" / "roejohn.md").read_text()
    q3 = feedback.split("### Q3:")[1].split("###")[0]
    assert q3.startswith(" can a simple network multiply all reals (proof): 1 / 2")
    assert f"- {ITEMS['q3'].rubric[2].text} (+0.5)" in q3
    assert f"- {ITEMS['q3'].rubric[3].text} (+0.5)" in q3 and "Comment: on q3" in q3
    assert "(-0.25)" in feedback.split("### Q5:")[1]  # a deduction, listed with its sign


def test_unmarked_answers_hold_back_the_import_unless_partial(tmp_path: Path) -> None:
    stored = all_marked("doejane") | {("roejohn", "q3"): mark("roejohn", "q3", "gap")}
    rows = report(tmp_path, stored)
    assert rows[JOHN.submission]["q1_explanation"] == "" and rows[JOHN.submission]["manual"] == "1"
    assert not (tmp_path / "canvas_grades.csv").exists()
    assert (tmp_path / "canvas.txt").read_text().startswith("not written: 4 written answer(s)")
    class_report = (tmp_path / "class_report.md").read_text()
    to_mark = class_report.split("## Still to mark (4 written answer(s))")[1].split("##")[0]
    assert (
        "| q1_explanation | Q1: why AddModule cannot add | 1 / 2 | roejohn_102_202_hw.ipynb |"
        in to_mark
    )
    assert "| q3 | Q3: can a simple network multiply all reals (proof) | 2 / 2 |  |" in to_mark
    stats = {r["column"]: r for r in read_csv(tmp_path / "class_stats.csv")}
    assert (stats["q3"]["n"], stats["q3"]["mean"]) == ("2", "1.50")  # per item, marked only
    assert (stats["q1_explanation"]["n"], stats["q1_explanation"]["full"]) == ("1", "1")
    feedback = (tmp_path / "feedback" / "roejohn.md").read_text()
    assert "Total: **1 / 11** (not final: 4 written answer(s) not marked yet)" in feedback
    assert "### Q1: why AddModule cannot add: not marked yet (of 0.5)" in feedback

    report(tmp_path, stored, partial=True)
    assert (
        (tmp_path / "canvas.txt")
        .read_text()
        .startswith(
            "PARTIAL: 2 student(s), 4 written answer(s) not marked yet count as 0 (--partial)"
        )
    )
    canvas = (tmp_path / "canvas_grades.csv").read_text().splitlines()
    assert [line.rsplit(",", 1)[1] for line in canvas[1:]] == ["11", "1"]
    assert "Canvas import: PARTIAL" in (tmp_path / "class_report.md").read_text()


def test_manual_csv_wins_over_the_marking_page(tmp_path: Path) -> None:
    """README: when both hold a value for an answer, manual.csv's is the one that counts."""
    stored = all_marked("doejane") | all_marked("roejohn")
    (tmp_path / "manual.csv").write_text(
        "submission,q3,q5_analysis\n"
        f"{JANE.submission},0.5,\n"  # overrides the page's 2
        f"{JOHN.submission},2,1\n"  # the same values as the page's: nothing overridden
    )
    rows = report(tmp_path, stored)
    assert (rows[JANE.submission]["q3"], rows[JANE.submission]["total"]) == ("0.5", "9.5")
    assert rows[JANE.submission]["q5_analysis"] == "1"  # no value in the sheet: the page's
    assert rows[JOHN.submission]["q3"] == "2"
    class_report = (tmp_path / "class_report.md").read_text()
    assert f"- {JANE.submission}, q3: manual.csv 0.5 replaces the marking page's 2" in class_report
    assert "roejohn_102_202_hw.ipynb, q3: manual.csv" not in class_report
    jane = (tmp_path / "feedback" / "doejane.md").read_text().split("### Q3:")[1].split("###")[0]
    assert ": 0.5 / 2" in jane and "- Points given by hand (manual.csv)." in jane
    assert ITEMS["q3"].rubric[0].text not in jane and "Comment: on q3" in jane
    john = (tmp_path / "feedback" / "roejohn.md").read_text().split("### Q3:")[1]
    assert ITEMS["q3"].rubric[0].text in john and "by hand" not in john.split("###")[0]
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "`manual.csv` wins" in readme


def test_manual_csv_values_keep_their_validation(tmp_path: Path) -> None:
    from grader.report.manual import ManualPointsError

    (tmp_path / "manual.csv").write_text(f"submission,q1_explanation\n{JANE.submission},1\n")
    with pytest.raises(ManualPointsError, match=r"line 2 .*column q1_explanation.*outside 0..0.5"):
        report(tmp_path, {})
    assert not (tmp_path / "grades.csv").exists()


def test_store_marks_for_unknown_answers_are_ignored_and_clamped(tmp_path: Path) -> None:
    stored = {
        ("nobody", "q3"): mark("nobody", "q3", "proof"),
        ("doejane", "q9_gone"): Mark("doejane", "q9_gone", 1, (), "", "ta1", ""),
        ("doejane", "q3"): Mark("doejane", "q3", 7.0, (), "", "ta1", ""),  # a broken store
    }
    rows = report(tmp_path, stored)
    assert rows[JANE.submission]["q3"] == "2" and rows[JOHN.submission]["q3"] == ""


def test_stored_marks_come_from_the_mark_store_in_out(tmp_path, monkeypatch) -> None:
    """report asks grader.mark.store.MarkStore.in_out(out); no store yet: no marks."""
    asked = []

    class MarkStore:
        def __init__(self, marks: dict) -> None:
            self._marks = marks

        @classmethod
        def in_out(cls, out: Path) -> "MarkStore | None":
            asked.append(out)
            return cls(all_marked("doejane")) if (out / "marks.sqlite").exists() else None

        def marks(self) -> dict:
            return self._marks

        def close(self) -> None:
            pass

    fake = types.ModuleType("grader.mark.store")
    fake.MarkStore = MarkStore
    monkeypatch.setitem(sys.modules, "grader.mark.store", fake)
    assert stored_marks(tmp_path) == {} and asked == [tmp_path]
    (tmp_path / "marks.sqlite").write_bytes(b"")
    assert len(stored_marks(tmp_path)) == 5
    book = write_report([JANE], POSSIBLE, tmp_path, "HW", MASTER)
    assert book.earned(book.rows[0], "total") == 11


def test_report_reads_the_real_marking_store(tmp_path: Path) -> None:
    """Marks given on the page, a rubric edit there and its "no answer" marks reach the report."""
    from grader.mark.store import MarkStore

    store = MarkStore(tmp_path / "marks.sqlite")
    store.seed(list(ITEMS.values()))
    for item, key in FULL.items():
        store.update(["doejane"], item, 0, "ta1", applied=(key,), comment=f"on {item}")
    store.update(["roejohn"], "q3", 0, "ta2", applied=("gap", "contrast"))
    store.edit_rubric("q3", "gap", 1.25, "A real gap in the proof.", "ta1")  # re-scores roejohn
    store.mark_unanswered("q5_analysis", ["roejohn"])
    store.close()
    rows = report(tmp_path, None)  # read from tmp_path/marks.sqlite
    jane, john = rows[JANE.submission], rows[JOHN.submission]
    assert (jane["manual"], jane["total"]) == ("4.5", "11")
    assert (john["q3"], john["q5_analysis"], john["q1_explanation"]) == ("1.75", "0", "")
    feedback = (tmp_path / "feedback" / "roejohn.md").read_text()
    assert "- A real gap in the proof. (+1.25)" in feedback
    assert "### Q5: was Figure 1(a) reproduced, and why: 0 / 1" in feedback
