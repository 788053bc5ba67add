"""The class compared: per question, per kind of work, the ranked pairs of submissions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.report.similarity.compare import Pair, common_limit, compare
from grader.report.similarity.fingerprints import (
    CODE,
    WRITTEN,
    Document,
    Kind,
    all_hashes,
    fingerprint,
)
from grader.report.similarity.sections import (
    NotebookUnreadable,
    Section,
    own_sections,
    read_cells,
    starter_sections,
)

KINDS = (CODE, WRITTEN)
COMMON_FRACTION = 0.1  # a passage in more than this share of the class counts for nobody


@dataclass(frozen=True)
class Submission:
    key: str  # its files' name in --out: executed/<key>.ipynb
    name: str  # the submitted file's name, as the TA knows it


@dataclass
class Comparison:
    """One question and kind of work across the class."""

    question: str
    kind: Kind
    members: list[int]  # submission indexes with work of their own (one document each)
    documents: list[Document]
    skipped: int  # submissions without work of their own here
    pairs: list[Pair]  # ranked: best first; a and b index ``members``
    ignored: int  # fingerprints too common to count

    def cells(self, analysis: Analysis, member: int) -> dict[int, str]:
        """The sources of one member's cells here, by cell index."""
        section = analysis.sections[self.members[member]].get(self.question, Section())
        return {cell.index: cell.source for cell in section.of(self.kind.cell_type)}


@dataclass
class Analysis:
    submissions: list[Submission]  # sorted by key
    unreadable: dict[int, str]  # submission index -> why
    sections: dict[int, dict[str, Section]]  # submission index -> question -> own cells
    limit: int  # most submissions a counted passage appears in
    comparisons: list[Comparison] = field(default_factory=list)


def question_order(name: str) -> tuple[int, str]:
    number = re.search(r"\d+", name)
    return (int(number[0]) if number else 0, name)


def _compare(analysis: Analysis, question: str, kind: Kind, boilerplate: set[int]) -> Comparison:
    members, documents = [], []
    for index in sorted(analysis.sections):
        section = analysis.sections[index].get(question, Section())
        document = fingerprint(section.of(kind.cell_type), kind, boilerplate)
        if document.fingerprints:
            members.append(index)
            documents.append(document)
    pairs, common = compare(documents, kind.k, analysis.limit)
    keys = [analysis.submissions[index].key for index in members]
    pairs.sort(key=lambda pair: (-pair.score, keys[pair.a], keys[pair.b]))
    skipped = len(analysis.sections) - len(members)
    return Comparison(question, kind, members, documents, skipped, pairs, len(common))


def analyse(
    out: Path,
    submissions: list[Submission],
    starter: Path,
    common_fraction: float = COMMON_FRACTION,
) -> Analysis:
    """Read every executed notebook in ``out`` and compare the class, question by question."""
    template = read_cells(starter)
    ordered = sorted(set(submissions), key=lambda s: (s.key, s.name))
    analysis = Analysis(ordered, {}, {}, 0)
    for index, submission in enumerate(ordered):
        path = out / "executed" / f"{submission.key}.ipynb"
        if Path(submission.key).name != submission.key or not path.is_file():
            analysis.unreadable[index] = "no executed notebook"
            continue
        try:
            analysis.sections[index] = own_sections(read_cells(path), template)
        except NotebookUnreadable as error:
            analysis.unreadable[index] = str(error)
    analysis.limit = common_limit(len(analysis.sections), common_fraction)
    questions = sorted(starter_sections(template), key=question_order)
    for kind in KINDS:
        boilerplate = all_hashes([c for c in template if c.kind == kind.cell_type], kind)
        for question in questions:
            analysis.comparisons.append(_compare(analysis, question, kind, boilerplate))
    analysis.comparisons.sort(key=lambda c: (question_order(c.question), KINDS.index(c.kind)))
    return analysis
