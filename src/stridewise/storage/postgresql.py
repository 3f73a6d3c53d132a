"""The service store on a PostgreSQL server (psycopg 3; the ``postgres`` extra).

The tables live in their own schema (``stridewise`` unless told otherwise), so a database shared
with another application is safe; a schema holding tables stridewise did not make is refused.
Every thread gets its own connection. A write is one transaction that first takes the
athlete's lock (a transaction-scoped advisory lock on a hash of clinic and athlete), so
writers to one athlete wait for each other while writers to different athletes run side by
side; schema migrations and clinic changes take advisory locks of their own. A batch goes to
the server as one statement over arrays (``unnest``), a long one through ``COPY``, never one
statement per event. A connection the server dropped is replaced: a read is tried again once
on a new one, and so is a write whose BEGIN failed; a write that fails later says so (it may
have been committed; posting the batch again is safe).
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

from stridewise.storage import migrations
from stridewise.storage.base import Cursor, SQLStore, StorageError, _now_text, unknown_clinic

try:
    import psycopg
except ImportError:  # pragma: no cover - the extra is part of `test`
    psycopg = None  # type: ignore[assignment]

#: Advisory lock keys (arbitrary constants: "sw" + purpose).
_LOCK_MIGRATE = 0x7377_0001
_LOCK_CLINICS = 0x7377_0002
CONNECT_TIMEOUT_S = 10
#: Batches longer than this are written with COPY.
_COPY_FROM = 16
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresStore(SQLStore["psycopg.Connection[Any]"]):
    """:class:`~stridewise.storage.ServiceStore` on PostgreSQL."""

    PARAM = "%s"
    DIALECT = "postgresql"
    ORDER = ' ORDER BY day, event_id COLLATE "C"'

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: int = CONNECT_TIMEOUT_S,
        schema: str = "stridewise",
        cache_athletes: int = 0,
        migrate_upto: int = migrations.LATEST,
    ) -> None:
        from stridewise.storage import redact_url

        super().__init__(redact_url(url), cache_athletes=cache_athletes)
        if psycopg is None:
            raise StorageError(
                f"{self.url}: PostgreSQL needs psycopg 3: pip install 'stridewise[postgres]'"
            )
        if not _SCHEMA_NAME.fullmatch(schema):
            raise StorageError(f"{self.url}: schema name {schema!r} is not a plain lower-case name")
        self._conninfo = url
        self._password = _password_of(url)
        self._schema = schema
        self._connect_timeout = connect_timeout
        try:
            self._migrate(migrate_upto)
        except BaseException:
            self.close()
            raise

    # -- connections -----------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in self._conninfo:
            kwargs["connect_timeout"] = self._connect_timeout
        try:
            conn = psycopg.connect(self._conninfo, **kwargs)
        except psycopg.Error as exc:
            raise StorageError(
                f"{self.url}: cannot connect to the PostgreSQL server ({self._text(exc)})"
            ) from None
        try:
            conn.execute(f"SET search_path TO {self._schema}")
        except psycopg.Error as exc:
            conn.close()
            raise self._error(exc, "cannot use the connection") from None
        return conn

    def _close_conn(self, conn: psycopg.Connection[Any]) -> None:
        conn.close()

    @contextlib.contextmanager
    def _session(self) -> Iterator[psycopg.Connection[Any]]:
        conn = self._conn()
        try:
            yield conn
        except psycopg.Error:
            self._drop_if_broken(conn)
            raise

    def _drop_if_broken(self, conn: psycopg.Connection[Any]) -> bool:
        """Forget the thread's connection when the server closed it (reconnect next time)."""
        if not (conn.broken or conn.closed):
            return False
        self._local.conn = None
        with self._conns_lock:
            if conn in self._conns:
                self._conns.remove(conn)
        with contextlib.suppress(Exception):
            conn.close()
        return True

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """The thread's connection inside a new transaction. A connection found closed at
        BEGIN (nothing of ours was sent yet) is replaced, once."""
        with contextlib.ExitStack() as stack:
            conn = self._conn()
            try:
                stack.enter_context(conn.transaction())
            except psycopg.OperationalError:
                if not self._drop_if_broken(conn):
                    raise
                conn = self._conn()
                stack.enter_context(conn.transaction())
            try:
                yield conn
            except psycopg.Error:
                self._drop_if_broken(conn)
                raise

    @contextlib.contextmanager
    def _read(self) -> Iterator[Cursor]:
        with self._session() as conn, conn.cursor() as cur:
            yield cur

    @contextlib.contextmanager
    def _write(
        self, clinic: str, athlete: str | None, *, create: bool
    ) -> Iterator[tuple[Cursor, bool]]:
        with self._transaction() as conn, conn.cursor() as cur:
            if athlete is None:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_CLINICS,))
                yield cur, False
                return
            # The athlete's lock: an advisory lock on a hash of (clinic, athlete), held to the
            # end of the transaction. Unlike a row lock it writes nothing, so a batch that is
            # all stored already commits without a disk flush. (Two athletes whose hashes meet
            # only wait for each other.)
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (json.dumps([clinic, athlete]),),
            )
            cur.execute(
                "SELECT EXISTS (SELECT 1 FROM clinics WHERE clinic = %s), "
                "EXISTS (SELECT 1 FROM athletes WHERE clinic = %s AND athlete = %s)",
                (clinic, clinic, athlete),
            )
            row = cur.fetchone()
            assert row is not None  # a SELECT without FROM always gives one row
            clinic_known, exists = row
            if create and not exists:
                if not clinic_known:
                    raise unknown_clinic(self.url, clinic)
                cur.execute(
                    "INSERT INTO athletes (clinic, athlete, created_at) VALUES (%s, %s, %s)",
                    (clinic, athlete, _now_text()),
                )
                exists = True
            yield cur, exists

    def _bump_version(self, cur: Cursor, clinic: str, athlete: str) -> int:
        cur.execute(
            "UPDATE athletes SET version = nextval('athlete_versions') "
            "WHERE clinic = %s AND athlete = %s RETURNING version",
            (clinic, athlete),
        )
        (n,) = cur.fetchone()
        return int(n)

    def _stored_bodies(
        self, cur: Cursor, clinic: str, athlete: str, ids: list[str]
    ) -> dict[str, str]:
        cur.execute(
            "SELECT event_id, body FROM events WHERE clinic = %s AND athlete = %s "
            "AND event_id = ANY(%s)",
            (clinic, athlete, ids),
        )
        return dict(cur.fetchall())

    def _insert_events(
        self, cur: Cursor, clinic: str, athlete: str, rows: list[tuple[str, str, str, str]]
    ) -> None:
        if len(rows) <= _COPY_FROM:  # a few events (an upload): one statement over arrays
            cur.execute(
                "INSERT INTO events (clinic, athlete, event_id, kind, day, body) "
                "SELECT %s, %s, * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])",
                (clinic, athlete, *map(list, zip(*rows, strict=True))),
            )
            return
        # a long history (an import): COPY, 2-3x faster than the arrays for a year of runs
        assert isinstance(cur, psycopg.Cursor)
        with cur.copy(
            "COPY events (clinic, athlete, event_id, kind, day, body) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row((clinic, athlete, *row))

    def _update_events(
        self, cur: Cursor, clinic: str, athlete: str, rows: list[tuple[str, str, str, str]]
    ) -> None:
        cur.execute(
            "UPDATE events e SET kind = n.kind, day = n.day, body = n.body "
            "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) "
            "AS n (event_id, kind, day, body) "
            "WHERE e.clinic = %s AND e.athlete = %s AND e.event_id = n.event_id",
            (*map(list, zip(*rows, strict=True)), clinic, athlete),
        )

    def _reconnected(self, exc: Exception) -> bool:
        # _session dropped the thread's connection when the server had closed it
        return isinstance(exc, psycopg.OperationalError) and self._local.conn is None

    def _is_driver_error(self, exc: BaseException) -> bool:
        return psycopg is not None and isinstance(exc, psycopg.Error)

    def _text(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split())
        if self._password:
            text = text.replace(self._password, "***")
        return text or type(exc).__name__

    def _error(self, exc: Exception, what: str) -> StorageError:
        if isinstance(exc, psycopg.OperationalError):
            return StorageError(
                f"{self.url}: {what}: the PostgreSQL server did not answer ({self._text(exc)}); "
                "nothing was changed"
            )
        return StorageError(f"{self.url}: {what} ({self._text(exc)}); nothing was changed")

    # -- schema ----------------------------------------------------------------------------------

    def _migrate(self, upto: int) -> None:
        with (
            self._translated("could not set up the database"),
            self._session() as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_MIGRATE,))
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self._schema}")
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (self._schema,),
            )
            tables = {name for (name,) in cur.fetchall()}
            self._apply_migrations(cur, tables, upto, f"schema {self._schema!r}")


def _password_of(url: str) -> str | None:
    """The password in a libpq URL (user part or ``password=`` parameter), to keep it out of
    messages."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if parts.password:
        return urllib.parse.unquote(parts.password)
    for key, value in urllib.parse.parse_qsl(parts.query):
        if key.lower() == "password" and value:
            return value
    return None
