"""The manual-entry adapter: YAML/JSON/CSV journals and safe appends."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from stridewise.adapters.journal import ADAPTER, append_entry, parse_clock, read_journal
from stridewise.engine.errors import InputError
from stridewise.engine.events import PainReport, Run, Shoe
from stridewise.plugins import Skipped

YAML = """\
stridewise: journal
runs:
  - {date: 2026-03-02, distance_km: 8, time: "42:30", shoe: peg, start_time: "18:30",
     utc_offset: "+02:00"}
  - {date: 2026-03-03, distance_km: -1}
  - {date: 2026-03-04, distance_km: 5, time: 25:00}
pain:
  - {date: 2026-03-05, site: shin, severity: 4, at_night: true}
shoes:
  - {id: peg, name: Pegasus}
"""


def test_yaml_journal_friendly_fields(tmp_path: Path) -> None:
    path = tmp_path / "j.yaml"
    path.write_text(YAML)
    assert ADAPTER.recognise(path)
    items = list(read_journal(path))
    runs = [i for i in items if isinstance(i, Run)]
    assert len(runs) == 2
    first = runs[0]
    assert first.distance_m == 8000.0 and first.moving_time_s == 2550.0
    assert first.start == dt.datetime(2026, 3, 2, 16, 30, tzinfo=dt.UTC)
    assert first.utc_offset_s == 7200 and first.day == dt.date(2026, 3, 2)
    assert first.shoe_id == "peg" and first.source == "journal"
    # YAML 1.1 reads an unquoted 25:00 as 1500 (sexagesimal): still 25 minutes.
    assert runs[1].moving_time_s == 1500.0
    assert any(isinstance(i, PainReport) and i.at_night for i in items)
    assert any(isinstance(i, Shoe) for i in items)
    skipped = [i for i in items if isinstance(i, Skipped)]
    assert len(skipped) == 1
    assert skipped[0].row == "runs[2]" and "-1 km is outside" in skipped[0].reason
    assert str(path) in str(skipped[0])


def test_ids_are_stable_across_reads(tmp_path: Path) -> None:
    path = tmp_path / "j.yaml"
    path.write_text(YAML)
    ids1 = [getattr(i, "id", None) for i in read_journal(path)]
    ids2 = [getattr(i, "id", None) for i in read_journal(path)]
    assert ids1 == ids2


def test_csv_journal_with_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "j.csv"
    path.write_text(
        "kind,date,distance_km,time,site,severity\n"
        "run,2026-03-02,8,42:30,,\n"
        "pain,2026-03-03,,,shin,12\n"
        "walk,2026-03-03,,,,\n"
    )
    assert ADAPTER.recognise(path)
    items = list(read_journal(path))
    assert isinstance(items[0], Run) and items[0].distance_m == 8000.0
    assert isinstance(items[1], Skipped) and items[1].row == 3 and "severity" in items[1].reason
    assert isinstance(items[2], Skipped) and "walk" in items[2].reason


def test_json_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.json"
    path.write_text(json.dumps({"stridewise": "journal", "shoes": [{"id": "a", "name": "A"}]}))
    assert ADAPTER.recognise(path)
    assert [type(i) for i in read_journal(path)] == [Shoe]


def test_unknown_section_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "j.yaml"
    path.write_text("runz: []\n")
    with pytest.raises(InputError, match="unknown section"):
        list(read_journal(path))


def test_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server:\n  port: 80\n")
    assert not ADAPTER.recognise(path)


def test_append_is_atomic_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "j.yaml"
    path.write_text(YAML)
    before = path.read_text()
    with pytest.raises(InputError, match="severity"):
        append_entry(path, "pain", {"date": "2026-03-06", "site": "shin", "severity": 11})
    assert path.read_text() == before
    event = append_entry(path, "run", {"date": "2026-03-06", "distance_km": 6, "time": "33:00"})
    assert isinstance(event, Run)
    after = [i for i in read_journal(path) if isinstance(i, Run)]
    assert event.id in {r.id for r in after}
    assert len(after) == 3
    with pytest.raises(InputError, match="already in the journal"):
        append_entry(path, "run", {"date": "2026-03-06", "distance_km": 6, "time": "33:00"})
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_append_to_new_and_csv_journals(tmp_path: Path) -> None:
    new = tmp_path / "sub" / "new.yaml"
    append_entry(new, "shoe", {"id": "x", "name": "X"})
    assert [type(i) for i in read_journal(new)] == [Shoe]
    csv_path = tmp_path / "j.csv"
    csv_path.write_text("kind,date,distance_km\nrun,2026-03-02,8\n")
    append_entry(csv_path, "pain", {"date": "2026-03-03", "site": "foot", "severity": 2})
    kinds = [type(i).__name__ for i in read_journal(csv_path)]
    assert kinds == ["Run", "PainReport"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("42:30", 2550.0), ("1:02:03", 3723.0), ("0:05", 5.0)]
)
def test_parse_clock(text: str, seconds: float) -> None:
    assert parse_clock(text) == seconds


@pytest.mark.parametrize("text", ["42", "1:75", "a:b"])
def test_parse_clock_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_clock(text)


def test_csv_journal_takes_site_words_and_pain_that_stopped_the_run(tmp_path: Path) -> None:
    path = tmp_path / "j.csv"
    path.write_text("kind,date,site,severity,stopped_run\npain,2026-03-03,Front of shin,5,true\n")
    (event,) = list(read_journal(path))
    assert isinstance(event, PainReport)
    assert event.site == "tibia_anterior" and event.stopped_run
