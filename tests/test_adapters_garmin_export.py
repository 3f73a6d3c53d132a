"""The Garmin Connect account export adapter (stridewise.adapters.garmin_export).

No real export is public: ``tests/data/garmin_export`` holds a hand-built one (see
``tests/data/ORIGIN.md``) following the structure and units documented in the adapter. The zip
is assembled here, deterministically, in a temporary folder.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import io
import json
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stridewise.adapters import garmin_export
from stridewise.adapters.archive import Limits, open_tree, tree_from_files
from stridewise.adapters.garmin_export import GarminExportAdapter, garmin_sport
from stridewise.adapters.strava import events_only, skipped_only
from stridewise.engine.errors import InputError
from stridewise.engine.events import CrossTraining, Event, Run, Shoe, stable_id
from stridewise.plugins.hookspecs import Adapter, Skipped

DATA = Path(__file__).parent / "data" / "garmin_export"
FITNESS = "DI_CONNECT/DI-Connect-Fitness/"
SUMMARY = FITNESS + "jane.runner@example.com_0_summarizedActivities.json"
GEAR = FITNESS + "jane.runner@example.com_gear.json"
UPLOADS = "DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip"
HAS_FIT = importlib.util.find_spec("stridewise.adapters.fit") is not None
_STAMP = (2024, 11, 1, 12, 0, 0)


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=_STAMP), data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def uploaded_zip() -> bytes:
    """Original files as Garmin names them (upload numbering, not the activity id)."""
    return _zip(
        {
            "jane.runner@example.com_98765432101.fit": (
                DATA / "uploaded" / "fitparse__garmin-fenix-5-walk.fit"
            ).read_bytes(),
            "jane.runner@example.com_98765432102.fit": (
                DATA / "uploaded" / "fitparse__garmin-fenix-5-run.fit"
            ).read_bytes(),
        }
    )


def export_entries(*, prefix: str = "") -> dict[str, bytes]:
    return {
        prefix + SUMMARY: (DATA / SUMMARY).read_bytes(),
        prefix + GEAR: (DATA / GEAR).read_bytes(),
        prefix + "DI_CONNECT/DI-Connect-User/user_profile.json": b'{"userName": "jane"}',
        prefix + UPLOADS: uploaded_zip(),
    }


def build_zip(target: Path, *, prefix: str = "") -> Path:
    target.write_bytes(_zip(export_entries(prefix=prefix)))
    return target


def build_folder(target: Path) -> Path:
    for name, data in export_entries().items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
    return target


def read(path: Path) -> list[Event | Skipped]:
    return list(GarminExportAdapter().read(path))


@pytest.fixture
def export_zip(tmp_path: Path) -> Path:
    return build_zip(tmp_path / "garmin_export.zip")


def by_id(items: list[Event | Skipped]) -> dict[str, Event]:
    return {e.id: e for e in events_only(items)}


# ---------------------------------------------------------------------------------------------
# Units, offsets, gear
# ---------------------------------------------------------------------------------------------


def test_units_are_converted(export_zip: Path) -> None:
    events = by_id(read(export_zip))
    run = events["garmin_export:14123456789"]
    assert isinstance(run, Run)
    assert run.source == "garmin_export" and run.source_id == "14123456789"
    assert run.sport == "run"
    assert run.distance_m == pytest.approx(10034.5)  # 1003450 cm
    assert run.moving_time_s == pytest.approx(2998.0)  # 2998000 ms
    assert run.elapsed_time_s == pytest.approx(3100.456)  # 3100456 ms
    assert run.elevation_gain_m == pytest.approx(45.0)  # 4500 cm
    assert run.cadence_spm == pytest.approx(168.6015625)  # avgDoubleCadence, steps/min
    assert (run.avg_hr_bpm, run.max_hr_bpm) == (148.0, 171.0)
    trail = events["garmin_export:14134567890"]
    assert isinstance(trail, Run) and trail.sport == "trail_run"
    assert trail.cadence_spm == pytest.approx(161.0)  # 2 x avgRunCadence (per foot)
    assert trail.elevation_gain_m == pytest.approx(610.0)
    treadmill = events["garmin_export:14145678901"]
    assert isinstance(treadmill, Run) and treadmill.sport == "treadmill_run"
    assert treadmill.moving_time_s == 2700.0  # no movingDuration: the timer time
    ride = events["garmin_export:14156789012"]
    assert isinstance(ride, CrossTraining) and ride.sport == "ride"
    assert (ride.distance_m, ride.duration_s) == (42000.0, 5400.0)
    gym = events["garmin_export:14167890123"]
    assert isinstance(gym, CrossTraining) and gym.sport == "strength" and gym.distance_m is None


def test_start_is_utc_and_offset_comes_from_local_minus_gmt(export_zip: Path) -> None:
    events = by_id(read(export_zip))
    winter = events["garmin_export:14123456789"]  # Berlin in March: CET
    assert winter.start == dt.datetime(2024, 3, 5, 6, 31, 12, tzinfo=dt.UTC)
    assert winter.utc_offset_s == 3600
    summer = events["garmin_export:14134567890"]  # Berlin in July: CEST
    assert summer.utc_offset_s == 7200
    assert summer.day == dt.date(2024, 7, 13)
    walk = events["garmin_export:14178901234"]  # San Francisco in June: PDT
    assert walk.utc_offset_s == -7 * 3600
    assert walk.start == dt.datetime(2017, 6, 11, 14, 32, 51, tzinfo=dt.UTC)


def test_gear_becomes_shoes_linked_to_runs(export_zip: Path) -> None:
    items = read(export_zip)
    events = by_id(items)
    shoes = {e.name: e for e in events.values() if isinstance(e, Shoe)}
    assert set(shoes) == {"Pegasus 40 (black)", "Hoka Speedgoat 5"}  # the bike is not a shoe
    pegasus, speedgoat = shoes["Pegasus 40 (black)"], shoes["Hoka Speedgoat 5"]
    assert pegasus.id == stable_id("garmin_export", "shoe", "28123456")
    assert pegasus.model == "Nike Pegasus 40"
    assert pegasus.first_used == dt.date(2024, 2, 1) and pegasus.retired is None
    assert speedgoat.retired == dt.date(2024, 9, 30)  # "Unknown" display name replaced
    assert events["garmin_export:14123456789"].shoe_id == pegasus.id  # type: ignore[union-attr]
    assert events["garmin_export:14145678901"].shoe_id == pegasus.id  # type: ignore[union-attr]
    assert events["garmin_export:14134567890"].shoe_id == speedgoat.id  # type: ignore[union-attr]
    assert events["garmin_export:14156789012"].shoe_id is None  # type: ignore[union-attr]
    first_run = next(i for i, e in enumerate(items) if isinstance(e, Run))
    assert all(isinstance(e, Shoe) for e in items[:first_run])  # shoes come first


def test_multisport_parent_and_broken_records_are_skipped(export_zip: Path) -> None:
    items = read(export_zip)
    skipped = {s.row: s for s in skipped_only(items)}
    assert set(skipped) == {7, 9}
    assert "multisport" in skipped[7].reason
    assert "no start time" in skipped[9].reason
    assert skipped[9].file == "jane.runner@example.com_0_summarizedActivities.json"
    leg = by_id(items)["garmin_export:14190123456"]
    assert isinstance(leg, Run) and leg.distance_m == 5000.0


# ---------------------------------------------------------------------------------------------
# Original (uploaded) files
# ---------------------------------------------------------------------------------------------


def fake_parse(data: bytes, name: str) -> Run | CrossTraining:
    """Stand-in for the FIT reader: start from the peeked time, kind from the file."""
    created = garmin_export.fit_time_created(data)
    assert created is not None
    if created.minute == 34:  # the fenix 5 run
        return Run(id="fit:run", source="fit", start=created, distance_m=157.56)
    return CrossTraining(id="fit:walk", source="fit", start=created, sport="walk", duration_s=45.4)


def test_uploaded_files_only_for_activities_not_in_the_summary(
    export_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []

    def spy(data: bytes, name: str) -> Run | CrossTraining:
        parsed.append(name)
        return fake_parse(data, name)

    monkeypatch.setattr(garmin_export, "parse_uploaded_file", spy)
    items = read(export_zip)
    # The walk's file is claimed by the summarised walk (peeked, never parsed); the run's file
    # was created 33 s after that walk ended, but the walk is taken: it is parsed and kept.
    assert parsed == ["jane.runner@example.com_98765432102.fit"]
    extra = [e for e in events_only(items) if e.source == "fit"]
    assert [e.id for e in extra] == ["fit:run"]


@pytest.mark.skipif(not HAS_FIT, reason="the FIT reader is not installed")
def test_uploaded_run_with_the_real_fit_reader(export_zip: Path) -> None:
    extra = [e for e in events_only(read(export_zip)) if e.source == "fit"]
    assert len(extra) == 1
    (run,) = extra
    assert isinstance(run, Run)
    assert run.start == dt.datetime(2017, 6, 11, 14, 34, 9, tzinfo=dt.UTC)
    assert run.distance_m == pytest.approx(157.56)


def test_time_created_peek() -> None:
    walk = (DATA / "uploaded" / "fitparse__garmin-fenix-5-walk.fit").read_bytes()
    assert garmin_export.fit_time_created(walk[:2000]) == dt.datetime(
        2017, 6, 11, 14, 32, 51, tzinfo=dt.UTC
    )
    assert garmin_export.fit_time_created(b"not a fit file") is None
    assert garmin_export.fit_time_created(b"") is None


def test_bomb_in_the_uploaded_files_is_refused_and_the_rest_imported(tmp_path: Path) -> None:
    entries = export_entries()
    bomb = _zip({"huge.fit": b"\0" * (3 * 1024 * 1024)})
    entries["DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_1-_Part2.zip"] = bomb
    path = tmp_path / "bomb.zip"
    path.write_bytes(_zip(entries))
    with open_tree(path, limits=Limits(max_entry_bytes=1024 * 1024)) as tree:
        items = list(GarminExportAdapter().read_tree(tree))
    notes = [s for s in skipped_only(items) if "huge.fit" in s.file]
    assert len(notes) == 1 and "max_entry_bytes" in notes[0].reason
    assert "garmin_export:14123456789" in by_id(items)


# ---------------------------------------------------------------------------------------------
# Zip, folder, recognition
# ---------------------------------------------------------------------------------------------


def test_zip_and_folder_identical_and_deterministic(tmp_path: Path, export_zip: Path) -> None:
    folder = build_folder(tmp_path / "unpacked")
    nested = build_zip(tmp_path / "nested.zip", prefix="garmin_export_2024-11-01/")
    first = read(export_zip)
    assert read(folder) == first
    assert read(nested) == first
    assert read(export_zip) == first
    ids = [e.id for e in events_only(first)]
    assert len(ids) == len(set(ids))


def test_recognise(tmp_path: Path, export_zip: Path) -> None:
    adapter = GarminExportAdapter()
    assert isinstance(adapter, Adapter)
    assert adapter.recognise(export_zip)
    assert adapter.recognise(DATA)
    nested = tmp_path / "outer"
    shutil.copytree(DATA, nested / "garmin_export")
    assert adapter.recognise(nested)
    strava = Path(__file__).parent / "data" / "strava" / "gap_export"
    assert not adapter.recognise(strava)
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04junk")
    assert not adapter.recognise(tmp_path / "junk.zip")
    assert not adapter.recognise(tmp_path / "missing")


def test_not_a_garmin_export(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(_zip({"readme.txt": b"hi"}))
    with pytest.raises(InputError, match="not a Garmin Connect export"):
        read(tmp_path / "x.zip")


def test_broken_summary_json_names_the_file(tmp_path: Path) -> None:
    tree = tree_from_files({SUMMARY: b"[{", GEAR: (DATA / GEAR).read_bytes()}, label="export")
    with pytest.raises(InputError, match=r"summarizedActivities\.json: is not valid JSON"):
        list(GarminExportAdapter().read_tree(tree))
    tree = tree_from_files({SUMMARY: b'{"activities": []}'}, label="export")
    with pytest.raises(InputError, match="summarizedActivitiesExport"):
        list(GarminExportAdapter().read_tree(tree))


# ---------------------------------------------------------------------------------------------
# Record-level checks
# ---------------------------------------------------------------------------------------------


def one(record: dict[str, Any]) -> list[Event | Skipped]:
    payload = json.dumps([{"summarizedActivitiesExport": [record]}]).encode()
    return list(GarminExportAdapter().read_tree(tree_from_files({SUMMARY: payload})))


BASE: dict[str, Any] = {
    "activityId": 1,
    "activityType": "running",
    "sportType": "RUNNING",
    "startTimeGmt": 1709620272000.0,
    "startTimeLocal": 1709623872000.0,
    "distance": 500000.0,
    "duration": 1500000.0,
}


def test_cadence_fields_that_disagree_are_left_out() -> None:
    items = one({**BASE, "avgRunCadence": 84.0, "avgDoubleCadence": 150.0})
    (run,) = events_only(items)
    assert isinstance(run, Run) and run.cadence_spm is None
    assert "disagree" in skipped_only(items)[0].reason


def test_wrong_types_and_absurd_values() -> None:
    items = one({**BASE, "distance": "5 km"})
    assert events_only(items) == [] and "not a number" in skipped_only(items)[0].reason
    items = one({**BASE, "avgHr": "fast", "startTimeLocal": BASE["startTimeGmt"] + 20 * 3600e3})
    (run,) = events_only(items)
    assert run.utc_offset_s == 0 and run.avg_hr_bpm is None  # type: ignore[union-attr]
    assert len(skipped_only(items)) == 2
    items = one({**BASE, "distance": 9e12})  # 90,000 km: a unit mix-up, never imported
    assert events_only(items) == [] and "distance_m" in skipped_only(items)[0].reason
    items = one({**BASE, "startTimeGmt": 1e300})
    assert events_only(items) == [] and "not a time" in skipped_only(items)[0].reason
    items = one({**BASE, "activityId": True})
    assert "no activityId" in skipped_only(items)[0].reason
    items = one({**BASE, "distance": None})
    assert "no distance" in skipped_only(items)[0].reason


def test_sports() -> None:
    assert garmin_sport("running") == "run"
    assert garmin_sport("treadmill_running") == "treadmill_run"
    assert garmin_sport("lap_swimming") == "swim"
    assert garmin_sport("brand_new_sport", "CYCLING") == "ride"
    assert garmin_sport(None, None) == "other"


def test_registration() -> None:
    registered: list[Adapter] = []
    garmin_export.stridewise_register_adapters(registered.append)
    (adapter,) = registered
    assert adapter.name == "garmin_export"


# ---------------------------------------------------------------------------------------------
# Property: hostile JSON only ever gives InputError or Skipped
# ---------------------------------------------------------------------------------------------

_SUMMARY_BYTES = (DATA / SUMMARY).read_bytes()
_RECORDS: list[dict[str, Any]] = json.loads(_SUMMARY_BYTES)[0]["summarizedActivitiesExport"]
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def mutated_summary(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):  # structure: random values in real records
        records = copy.deepcopy(_RECORDS)
        for _ in range(draw(st.integers(1, 8))):
            record = records[draw(st.integers(0, len(records) - 1))]
            key = draw(st.sampled_from([*sorted(record), "avgDoubleCadence", "parent"]))
            record[key] = draw(_json_values)
        payload: Any = [{"summarizedActivitiesExport": records}]
        if draw(st.booleans()):
            payload = draw(st.sampled_from([records, {"x": payload}, payload[0], [[payload]]]))
        return json.dumps(payload, allow_nan=True).encode()
    data = bytearray(_SUMMARY_BYTES)  # bytes: cut, splice and corrupt the real file
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(data)))
        data[at : at + draw(st.integers(0, 50))] = draw(
            st.binary(max_size=12) | st.sampled_from([b"[" * 5000, b"1e999", b"NaN", b"-"])
        )
    return bytes(data)


_GEAR_BYTES = (DATA / GEAR).read_bytes()


@st.composite
def mutated_gear(draw: st.DrawFn) -> bytes:
    payload = json.loads(_GEAR_BYTES)
    for _ in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from(["top", "dto", "links"]))
        if target == "top":
            payload[0][draw(st.sampled_from(["gearDTOS", "gearActivityDTOs"]))] = draw(_json_values)
        elif target == "dto" and isinstance(payload[0].get("gearDTOS"), list):
            for dto in payload[0]["gearDTOS"]:
                if isinstance(dto, dict) and dto:
                    dto[draw(st.sampled_from(sorted(dto)))] = draw(_json_values)
        elif isinstance(payload[0].get("gearActivityDTOs"), dict):
            payload[0]["gearActivityDTOs"][draw(st.text(max_size=9))] = draw(_json_values)
    return json.dumps(payload, allow_nan=True).encode()


def run_summary(data: bytes, gear: bytes = _GEAR_BYTES) -> Iterator[Event | Skipped]:
    tree = tree_from_files({SUMMARY: data, GEAR: gear})
    yield from GarminExportAdapter().read_tree(tree)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2000), mutated_summary()), mutated_gear())
def test_hostile_summary_json_only_raises_input_error(data: bytes, gear: bytes) -> None:
    started = time.perf_counter()
    try:
        for item in run_summary(data, gear):
            assert isinstance(item, Run | CrossTraining | Shoe | Skipped)
    except InputError:
        pass
    assert time.perf_counter() - started < 2.0
