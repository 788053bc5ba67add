"""Pairs of documents that share fingerprints, scored; passages common to the class ignored.

A fingerprint held by more than ``limit`` documents is the obvious way to write something (or
the starter's, reworded), not shared work: it matches for nobody. A pair's score is the share of
both documents' own tokens (starter removed) that their other common fingerprints cover, from 0
(nothing shared) to 1 (all of both): ``(matched_a + matched_b) / (own_a + own_b)``. Passages the
whole class writes alike still count as a document's own tokens, so sharing only those scores low.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from copydetect.utils import get_copied_slices

from grader.report.similarity.fingerprints import Document


def common_limit(class_size: int, fraction: float) -> int:
    """The most documents a counted passage may appear in (a pair's passage always counts)."""
    return max(2, math.floor(fraction * class_size))


@dataclass(frozen=True)
class Pair:
    a: int  # document indexes, a < b
    b: int
    score: float
    matched_a: int  # tokens of a covered by what they share
    matched_b: int
    shared: tuple[int, ...]  # the fingerprints they share (sorted)


def compare(documents: list[Document], k: int, limit: int) -> tuple[list[Pair], set[int]]:
    """Every pair that shares a counted fingerprint, and the common (ignored) fingerprints."""
    holders: dict[int, list[int]] = defaultdict(list)
    for index, document in enumerate(documents):
        for value in document.fingerprints:
            holders[value].append(index)
    common = {value for value, found in holders.items() if len(found) > limit}
    own = [document.covered(document.fingerprints, k) for document in documents]
    shared: dict[tuple[int, int], list[int]] = defaultdict(list)
    for value, found in holders.items():
        if 2 <= len(found) <= limit:
            for pair in combinations(found, 2):
                shared[pair].append(value)
    pairs = []
    for (a, b), values in shared.items():
        matched_a = documents[a].covered(values, k)
        matched_b = documents[b].covered(values, k)
        score = (matched_a + matched_b) / (own[a] + own[b])
        pairs.append(Pair(a, b, score, matched_a, matched_b, tuple(sorted(values))))
    return pairs, common


def passages(document: Document, shared: tuple[int, ...], k: int) -> list[tuple[int, int, int]]:
    """The matched passages of one document: (cell index, start, end) in the cell's source."""
    starts = [start for value in shared for start in document.fingerprints.get(value, ())]
    slices = get_copied_slices(np.array(starts, dtype=np.int64), k)
    found = []
    for first, last in zip(slices[0].tolist(), slices[1].tolist(), strict=True):
        begin, end = document.tokens[int(first)], document.tokens[int(last) - 1]
        found.append((begin.cell, begin.start, end.end))
    return found
