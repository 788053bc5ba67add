"""The marks of the written items, in SQLite at ``<out>/marks.sqlite`` (WAL).

Every action is one committed transaction, so a server killed with SIGKILL loses nothing, and
several servers (or TAs) on one file see each other's marks at once. A mark stores which rubric
items were applied, never their points: points and feedback always follow the current rubric,
which gives PrairieLearn's semantics for rubric edits by construction (changing an item's points
re-scores everyone who has it, changing its text changes their feedback only, adding one changes
no one, deleting one re-scores those who had it).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from grader.report.written import RubricItem, WrittenItem

FILE_NAME = "marks.sqlite"
AUTO_GRADER = "auto"
NO_ANSWER = "no answer"
LEASE_SECONDS = 120.0  # "next ungraded" hands an answer to one TA for this long

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (item TEXT PRIMARY KEY, max_points REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rubric (
    item TEXT NOT NULL, key TEXT NOT NULL, points REAL NOT NULL, text TEXT NOT NULL,
    position INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    master TEXT, PRIMARY KEY (item, key));
CREATE TABLE IF NOT EXISTS marks (
    submission TEXT NOT NULL, item TEXT NOT NULL, comment TEXT NOT NULL DEFAULT '',
    grader TEXT NOT NULL, at TEXT NOT NULL, auto INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (submission, item));
CREATE TABLE IF NOT EXISTS applied (
    submission TEXT NOT NULL, item TEXT NOT NULL, rubric_key TEXT NOT NULL,
    PRIMARY KEY (submission, item, rubric_key));
CREATE TABLE IF NOT EXISTS ungrouped (
    submission TEXT NOT NULL, item TEXT NOT NULL, PRIMARY KEY (submission, item));
CREATE TABLE IF NOT EXISTS leases (
    item TEXT NOT NULL, unit TEXT NOT NULL, holder TEXT NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (item, unit));
CREATE TABLE IF NOT EXISTS log (
    at TEXT NOT NULL, grader TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Mark:
    """One submission's mark for one written item, with the rubric as it is now."""

    submission: str  # the submission key used in grades.csv / results store
    item: str  # WrittenItem.key
    points: float  # sum of applied items' CURRENT points, clamped to [0, max]
    applied: tuple[RubricItem, ...]  # with their CURRENT text and points
    comment: str
    grader: str
    when: str  # ISO time


@dataclass(frozen=True)
class UnitState:
    """What the page shows of one answer's mark (the first member's, for a group)."""

    graded: bool
    applied: tuple[str, ...]  # rubric keys
    comment: str
    grader: str
    when: str
    auto: bool
    version: int  # 0 when not graded; a write must name the version it saw


