"""Which submissions share work: a similarity report per question, code and written answers.

``write_similarity_report(out, submissions, starter)`` reads ``out/executed/<key>.ipynb`` and
writes ``out/similarity/``: ``pairs.csv`` (the ranked pairs per question and kind),
``index.html`` (the top pairs' matched passages side by side), ``summary.md`` and
``plots/<question>.png`` (the pair scores' histograms). It changes no points. Imports neither
torch nor the grading code.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.report.similarity.analysis import Submission, analyse
from grader.report.similarity.page import write_page
from grader.report.similarity.tables import plot_question, summary_markdown, write_pairs_csv

__all__ = ["FOLDER", "Submission", "write_similarity_report"]

FOLDER = "similarity"


def write_similarity_report(out: Path, submissions: list[Submission], starter: Path) -> list[str]:
    """Write ``out/similarity/``; returns the class report's section (Markdown lines)."""
    analysis = analyse(out, submissions, starter)
    folder = out / FOLDER
    shutil.rmtree(folder / "plots", ignore_errors=True)  # no histogram of a former question
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    write_pairs_csv(analysis, folder / "pairs.csv")
    write_page(analysis, folder / "index.html")
    for question in dict.fromkeys(c.question for c in analysis.comparisons):
        plot_question(analysis, question, folder / "plots" / f"{question}.png")
    (folder / "summary.md").write_text("\n".join(summary_markdown(analysis, "")) + "\n")
    return summary_markdown(analysis, f"{FOLDER}/")
