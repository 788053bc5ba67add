"""The TA's web marking app: the written items, by question across the class, with a rubric.

``homework-grader mark --out grades`` reads ``grades/executed/*.ipynb``, keeps every mark in
``grades/marks.sqlite`` and serves the page on 127.0.0.1 behind a secret token.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

from grader.mark.answers import read_class
from grader.mark.app import Marking, create_app
from grader.mark.store import FILE_NAME, MarkStore
from grader.report.written import written_items

TOKEN_VARIABLE = "HOMEWORK_MARK_TOKEN"
UNREADABLE = "the executed notebook could not be read"


def open_marking(out: Path, master: Path, token: str | None = None) -> Marking:
    """The class's answers and the store, seeded with the master's rubrics and "no answer"s."""
    items = written_items(master)
    store = MarkStore(out / FILE_NAME)
    store.seed(items)
    room = read_class(out, items, store.meta("blind-salt", secrets.token_hex(16)))
    for item in items:
        unanswered = room.unanswered(item)
        store.mark_unanswered(item.key, [key for key in unanswered if key not in room.unreadable])
        store.mark_unanswered(item.key, sorted(room.unreadable), UNREADABLE)
    return Marking(room, store, token or os.environ.get(TOKEN_VARIABLE) or secrets.token_hex(24))


def serve(marking: Marking, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Bind first (so port 0 works and the URL is true), print the URL, serve until stopped."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so (else every
    # response waits ~40 ms for the client's delayed ACK).
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(64)
    bound = listener.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    announce(f"http://{shown}:{bound}/?token={marking.token}")
    config = uvicorn.Config(create_app(marking), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[listener])
