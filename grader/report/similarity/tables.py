"""The ranked pairs as CSV and Markdown, and a histogram of pair scores per question (PNG)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: files only

from grader.report.similarity.analysis import KINDS, Analysis, Comparison

CSV_COLUMNS = (
    "question",
    "kind",
    "rank",
    "score",
    "submission_a",
    "submission_b",
    "key_a",
    "key_b",
    "matched_tokens_a",
    "matched_tokens_b",
)
MIN_LISTED = 0.05  # pairs below this share are noise: in the histogram, not in the table
MAX_LISTED = 1000  # per question and kind
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&$-])")


def listed(comparison: Comparison) -> list[int]:
    """Indexes of the pairs worth listing, best first."""
    scores = [pair.score for pair in comparison.pairs]
    return [i for i, score in enumerate(scores) if score >= MIN_LISTED][:MAX_LISTED]


def cell_text(value: str) -> str:
    """A spreadsheet cell that stays text: no formula from a submitted name."""
    value = CONTROL.sub("?", value)
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value


def markdown_text(value: str) -> str:
    """A submitted name in Markdown: shown as written, never as markup or HTML."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", CONTROL.sub("?", value))


def _names(analysis: Analysis, comparison: Comparison, index: int) -> tuple[str, str, str, str]:
    pair = comparison.pairs[index]
    a = analysis.submissions[comparison.members[pair.a]]
    b = analysis.submissions[comparison.members[pair.b]]
    return a.name, b.name, a.key, b.key


def write_pairs_csv(analysis: Analysis, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for comparison in analysis.comparisons:
            for rank, index in enumerate(listed(comparison), start=1):
                pair = comparison.pairs[index]
                names = map(cell_text, _names(analysis, comparison, index))
                head = [comparison.question, comparison.kind.name, rank, f"{pair.score:.3f}"]
                writer.writerow([*head, *names, pair.matched_a, pair.matched_b])


def all_scores(comparison: Comparison) -> np.ndarray:
    """The score of every pair of members, zeros included."""
    members = len(comparison.members)
    zeros = members * (members - 1) // 2 - len(comparison.pairs)
    return np.concatenate([[pair.score for pair in comparison.pairs], np.zeros(zeros)])


def plot_question(analysis: Analysis, question: str, path: Path) -> None:
    """One panel per kind: how many pairs have each score (log scale: the bulk is near 0)."""
    figure = Figure(figsize=(9, 3.2))
    for axes, kind in zip(figure.subplots(1, len(KINDS)), KINDS, strict=True):
        comparison = next(
            c for c in analysis.comparisons if c.question == question and c.kind is kind
        )
        scores = all_scores(comparison)
        counts, edges = np.histogram(scores, bins=np.linspace(0, 1, 21))
        axes.bar(edges[:-1], counts, width=0.05, align="edge", color="tab:blue")
        if counts.any():
            axes.set_yscale("log")
        axes.set_xlim(0, 1)
        axes.set_xlabel("pair score (0: nothing shared, 1: all)")
        axes.set_ylabel("pairs")
        axes.set_title(f"{question} {kind.label}: {len(scores)} pair(s)")
    figure.tight_layout()
    figure.savefig(path, dpi=80, metadata={"Software": None})


def _comparison_lines(analysis: Analysis, comparison: Comparison, top: int) -> list[str]:
    ranked = listed(comparison)
    lines = [
        f"**{comparison.question} {comparison.kind.label}**: {len(comparison.members)} "
        f"submission(s) compared, {comparison.skipped} without {comparison.kind.label} of their "
        f"own skipped; {len(ranked)} pair(s) share at least {MIN_LISTED:.0%}.",
        "",
    ]
    if not ranked:
        return lines
    lines += ["| rank | score | submission | submission |", "| --- | --- | --- | --- |"]
    for rank, index in enumerate(ranked[:top], start=1):
        a, b, _, _ = _names(analysis, comparison, index)
        score = comparison.pairs[index].score
        lines.append(f"| {rank} | {score:.2f} | {markdown_text(a)} | {markdown_text(b)} |")
    return [*lines, ""]


def summary_markdown(analysis: Analysis, folder: str, top: int = 5) -> list[str]:
    """The class report's section; ``folder``: where the similarity files are, from the page."""
    lines = [
        "## Similarity of code and written answers",
        "",
        "Which submissions share work beyond the starter notebook, per question: a list for a "
        "person to read, never a change of points. Score: the share of both submissions' own "
        "code (names, literals and comments ignored) or written answers that they have in "
        f"common; passages found in more than {analysis.limit} of {len(analysis.sections)} "
        "notebooks are the obvious way to write them and do not count. "
        f"Every listed pair: [{folder}pairs.csv]({folder}pairs.csv); the matched passages side "
        f"by side: [{folder}index.html]({folder}index.html).",
        "",
    ]
    if analysis.unreadable:
        lines += [
            f"Not compared ({len(analysis.unreadable)}): "
            + ", ".join(
                f"{markdown_text(analysis.submissions[i].name)} ({markdown_text(why)})"
                for i, why in sorted(analysis.unreadable.items())
            ),
            "",
        ]
    for question in dict.fromkeys(c.question for c in analysis.comparisons):
        lines += [f"### {question}", ""]
        for comparison in analysis.comparisons:
            if comparison.question == question:
                lines += _comparison_lines(analysis, comparison, top)
        lines += [f"![{question} pair scores]({folder}plots/{question}.png)", ""]
    return lines
