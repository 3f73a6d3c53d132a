"""The runner's imported history between CLI commands: one SQLite file, transactional writes.

Events are stored in the published event schema (JSON), keyed by id. Every import merges the
new events with what is stored (cross-source de-duplication included) and replaces the stored
set in a single transaction: an import that fails half-way leaves the previous history intact,
and importing the same files again changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import platformdirs

from stridewise.engine.errors import StridewiseError
from stridewise.engine.events import Event, deduplicate, dump_event, load_event

DB_ENV = "STRIDEWISE_DB"
SCHEMA_VERSION = 1
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


class Store:
    """An athlete's stored history (one database = one athlete)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path)
            with self._conn:
                self._conn.executescript(_SCHEMA)
                row = self._conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                if row is None:
                    self._conn.execute(
                        "INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                    )
                elif int(row[0]) > SCHEMA_VERSION:
                    raise StridewiseError(
                        f"{self.path}: made by a newer stridewise (schema {row[0]}); upgrade"
                    )
        except sqlite3.DatabaseError as exc:
            raise StridewiseError(
                f"{self.path}: not a usable stridewise database ({exc})"
            ) from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self) -> list[Event]:
        """Every stored event."""
        rows = self._conn.execute("SELECT body FROM events ORDER BY id").fetchall()
        return [load_event(json.loads(body)) for (body,) in rows]

    def save(self, events: Iterable[Event], summary: dict[str, Any] | None = None) -> SaveResult:
        """Merge ``events`` into the stored history in one transaction."""
        stored = self.load()
        incoming = list(events)
        merged_events, merged = deduplicate([*stored, *incoming])
        added = len(merged_events) - len(stored)
        rows = [
            (e.id, e.kind, e.source, json.dumps(dump_event(e), ensure_ascii=False))
            for e in merged_events
        ]
        with self._conn:  # one transaction: all or nothing
            self._conn.execute("DELETE FROM events")
            self._conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows)
            self._conn.execute(
                "INSERT INTO imports (at, summary) VALUES (?, ?)",
                (dt.datetime.now(dt.UTC).isoformat(), json.dumps(summary or {})),
            )
        return SaveResult(
            added=added, merged=merged, unchanged=len(incoming) - added, total=len(rows)
        )

    def imports(self) -> list[dict[str, Any]]:
        rows = self._conn.execute("SELECT at, summary FROM imports ORDER BY n").fetchall()
        return [{"at": at, **json.loads(summary)} for at, summary in rows]