class Conflict(Exception):
    """Someone else changed this answer's mark since the page showed it."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def clamp(value: float, maximum: float) -> float:
    return min(max(value, 0.0), maximum)


class MarkStore:
    """The marks store; thread-safe (one connection, one lock), several processes may share it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 10000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")  # WAL: a killed process loses nothing
        with self._write() as db:
            for statement in _statements():
                db.execute(statement)

    @classmethod
    def in_out(cls, out: Path) -> MarkStore | None:
        """The store of an ``--out`` folder, None when no one has marked there yet."""
        path = out / FILE_NAME
        return cls(path) if path.is_file() else None

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: writers queue on the file lock, across processes too."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, parameters: Iterable = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, tuple(parameters)).fetchall()

    # --- set-up -----------------------------------------------------------------------------

    def meta(self, key: str, default: str) -> str:
        """A stored setting, written with ``default`` the first time it is asked for."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, default))
            return db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    def seed(self, items: list[WrittenItem]) -> None:
        """The master notebook's items and rubrics. Edits made on the page stay, except where
        the master itself changed since it was last read: then the master wins for that entry
        (``master`` remembers what it said; NULL for entries added on the page)."""
        with self._write() as db:
            for item in items:
                db.execute(
                    "INSERT OR REPLACE INTO items VALUES (?, ?)", (item.key, item.max_points)
                )
                keys = {entry.key for entry in item.rubric}
                for (key,) in db.execute(
                    "SELECT key FROM rubric WHERE item = ? AND master IS NOT NULL", (item.key,)
                ).fetchall():
                    if key not in keys:  # gone from the master: deleted, marks re-scored
                        db.execute(
                            "UPDATE rubric SET deleted = 1, master = NULL "
                            "WHERE item = ? AND key = ?",
                            (item.key, key),
                        )
                for position, entry in enumerate(item.rubric):
                    _seed_entry(db, item.key, entry, position)

    def mark_unanswered(self, item: str, submissions: Iterable[str], why: str = NO_ANSWER) -> None:
        """0 points, "no answer", for answers left as the template, unless marked already."""
        with self._write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO marks VALUES (?, ?, ?, ?, ?, 1, 1)",
                [(key, item, why, AUTO_GRADER, now_iso()) for key in submissions],
            )

    # --- the rubric -------------------------------------------------------------------------

    def rubric(self, item: str) -> list[RubricItem]:
        rows = self._read(
            "SELECT key, points, text FROM rubric WHERE item = ? AND deleted = 0 ORDER BY position",
            (item,),
        )
        return [RubricItem(key, points, text) for key, points, text in rows]

    def edit_rubric(self, item: str, key: str, points: float, text: str, grader: str) -> None:
        """Change an item's points and/or text; everyone who has it follows."""
        with self._write() as db:
            changed = db.execute(
                "UPDATE rubric SET points = ?, text = ? WHERE item = ? AND key = ? AND deleted = 0",
                (points, text, item, key),
            ).rowcount
            if not changed:
                raise KeyError(key)
            _log(db, grader, "edit rubric", f"{item}/{key}: {points} {text!r}")

    def add_rubric(self, item: str, points: float, text: str, grader: str) -> str:
        """A new rubric item, applied to no one; returns its key."""
        with self._write() as db:
            (count,) = db.execute("SELECT COUNT(*) FROM rubric WHERE item = ?", (item,)).fetchone()
            key = f"added-{count + 1}"
            while db.execute(
                "SELECT 1 FROM rubric WHERE item = ? AND key = ?", (item, key)
            ).fetchone():
                count += 1
                key = f"added-{count + 1}"
            db.execute(
                "INSERT INTO rubric VALUES (?, ?, ?, ?, ?, 0, NULL)",
                (item, key, points, text, count),
            )
            _log(db, grader, "add rubric", f"{item}/{key}: {points} {text!r}")
            return key

    def delete_rubric(self, item: str, key: str, grader: str) -> None:
        """Gone from the rubric and from the marks of those who had it (kept for the log)."""
        with self._write() as db:
            db.execute("UPDATE rubric SET deleted = 1 WHERE item = ? AND key = ?", (item, key))
            _log(db, grader, "delete rubric", f"{item}/{key}")

    # --- marks ------------------------------------------------------------------------------

    def state(self, submission: str, item: str) -> UnitState:
        with self._lock:
            row = self._db.execute(
                "SELECT comment, grader, at, auto, version FROM marks "
                "WHERE submission = ? AND item = ?",
                (submission, item),
            ).fetchone()
            applied = self._live_applied(self._db, submission, item)
        if row is None:
            return UnitState(False, (), "", "", "", False, 0)
        comment, grader, at, auto, version = row
        return UnitState(True, applied, comment, grader, at, bool(auto), version)

    @staticmethod
    def _live_applied(db: sqlite3.Connection, submission: str, item: str) -> tuple[str, ...]:
        rows = db.execute(
            "SELECT a.rubric_key FROM applied a JOIN rubric r "
            "ON r.item = a.item AND r.key = a.rubric_key AND r.deleted = 0 "
            "WHERE a.submission = ? AND a.item = ? ORDER BY r.position",
            (submission, item),
        ).fetchall()
        return tuple(key for (key,) in rows)

    def graded_counts(self, submissions: set[str]) -> dict[str, int]:
        """How many of ``submissions`` have a mark, by item."""
        counts: dict[str, int] = {}
        for submission, item in self._read("SELECT submission, item FROM marks"):
            if submission in submissions:
                counts[item] = counts.get(item, 0) + 1
        return counts

    def graded(self, item: str) -> set[str]:
        rows = self._read("SELECT submission FROM marks WHERE item = ?", (item,))
        return {key for (key,) in rows}

    def update(
        self,
        members: list[str],
        item: str,
        seen_version: int,
        grader: str,
        *,
        applied: tuple[str, ...] | None = None,
        comment: str | None = None,
    ) -> None:
        """Write one answer's mark (every member of its group) if it is still ``seen_version``.

        ``applied``/``comment`` None keep the current value; a first write creates the mark.
        """
        with self._write() as db:
            first = db.execute(
                "SELECT version, auto, comment FROM marks WHERE submission = ? AND item = ?",
                (members[0], item),
            ).fetchone()
            version, auto, old_comment = first if first else (0, 0, "")
            if version != seen_version:
                raise Conflict(members[0])
            if comment is None:
                comment = "" if auto else old_comment  # a TA's mark replaces "no answer"
            if applied is None:
                applied = self._live_applied(db, members[0], item)
            for key in members:
                _write_mark(db, key, item, applied, comment, grader, version + 1)
            _log(db, grader, "mark", f"{item} {members}: {list(applied)} {comment!r}")

    def unmark(self, members: list[str], item: str, seen_version: int, grader: str) -> None:
        """Back to ungraded."""
        with self._write() as db:
            first = db.execute(
                "SELECT version FROM marks WHERE submission = ? AND item = ?", (members[0], item)
            ).fetchone()
            if (first[0] if first else 0) != seen_version:
                raise Conflict(members[0])
            for key in members:
                db.execute("DELETE FROM marks WHERE submission = ? AND item = ?", (key, item))
                db.execute("DELETE FROM applied WHERE submission = ? AND item = ?", (key, item))
            _log(db, grader, "unmark", f"{item} {members}")

    # --- groups and leases ------------------------------------------------------------------

    def ungrouped(self, item: str) -> set[str]:
        return {
            key for (key,) in self._read("SELECT submission FROM ungrouped WHERE item = ?", (item,))
        }

    def ungroup(self, members: list[str], item: str, grader: str) -> None:
        """Each member becomes an answer of its own, keeping the group's mark."""
        with self._write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO ungrouped VALUES (?, ?)", [(key, item) for key in members]
            )
            _log(db, grader, "ungroup", f"{item} {members}")

    def leased(self, item: str, holder: str) -> set[str]:
        """Units of ``item`` that someone other than ``holder`` holds now."""
        rows = self._read(
            "SELECT unit FROM leases WHERE item = ? AND holder != ? AND until > ?",
            (item, holder, time.time()),
        )
        return {unit for (unit,) in rows}

    def take_lease(self, item: str, units: list[str], holder: str) -> str | None:
        """The first of ``units`` nobody else holds, now held by ``holder`` (atomic)."""
        with self._write() as db:
            now = time.time()
            db.execute("DELETE FROM leases WHERE until <= ? OR holder = ?", (now, holder))
            for unit in units:
                taken = db.execute(
                    "SELECT 1 FROM leases WHERE item = ? AND unit = ?", (item, unit)
                ).fetchone()
                if not taken:
                    db.execute(
                        "INSERT INTO leases VALUES (?, ?, ?, ?)",
                        (item, unit, holder, now + LEASE_SECONDS),
                    )
                    return unit
        return None

    def lease_holder(self, item: str, unit: str) -> str | None:
        rows = self._read(
            "SELECT holder FROM leases WHERE item = ? AND unit = ? AND until > ?",
            (item, unit, time.time()),
        )
        return rows[0][0] if rows else None

    # --- for the report ---------------------------------------------------------------------

    def marks(self) -> dict[tuple[str, str], Mark]:
        """Every mark, with points and feedback from the current rubric."""
        with self._lock:
            maxima = dict(self._db.execute("SELECT item, max_points FROM items").fetchall())
            rubric = {
                (item, key): RubricItem(key, points, text)
                for item, key, points, text in self._db.execute(
                    "SELECT item, key, points, text FROM rubric WHERE deleted = 0 "
                    "ORDER BY item, position"
                )
            }
            applied: dict[tuple[str, str], list[RubricItem]] = {}
            for submission, item, key in self._db.execute(
                "SELECT submission, item, rubric_key FROM applied"
            ):
                if (item, key) in rubric:
                    applied.setdefault((submission, item), []).append(rubric[item, key])
            rows = self._db.execute("SELECT submission, item, comment, grader, at FROM marks")
            found = {}
            for submission, item, comment, grader, at in rows.fetchall():
                items = tuple(applied.get((submission, item), ()))
                points = clamp(sum(entry.points for entry in items), maxima.get(item, 0.0))
                found[submission, item] = Mark(submission, item, points, items, comment, grader, at)
        return found


