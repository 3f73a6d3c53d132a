"""The service store in one SQLite file (the default, for one machine).

The file is created readable by its owner only (0600) and kept in WAL mode, so reads never
wait for a writer. Every write is one ``BEGIN IMMEDIATE`` transaction: it takes the database's
write lock before reading anything, so two writers (threads or processes) wait for each other
(up to ``timeout`` seconds) and never interleave. A file that holds tables stridewise did not
make is refused, never written into.

Durability: with ``synchronous="full"`` (the default) a write returns once it is on disk
(one fsync per transaction; what that costs depends on the disk). With ``"normal"`` (URL
``sqlite:///file.db?synchronous=normal``) a write returns before the fsync: still atomic, and
nothing is lost when the service crashes, but the last transactions can be lost when the
machine loses power (SQLite's WAL mode with ``synchronous=NORMAL``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from stridewise.storage import migrations
from stridewise.storage.base import Cursor, SQLStore, StorageError, _now_text, unknown_clinic

#: How long a writer waits for another one to finish (seconds).
BUSY_TIMEOUT_S = 60.0


class SQLiteStore(SQLStore[sqlite3.Connection]):
    """:class:`~stridewise.storage.ServiceStore` on a SQLite file."""

    def __init__(
        self,
        path: Path | str,
        *,
        timeout: float = BUSY_TIMEOUT_S,
        synchronous: str = "full",
        cache_athletes: int = 0,
        migrate_upto: int = migrations.LATEST,
    ) -> None:
        self.path = Path(path)
        super().__init__(f"sqlite:///{self.path}", cache_athletes=cache_athletes)
        if synchronous not in ("full", "normal"):
            raise StorageError(f"{self.url}: synchronous must be 'full' or 'normal'")
        self._timeout = timeout
        self._synchronous = synchronous
        self._writing = threading.Lock()
        self._opened_by = os.getpid()
        _create_private(self.path, self.url)
        try:
            self._migrate(migrate_upto)
        except BaseException:
            self.close()
            raise

    # -- connections -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if os.getpid() != self._opened_by:
            # SQLite keeps its lock bookkeeping in the process: a forked child that opened
            # connections to a file its parent has open can wait forever for a lock.
            raise StorageError(
                f"{self.url}: this store was opened by process {self._opened_by}; a forked "
                "process must not use it (SQLite does not survive fork): open the store in "
                "a process started afresh (spawn), or use PostgreSQL"
            )
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StorageError(f"{self.url}: cannot open the database ({exc})") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous.upper()}")
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc, "is not a usable database") from None
        return conn

    def _close_conn(self, conn: sqlite3.Connection) -> None:
        conn.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[Cursor]:
        cur = self._conn().cursor()
        try:
            yield cur
        finally:
            cur.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        conn = self._conn()
        cur = conn.cursor()
        # Writers of this process queue on a lock of ours first: SQLite's own wait for its
        # write lock polls with sleeps of up to 100 ms (it gave a p99 of 0.35-1 s with 8 busy
        # threads); other processes still wait through the busy timeout.
        if not self._writing.acquire(timeout=self._timeout):
            cur.close()
            raise StorageError(
                f"{self.url}: another writer held the database for more than "
                f"{self._timeout:g} s; nothing was changed"
            )
        try:
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        finally:
            self._writing.release()
            cur.close()

    @contextlib.contextmanager
    def _write(
        self, clinic: str, athlete: str | None, *, create: bool
    ) -> Iterator[tuple[Cursor, bool]]:
        # BEGIN IMMEDIATE holds the whole database's write lock: every athlete's, too.
        with self._transaction() as cur:
            exists = False
            if athlete is not None:
                if create:
                    cur.execute("SELECT 1 FROM clinics WHERE clinic = ?", (clinic,))
                    if cur.fetchone() is None:
                        raise unknown_clinic(self.url, clinic)
                    cur.execute(
                        "INSERT OR IGNORE INTO athletes (clinic, athlete, created_at) "
                        "VALUES (?, ?, ?)",
                        (clinic, athlete, _now_text()),
                    )
                    exists = True
                else:
                    cur.execute(
                        "SELECT 1 FROM athletes WHERE clinic = ? AND athlete = ?",
                        (clinic, athlete),
                    )
                    exists = cur.fetchone() is not None
            yield cur, exists

    def _is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error)

    def _error(self, exc: Exception, what: str) -> StorageError:
        text = str(exc)
        low = text.lower()
        if "readonly" in low or "read-only" in low:
            why = "the database is read-only (check the file's permissions)"
        elif "disk is full" in low or "database or disk is full" in low:
            why = "the disk is full"
        elif "locked" in low or "busy" in low:
            why = f"another writer held the database for more than {self._timeout:g} s"
        else:
            why = f"{what} ({text})"
        return StorageError(f"{self.url}: {why}; nothing was changed")

    # -- schema ----------------------------------------------------------------------------------

    def _migrate(self, upto: int) -> None:
        with self._translated("could not set up the database"), self._transaction() as cur:
            cur.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
            tables = {name for (name,) in cur.fetchall()}
            self._apply_migrations(cur, tables, upto, "this database")


def _create_private(path: Path, url: str) -> None:
    """Create an empty database file readable by its owner only (an existing one is kept)."""
    try:
        if path.exists():
            return
        if not path.parent.is_dir():
            path.parent.mkdir(mode=0o700, parents=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except FileExistsError as exc:
        if (exc.filename is not None and Path(exc.filename) != path) or not path.exists():
            raise StorageError(f"{url}: cannot create the database: {exc.strerror}") from None
        # else another process made the file first
    except OSError as exc:
        raise StorageError(f"{url}: cannot create the database: {exc.strerror or exc}") from None
