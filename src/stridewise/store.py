"""The runner's imported history between CLI commands: one private SQLite file, safe writes.

Events are stored in the published event schema (JSON), keyed by id. An import merges the new
events into what is stored (cross-source de-duplication included) and writes only what changed
(upserts and the ids merged away) inside one ``BEGIN IMMEDIATE`` transaction: the history is
read and written under SQLite's write lock, so two imports at once wait for each other and
neither loses the other's events; an import that fails half-way leaves the previous history
intact, and importing the same files again changes nothing.

The file is created readable by its owner only (0600). A database that belongs to another
application (tables stridewise did not make) is refused, never written into. A stored row that
cannot be read (not JSON, or not a valid event) is reported and skipped, the rest is kept;
:meth:`Store.check` lists such rows and :meth:`Store.repair` moves them out to a file beside
the database (``stridewise db check --repair``).
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import platformdirs

from stridewise.engine.errors import InputError, StridewiseError
from stridewise.engine.events import (
    DEDUP_START_S,
    EVENT_CLASSES,
    CrossTraining,
    Event,
    Run,
    deduplicate,
    dump_stored_event,
    load_event,
)

DB_ENV = "STRIDEWISE_DB"
SCHEMA_VERSION = 1
#: How long a writer waits for another one to finish before giving up (seconds).
BUSY_TIMEOUT_S = 60.0
_TABLES = frozenset({"meta", "events", "imports"})
_SQLITE_TABLES = frozenset({"sqlite_sequence", "sqlite_stat1", "sqlite_stat4"})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS imports (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    summary TEXT NOT NULL
);
"""
_UPSERT = (
    "INSERT INTO events (id, kind, source, body) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, source = excluded.source, "
    "body = excluded.body"
)
_EVENT_TYPES = tuple(EVENT_CLASSES.values())


