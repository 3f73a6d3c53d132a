"""Shared fixtures. Tests never read outside the repository (data lives in tests/data/)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

# The throwaway PostgreSQL server (fixtures pg_server, pg_url) for tests marked postgres.
pytest_plugins = ["pgserver"]

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def utc() -> dt.timezone:
    return dt.UTC


@pytest.fixture(autouse=True)
def _private_user_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's history database and journal inside its own temporary folder."""
    monkeypatch.setenv("STRIDEWISE_DB", str(tmp_path / "history.sqlite3"))
    monkeypatch.setenv("STRIDEWISE_JOURNAL", str(tmp_path / "journal.yaml"))
    # The validated-pack cache lives in the test's folder, never in the user's cache.
    monkeypatch.setenv("STRIDEWISE_CACHE_DIR", str(tmp_path / "cache"))
