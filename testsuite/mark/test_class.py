"""Reading the class: broken notebooks are named and marked 0, the others are read."""

from __future__ import annotations

from pathlib import Path

from grader.mark.serve import UNREADABLE, open_marking
from testsuite.mark.classes import MASTER, examples_class


def test_a_broken_notebook_is_marked_unreadable_and_the_rest_is_read(tmp_path: Path) -> None:
    out = examples_class(tmp_path / "grades")
    (out / "executed" / "broken.ipynb").write_text("{not json")
    (out / "executed" / "odd.ipynb").write_text('{"cells": 7, "nbformat": 4}')
    marking = open_marking(out, MASTER, token="t")
    assert marking.room.unreadable == {"broken"}
    marks = marking.store.marks()
    assert marks["broken", "q3"].comment == UNREADABLE
    assert marks["odd", "q3"].comment == "no answer"  # no answer cell found
    assert ("solution", "q3") not in marks  # waiting for a TA
    assert marking.room.answers["q3"]["solution"].startswith("No.")
    assert sorted(marking.room.order) == ["blank", "broken", "odd", "partly_wrong", "solution"]