def default_db_path() -> Path:
    """``$STRIDEWISE_DB``, or ``history.sqlite3`` in the platform's user data folder."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("stridewise")) / "history.sqlite3"


@dataclasses.dataclass(frozen=True, slots=True)
class SaveResult:
    added: int
    merged: int
    unchanged: int
    total: int


@dataclasses.dataclass(frozen=True, slots=True)
class BadRow:
    """A stored row that cannot be read back as an event."""

    rowid: int
    id: str
    reason: str

    def __str__(self) -> str:
        return f"stored event {self.id!r} (row {self.rowid}): {self.reason}"


@dataclasses.dataclass(frozen=True, slots=True)
class CheckResult:
    """What :meth:`Store.check` found."""

    path: Path
    events: int
    bad_rows: tuple[BadRow, ...]
    integrity: tuple[str, ...]  # SQLite's own integrity check ("ok" when fine)

    @property
    def ok(self) -> bool:
        return not self.bad_rows and self.integrity == ("ok",)


class Store:
    """An athlete's stored history (one database = one athlete).

    ``problems`` lists the rows the last :meth:`load` or :meth:`save` had to skip.
    """

    def __init__(self, path: Path | str | None = None, *, timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.problems: list[BadRow] = []
        _create_private(self.path)
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StridewiseError(f"{self.path}: cannot open the history ({exc})") from None
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise self._error(exc, "is not a usable stridewise database") from None
        except BaseException:
            self._conn.close()
            raise

    def _init_schema(self) -> None:
        if self._ours():
            return
        with self._write():  # new file: make the tables under the write lock
            if not self._ours():
                for statement in _SCHEMA.split(";"):  # not executescript: it would commit
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )

    def _ours(self) -> bool:
        """True when the tables are there and ours; False when the file is empty; else refuse."""
        tables = {
            name
            for (name,) in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not tables:
            return False
        foreign = sorted(tables - _TABLES - _SQLITE_TABLES)
        row = None
        if "meta" in tables:
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if foreign or row is None or not tables >= _TABLES:
            shown = ", ".join(foreign or sorted(tables))
            raise StridewiseError(
                f"{self.path}: this database belongs to another application (tables: {shown}); "
                "stridewise will not write into it. Give another file with --db or $STRIDEWISE_DB"
            )
        try:
            version = int(row[0])
        except ValueError:
            version = SCHEMA_VERSION + 1
        if version > SCHEMA_VERSION:
            raise StridewiseError(
                f"{self.path}: made by a newer stridewise (schema {row[0]}); upgrade"
            )
        return True

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------

    def load(self, kinds: Iterable[str] | None = None) -> list[Event]:
        """Every stored event (of ``kinds``, when given) that can be read; unreadable rows go to
        :attr:`problems`."""
        sql = "SELECT rowid, id, body FROM events"
        wanted = sorted(set(kinds)) if kinds is not None else None
        if wanted is not None:
            sql += f" WHERE kind IN ({', '.join('?' * len(wanted))})"
        try:
            rows = self._conn.execute(sql + " ORDER BY id", wanted or ()).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._error(exc, "cannot be read") from None
        events, self.problems = _parse_rows(rows)
        return events

    def imports(self) -> list[dict[str, Any]]:
        rows = self._conn.execute("SELECT at, summary FROM imports ORDER BY n").fetchall()
        out = []
        for at, summary in rows:
            try:
                extra = json.loads(summary)
            except ValueError:
                extra = {}
            out.append({"at": at, **(extra if isinstance(extra, dict) else {})})
        return out

    # -- writing ---------------------------------------------------------------------------------

    def save(self, events: Iterable[Event], summary: dict[str, Any] | None = None) -> SaveResult:
        """Merge ``events`` into the stored history in one transaction (under the write lock).

        Only rows that change are written; rows that cannot be read are left as they are.
        """
        incoming = list(events)
        for event in incoming:
            if not isinstance(event, _EVENT_TYPES):
                raise StridewiseError(
                    f"{self.path}: refusing to store {type(event).__name__!s}, not an event"
                )
        with self._write():
            rows = self._conn.execute("SELECT rowid, id, body FROM events").fetchall()
            stored, bodies, self.problems = _stored_near(rows, incoming)
            merged_events, merged = deduplicate([*stored, *incoming])
            upserts = []
            keep: set[str] = set()
            for e in merged_events:
                keep.add(e.id)
                body = json.dumps(dump_stored_event(e), ensure_ascii=False)
                if bodies.get(e.id) != body:
                    upserts.append((e.id, e.kind, e.source, body))
            gone = [(e.id,) for e in stored if e.id not in keep]  # merged into a richer twin
            self._conn.executemany(_UPSERT, upserts)
            self._conn.executemany("DELETE FROM events WHERE id = ?", gone)
            self._conn.execute(
                "INSERT INTO imports (at, summary) VALUES (?, ?)",
                (dt.datetime.now(dt.UTC).isoformat(), json.dumps(summary or {})),
            )
            (total,) = self._conn.execute("SELECT count(*) FROM events").fetchone()
        self.problems = [b for b in self.problems if b.id not in keep]  # rewritten: repaired
        added = len(merged_events) - len(stored)
        return SaveResult(
            added=added,
            merged=merged,
            unchanged=len(incoming) - added,
            total=total - len(self.problems),
        )

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taken before anything is read (``BEGIN IMMEDIATE``)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self._error(exc, "could not be written") from None
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise self._error(exc, "could not be written") from None
            raise

    def _error(self, exc: sqlite3.DatabaseError, what: str) -> StridewiseError:
        """One line naming the file and what happened; the history is as it was before."""
        text = str(exc)
        low = text.lower()
        if "readonly" in low or "read-only" in low:
            why = "the history database is read-only (check the file's permissions)"
        elif "full" in low:
            why = "the disk is full"
        elif "locked" in low or "busy" in low:
            why = "another stridewise command is writing to it and did not finish in time"
        else:
            why = f"{what} ({text})"
        return StridewiseError(f"{self.path}: {why}; nothing was changed, try again when fixed")

    # -- checking and repairing ------------------------------------------------------------------

    def check(self) -> CheckResult:
        """SQLite's integrity check plus every row read back through the event schema."""
        try:
            integrity = tuple(r for (r,) in self._conn.execute("PRAGMA integrity_check"))
            rows = self._conn.execute("SELECT rowid, id, body FROM events ORDER BY id").fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._error(exc, "cannot be read") from None
        events, bad = _parse_rows(rows)
        return CheckResult(self.path, len(events), tuple(bad), integrity)

    def repair(self) -> tuple[list[BadRow], Path | None]:
        """Move every unreadable row out of the history into ``<db>.bad-rows-<time>.jsonl``
        (private, beside the database), in one transaction; return the rows and that file."""
        with self._write():
            rows = self._conn.execute("SELECT rowid, id, body FROM events ORDER BY id").fetchall()
            _, bad = _parse_rows(rows)
            if not bad:
                return [], None
            raw = {rowid: (event_id, body) for rowid, event_id, body in rows}
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            out = self.path.with_name(f"{self.path.name}.bad-rows-{stamp}.jsonl")
            lines = [
                json.dumps(
                    {"rowid": b.rowid, "id": b.id, "reason": b.reason, "body": raw[b.rowid][1]},
                    ensure_ascii=False,
                )
                for b in bad
            ]
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self._conn.executemany("DELETE FROM events WHERE rowid = ?", [(b.rowid,) for b in bad])
        self.problems = []
        return bad, out


