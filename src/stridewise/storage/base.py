"""The service store's interface and the SQL both backends share.

A :class:`ServiceStore` keeps many athletes of many clinics. Every read and write names the
clinic, and every row carries it, so one clinic never reads another's athlete. Events are kept
as the JSON :func:`~stridewise.engine.events.dump_stored_event` writes and read back on the fast
path (:func:`~stridewise.engine.events.load_stored_json`).

Guarantees (tested on SQLite and PostgreSQL alike, ``tests/test_storage.py``):

* **Idempotent.** An event is identified by its id within its athlete: putting a batch again
  stores nothing new (``already_stored``); an event whose id is stored with other content
  replaces it (``updated``). Two writers putting the same batch at once store it once and
  together report each event added once: a write holds the athlete's lock from reading what is
  stored to committing.
* **All or nothing.** A batch is written in one transaction; if any event of it fails, nothing
  of it is stored (not even the athlete).
* **Erasure.** :meth:`ServiceStore.delete_athlete` removes the athlete's events, feedback and
  the athlete itself in one transaction.
* **Key hashes only.** :meth:`ServiceStore.add_clinic` takes the SHA-256 of an API key
  (:func:`hash_key`) and refuses anything else, so a raw key cannot be stored by mistake.
* **Versions.** :meth:`ServiceStore.athlete_version` changes with every change of an athlete's
  events and is never given twice, so a cache of the events knows when to read them again.
"""

from __future__ import annotations

import abc
import bisect
import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, Protocol, TypeVar

import orjson

from stridewise.engine.errors import InputError, StridewiseError
from stridewise.engine.events import (
    EVENT_CLASSES,
    Event,
    dump_stored_event,
    load_stored_json,
    stable_id,
)
from stridewise.storage import migrations

__all__ = [
    "FEEDBACK_OUTCOMES",
    "MAX_ID_LENGTH",
    "ClinicRow",
    "FeedbackRow",
    "PutResult",
    "ServiceStore",
    "StorageError",
    "content_id",
    "hash_key",
]

#: The longest clinic, athlete or event id the store keeps (the event schema's limit).
MAX_ID_LENGTH = 200
#: CDS Hooks feedback outcomes.
FEEDBACK_OUTCOMES = frozenset({"accepted", "overridden"})
_KEY_HASH = re.compile(r"[0-9a-f]{64}")
_EVENT_TYPES = tuple(EVENT_CLASSES.values())


class StorageError(StridewiseError):
    """The store could not do what was asked; the message names the database (never its
    password) and what happened. Nothing of the failed call was stored."""


@dataclasses.dataclass(frozen=True, slots=True)
class PutResult:
    """What :meth:`ServiceStore.put_events` did with a batch."""

    added: int  # new event ids
    already_stored: int  # ids stored before with the same content (or repeated in the batch)
    updated: int = 0  # ids stored before with other content, now replaced
    #: the athlete's version after the put (see :meth:`ServiceStore.athlete_version`); None for
    #: an empty batch to an athlete with nothing stored
    version: int | None = None
    #: the athlete's version just before the put, read in the same transaction (None: the
    #: athlete had nothing stored, or the batch was empty): a cache holding ``previous_version``
    #: may apply the batch itself and become ``version``
    previous_version: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ClinicRow:
    """A clinic an API key belongs to, with its profile (as given to ``add_clinic``)."""

    clinic: str
    profile: Any


@dataclasses.dataclass(frozen=True, slots=True)
class FeedbackRow:
    """One CDS Hooks feedback entry on a card."""

    clinic: str
    athlete: str
    service_id: str
    card_uuid: str
    outcome: str
    reason: str | None
    at: dt.datetime


