"""Shared fixtures. Tests never read outside the repository (data lives in tests/data/)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def utc() -> dt.timezone:
    return dt.UTC
