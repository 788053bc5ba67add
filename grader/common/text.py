"""Text from submissions, made safe for one table cell, a UTF-8 file and a terminal."""

import re

from rich.text import Text

MAX_MESSAGE = 300
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def valid_text(text: str) -> str:
    """``text`` with what UTF-8 cannot encode (lone surrogates, undecodable names) replaced."""
    return str(text).encode("utf-8", "replace").decode("utf-8")


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """A message fit for one table cell and a UTF-8 file: one line, bounded, no lone surrogates."""
    return valid_text(" ".join(str(text).split())[:limit])


def terminal_text(text: str) -> Text:
    """Submission-controlled text for the terminal: no control characters, never markup."""
    return Text(valid_text(CONTROL.sub("?", str(text))))
