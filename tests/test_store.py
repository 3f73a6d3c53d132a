"""The stored history: idempotent imports, only-new additions, all-or-nothing writes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stridewise.adapters.journal import append_entry
from stridewise.cli import cli
from stridewise.engine.errors import StridewiseError
from stridewise.engine.events import load_event
from stridewise.store import Store


def run_event(n: int, **extra: Any) -> Any:
    return load_event(
        {
            "kind": "run",
            "id": f"j:{n}",
            "source": "journal",
            "distance_m": 5000 + n,
            "start": f"2026-03-{n:02d}T07:00:00Z",
            **extra,
        }
    )


def test_reimport_is_idempotent_and_newer_adds_only_new(tmp_path: Path) -> None:
    with Store(tmp_path / "h.db") as store:
        first = store.save([run_event(1), run_event(2)])
        assert (first.added, first.total) == (2, 2)
        again = store.save([run_event(1), run_event(2)])
        assert (again.added, again.total) == (0, 2)
        newer = store.save([run_event(1), run_event(2), run_event(3)])
        assert (newer.added, newer.total) == (1, 3)
        assert sorted(e.id for e in store.load()) == ["j:1", "j:2", "j:3"]


def test_rows_are_stored_without_unset_fields_and_old_full_rows_still_read(
    tmp_path: Path,
) -> None:
    """The store keeps each event without its unset fields (half the JSON to read back); a
    database written by an earlier version, with every field spelled out, reads the same."""
    from stridewise.engine.events import dump_event

    with Store(tmp_path / "h.db") as store:
        store.save([run_event(1)])
    conn = sqlite3.connect(tmp_path / "h.db")
    (body,) = conn.execute("SELECT body FROM events").fetchone()
    assert "null" not in body and "elapsed_time_s" not in body
    old = run_event(2, cadence_spm=170)
    conn.execute(
        "INSERT INTO events (id, kind, source, body) VALUES (?, ?, ?, ?)",
        (old.id, old.kind, old.source, json.dumps(dump_event(old))),
    )
    conn.commit()
    conn.close()
    with Store(tmp_path / "h.db") as store:
        assert sorted(store.load(), key=lambda e: e.id) == [run_event(1), old]
        again = store.save([run_event(1), old])
        assert (again.added, again.total) == (0, 2)


def test_twin_from_another_source_merges_into_stored_run(tmp_path: Path) -> None:
    with Store(tmp_path / "h.db") as store:
        store.save([run_event(1, source="fit", id="fit:1")])
        twin = run_event(1, source="strava", id="strava:9", distance_m=5050)
        result = store.save([twin])
        assert (result.added, result.merged, result.total) == (0, 1, 1)
        (kept,) = store.load()
        assert set([kept.id, *kept.also_sources]) == {"fit:1", "strava:9"}
        assert store.save([twin]).total == 1  # and again: still one run


def test_failed_write_leaves_previous_history_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(tmp_path / "h.db") as store:
        store.save([run_event(1), run_event(2)])
    with Store(tmp_path / "h.db") as store:
        real = store._conn

        class Failing:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def executemany(self, sql: str, rows: Any) -> Any:
                rows = list(rows)
                real.executemany(sql, rows[:1])  # part of the write happens...
                raise sqlite3.OperationalError("disk I/O error")  # ...then the disk fails

            def __enter__(self) -> Any:
                return real.__enter__()

            def __exit__(self, *exc: Any) -> Any:
                return real.__exit__(*exc)

        monkeypatch.setattr(store, "_conn", Failing())
        with pytest.raises(StridewiseError, match="disk I/O error"):
            store.save([run_event(3)])
    with Store(tmp_path / "h.db") as store:
        assert sorted(e.id for e in store.load()) == ["j:1", "j:2"]


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "h.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StridewiseError, match="not a usable stridewise database"):
        Store(bad)


def test_cli_import_then_report_from_the_store(tmp_path: Path) -> None:
    journal = tmp_path / "me.yaml"
    append_entry(journal, "shoe", {"id": "peg", "name": "Pegasus", "start_distance_m": 700000})
    append_entry(journal, "run", {"date": "2026-03-02", "distance_km": 8, "shoe": "peg"})
    runner = CliRunner()
    db = tmp_path / "h.db"
    out = runner.invoke(cli, ["import", str(journal), "--db", str(db), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["stored"]["new_events"] == 2
    out = runner.invoke(cli, ["import", str(journal), "--db", str(db), "--json"])
    assert json.loads(out.stdout)["stored"]["new_events"] == 0
    out = runner.invoke(cli, ["report", "--db", str(db), "--json", "--as-of", "2026-03-02"])
    assert out.exit_code == 0, out.output
    assert any(c["rule_id"] == "shoe-worn" for c in json.loads(out.stdout)["cards"])
    empty = runner.invoke(cli, ["report", "--db", str(tmp_path / "empty.db")])
    assert empty.exit_code == 2 and "no stored history" in empty.stderr
