"""Normalised tokens of Python source with the standard library's ``tokenize``.

Five times faster than Pygments' lexer (bench/similarity.py), which stays the fallback for a
cell Python cannot tokenise (``fingerprints.code_tokens``). Every name a student chooses becomes
``V``, every string (an f-string whole, on every Python version) ``S``, every number ``N``;
keywords, builtins, ``self``/``cls`` and operators stay as written; comments, docstrings and
layout are dropped.
"""

from __future__ import annotations

import builtins
import io
import keyword
import tokenize
from collections.abc import Iterator

KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins)) | {"self", "cls"}
LAYOUT = frozenset(
    {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
)
STATEMENT_START = frozenset({tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT})
FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+
FSTRING_END = getattr(tokenize, "FSTRING_END", None)

Symbol = tuple[str, int, int]  # (normalised token, start, end) in the source


def _dedented(source: str) -> tuple[str, list[int]]:
    """The source with every line's indentation removed (layout does not count, and a cell of a
    class or loop body pasted alone still tokenises), and where each line (1-based) now starts
    in the original."""
    lines, starts, position = [], [0], 0
    for line in io.StringIO(source):
        stripped = line.lstrip(" \t\f")
        starts.append(position + len(line) - len(stripped))
        lines.append(stripped)
        position += len(line)
    return "".join(lines), [*starts, position]  # and the end, where ENDMARKER is


def _significant(source: str) -> Iterator[tokenize.TokenInfo]:
    """Tokens without comments and blank lines; raises tokenize.TokenError, SyntaxError.

    An unclosed bracket at the end is no error here: every token was read by then.
    """
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type not in (tokenize.COMMENT, tokenize.NL):
                yield token
    except tokenize.TokenError as error:
        if "multi-line statement" not in str(error.args[0]):
            raise


def _symbol(token: tokenize.TokenInfo) -> str | None:
    if token.type == tokenize.NAME:
        return token.string if token.string in KEPT_NAMES else "V"
    if token.type == tokenize.NUMBER:
        return "N"
    if token.type == tokenize.STRING:
        return "S"
    if token.type in LAYOUT or not token.string.strip():
        return None
    return token.string  # operators, stray characters (ERRORTOKEN), IPython's % and !


def python_symbols(source: str) -> list[Symbol]:
    """The normalised tokens of the source; raises tokenize.TokenError or SyntaxError."""
    dedented, offsets = _dedented(source)
    symbols: list[Symbol] = []
    tokens = list(_significant(dedented))
    depth = 0  # inside an f-string (3.12 splits it into tokens)
    for index, token in enumerate(tokens):
        start = offsets[token.start[0]] + token.start[1]
        end = offsets[token.end[0]] + token.end[1]
        if token.type == FSTRING_START:
            depth += 1
            if depth == 1:
                symbols.append(("S", start, end))
            continue
        if depth:
            depth -= token.type == FSTRING_END
            symbols[-1] = ("S", symbols[-1][1], end)
            continue
        if token.type == tokenize.STRING and _docstring(tokens, index):
            continue
        symbol = _symbol(token)
        if symbol is None:
            continue
        if symbol == "S" and symbols and symbols[-1][0] == "S" and _follows_string(tokens, index):
            symbols[-1] = ("S", symbols[-1][1], end)  # "a" "b": one literal
        else:
            symbols.append((symbol, start, end))
    return symbols


def _follows_string(tokens: list[tokenize.TokenInfo], index: int) -> bool:
    return index > 0 and tokens[index - 1].type in (tokenize.STRING, FSTRING_END)


def _docstring(tokens: list[tokenize.TokenInfo], index: int) -> bool:
    """A string that is a statement of its own (a docstring, or a string used as a comment)."""
    before = tokens[index - 1].type if index else tokenize.NEWLINE
    after = tokens[index + 1].type if index + 1 < len(tokens) else tokenize.ENDMARKER
    return before in STATEMENT_START and after in (tokenize.NEWLINE, tokenize.ENDMARKER)