def hash_key(key: str) -> str:
    """The SHA-256 (hex) of an API key: what the store keeps and looks keys up by."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def content_id(data: Mapping[str, Any], source: str = "service") -> str:
    """An id for an event dict that has none: its ``id`` when given, else a key from its content,
    made as the journal adapter makes it for the single-user store (``stable_id`` over the
    source, kind and sorted fields), so the same event posted twice gets the same id."""
    given = data.get("id")
    if given is not None and given != "":
        return str(given)
    kind = str(data.get("kind", ""))
    fields = sorted(((k, v) for k, v in data.items() if k != "id"), key=lambda kv: kv[0])
    return stable_id(str(data.get("source") or source), kind, fields)


def _check_id(what: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "...'"
        raise StorageError(f"{what} must be a text of 1 to {MAX_ID_LENGTH} characters, got {shown}")
    return value


def _utc_text(at: dt.datetime) -> str:
    if at.tzinfo is None:
        raise StorageError(f"feedback time {at.isoformat()} has no time zone; give it in UTC")
    return at.astimezone(dt.UTC).isoformat()


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class ServiceStore(abc.ABC):
    """The many-athlete store behind the HTTP service (see the module docstring).

    Methods may be called from several threads at once (each thread gets its own connection).
    """

    #: ``sqlite:///...`` or ``postgresql://user@host/db`` (never with a password).
    url: str

    @abc.abstractmethod
    def put_events(self, clinic: str, athlete: str, events: Iterable[Event]) -> PutResult:
        """Store a batch of events for an athlete, all or nothing, idempotent by event id."""

    @abc.abstractmethod
    def events(self, clinic: str, athlete: str, *, until: dt.date | None = None) -> list[Event]:
        """The athlete's stored events (those on or before ``until``, when given), by day."""

    @abc.abstractmethod
    def athletes(self, clinic: str) -> list[str]:
        """The clinic's athletes that have anything stored, sorted."""

    @abc.abstractmethod
    def athlete_version(self, clinic: str, athlete: str) -> int | None:
        """A number that changes whenever the athlete's events change (store-wide, never given
        twice: an athlete deleted and made again gets a new one), or None when nothing is
        stored. A cache of the athlete's events reads the version *before* the events and
        keeps both; when the version read later differs, the events are read again."""

    @abc.abstractmethod
    def has_athlete(self, clinic: str, athlete: str) -> bool:
        """True when the clinic has anything stored for the athlete (one indexed lookup)."""

    @abc.abstractmethod
    def delete_athlete(self, clinic: str, athlete: str) -> bool:
        """Erase everything of the athlete (events, feedback); False when nothing was stored."""

    @abc.abstractmethod
    def add_clinic(self, clinic: str, key_hash: str, profile: Any) -> None:
        """Register a clinic (or update its profile) and give it the API key ``key_hash``."""

    @abc.abstractmethod
    def revoke_key(self, key_hash: str) -> bool:
        """Remove an API key; False when it was not known."""

    @abc.abstractmethod
    def clinic_for_key(self, key_hash: str) -> ClinicRow | None:
        """The clinic an API key (by its hash) belongs to, or None."""

    @abc.abstractmethod
    def record_feedback(
        self,
        clinic: str,
        athlete: str,
        service_id: str,
        card_uuid: str,
        outcome: str,
        reason: str | None,
        at: dt.datetime,
    ) -> None:
        """Write one CDS Hooks feedback entry (accepted / overridden with a reason)."""

    @abc.abstractmethod
    def feedback(self, clinic: str, athlete: str) -> list[FeedbackRow]:
        """The athlete's feedback entries, oldest first."""

    @abc.abstractmethod
    def schema_versions(self) -> list[int]:
        """The migrations applied to this database, in the order they were applied."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close every connection this store opened."""

    def __enter__(self) -> ServiceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Cursor(Protocol):
    """The part of a DB-API cursor the shared code uses (sqlite3 and psycopg both fit)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...

    def executemany(self, sql: Any, params: Any, /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


C = TypeVar("C")


class SQLStore(ServiceStore, Generic[C]):
    """What both backends share: the statements (written with ``?``; a backend that takes
    ``%s`` sets :attr:`PARAM`), the batch logic, and per-thread connections.

    A backend implements :meth:`_connect`, :meth:`_close_conn`, :meth:`_read`, :meth:`_write`
    (a transaction holding the athlete's lock) and :meth:`_error` (a driver error into a
    :class:`StorageError`)."""

    PARAM = "?"
    #: ids per ``IN (...)`` list when looking up stored events
    CHUNK = 500

    #: how events come back (PostgreSQL orders ids bytewise, as Python and SQLite do)
    ORDER = " ORDER BY day, event_id"

    def __init__(self, url: str, *, cache_athletes: int = 0) -> None:
        self.url = url
        self._cache = _EventCache(cache_athletes) if cache_athletes > 0 else None
        self._local = threading.local()
        self._conns: list[C] = []
        self._conns_lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False

    # -- connections -----------------------------------------------------------------------------

    @abc.abstractmethod
    def _connect(self) -> C: ...

    @abc.abstractmethod
    def _close_conn(self, conn: C) -> None: ...

    @abc.abstractmethod
    def _read(self) -> contextlib.AbstractContextManager[Cursor]: ...

    @abc.abstractmethod
    def _write(
        self, clinic: str, athlete: str | None, *, create: bool
    ) -> contextlib.AbstractContextManager[tuple[Cursor, bool]]:
        """A write transaction. With ``athlete``, it holds that athlete's lock and yields
        whether the athlete exists (made first when ``create``)."""

    @abc.abstractmethod
    def _error(self, exc: Exception, what: str) -> StorageError: ...

    @abc.abstractmethod
    def _is_driver_error(self, exc: BaseException) -> bool: ...

    def _conn(self) -> C:
        if self._closed:
            raise StorageError(f"{self.url}: the store was closed")
        pid = os.getpid()
        if pid != self._pid:  # forked: the parent's connections are not ours to use
            self._pid = pid
            self._local = threading.local()
            self._conns_lock = threading.Lock()
            self._conns = []
            if self._cache is not None:  # its lock may have been held by a parent's thread
                self._cache = _EventCache(self._cache.size)
        conn: C | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        self._closed = True
        with self._conns_lock:
            conns, self._conns = self._conns, []
        if os.getpid() != self._pid:
            return
        for conn in conns:
            with contextlib.suppress(Exception):
                self._close_conn(conn)
        self._local = threading.local()

    #: the dialect of :meth:`Migration.sql <stridewise.storage.migrations.Migration.sql>`
    DIALECT = "sqlite"

    def _apply_migrations(self, cur: Cursor, tables: set[str], upto: int, where: str) -> None:
        """Inside the set-up transaction: refuse a database (``where``: what it is, for the
        message) holding another application's ``tables`` or made by a newer stridewise, then
        apply the pending migrations in order, each recorded in ``schema_version``."""
        foreign = tables - migrations.TABLES
        if foreign or (tables and "schema_version" not in tables):
            raise StorageError(
                f"{self.url}: {where} belongs to another application (tables: "
                f"{', '.join(sorted(foreign or tables))}); the service store will not write "
                "into it"
            )
        cur.execute(migrations.VERSION_TABLE)
        cur.execute("SELECT version FROM schema_version")
        applied = {v for (v,) in cur.fetchall()}
        newer = migrations.newer_than_known(applied)
        if newer is not None:
            raise StorageError(
                f"{self.url}: made by a newer stridewise (schema version {newer}; this one "
                f"knows up to {migrations.LATEST}); upgrade stridewise"
            )
        for m in migrations.pending(applied, upto):
            for statement in m.sql(self.DIALECT):
                cur.execute(statement)
            cur.execute(
                self._q("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)"),
                (m.version, m.name, _now_text()),
            )

    def _q(self, sql: str) -> str:
        return sql if self.PARAM == "?" else sql.replace("?", self.PARAM)

    def _fetch(self, what: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """The rows of one read; a read whose connection the server had dropped is tried
        again once on a new connection (a read changes nothing, so that is safe)."""
        with self._translated(what):
            try:
                with self._read() as cur:
                    cur.execute(self._q(sql), params)
                    return cur.fetchall()
            except Exception as exc:
                if not self._reconnected(exc):
                    raise
            with self._read() as cur:
                cur.execute(self._q(sql), params)
                return cur.fetchall()

    def _reconnected(self, exc: Exception) -> bool:
        """True when ``exc`` came from a connection that was dropped (and is now replaced)."""
        return False

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except StorageError:
            raise
        except Exception as exc:
            if self._is_driver_error(exc):
                raise self._error(exc, what) from None
            raise

    # -- events ----------------------------------------------------------------------------------

    def put_events(self, clinic: str, athlete: str, events: Iterable[Event]) -> PutResult:
        _check_id("clinic", clinic)
        _check_id("athlete", athlete)
        batch: dict[str, tuple[str, str, str]] = {}
        given: dict[str, Event] = {}
        repeated = 0
        for i, event in enumerate(events):
            if not isinstance(event, _EVENT_TYPES):
                raise StorageError(
                    f"event {i}: refusing to store {type(event).__name__}, not an event"
                )
            _check_id(f"event {i}: id", event.id)
            body = orjson.dumps(dump_stored_event(event)).decode()  # compact, UTF-8
            if event.id in batch:
                repeated += 1
            batch[event.id] = (event.kind, event.day.isoformat(), body)
            given[event.id] = event
        if not batch:
            return PutResult(0, 0, version=self.athlete_version(clinic, athlete))
        ids = list(batch)
        with (
            self._translated(f"could not store the events of athlete {athlete!r}"),
            self._write(clinic, athlete, create=True) as (cur, _),
        ):
            stored = self._stored_bodies(cur, clinic, athlete, ids)
            new = [i for i in ids if i not in stored]
            changed = [i for i in ids if i in stored and stored[i] != batch[i][2]]
            if new:
                self._insert_events(cur, clinic, athlete, [(i, *batch[i]) for i in new])
            if changed:
                self._update_events(cur, clinic, athlete, [(i, *batch[i]) for i in changed])
            cur.execute(
                self._q("SELECT version FROM athletes WHERE clinic = ? AND athlete = ?"),
                (clinic, athlete),
            )
            (previous,) = cur.fetchone()
            version = previous
            if new or changed:
                version = self._bump_version(cur, clinic, athlete)
        if self._cache is not None and (new or changed):
            self._cache.after_put(
                (clinic, athlete), previous, version, [given[i] for i in (*new, *changed)]
            )
        return PutResult(
            added=len(new),
            already_stored=len(ids) - len(new) - len(changed) + repeated,
            updated=len(changed),
            version=version,
            previous_version=previous or None,  # 0: the row was made by this put
        )

    def _bump_version(self, cur: Cursor, clinic: str, athlete: str) -> int:
        """Give the athlete the next store-wide version (inside its write transaction)."""
        cur.execute("UPDATE version_counter SET n = n + 1 WHERE one = 1")
        cur.execute("SELECT n FROM version_counter WHERE one = 1")
        (n,) = cur.fetchone()
        cur.execute(
            self._q("UPDATE athletes SET version = ? WHERE clinic = ? AND athlete = ?"),
            (n, clinic, athlete),
        )
        return int(n)

    # Statements a backend may do its own way (PostgreSQL: one statement over arrays).

    def _stored_bodies(
        self, cur: Cursor, clinic: str, athlete: str, ids: list[str]
    ) -> dict[str, str]:
        """Event id -> stored body, for the ``ids`` the athlete has."""
        stored: dict[str, str] = {}
        for k in range(0, len(ids), self.CHUNK):
            chunk = ids[k : k + self.CHUNK]
            cur.execute(
                self._q(
                    "SELECT event_id, body FROM events WHERE clinic = ? AND athlete = ? "
                    f"AND event_id IN ({', '.join('?' * len(chunk))})"
                ),
                (clinic, athlete, *chunk),
            )
            stored.update(cur.fetchall())
        return stored

    def _insert_events(
        self, cur: Cursor, clinic: str, athlete: str, rows: list[tuple[str, str, str, str]]
    ) -> None:
        """Insert (event_id, kind, day, body) rows."""
        cur.executemany(
            self._q(
                "INSERT INTO events (clinic, athlete, event_id, kind, day, body) "
                "VALUES (?, ?, ?, ?, ?, ?)"
            ),
            [(clinic, athlete, *row) for row in rows],
        )

    def _update_events(
        self, cur: Cursor, clinic: str, athlete: str, rows: list[tuple[str, str, str, str]]
    ) -> None:
        """Replace stored events with (event_id, kind, day, body) rows."""
        cur.executemany(
            self._q(
                "UPDATE events SET kind = ?, day = ?, body = ? "
                "WHERE clinic = ? AND athlete = ? AND event_id = ?"
            ),
            [(kind, day, body, clinic, athlete, i) for i, kind, day, body in rows],
        )

    def events(self, clinic: str, athlete: str, *, until: dt.date | None = None) -> list[Event]:
        if self._cache is None:
            return self._load(clinic, athlete, until)
        key = (clinic, athlete)
        version = self.athlete_version(clinic, athlete)  # before the events: see athlete_version
        if version is None:
            self._cache.drop(key)
            return []
        hit = self._cache.get(key, version)
        if hit is None:
            hit = self._cache.put(key, version, self._load(clinic, athlete, None))
        events, days = hit
        return list(events if until is None else events[: bisect.bisect_right(days, until)])

    def _load(self, clinic: str, athlete: str, until: dt.date | None) -> list[Event]:
        sql = "SELECT body FROM events WHERE clinic = ? AND athlete = ?"
        params: tuple[Any, ...] = (clinic, athlete)
        if until is not None:
            sql += " AND day <= ?"
            params += (until.isoformat(),)
        rows = self._fetch(f"could not read athlete {athlete!r}", sql + self.ORDER, params)
        texts = [body for (body,) in rows]
        try:
            return load_stored_json(texts)
        except (InputError, ValueError) as exc:  # a row edited past the store
            raise StorageError(
                f"{self.url}: a stored event of athlete {athlete!r} cannot be read ({exc})"
            ) from None

    def athletes(self, clinic: str) -> list[str]:
        rows = self._fetch(
            "could not list the athletes",
            "SELECT athlete FROM athletes WHERE clinic = ? ORDER BY athlete",
            (clinic,),
        )
        return [a for (a,) in rows]

    def athlete_version(self, clinic: str, athlete: str) -> int | None:
        rows = self._fetch(
            f"could not look athlete {athlete!r} up",
            "SELECT version FROM athletes WHERE clinic = ? AND athlete = ?",
            (clinic, athlete),
        )
        return int(rows[0][0]) if rows else None

    def has_athlete(self, clinic: str, athlete: str) -> bool:
        rows = self._fetch(
            f"could not look athlete {athlete!r} up",
            "SELECT 1 FROM athletes WHERE clinic = ? AND athlete = ?",
            (clinic, athlete),
        )
        return bool(rows)

    def delete_athlete(self, clinic: str, athlete: str) -> bool:
        with (
            self._translated(f"could not delete athlete {athlete!r}"),
            self._write(clinic, athlete, create=False) as (cur, exists),
        ):
            for table in ("feedback", "events", "athletes"):
                cur.execute(
                    self._q(f"DELETE FROM {table} WHERE clinic = ? AND athlete = ?"),
                    (clinic, athlete),
                )
        if self._cache is not None:
            self._cache.drop((clinic, athlete))
        return exists

    # -- clinics and keys ------------------------------------------------------------------------

    def add_clinic(self, clinic: str, key_hash: str, profile: Any) -> None:
        _check_id("clinic", clinic)
        if not isinstance(key_hash, str) or not _KEY_HASH.fullmatch(key_hash):
            raise StorageError(
                "add_clinic takes the SHA-256 hex digest of an API key (hash_key(key)), "
                "never the key itself"
            )
        try:
            profile_text = json.dumps(profile, sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise StorageError(f"clinic {clinic!r}: profile is not JSON ({exc})") from None
        with (
            self._translated(f"could not add clinic {clinic!r}"),
            self._write(clinic, None, create=False) as (cur, _),
        ):
            cur.execute(self._q("SELECT clinic FROM api_keys WHERE key_hash = ?"), (key_hash,))
            row = cur.fetchone()
            if row is not None and row[0] != clinic:
                raise StorageError(
                    f"clinic {clinic!r}: this API key already belongs to another clinic"
                )
            cur.execute(
                self._q(
                    "INSERT INTO clinics (clinic, profile, created_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (clinic) DO UPDATE SET profile = excluded.profile"
                ),
                (clinic, profile_text, _now_text()),
            )
            if row is None:
                cur.execute(
                    self._q("INSERT INTO api_keys (key_hash, clinic, created_at) VALUES (?, ?, ?)"),
                    (key_hash, clinic, _now_text()),
                )

    def revoke_key(self, key_hash: str) -> bool:
        with (
            self._translated("could not revoke the key"),
            self._write("", None, create=False) as (cur, _),
        ):
            cur.execute(self._q("DELETE FROM api_keys WHERE key_hash = ?"), (key_hash,))
            return cur.rowcount > 0

    def clinic_for_key(self, key_hash: str) -> ClinicRow | None:
        rows = self._fetch(
            "could not look the key up",
            "SELECT c.clinic, c.profile FROM api_keys k JOIN clinics c "
            "ON c.clinic = k.clinic WHERE k.key_hash = ?",
            (key_hash,),
        )
        if not rows:
            return None
        return ClinicRow(clinic=rows[0][0], profile=json.loads(rows[0][1]))

    # -- feedback --------------------------------------------------------------------------------

    def record_feedback(
        self,
        clinic: str,
        athlete: str,
        service_id: str,
        card_uuid: str,
        outcome: str,
        reason: str | None,
        at: dt.datetime,
    ) -> None:
        _check_id("clinic", clinic)
        _check_id("athlete", athlete)
        if outcome not in FEEDBACK_OUTCOMES:
            raise StorageError(
                f"feedback outcome must be one of {sorted(FEEDBACK_OUTCOMES)}, got {outcome!r}"
            )
        at_text = _utc_text(at)
        with (
            self._translated(f"could not record feedback for athlete {athlete!r}"),
            self._write(clinic, athlete, create=True) as (cur, _),
        ):
            cur.execute(
                self._q(
                    "INSERT INTO feedback (clinic, athlete, service_id, card_uuid, outcome, "
                    "reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
                (clinic, athlete, service_id, card_uuid, outcome, reason, at_text),
            )

    def feedback(self, clinic: str, athlete: str) -> list[FeedbackRow]:
        rows = self._fetch(
            f"could not read the feedback of {athlete!r}",
            "SELECT service_id, card_uuid, outcome, reason, at FROM feedback "
            "WHERE clinic = ? AND athlete = ? ORDER BY n",
            (clinic, athlete),
        )
        return [
            FeedbackRow(clinic, athlete, s, u, o, r, dt.datetime.fromisoformat(a))
            for s, u, o, r, a in rows
        ]

    def schema_versions(self) -> list[int]:
        rows = self._fetch(
            "could not read the schema version",
            "SELECT version FROM schema_version ORDER BY version",
        )
        return [v for (v,) in rows]


def unknown_clinic(url: str, clinic: str) -> StorageError:
    return StorageError(f"{url}: unknown clinic {clinic!r} (add it with add_clinic first)")


class _EventCache:
    """The events of recently read athletes, each with the athlete's version when read: a
    hit is checked against :meth:`ServiceStore.athlete_version` (one indexed lookup) instead of
    reading and building the events again. Least recently used athletes are dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: collections.OrderedDict[
            tuple[str, str], tuple[int, list[Event], list[dt.date]]
        ] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], version: int) -> tuple[list[Event], list[dt.date]] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != version:
                return None
            self._items.move_to_end(key)
            return item[1], item[2]

    def put(
        self, key: tuple[str, str], version: int, events: list[Event]
    ) -> tuple[list[Event], list[dt.date]]:
        days = [e.day for e in events]
        with self._lock:
            self._items[key] = (version, events, days)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return events, days

    def drop(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._items.pop(key, None)

    def after_put(
        self, key: tuple[str, str], previous: int | None, version: int | None, events: list[Event]
    ) -> None:
        """This process wrote ``events`` (new or changed) taking the athlete from version
        ``previous`` to ``version``: a cached copy of ``previous`` gets them, any other goes."""
        with self._lock:
            item = self._items.get(key)
            if item is None or version is None or item[0] != previous:
                self._items.pop(key, None)
                return
            by_id = {e.id: e for e in item[1]}
            by_id.update((e.id, e) for e in events)
            merged = sorted(by_id.values(), key=lambda e: (e.day, e.id))
            self._items[key] = (version, merged, [e.day for e in merged])
