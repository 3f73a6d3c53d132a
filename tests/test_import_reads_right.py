"""Imports read each run as it happened: merged only when it is the same activity, with the
right distance, the right sport and the right local day, and say where they had to guess."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from stridewise.cli import cli
from stridewise.engine.events import CrossTraining, Run, deduplicate, load_event
from stridewise.importer import ReadHints, import_paths
from stridewise.plugins import PluginHost

DATA = Path(__file__).parent / "data"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"crashed: {result.exception!r}\n{result.output}")
    return result


def _cross(id_: str, source: str, at: dt.datetime, seconds: float, sport: str) -> CrossTraining:
    event = load_event(
        {
            "kind": "cross_training",
            "id": id_,
            "source": source,
            "start": at.isoformat(),
            "sport": sport,
            "duration_s": seconds,
        }
    )
    assert isinstance(event, CrossTraining)
    return event


def _a_run(id_: str, source: str, at: dt.datetime, metres: float, sport: str = "run") -> Run:
    event = load_event(
        {
            "kind": "run",
            "id": id_,
            "source": source,
            "start": at.isoformat(),
            "sport": sport,
            "distance_m": metres,
        }
    )
    assert isinstance(event, Run)
    return event


# ---------------------------------------------------------------------------------------------
# Merging duplicates
# ---------------------------------------------------------------------------------------------


def test_two_crossfit_sessions_two_minutes_apart_in_one_export_stay_two() -> None:
    first = _cross("strava:1", "strava", T0 - dt.timedelta(minutes=1), 79, "strength")
    second = _cross("strava:2", "strava", T0 + dt.timedelta(minutes=1), 244, "strength")
    events, merged = deduplicate([first, second])
    assert merged == 0 and len(events) == 2


def test_the_same_run_from_a_watch_and_strava_is_merged_even_as_trail_run() -> None:
    watch = _a_run("fit:1", "fit", T0, 10_000, sport="trail_run")
    strava = _a_run("strava:1", "strava", T0 + dt.timedelta(seconds=40), 10_100)
    events, merged = deduplicate([watch, strava])
    assert merged == 1 and len(events) == 1


def test_a_walk_and_a_ride_at_the_same_time_from_two_sources_stay_two() -> None:
    walk = _cross("fit:1", "fit", T0, 1800, "walk")
    ride = _cross("strava:1", "strava", T0, 1800, "ride")
    events, merged = deduplicate([walk, ride])
    assert merged == 0 and len(events) == 2


def test_one_record_absorbs_at_most_one_activity_per_source() -> None:
    watch = _a_run("fit:1", "fit", T0, 10_000)
    twins = [_a_run(f"strava:{i}", "strava", T0, 10_000) for i in range(2)]
    events, merged = deduplicate([watch, *twins])
    assert merged == 1 and len(events) == 2


def test_a_stored_merge_is_not_repeated_when_the_same_files_come_again() -> None:
    watch = _a_run("fit:1", "fit", T0, 10_000)
    strava = _a_run("strava:1", "strava", T0, 10_000)
    once, _ = deduplicate([watch, strava])
    again, merged = deduplicate([*once, strava])
    assert merged == 0 and len(again) == 1
    assert deduplicate([strava, *once])[1] == 0


def test_thirty_two_thousand_activities_starting_together_merge_in_seconds() -> None:
    base = _a_run("fit:0", "fit", T0, 5_000)
    events = [
        dataclasses.replace(
            base,
            id=f"{source}:{i}",
            source=source,
            distance_m=5_000.0 + 10 * (i // 2),
        )
        for i in range(32_000)
        for source in (("fit", "strava")[i % 2],)
    ]
    start = time.monotonic()
    out, merged = deduplicate(events)
    assert time.monotonic() - start < 5
    assert merged == 16_000 and len(out) == 16_000


def _merges_in_import(*paths: Path) -> dict[str, Any]:
    result = _run("import", *map(str, paths), "--json", "--no-store")
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_import_json_reports_each_merge(tmp_path: Path) -> None:
    device = DATA / "fit" / "gap__2022-05-29_Laufen_Landal_Park.fit"
    export = tmp_path / "export"
    shutil.copytree(DATA / "strava" / "gap_export", export)
    doc = _merges_in_import(device, export)
    assert doc["duplicates_merged"] == 1
    (merge,) = doc["merges"]
    assert {merge["kept"]["source"], merge["merged"]["source"]} == {"fit", "strava"}
    assert merge["kept"]["start"].startswith("2022-05-29T15:53")
    assert merge["sport"] == "run"


# ---------------------------------------------------------------------------------------------
# A zip bomb inside a Strava export
# ---------------------------------------------------------------------------------------------


def test_a_gzip_bomb_in_a_strava_export_is_named_with_the_limit_it_hit(tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(DATA / "strava" / "old_export", export)
    csv_path = export / "activities.csv"
    # The first run without a distance: only its activity file could give one.
    csv_path.write_text(
        csv_path.read_text(encoding="utf-8").replace(",1428,3322.9,", ",1428,,"),
        encoding="utf-8",
    )
    bomb = gzip.compress(b"\0" * (80 * 1024 * 1024), compresslevel=9)  # 80 MB from ~80 kB
    (export / "activities" / "12866632127.fit.gz").write_bytes(bomb)
    result = _run("import", str(export), "--json", "--no-store")
    doc = json.loads(result.stdout)
    (skip,) = [s for s in doc["skipped"] if s["row"] == 2]
    assert "12866632127.fit.gz" in skip["reason"]
    assert "limit MAX_BYTES" in skip["reason"] and "67,108,864 bytes" in skip["reason"]
    assert doc["events_by_kind"]["run"] == 1  # the manual run is still there


# ---------------------------------------------------------------------------------------------
# A FIT session without a total distance (as some Suunto watches write it)
# ---------------------------------------------------------------------------------------------

FIT = DATA / "fit"


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("derived__laufen_no_session_distance.fit", "from the laps"),
        ("derived__laufen_no_session_or_lap_distance.fit", "from the recorded track points"),
    ],
)
def test_a_fit_session_without_distance_takes_it_from_laps_then_records(
    name: str, source: str
) -> None:
    result = import_paths([FIT / "no_distance" / name], PluginHost())
    (run,) = [e for e in result.events if isinstance(e, Run)]
    assert run.distance_m == pytest.approx(3322.95, abs=0.01)  # as the device's own session
    (note,) = result.notes
    assert note.event_id == run.id and source in note.note and "3.32 km" in note.note
    doc = result.summary()
    assert doc["notes"][0]["event"] == run.id


def test_a_fit_whose_session_has_its_distance_needs_no_note() -> None:
    result = import_paths([FIT / "gap__2022-05-29_Laufen_Landal_Park.fit"], PluginHost())
    assert not result.notes


# ---------------------------------------------------------------------------------------------
# A GPX without <type>
# ---------------------------------------------------------------------------------------------

NO_TYPE = DATA / "gpx" / "no_type"
WALK_GPX = DATA / "gpx" / "gap__2025-08-30_walk_BrooksCaldera5.gpx"


def test_a_night_run_gpx_without_type_is_read_as_a_run_and_says_it_was_guessed() -> None:
    result = import_paths([NO_TYPE / "derived__Nachtlauf.gpx"], PluginHost())
    (run,) = result.events
    assert isinstance(run, Run) and run.sport == "run"
    (note,) = result.notes
    assert note.event_id == run.id
    assert "sport guessed: a run" in note.note and "--sport" in note.note


def test_a_ride_and_a_walk_without_type_stay_other_and_say_so() -> None:
    result = import_paths([NO_TYPE / "derived__wahoo_ride.gpx", WALK_GPX], PluginHost())
    assert all(isinstance(e, CrossTraining) and e.sport == "other" for e in result.events)
    assert len(result.events) == 2
    assert {n.event_id for n in result.notes} == {e.id for e in result.events}
    assert all("--sport run" in n.note for n in result.notes)


def test_the_runner_says_the_sport_with_sport_run(tmp_path: Path) -> None:
    doc = _merges_in_import(WALK_GPX, NO_TYPE / "derived__wahoo_ride.gpx")
    assert doc["events_by_kind"] == {"cross_training": 2}
    result = _run("import", str(WALK_GPX), "--sport", "run", "--json", "--no-store")
    doc = json.loads(result.stdout)
    assert doc["events_by_kind"] == {"run": 1}
    assert "as you said with --sport" in doc["notes"][0]["note"]
    report = _run("report", str(WALK_GPX), "--sport", "run", "--json", "--as-of", "2025-08-31")
    assert report.exit_code == 0, report.output
    assert "as you said" in report.stderr


def test_a_gpx_that_names_its_sport_needs_no_guess(tmp_path: Path) -> None:
    typed = tmp_path / "typed.gpx"
    text = (NO_TYPE / "derived__wahoo_ride.gpx").read_text(encoding="utf-8")
    typed.write_text(text.replace("</name>", "</name>\n  <type>cycling</type>"), encoding="utf-8")
    result = import_paths([typed], PluginHost(), hints=ReadHints(sport="run"))
    (ride,) = result.events
    assert isinstance(ride, CrossTraining) and ride.sport == "ride"
    assert not result.notes


# ---------------------------------------------------------------------------------------------
# Strava's activities.csv has no time zone
# ---------------------------------------------------------------------------------------------

_OLD_HEADER = "id,date,name,type,description,elapsed_time,distance,commute,gear,filename\n"


def _evening_runs_export(tmp_path: Path) -> Path:
    """Runs at 21:30 in Sao Paulo (UTC-3) are 00:30 UTC the next day in the CSV."""
    export = tmp_path / "export"
    shutil.copytree(DATA / "strava" / "old_export", export)
    rows = [
        "12070555079,2022-05-29 15:53:35,Laufen Landal Park,Run,,1428,3322.9,false,,"
        "activities/12866632127.fit.gz",
        "1,2026-03-11 00:30:00,Evening run,Run,,1800,5000.0,false,,",
        "2,2026-01-15 00:30:00,Summer evening run,Run,,1800,5000.0,false,,",
    ]
    (export / "activities.csv").write_text(_OLD_HEADER + "\n".join(rows) + "\n")
    return export


def _local_days(result: Result) -> dict[str, tuple[int, str]]:
    assert result.exit_code == 0, result.output
    out = {}
    for line in result.stdout.splitlines():
        event = json.loads(line)
        if event["kind"] == "run":
            start = dt.datetime.fromisoformat(event["start"])
            local = start + dt.timedelta(seconds=event["utc_offset_s"])
            out[event["source_id"]] = (event["utc_offset_s"], local.date().isoformat())
    return out


def test_strava_evening_runs_land_on_their_local_day_with_tz(tmp_path: Path) -> None:
    export = _evening_runs_export(tmp_path)
    days = _local_days(_run("events", str(export), "--tz", "America/Sao_Paulo"))
    assert days["1"] == (-3 * 3600, "2026-03-10")
    assert days["2"] == (-3 * 3600, "2026-01-14")
    # The linked activity file states its own offset (CEST): the file wins over --tz.
    assert days["12070555079"] == (7200, "2022-05-29")


def test_strava_home_zone_follows_daylight_saving(tmp_path: Path) -> None:
    export = _evening_runs_export(tmp_path)
    days = _local_days(_run("events", str(export), "--tz", "Europe/Berlin"))
    assert days["1"][0] == 3600 and days["2"][0] == 3600  # CET in January and March
    result = import_paths([export], PluginHost(), hints=ReadHints(tz="America/New_York"))
    offsets = {e.source_id: e.utc_offset_s for e in result.events if isinstance(e, Run)}
    assert offsets["1"] == -4 * 3600 and offsets["2"] == -5 * 3600  # EDT from 8 March


def test_strava_without_tz_uses_the_computers_zone(tmp_path: Path) -> None:
    export = _evening_runs_export(tmp_path)
    script = (
        "import sys; from stridewise.importer import import_paths; "
        "from stridewise.plugins import PluginHost; "
        "r = import_paths([sys.argv[1]], PluginHost()); "
        "print(sorted(e.utc_offset_s for e in r.events if e.kind == 'run'))"
    )
    env = {**os.environ, "TZ": "America/Sao_Paulo"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(export)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[-10800, -10800, 7200]"


def test_an_unknown_time_zone_is_refused_by_name(tmp_path: Path) -> None:
    result = _run("import", str(tmp_path), "--tz", "Mars/Olympus")
    assert result.exit_code == 2 and "Mars/Olympus" in result.output
