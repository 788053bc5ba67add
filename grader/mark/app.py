"""The marking web app (Starlette): a page, a small JSON API, and the student's Q5 figure.

Every request needs the secret token (``?token=`` once, then an HttpOnly, SameSite=Strict
cookie). Every response carries a Content-Security-Policy that runs only this app's own script
and MathJax, both served from here, and fetches nothing from any other host.
"""

from __future__ import annotations

import hmac
import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from grader.mark.answers import Classroom, Unit
from grader.mark.render import answer_html
from grader.mark.store import Conflict, MarkStore, clamp

STATIC = Path(__file__).parent / "static"
MATHJAX = Path("/usr/share/javascript/mathjax")  # Debian's libjs-mathjax (MathJax 2.7)
MAX_FIGURE_BYTES = 10_000_000
MAX_COMMENT_CHARS = 5_000
MAX_BODY_BYTES = 64_000
IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass
class Marking:
    """What the app works on: the class's answers, the store, the token."""

    room: Classroom
    store: MarkStore
    token: str
    rendered: dict[tuple[str, str], str] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)

    def html(self, item: str, submission: str) -> str:
        """The answer's sanitised HTML, rendered once."""
        if (item, submission) not in self.rendered:
            text = self.room.answers[item].get(submission)
            if submission in self.room.unreadable:
                html = "<p class='notice'>The executed notebook could not be read.</p>"
            elif text is None:
                html = "<p class='notice'>No answer cell in this notebook.</p>"
            else:
                html = answer_html(text)
            self.rendered[item, submission] = html
        return self.rendered[item, submission]

    def reference(self, item: str) -> str:
        if item not in self.references:
            self.references[item] = answer_html(self.room.item(item).reference)
        return self.references[item]

    def units(self, item: str) -> list[Unit]:
        return self.room.units(item, self.store.ungrouped(item))


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Guard(BaseHTTPMiddleware):
    """The token on every request, the security headers on every response."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        marking: Marking = request.app.state.marking
        cookie = f"mark-token-{request.url.port}"
        given = request.query_params.get("token") or request.cookies.get(cookie, "")
        if not hmac.compare_digest(given.encode(), marking.token.encode()):
            response: Response = Response(
                "Forbidden: open the URL with the token that `homework-grader mark` printed.",
                status_code=403,
                media_type="text/plain",
            )
        elif request.method == "POST" and not _same_origin(request):
            response = Response("Forbidden: cross-origin request.", 403, media_type="text/plain")
        elif "token" in request.query_params:  # keep the token out of the address bar
            response = RedirectResponse(request.url.path, status_code=303)
            response.set_cookie(cookie, marking.token, httponly=True, samesite="strict")
        else:
            response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        cached = request.url.path.startswith(("/static/", "/mathjax/"))  # our files, not answers
        response.headers["Cache-Control"] = "private, max-age=600" if cached else "no-store"
        return response


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise Refused(413, "request too large")
    try:
        import json

        data = json.loads(raw)
    except ValueError:
        raise Refused(400, "not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "not a JSON object")
    return data


def _text(data: dict, name: str, limit: int, *, required: bool = True) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise Refused(400, f"{name}: a text of at most {limit} characters")
    return value.strip() if name != "comment" else value


def _number(data: dict, name: str) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Refused(400, f"{name}: a number")
    return float(value)


def _unit(marking: Marking, item: str, number: Any) -> tuple[list[Unit], int]:
    """The item's units and the index of the one holding submission ``number`` (any member)."""
    if item not in marking.room.answers:
        raise Refused(404, f"no written item {item!r}")
    units = marking.units(item)
    order = marking.room.order
    if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= len(order):
        submission = order[number - 1]
        for index, unit in enumerate(units):
            if submission in unit.members:
                return units, index
    raise Refused(404, f"no answer {number!r} for {item}")


def progress(marking: Marking) -> dict[str, Any]:
    total = len(marking.room.order)
    counts = marking.store.graded_counts(marking.room.known)
    items = {item.key: counts.get(item.key, 0) for item in marking.room.items}
    return {
        "items": {key: {"graded": graded, "total": total} for key, graded in items.items()},
        "class": {"graded": sum(items.values()), "total": total * len(items)},
    }


