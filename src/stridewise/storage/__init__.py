"""The service's store of many athletes of many clinics: SQLite (default) or PostgreSQL.

::

    from stridewise.storage import hash_key, open_store

    with open_store("sqlite:///service.sqlite3") as store:   # or "postgresql://user@host/db"
        store.add_clinic("clinic-a", hash_key(api_key), {"profile": "sports-medicine"})
        result = store.put_events("clinic-a", "athlete-1", events)   # PutResult(added, ...)
        events = store.events("clinic-a", "athlete-1")

Both backends give the same guarantees (see :mod:`stridewise.storage.base`) and apply the same
versioned migrations (:mod:`stridewise.storage.migrations`) when a store is opened.
PostgreSQL needs the ``postgres`` extra (``pip install 'stridewise[postgres]'``, psycopg 3).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from stridewise.storage.base import (
    FEEDBACK_OUTCOMES,
    MAX_ID_LENGTH,
    ClinicRow,
    FeedbackRow,
    PutResult,
    ServiceStore,
    StorageError,
    content_id,
    hash_key,
)

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
    "open_store",
    "redact_url",
]

_PG_SCHEMES = ("postgresql", "postgres")


def open_store(url: str | Path, **options: Any) -> ServiceStore:
    """Open (creating and migrating as needed) the store at ``url``.

    ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or a plain file path give
    SQLite; ``postgresql://user:password@host:port/dbname`` (any libpq URL) gives PostgreSQL.
    A SQLite URL may end in ``?synchronous=normal`` (see :class:`SQLiteStore`) and
    ``?timeout=SECONDS``. ``options`` go to the backend: ``cache_athletes=N`` for both (keep
    the events of the N most recently read athletes, checked against the athlete's version on
    every read; 0, the default, keeps none), ``timeout`` and ``synchronous`` for SQLite,
    ``connect_timeout`` and ``schema`` for PostgreSQL.
    """
    if isinstance(url, Path):
        from stridewise.storage.sqlite import SQLiteStore

        return SQLiteStore(url, **options)
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in _PG_SCHEMES:
        from stridewise.storage.postgresql import PostgresStore

        return PostgresStore(url, **options)
    if scheme == "sqlite":
        path, _, query = url[len("sqlite://") :].partition("?")
        if not path.startswith("/") or path in ("/", "/:memory:"):
            raise StorageError(
                f"{url}: give a database file, e.g. sqlite:///service.sqlite3 (relative) or "
                "sqlite:////var/lib/stridewise/service.sqlite3 (absolute)"
            )
        from stridewise.storage.sqlite import SQLiteStore

        return SQLiteStore(path[1:], **{**_sqlite_options(url, query), **options})
    if scheme:
        raise StorageError(
            f"{redact_url(url)}: unknown database URL scheme {scheme!r}; "
            "use sqlite:///FILE or postgresql://..."
        )
    from stridewise.storage.sqlite import SQLiteStore

    return SQLiteStore(url, **options)


def _sqlite_options(url: str, query: str) -> dict[str, Any]:
    """``?synchronous=normal`` and ``?timeout=SECONDS`` in a SQLite URL."""
    out: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key == "synchronous" and value.lower() in ("full", "normal"):
            out["synchronous"] = value.lower()
        elif key == "timeout":
            try:
                out["timeout"] = float(value)
            except ValueError:
                raise StorageError(f"{url}: timeout={value!r} is not a number of seconds") from None
        else:
            raise StorageError(
                f"{url}: unknown option {key}={value!r} (known: synchronous=full|normal, "
                "timeout=SECONDS)"
            )
    return out


def redact_url(url: str) -> str:
    """The URL without its password (in the user part or a ``password=`` parameter)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<database URL>"
    if "@" not in parts.netloc and "password" not in parts.query.lower():
        return url  # nothing to hide: as given (sqlite:////abs/path keeps its four slashes)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}" if user else host
    query = urllib.parse.urlencode(
        [
            (k, v)
            for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() != "password"
        ]
    )
    # by hand: urlunsplit drops the "//" of an empty host (sqlite:////abs -> sqlite://abs)
    return (
        f"{parts.scheme}://{netloc}{parts.path}"
        + (f"?{query}" if query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )
