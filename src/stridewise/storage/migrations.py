"""Versioned schema migrations, the same for SQLite and PostgreSQL.

Each migration has a version (1, 2, 3, ... with no gaps), a name and its statements. A store
applies the ones its database lacks, in version order, in one transaction under a lock (SQLite's
write lock; a PostgreSQL advisory lock), and records each in ``schema_version``; opening a
database that is up to date changes nothing. A database with a version this code does not
know (made by a newer stridewise) is refused.

Never edit a released migration: add a new one at the end.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]  # ``{serial}`` is the dialect's auto-numbered key column
    postgresql: tuple[str, ...] | None = None  # PostgreSQL's own statements, when they differ

    def sql(self, dialect: str) -> list[str]:
        serial = {
            "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
            "postgresql": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        }[dialect]
        own = self.postgresql if dialect == "postgresql" else None
        return [s.format(serial=serial) for s in (own or self.statements)]


#: The version table every store makes first (not a migration itself).
VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "clinics, API key hashes, athletes and their events",
        (
            "CREATE TABLE clinics ("
            " clinic TEXT PRIMARY KEY CHECK (length(clinic) BETWEEN 1 AND 200),"
            " profile TEXT NOT NULL,"
            " created_at TEXT NOT NULL)",
            # only the SHA-256 of a key: 64 hex digits, never the key
            "CREATE TABLE api_keys ("
            " key_hash TEXT PRIMARY KEY CHECK (length(key_hash) = 64),"
            " clinic TEXT NOT NULL REFERENCES clinics (clinic) ON DELETE CASCADE,"
            " created_at TEXT NOT NULL)",
            "CREATE TABLE athletes ("
            " clinic TEXT NOT NULL REFERENCES clinics (clinic) ON DELETE CASCADE,"
            " athlete TEXT NOT NULL CHECK (length(athlete) BETWEEN 1 AND 200),"
            " created_at TEXT NOT NULL,"
            " PRIMARY KEY (clinic, athlete))",
            "CREATE TABLE events ("
            " clinic TEXT NOT NULL,"
            " athlete TEXT NOT NULL,"
            " event_id TEXT NOT NULL CHECK (length(event_id) BETWEEN 1 AND 200),"
            " kind TEXT NOT NULL,"
            " day TEXT NOT NULL,"
            " body TEXT NOT NULL,"
            " PRIMARY KEY (clinic, athlete, event_id),"
            " FOREIGN KEY (clinic, athlete) REFERENCES athletes (clinic, athlete)"
            " ON DELETE CASCADE)",
        ),
    ),
    Migration(
        2,
        "CDS Hooks feedback on cards",
        (
            "CREATE TABLE feedback ("
            " n {serial},"
            " clinic TEXT NOT NULL,"
            " athlete TEXT NOT NULL,"
            " service_id TEXT NOT NULL,"
            " card_uuid TEXT NOT NULL,"
            " outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),"
            " reason TEXT,"
            " at TEXT NOT NULL,"
            " FOREIGN KEY (clinic, athlete) REFERENCES athletes (clinic, athlete)"
            " ON DELETE CASCADE)",
            "CREATE INDEX feedback_by_athlete ON feedback (clinic, athlete)",
        ),
    ),
    Migration(
        3,
        "events by day (an athlete's history up to a date)",
        ("CREATE INDEX events_by_day ON events (clinic, athlete, day)",),
    ),
    Migration(
        4,
        "a version per athlete that changes with every change of their events (for caches)",
        (
            "ALTER TABLE athletes ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
            # one store-wide counter: a version is never given twice, not even to an athlete
            # deleted and made again
            "CREATE TABLE version_counter ("
            " one INTEGER PRIMARY KEY CHECK (one = 1), n INTEGER NOT NULL)",
            "INSERT INTO version_counter (one, n) VALUES (1, 0)",
        ),
        postgresql=(
            "ALTER TABLE athletes ADD COLUMN version BIGINT NOT NULL DEFAULT 0",
            "CREATE SEQUENCE athlete_versions",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version
#: Every table the migrations make (plus the version table): a database with other tables
#: belongs to another application and is refused.
TABLES = frozenset(
    {"schema_version", "clinics", "api_keys", "athletes", "events", "feedback", "version_counter"}
)


def pending(applied: set[int], upto: int = LATEST) -> list[Migration]:
    """The migrations not in ``applied``, in version order (up to ``upto``)."""
    return [m for m in MIGRATIONS if m.version not in applied and m.version <= upto]


def newer_than_known(applied: set[int]) -> int | None:
    """The highest applied version this code does not know, or None."""
    unknown = [v for v in applied if v > LATEST]
    return max(unknown) if unknown else None