def unit_json(
    marking: Marking, item: str, units: list[Unit], index: int, holder: str, names: bool
) -> dict:
    """One answer as the page shows it, with its mark and the progress."""
    unit = units[index]
    state = marking.store.state(unit.members[0], item)
    written = marking.room.item(item)
    points = {entry.key: entry.points for entry in marking.store.rubric(item)}
    figure = written.figure and _figure_path(marking, unit.members[0], written.figure)
    holder_now = marking.store.lease_holder(item, unit.members[0])
    return {
        "item": item,
        "number": unit.number,
        "position": index + 1,
        "units": len(units),
        "members": len(unit.members),
        "names": list(unit.members) if names else None,
        "html": marking.html(item, unit.members[0]),
        "figure": f"/figure/{item}/{unit.number}" if figure else None,
        "graded": state.graded,
        "applied": list(state.applied),
        "points": clamp(sum(points[key] for key in state.applied), written.max_points),
        "comment": state.comment,
        "grader": state.grader,
        "when": state.when,
        "auto": state.auto,
        "version": state.version,
        "held_by_other": holder_now is not None and holder_now != holder,
        "progress": progress(marking),
    }


def _figure_path(marking: Marking, submission: str, name: str) -> Path | None:
    folder = marking.room.out / "answers" / submission / "files"
    path = folder / name
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FIGURE_BYTES:
            return None
        if path.resolve().parent != folder.resolve():
            return None
    except OSError:
        return None
    return path


def _items_json(marking: Marking) -> dict:
    items = []
    for item in marking.room.items:
        items.append(
            {
                "key": item.key,
                "question": item.question,
                "title": item.title,
                "max_points": item.max_points,
                "reference": marking.reference(item.key),
                "rubric": [
                    {"key": entry.key, "points": entry.points, "text": entry.text}
                    for entry in marking.store.rubric(item.key)
                ],
            }
        )
    return {"items": items, "progress": progress(marking), "mathjax": MATHJAX.is_dir()}


# --- endpoints -------------------------------------------------------------------------------


@cache
def _index_template() -> str:
    return (STATIC / "index.html").read_text()


async def index(request: Request) -> Response:
    """The page, with the items as a JSON data block: the first answer is one request away."""
    items = json.dumps(_items_json(request.app.state.marking)).replace("<", "\\u003c")
    boot = f'<script id="boot" type="application/json">{items}</script>\n</head>'
    page = _index_template().replace("</head>", boot, 1)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


async def items(request: Request) -> Response:
    return JSONResponse(_items_json(request.app.state.marking))


async def unit(request: Request) -> Response:
    marking: Marking = request.app.state.marking
    query = request.query_params
    try:
        number = int(query.get("n", ""))
    except ValueError:
        return JSONResponse({"error": "n: a number"}, 400)
    holder = query.get("holder", "")[:80]
    item = query.get("item", "")
    units, index = _unit(marking, item, number)
    marking.store.take_lease(item, [units[index].members[0]], holder)
    return JSONResponse(unit_json(marking, item, units, index, holder, query.get("names") == "1"))


async def navigate(request: Request) -> Response:
    """The next ungraded answer (leased to this holder), or the next/previous one, with its
    JSON (one round trip); ``unit`` is None when there is none."""
    marking: Marking = request.app.state.marking
    data = await _body(request)
    item, holder = _text(data, "item", 200), _text(data, "holder", 80)
    if item not in marking.room.answers:
        raise Refused(404, f"no written item {item!r}")
    units = marking.units(item)
    after = data.get("after")
    start = next((i + 1 for i, unit in enumerate(units) if unit.number == after), 0)
    names = bool(data.get("names"))
    where = data.get("to")
    if where in ("next", "previous"):
        index = start if where == "next" else start - 2
        if not 0 <= index < len(units):
            return JSONResponse({"unit": None})
        marking.store.take_lease(item, [units[index].members[0]], holder)
        return JSONResponse({"unit": unit_json(marking, item, units, index, holder, names)})
    graded = marking.store.graded(item)
    busy = marking.store.leased(item, holder)
    rotated = units[start:] + units[:start]
    free = [unit.members[0] for unit in rotated if not set(unit.members) <= graded]
    candidates = [key for key in free if key not in busy]
    taken = marking.store.take_lease(item, candidates, holder)
    index = next((i for i, unit in enumerate(units) if unit.members[0] == taken), None)
    return JSONResponse(
        {
            "unit": None
            if index is None
            else unit_json(marking, item, units, index, holder, names),
            "ungraded": len(free),
            "held_by_others": len(free) - len(candidates),
        }
    )