def _create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only (an existing one is kept)."""
    try:
        if path.exists():
            return
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except FileExistsError:
        pass  # another process made it first
    except OSError as exc:
        raise StridewiseError(
            f"{path}: cannot create the history database: {exc.strerror or exc}"
        ) from None


def _stored_near(
    rows: Iterable[tuple[int, str, Any]], incoming: list[Event]
) -> tuple[list[Event], dict[str, str], list[BadRow]]:
    """The stored events an import can touch: the same ids, and activities that start close
    enough to an incoming activity to be its twin. Only those are validated and merged; the rest
    of the history is left alone (that keeps a save fast on a long history)."""
    ids = {e.id for e in incoming}
    starts = sorted(e.start.timestamp() for e in incoming if isinstance(e, Run | CrossTraining))
    window = DEDUP_START_S + 1.0
    picked: list[tuple[int, str, Any]] = []
    bodies: dict[str, str] = {}
    bad: list[BadRow] = []
    for rowid, event_id, body in rows:
        bodies[event_id] = body
        if event_id in ids:
            picked.append((rowid, event_id, body))
            continue
        if not starts:
            continue
        try:
            data = json.loads(body)
            start = data.get("start") if data.get("kind") in ("run", "cross_training") else None
            at = dt.datetime.fromisoformat(start).timestamp() if isinstance(start, str) else None
        except (TypeError, ValueError, AttributeError):
            picked.append((rowid, event_id, body))  # let the parser say what is wrong
            continue
        if at is not None:
            k = bisect.bisect_left(starts, at - window)
            if k < len(starts) and starts[k] <= at + window:
                picked.append((rowid, event_id, body))
    events, bad = _parse_rows(picked)
    return events, bodies, bad


def _parse_rows(rows: Iterable[tuple[int, str, Any]]) -> tuple[list[Event], list[BadRow]]:
    events: list[Event] = []
    bad: list[BadRow] = []
    for rowid, event_id, body in rows:
        try:
            data = json.loads(body)
        except (TypeError, ValueError):
            bad.append(BadRow(rowid, str(event_id), "not JSON"))
            continue
        try:
            event = load_event(data)
        except InputError as exc:
            bad.append(BadRow(rowid, str(event_id), f"not a valid event ({exc.reason})"))
            continue
        if event.id != event_id:
            bad.append(BadRow(rowid, str(event_id), f"its body has another id ({event.id!r})"))
            continue
        events.append(event)
    return events, bad
