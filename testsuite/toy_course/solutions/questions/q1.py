"""Toy Q1 hidden check: ``q1_total`` is 1 + 4 + 9 + 16."""

VALUES = ["q1_total"]


def check_total(submission) -> None:
    total = submission.value("q1_total")
    assert total == 30, f"`q1_total` is {total!r}, not 1 + 4 + 9 + 16"