async def mark(request: Request) -> Response:
    """Apply rubric items and/or a comment, or ``clear`` the mark; 409 when someone was first."""
    marking: Marking = request.app.state.marking
    data = await _body(request)
    item, grader = _text(data, "item", 200), _text(data, "grader", 80)
    holder = _text(data, "holder", 80)
    units, index = _unit(marking, item, data.get("n"))
    members = list(units[index].members)
    version = int(_number(data, "version"))
    try:
        if data.get("clear"):
            marking.store.unmark(members, item, version, grader)
        else:
            marking.store.update(
                members,
                item,
                version,
                grader,
                applied=_applied(marking, item, data),
                comment=_comment(data),
            )
        status = 200
    except Conflict:
        status = 409
    marking.store.take_lease(item, [members[0]], holder)  # renewed while grading it
    body = unit_json(marking, item, units, index, holder, bool(data.get("names")))
    return JSONResponse(body, status)


def _applied(marking: Marking, item: str, data: dict) -> tuple[str, ...] | None:
    if "applied" not in data:
        return None
    keys = data["applied"]
    valid = {entry.key for entry in marking.store.rubric(item)}
    if not isinstance(keys, list) or not all(isinstance(key, str) and key in valid for key in keys):
        raise Refused(400, "applied: keys of the current rubric")
    return tuple(dict.fromkeys(keys))


def _comment(data: dict) -> str | None:
    return _text(data, "comment", MAX_COMMENT_CHARS, required=False) if "comment" in data else None


async def ungroup(request: Request) -> Response:
    marking: Marking = request.app.state.marking
    data = await _body(request)
    item, grader = _text(data, "item", 200), _text(data, "grader", 80)
    units, index = _unit(marking, item, data.get("n"))
    marking.store.ungroup(list(units[index].members), item, grader)
    return JSONResponse({"n": units[index].number})


async def rubric(request: Request) -> Response:
    """Edit (points, text), add or delete a rubric item: the marks follow."""
    marking: Marking = request.app.state.marking
    data = await _body(request)
    item, grader = _text(data, "item", 200), _text(data, "grader", 80)
    if item not in marking.room.answers:
        raise Refused(404, f"no written item {item!r}")
    operation = data.get("op")
    try:
        if operation == "add":
            marking.store.add_rubric(
                item, _number(data, "points"), _text(data, "text", 1000), grader
            )
        elif operation == "edit":
            marking.store.edit_rubric(
                item,
                _text(data, "key", 100),
                _number(data, "points"),
                _text(data, "text", 1000),
                grader,
            )
        elif operation == "delete":
            marking.store.delete_rubric(item, _text(data, "key", 100), grader)
        else:
            raise Refused(400, "op: add, edit or delete")
    except KeyError:
        raise Refused(404, "no such rubric item") from None
    return JSONResponse(_items_json(marking))


async def figure(request: Request) -> Response:
    """The student's exported figure: PNG or JPEG by its first bytes, nothing else."""
    marking: Marking = request.app.state.marking
    item = request.path_params["item"]
    units, index = _unit(marking, item, request.path_params["number"])
    written = marking.room.item(item)
    path = written.figure and _figure_path(marking, units[index].members[0], written.figure)
    if not path:
        raise Refused(404, "no figure")
    data = path.read_bytes()[:MAX_FIGURE_BYTES]
    kind = next((kind for magic, kind in IMAGE_TYPES.items() if data.startswith(magic)), None)
    if kind is None:
        raise Refused(415, "the figure is not a PNG or JPEG image")
    return Response(data, media_type=kind)


async def refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, Refused)
    return JSONResponse({"error": str(error)}, error.status)


def create_app(marking: Marking) -> Starlette:
    routes = [
        Route("/", index),
        Route("/api/items", items),
        Route("/api/unit", unit),
        Route("/api/navigate", navigate, methods=["POST"]),
        Route("/api/mark", mark, methods=["POST"]),
        Route("/api/ungroup", ungroup, methods=["POST"]),
        Route("/api/rubric", rubric, methods=["POST"]),
        Route("/figure/{item}/{number:int}", figure),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    if MATHJAX.is_dir():
        routes.append(Mount("/mathjax", StaticFiles(directory=MATHJAX, follow_symlink=True)))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard)],
        exception_handlers={Refused: refused},
    )
    app.state.marking = marking
    return app