def _seed_entry(db: sqlite3.Connection, item: str, entry: RubricItem, position: int) -> None:
    says = json.dumps([entry.points, entry.text])
    row = db.execute(
        "SELECT master FROM rubric WHERE item = ? AND key = ?", (item, entry.key)
    ).fetchone()
    if row is None:
        db.execute(
            "INSERT INTO rubric VALUES (?, ?, ?, ?, ?, 0, ?)",
            (item, entry.key, entry.points, entry.text, position, says),
        )
    elif row[0] != says:  # the master changed this entry (or brings back a deleted one)
        db.execute(
            "UPDATE rubric SET points = ?, text = ?, deleted = 0, master = ? "
            "WHERE item = ? AND key = ?",
            (entry.points, entry.text, says, item, entry.key),
        )


def _statements() -> list[str]:
    return [statement for statement in _SCHEMA.split(";") if statement.strip()]


def _write_mark(
    db: sqlite3.Connection,
    submission: str,
    item: str,
    applied: tuple[str, ...],
    comment: str,
    grader: str,
    version: int,
) -> None:
    db.execute(
        "INSERT OR REPLACE INTO marks VALUES (?, ?, ?, ?, ?, 0, ?)",
        (submission, item, comment, grader, now_iso(), version),
    )
    db.execute("DELETE FROM applied WHERE submission = ? AND item = ?", (submission, item))
    db.executemany(
        "INSERT INTO applied VALUES (?, ?, ?)", [(submission, item, key) for key in applied]
    )


def _log(db: sqlite3.Connection, grader: str, action: str, detail: str) -> None:
    db.execute("INSERT INTO log VALUES (?, ?, ?, ?)", (now_iso(), grader, action, detail))
