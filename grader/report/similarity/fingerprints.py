"""Fingerprints of code and prose: normalised tokens, stable k-gram hashes, winnowing.

Code is tokenised by Python's ``tokenize`` (Pygments' lexer where that fails: a cell that is
not valid Python); every name that is not a keyword or builtin becomes ``V``, every string
``S``, every number ``N``; comments, docstrings and whitespace are dropped. So
renaming variables, changing literals or comments leaves the tokens as they were. Prose is its
words, lower-cased. k-grams never span two cells (reordered cells keep their fingerprints) and
are hashed with BLAKE2b, not Python's ``hash()``, which is salted per process (copydetect's
``hashed_kgrams`` and compare50 use it): the same class gives the same fingerprints everywhere.
Winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003) is copydetect's ``winnow``.
"""

from __future__ import annotations

import hashlib
import re
import tokenize
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise

import numpy as np
from copydetect.utils import winnow
from pygments.lexers.python import PythonLexer
from pygments.token import Comment, Name, Number, String, Text

from grader.report.similarity.python_tokens import python_symbols
from grader.report.similarity.sections import Cell

HASH_BITS = 52  # copydetect's winnow compares hashes as floats: 52 bits stay exact
WORD = re.compile(r"\w+")
LEXER = PythonLexer(stripnl=False, ensurenl=False)


@dataclass(frozen=True, slots=True)  # one per token of the class: small
class Token:
    symbol: str  # the normalised token
    cell: int  # the cell's index in its notebook
    start: int  # character offsets in the cell's source
    end: int


@cache
def _category(kind: object) -> str | None:
    """How a Pygments token type counts: dropped (None), as S, N, V, or as its text ("")."""
    if kind in Comment or kind in Text or kind in String.Doc:
        return None
    if kind in String:
        return "S"
    if kind in Number:
        return "N"
    if kind in Name.Builtin:
        return ""  # print, len, self: not names a student chooses
    if kind in Name:
        return "V"
    return ""  # keywords, operators, punctuation


def _symbol(kind: object, value: str) -> str | None:
    """The normalised form of one Pygments token (None: it does not count)."""
    category = _category(kind)
    if category is None or not value.strip():
        return None
    return category or value


def code_tokens(cell: Cell) -> list[Token]:
    try:
        return [Token(s, cell.index, start, end) for s, start, end in python_symbols(cell.source)]
    except (tokenize.TokenError, SyntaxError):  # not Python (yet): Pygments lexes anything
        return pygments_tokens(cell)


def pygments_tokens(cell: Cell) -> list[Token]:
    tokens: list[Token] = []
    in_string = False  # the pieces of one literal (prefix, quotes, escapes) are one S
    for start, kind, value in LEXER.get_tokens_unprocessed(cell.source):
        symbol = _symbol(kind, value)
        if symbol is None:
            continue
        end = start + len(value)
        if symbol == "S" and in_string:
            tokens[-1] = Token("S", cell.index, tokens[-1].start, end)
        else:
            tokens.append(Token(symbol, cell.index, start, end))
        in_string = symbol == "S"
    return tokens


def text_tokens(cell: Cell) -> list[Token]:
    return [
        Token(match[0].lower(), cell.index, match.start(), match.end())
        for match in WORD.finditer(cell.source)
    ]


@dataclass(frozen=True)
class Kind:
    """How one kind of work is fingerprinted."""

    name: str  # "code" or "written" (in file names and the CSV)
    label: str  # in sentences
    cell_type: str  # the notebook cells it is in
    tokens: Callable[[Cell], list[Token]]
    k: int  # tokens per k-gram: shorter shared runs are noise
    window: int  # winnowing window: any shared run of k + window - 1 tokens is found


CODE = Kind("code", "code", "code", code_tokens, k=10, window=6)
WRITTEN = Kind("written", "written answers", "markdown", text_tokens, k=6, window=4)


@cache
def _token_digest(symbol: str) -> bytes:
    return hashlib.blake2b(symbol.encode(), digest_size=8).digest()


def kgram_hashes(symbols: list[str], k: int) -> np.ndarray:
    """A stable 52-bit hash of each k-gram of the symbols (none when fewer than k)."""
    digests = [_token_digest(symbol) for symbol in symbols]
    shift = 64 - HASH_BITS
    values = [
        int.from_bytes(hashlib.blake2b(b"".join(digests[i : i + k]), digest_size=8).digest())
        >> shift
        for i in range(len(symbols) - k + 1)
    ]
    return np.array(values, dtype=np.int64)


@dataclass
class Document:
    """One submission's work of one kind for one question, fingerprinted."""

    tokens: list[Token] = field(default_factory=list)
    fingerprints: dict[int, list[int]] = field(default_factory=dict)  # hash -> k-gram starts

    def covered(self, hashes: Iterable[int], k: int) -> int:
        """How many tokens the k-grams of these fingerprints cover."""
        starts = sorted(start for h in hashes for start in self.fingerprints.get(h, ()))
        if not starts:
            return 0
        return k + sum(min(k, after - before) for before, after in pairwise(starts))


def all_hashes(cells: list[Cell], kind: Kind) -> set[int]:
    """Every k-gram hash of the cells (the starter's: boilerplate)."""
    found: set[int] = set()
    for cell in cells:
        symbols = [token.symbol for token in kind.tokens(cell)]
        found.update(kgram_hashes(symbols, kind.k).tolist())
    return found


def fingerprint(cells: list[Cell], kind: Kind, boilerplate: set[int]) -> Document:
    """The winnowed fingerprints of the cells, boilerplate left out."""
    document = Document()
    fingerprints: dict[int, list[int]] = defaultdict(list)
    for cell in cells:
        tokens = kind.tokens(cell)
        hashes = kgram_hashes([token.symbol for token in tokens], kind.k)
        if len(hashes):
            selected, starts = winnow(hashes, kind.window, remove_duplicates=False)
            for value, start in zip(selected.tolist(), starts.tolist(), strict=True):
                if value not in boilerplate:
                    fingerprints[value].append(len(document.tokens) + start)
        document.tokens.extend(tokens)
    document.fingerprints = dict(fingerprints)
    return document
