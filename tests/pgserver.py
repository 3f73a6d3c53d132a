"""A throwaway PostgreSQL server for the tests marked ``postgres`` (and the storage benchmark).

``PgServer`` makes a cluster with ``initdb`` in a fresh temporary folder, starts it with
``pg_ctl`` on 127.0.0.1 (a free port) and a unix socket in that folder, and stops it and
removes the folder after. Host connections need a password (SCRAM), so the tests use a real
one. Run as root, the server runs as the ``postgres`` user (through ``runuser``): PostgreSQL
refuses to run as root.

The fixtures: ``pg_server`` (one per test session) and ``pg_url`` (a fresh, empty database per
test, dropped after). When PostgreSQL is not installed they FAIL, never skip: the tox env
``postgres`` installs it (``.ci/need.py``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _pg_bin() -> Path:
    """``$STRIDEWISE_PG_BIN``, else the newest Debian PostgreSQL (15 is what CI installs)."""
    given = os.environ.get("STRIDEWISE_PG_BIN")
    if given:
        return Path(given)
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
SUPERUSER = "stridewise"


class PgServer:
    """One PostgreSQL cluster in a temporary folder (``start()``, ``stop()``)."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable  # fsync and synchronous commits on (the benchmark), or off
        self.password = secrets.token_hex(12)
        self.port = _free_port()
        # as root, the server's user must reach the folder: /tmp, whatever $TMPDIR says
        top = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
        self.base = Path(tempfile.mkdtemp(prefix="stridewise-pg-", dir=top))
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.log = self.base / "server.log"
        self._as_user: list[str] = []
        self.started = False

    def url(self, dbname: str = "postgres", *, password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> PgServer:
        initdb = PG_BIN / "initdb"
        if not initdb.exists():
            raise RuntimeError(
                f"PostgreSQL is not installed ({initdb} is missing): install the Debian package "
                "postgresql (tox -e postgres does it through .ci/need.py)"
            )
        self.sock.mkdir()
        pwfile = self.base / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:  # the server refuses root: run it as postgres
            shutil.chown(self.base, "postgres", "postgres")
            for p in (self.sock, pwfile):
                shutil.chown(p, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run(
            str(initdb),
            "-D", str(self.data),
            "-U", SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.sock}",
            "-c max_connections=100",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D", str(self.data),
            "-l", str(self.log),
            "-o", " ".join(options),
            "-w", "-t", "60",
            "start",
        )  # fmt: skip
        self.started = True
        return self

    def stop(self) -> None:
        try:
            if self.started:
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
                self.started = False
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def admin(self, sql: str) -> None:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE...)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        name = f"t_{secrets.token_hex(6)}"
        self.admin(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _run(self, *cmd: str) -> None:
        done = subprocess.run(
            [*self._as_user, *cmd], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(cmd[:1])} failed ({done.returncode}): {done.stderr.strip()}\n{log}"
            )

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    problem = None
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        problem = str(exc)
    if problem is not None:
        server.stop()
        pytest.fail(f"cannot start a PostgreSQL server for the tests: {problem}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh empty database on the test server (its URL, with the password)."""
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        with contextlib.suppress(Exception):
            pg_server.drop_database(name)
