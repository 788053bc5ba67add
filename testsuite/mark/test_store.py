"""The marks store: PrairieLearn's rubric-edit semantics, clamping, conflicts, leases."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from grader.mark.store import AUTO_GRADER, NO_ANSWER, Conflict, MarkStore
from grader.report.written import RubricItem, WrittenItem

ITEM = WrittenItem(
    key="q9_why",
    question="q9",
    title="Q9: why",
    max_points=1.0,
    reference="Because.",
    template="**Q9 answer:** _Type your answer here._",
    rubric=(
        RubricItem("right", 1.0, "Right."),
        RubricItem("half", 0.5, "Half right."),
        RubricItem("sloppy", -0.25, "Sloppy units."),
    ),
    figure=None,
)


@pytest.fixture
def store(tmp_path: Path) -> MarkStore:
    marks = MarkStore(tmp_path / "marks.sqlite")
    marks.seed([ITEM])
    return marks


def points(store: MarkStore) -> dict[str, float]:
    return {key: mark.points for (key, _), mark in store.marks().items()}


def test_in_out_is_none_before_any_marking(tmp_path: Path) -> None:
    assert MarkStore.in_out(tmp_path) is None
    MarkStore(tmp_path / "marks.sqlite").close()
    assert isinstance(MarkStore.in_out(tmp_path), MarkStore)


def test_points_are_the_applied_sum_within_zero_and_max(store: MarkStore) -> None:
    store.update(["a"], ITEM.key, 0, "alice", applied=("right", "half"), comment="Good.")
    store.update(["b"], ITEM.key, 0, "alice", applied=("sloppy",))
    store.update(["c"], ITEM.key, 0, "bob", applied=("half", "sloppy"))
    assert points(store) == {"a": 1.0, "b": 0.0, "c": 0.25}
    mark = store.marks()["a", ITEM.key]
    assert mark.applied == (ITEM.rubric[0], ITEM.rubric[1])
    assert (mark.comment, mark.grader) == ("Good.", "alice")
    assert mark.when.startswith("20")


def test_rubric_edits_follow_prairielearn(store: MarkStore) -> None:
    store.update(["a"], ITEM.key, 0, "alice", applied=("half",))
    store.update(["b"], ITEM.key, 0, "alice", applied=("right",))
    store.edit_rubric(ITEM.key, "half", 0.75, "Half right.", "alice")  # points: re-scores a
    assert points(store) == {"a": 0.75, "b": 1.0}
    store.edit_rubric(ITEM.key, "right", 1.0, "Exactly right.", "alice")  # text: feedback only
    assert points(store) == {"a": 0.75, "b": 1.0}
    assert store.marks()["b", ITEM.key].applied[0].text == "Exactly right."
    added = store.add_rubric(ITEM.key, 0.25, "Nice figure.", "alice")  # adding: no one changes
    assert points(store) == {"a": 0.75, "b": 1.0}
    assert added in [entry.key for entry in store.rubric(ITEM.key)]
    store.delete_rubric(ITEM.key, "half", "alice")  # deleting: re-scores those who had it
    assert points(store) == {"a": 0.0, "b": 1.0}
    assert store.marks()["a", ITEM.key].applied == ()
    assert "half" not in [entry.key for entry in store.rubric(ITEM.key)]


def test_a_stale_write_is_refused_and_loses_nothing(store: MarkStore) -> None:
    store.update(["a"], ITEM.key, 0, "alice", applied=("right",))
    with pytest.raises(Conflict):
        store.update(["a"], ITEM.key, 0, "bob", applied=("half",))  # bob saw version 0
    mark = store.marks()["a", ITEM.key]
    assert (mark.grader, mark.points) == ("alice", 1.0)


def test_a_group_is_marked_once_for_all_its_members(store: MarkStore) -> None:
    store.update(["a", "b", "c"], ITEM.key, 0, "alice", applied=("half",))
    assert points(store) == {"a": 0.5, "b": 0.5, "c": 0.5}
    store.ungroup(["a", "b", "c"], ITEM.key, "alice")
    assert store.ungrouped(ITEM.key) == {"a", "b", "c"}
    store.update(["b"], ITEM.key, store.state("b", ITEM.key).version, "bob", applied=("right",))
    assert points(store) == {"a": 0.5, "b": 1.0, "c": 0.5}


def test_unanswered_is_zero_no_answer_until_a_ta_overrides(store: MarkStore) -> None:
    store.mark_unanswered(ITEM.key, ["blank"])
    mark = store.marks()["blank", ITEM.key]
    assert (mark.points, mark.comment, mark.grader) == (0.0, NO_ANSWER, AUTO_GRADER)
    state = store.state("blank", ITEM.key)
    assert state.auto and state.graded
    store.update(["blank"], ITEM.key, state.version, "alice", applied=("half",))
    mark = store.marks()["blank", ITEM.key]
    assert (mark.points, mark.comment, mark.grader) == (0.5, "", "alice")
    store.mark_unanswered(ITEM.key, ["blank"])  # a restart keeps the TA's mark
    assert store.marks()["blank", ITEM.key].grader == "alice"


def test_seeding_again_keeps_the_edited_rubric(store: MarkStore) -> None:
    store.edit_rubric(ITEM.key, "half", 0.6, "Edited.", "alice")
    store.delete_rubric(ITEM.key, "sloppy", "alice")
    store.seed([ITEM])
    assert [(entry.key, entry.points) for entry in store.rubric(ITEM.key)] == [
        ("right", 1.0),
        ("half", 0.6),
    ]


def test_a_lease_goes_to_one_holder(store: MarkStore, tmp_path: Path) -> None:
    other = MarkStore(tmp_path / "marks.sqlite")  # a second server on the same file
    assert store.take_lease(ITEM.key, ["a", "b"], "tab-1") == "a"
    assert other.take_lease(ITEM.key, ["a", "b"], "tab-2") == "b"
    assert store.leased(ITEM.key, "tab-1") == {"b"}
    assert other.take_lease(ITEM.key, ["a", "b"], "tab-3") is None
    assert store.take_lease(ITEM.key, ["c"], "tab-1") == "c"  # one lease per holder: a freed
    assert other.take_lease(ITEM.key, ["a"], "tab-3") == "a"


def test_a_change_in_the_master_wins_for_the_entries_it_changes(store: MarkStore) -> None:
    store.update(["a"], ITEM.key, 0, "alice", applied=("half", "sloppy"))
    store.edit_rubric(ITEM.key, "right", 0.9, "Edited on the page.", "alice")
    changed = dataclasses.replace(
        ITEM, rubric=(ITEM.rubric[0], RubricItem("half", 0.75, "Mostly right."))
    )  # "half" changed, "sloppy" gone, "right" as before
    store.seed([changed])
    assert [(entry.key, entry.points, entry.text) for entry in store.rubric(ITEM.key)] == [
        ("right", 0.9, "Edited on the page."),
        ("half", 0.75, "Mostly right."),
    ]
    assert points(store) == {"a": 0.75}
