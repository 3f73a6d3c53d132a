"""The Strava bulk export adapter (stridewise.adapters.strava).

Fixtures (tests/data/strava/, provenance in tests/data/ORIGIN.md): ``gap_export`` is a real
export folder; ``de_export``, ``old_export`` and ``mixed_export`` are derived from it.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import importlib.util
import io
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stridewise.adapters import archive, strava
from stridewise.adapters.archive import tree_from_files
from stridewise.adapters.strava import (
    StravaAdapter,
    events_only,
    parse_date,
    parse_number,
    skipped_only,
    sport_of,
)
from stridewise.engine.errors import InputError
from stridewise.engine.events import CrossTraining, Event, Run, Shoe, stable_id
from stridewise.plugins.hookspecs import Adapter, Skipped

DATA = Path(__file__).parent / "data" / "strava"
REAL = DATA / "gap_export"
HAS_FIT = importlib.util.find_spec("stridewise.adapters.fit") is not None


def read(path: Path) -> list[Event | Skipped]:
    return list(StravaAdapter().read(path))


@pytest.fixture
def no_files_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any linked activity file is opened or parsed."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a linked activity file was opened: {args}")

    monkeypatch.setattr(strava, "parse_activity_file", refuse)
    monkeypatch.setattr(archive.Tree, "read_decompressed", refuse)


def zip_folder(folder: Path, target: Path, *, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return target


# ---------------------------------------------------------------------------------------------
# The real sample
# ---------------------------------------------------------------------------------------------


def test_real_sample_run_on_the_fast_path(no_files_opened: None) -> None:
    items = read(REAL)
    assert skipped_only(items) == []
    (run,) = events_only(items)
    assert isinstance(run, Run)
    assert run.id == "strava:12070555079"
    assert run.source == "strava"
    assert run.source_id == "12070555079"
    assert run.start == dt.datetime(2022, 5, 29, 15, 53, 35, tzinfo=dt.UTC)
    assert run.start.isoformat().replace("+00:00", "Z") == "2022-05-29T15:53:35Z"
    assert run.utc_offset_s == 0  # the CSV does not say; the file was not opened
    assert run.sport == "run"
    assert run.distance_m == pytest.approx(3322.95, abs=0.01)  # the metres column, not "3.32"
    assert run.moving_time_s == 1411.0
    assert run.elapsed_time_s == 1428.0
    assert run.elevation_gain_m == pytest.approx(61.88, abs=0.01)
    assert run.cadence_spm == pytest.approx(2 * 71.25904846191406)  # per foot in the CSV
    assert run.avg_hr_bpm is None and run.max_hr_bpm is None
    assert run.shoe_id is None


def test_recognise() -> None:
    adapter = StravaAdapter()
    assert isinstance(adapter, Adapter)
    for name in ("gap_export", "de_export", "old_export", "mixed_export"):
        assert adapter.recognise(DATA / name), name
    assert adapter.recognise(REAL / "activities.csv")
    assert not adapter.recognise(DATA)  # four exports in four folders: none is "the" export
    assert not adapter.recognise(REAL / "shoes.csv")
    assert not adapter.recognise(REAL / "activities" / "12866632127.fit.gz")
    assert not adapter.recognise(DATA / "does-not-exist")


def test_recognise_is_cheap_and_safe(tmp_path: Path) -> None:
    (tmp_path / "activities.csv").write_text("name,when\nx,y\n")
    assert not StravaAdapter().recognise(tmp_path)
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04garbage")
    assert not StravaAdapter().recognise(tmp_path / "junk.zip")


# ---------------------------------------------------------------------------------------------
# Languages and layouts
# ---------------------------------------------------------------------------------------------


def test_german_export_gives_the_same_events_as_the_english(no_files_opened: None) -> None:
    english = read(REAL)
    german = read(DATA / "de_export")
    assert german == english
    assert len(events_only(german)) == 1


def test_unknown_language_header_is_refused_by_name(tmp_path: Path) -> None:
    header = next(csv.reader(io.StringIO((REAL / "activities.csv").read_text())))
    french = ["ID de l'activité", "Date de l'activité", "Nom de l'activité", *header[3:]]
    with open(tmp_path / "activities.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerow(french)
    for sibling in ("shoes.csv", "bikes.csv", "profile.csv"):
        (tmp_path / sibling).write_text("x\n")
    assert StravaAdapter().recognise(tmp_path)  # claimed, so the user hears why it failed
    with pytest.raises(InputError, match='unknown column header "ID de l\'activité"') as caught:
        read(tmp_path)
    assert "English and German" in str(caught.value)
    assert "activities.csv" in str(caught.value)


def test_old_lowercase_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before mid-2019: ISO dates, distance in metres, no moving time (so the file is read)."""
    opened: list[str] = []

    def fake_parse(data: bytes, name: str) -> Run:
        opened.append(name)
        assert data[8:12] == b".FIT"  # gunzipped before parsing
        return Run(
            id="fit:x",
            source="fit",
            start=dt.datetime(2022, 5, 29, 15, 53, 35, tzinfo=dt.UTC),
            distance_m=3322.95,
            utc_offset_s=7200,
            moving_time_s=1411.0,
            device="garmin venusq",
        )

    monkeypatch.setattr(strava, "parse_activity_file", fake_parse)
    items = read(DATA / "old_export")
    run, ride, shoe, manual = events_only(items)
    assert opened == ["activities/12866632127.fit.gz"]
    assert isinstance(run, Run)
    assert run.start == dt.datetime(2022, 5, 29, 15, 53, 35, tzinfo=dt.UTC)
    assert run.distance_m == 3322.9  # the CSV wins where it has a value
    assert run.moving_time_s == 1411.0 and run.elapsed_time_s == 1428.0
    assert run.utc_offset_s == 7200 and run.device == "garmin venusq"
    assert isinstance(ride, CrossTraining)
    assert (ride.sport, ride.duration_s, ride.distance_m) == ("ride", 783.0, 3681.0)
    assert ride.shoe_id is None  # "Merida" is ridden, not worn
    assert isinstance(shoe, Shoe) and shoe.name == "Pegasus"
    assert isinstance(manual, Run) and manual.shoe_id == shoe.id
    assert manual.moving_time_s is None and manual.elapsed_time_s == 1800.0
    assert skipped_only(items) == []


def test_shorter_english_export_of_87_columns(tmp_path: Path, no_files_opened: None) -> None:
    """Exports from 2019-2021 had fewer trailing columns; columns are found by name."""
    rows = list(csv.reader(io.StringIO((REAL / "activities.csv").read_text(encoding="utf-8"))))
    with open(tmp_path / "activities.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(row[:87] for row in rows)
    assert read(tmp_path) == read(REAL)


@pytest.mark.skipif(not HAS_FIT, reason="the FIT reader is not installed")
def test_old_export_with_the_real_fit_reader() -> None:
    run = events_only(read(DATA / "old_export"))[0]
    assert isinstance(run, Run)
    assert run.utc_offset_s == 7200  # CEST, from the FIT file
    assert run.moving_time_s is not None
    assert run.start == dt.datetime(2022, 5, 29, 15, 53, 35, tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------
# Zip and folder, determinism
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "export_1234/"])
def test_zip_and_folder_give_identical_events(tmp_path: Path, prefix: str) -> None:
    for name in ("gap_export", "mixed_export"):
        archive_path = zip_folder(DATA / name, tmp_path / f"{name}.zip", prefix=prefix)
        assert StravaAdapter().recognise(archive_path)
        assert read(archive_path) == read(DATA / name)


def test_reading_again_gives_the_same_ids() -> None:
    first = read(DATA / "mixed_export")
    second = read(DATA / "mixed_export")
    assert first == second
    ids = [e.id for e in events_only(first)]
    assert len(ids) == len(set(ids))
    assert stable_id("strava", "shoe", "Pegasus 39") in ids


# ---------------------------------------------------------------------------------------------
# Rows: quoting, bad rows, units, gear
# ---------------------------------------------------------------------------------------------


def by_id(items: list[Event | Skipped]) -> dict[str, Event]:
    return {e.id: e for e in events_only(items)}


def test_mixed_export_rows(no_files_opened: None) -> None:
    items = read(DATA / "mixed_export")
    events = by_id(items)
    shoes = {e.name: e for e in events.values() if isinstance(e, Shoe)}
    assert set(shoes) == {"Pegasus 39", "Hoka Clifton 9", "Old Trainers"}
    assert shoes["Pegasus 39"].model == "Nike Pegasus 39"

    run = events["strava:9000000001"]  # its description holds a quoted newline and commas
    assert isinstance(run, Run)
    assert run.start == dt.datetime(2023, 3, 4, 7, 12, 5, tzinfo=dt.UTC)
    assert run.distance_m == 10021.3 and run.cadence_spm == 169.0
    assert (run.avg_hr_bpm, run.max_hr_bpm, run.rpe) == (148.0, 171.0, 4.0)
    assert run.shoe_id == shoes["Pegasus 39"].id

    walk = events["strava:9000000002"]
    assert isinstance(walk, CrossTraining) and walk.sport == "walk"
    assert walk.shoe_id == shoes["Old Trainers"].id
    ride = events["strava:9000000003"]
    assert isinstance(ride, CrossTraining) and ride.sport == "ride" and ride.shoe_id is None
    manual = events["strava:9000000005"]
    assert isinstance(manual, Run) and manual.shoe_id == shoes["Hoka Clifton 9"].id
    gym = events["strava:9000000008"]
    assert isinstance(gym, CrossTraining) and gym.sport == "strength" and gym.distance_m is None
    trail = events["strava:9000000009"]  # only the user-unit distance, pinned by avg speed
    assert isinstance(trail, Run) and trail.sport == "trail_run"
    assert trail.distance_m == pytest.approx(6.2 * 1609.344)
    swim = events["strava:9000000010"]
    assert isinstance(swim, CrossTraining) and swim.distance_m == 1500.0

    skipped = {s.row: s for s in skipped_only(items)}
    assert all(s.file == "activities.csv" for s in skipped.values())
    assert "Activity Date 'yesterday'" in skipped[5].reason
    assert "has 6 fields" in skipped[7].reason
    assert "cadence_spm left out" in skipped[8].reason
    assert "appears twice" in skipped[11].reason
    assert set(skipped) == {5, 7, 8, 11}
    glitch = events["strava:9000000007"]
    assert isinstance(glitch, Run) and glitch.cadence_spm is None  # dropped, run kept


def test_shoe_events_come_before_the_runs_that_use_them() -> None:
    seen: set[str] = set()
    for item in events_only(read(DATA / "mixed_export")):
        if isinstance(item, Shoe):
            seen.add(item.id)
        elif item.shoe_id is not None:
            assert item.shoe_id in seen


def copy_export(tmp_path: Path, edit: dict[str, str]) -> Path:
    """A copy of the real export with some cells of the run changed."""
    target = tmp_path / "export"
    shutil.copytree(REAL, target)
    rows = list(csv.reader(io.StringIO((REAL / "activities.csv").read_text(encoding="utf-8"))))
    header = rows[0]
    for column, value in edit.items():
        name, _, nth = column.partition("#")
        rows[1][[i for i, h in enumerate(header) if h == name][int(nth or 0)]] = value
    with open(target / "activities.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return target


def test_file_is_read_when_moving_time_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, str]] = []

    def fake_parse(data: bytes, name: str) -> Run:
        calls.append((len(data), name))
        return Run(
            id="fit:y",
            source="fit",
            start=dt.datetime(2022, 5, 29, 15, 53, 35, tzinfo=dt.UTC),
            distance_m=3322.95,
            utc_offset_s=7200,
            moving_time_s=1400.5,
            cadence_spm=150.0,
        )

    monkeypatch.setattr(strava, "parse_activity_file", fake_parse)
    export = copy_export(tmp_path, {"Moving Time": ""})
    (run,) = events_only(read(export))
    raw = gzip.decompress((REAL / "activities" / "12866632127.fit.gz").read_bytes())
    assert calls == [(len(raw), "activities/12866632127.fit.gz")]
    assert isinstance(run, Run)
    assert run.moving_time_s == 1400.5 and run.utc_offset_s == 7200
    assert run.cadence_spm == pytest.approx(142.518, abs=0.001)  # the CSV's value stays
    assert run.id == "strava:12070555079"


def test_cadence_missing_is_not_a_reason_to_open_the_file(
    tmp_path: Path, no_files_opened: None
) -> None:
    (run,) = events_only(read(copy_export(tmp_path, {"Average Cadence": ""})))
    assert isinstance(run, Run) and run.cadence_spm is None


def test_unreadable_linked_file_is_noted_and_the_row_kept(tmp_path: Path) -> None:
    export = copy_export(tmp_path, {"Moving Time": ""})
    (export / "activities" / "12866632127.fit.gz").write_bytes(b"not gzip at all")
    items = read(export)
    (run,) = events_only(items)
    assert isinstance(run, Run) and run.moving_time_s is None and run.elapsed_time_s == 1428.0
    (note,) = skipped_only(items)
    assert note.row == 2 and "cannot be read" in note.reason and "gzip" in note.reason


def test_unparseable_date_without_a_file_skips_the_row(tmp_path: Path) -> None:
    export = copy_export(tmp_path, {"Activity Date": "someday", "Filename": ""})
    items = read(export)
    assert events_only(items) == []
    (skip,) = skipped_only(items)
    assert (skip.file, skip.row) == ("activities.csv", 2)
    assert "'someday'" in skip.reason


def test_distance_unit_never_guessed(tmp_path: Path, no_files_opened: None) -> None:
    """User-unit distance only, no speed to check it, no file: the run is skipped, not guessed."""
    export = copy_export(
        tmp_path, {"Distance#1": "", "Average Speed": "", "Filename": "", "Distance": "3.32"}
    )
    items = read(export)
    assert events_only(items) == []
    assert "no distance in metres" in skipped_only(items)[0].reason


def test_bad_row_does_not_stop_the_import(tmp_path: Path) -> None:
    text = (REAL / "activities.csv").read_text(encoding="utf-8")
    header, row = text.split("\n", 1)
    bad = row.replace("12070555079", "not-an-id", 1)
    later = row.replace("12070555079", "12070555080", 1).replace("May 29", "May 30")
    (tmp_path / "activities.csv").write_text("\n".join([header, bad.strip(), later.strip()]))
    items = read(tmp_path)
    (skip,) = skipped_only(items)
    assert skip.row == 2 and "not a Strava activity id" in skip.reason
    (run,) = events_only(items)
    assert run.id == "strava:12070555080"


def test_empty_and_headerless_files(tmp_path: Path) -> None:
    (tmp_path / "activities.csv").write_bytes(b"")
    with pytest.raises(InputError, match="no header"):
        read(tmp_path)
    with pytest.raises(InputError, match=r"no activities\.csv"):
        read(DATA)


# ---------------------------------------------------------------------------------------------
# Numbers, dates, sports
# ---------------------------------------------------------------------------------------------


def test_parse_number() -> None:
    assert parse_number("3322.949951171875", decimal_comma=False) == 3322.949951171875
    assert parse_number("1,500", decimal_comma=False) == 1500.0
    assert parse_number(" ", decimal_comma=False) is None
    assert parse_number("3,32", decimal_comma=True) == 3.32
    assert parse_number("1.234,5", decimal_comma=True) == 1234.5
    assert parse_number("3322.949951171875", decimal_comma=True) == 3322.949951171875
    for text, comma in [("1.500", True), ("3,32", False), ("nan", False), ("1e999", False)]:
        with pytest.raises(ValueError):
            parse_number(text, decimal_comma=comma)


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("May 29, 2022, 3:53:35 PM", "en", (2022, 5, 29, 15, 53, 35)),
        ("Jan 1, 2020, 12:05:00 AM", "en", (2020, 1, 1, 0, 5, 0)),
        ("Sep 12, 2018, 12:02:23 PM", "en", (2018, 9, 12, 12, 2, 23)),
        ("2018-09-12 15:02:23", "old", (2018, 9, 12, 15, 2, 23)),
        ("29.05.2022, 15:53:35", "de", (2022, 5, 29, 15, 53, 35)),
        ("29. Mai 2022, 15:53:35", "de", (2022, 5, 29, 15, 53, 35)),
        ("3. März 2023, 07:00:01", "de", (2023, 3, 3, 7, 0, 1)),
    ],
)
def test_parse_date(text: str, language: str, expected: tuple[int, ...]) -> None:
    assert parse_date(text, language=language) == dt.datetime(*expected, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "text", ["", "yesterday", "May 32, 2022, 3:53:35 PM", "13:00 PM", "Foo 1, 2020, 1:00:00 AM"]
)
def test_parse_date_refuses(text: str) -> None:
    assert parse_date(text, language="en") is None
    assert parse_date("05/29/2022 15:53", language="de") is None


def test_sports() -> None:
    assert sport_of("Run") == "run"
    assert sport_of("TrailRun") == sport_of("Trail Run") == "trail_run"
    assert sport_of("Lauf") == "run"
    assert sport_of("Radfahrt") == sport_of("E-Bike Ride") == "ride"
    assert sport_of("Weight Training") == sport_of("Krafttraining") == "strength"
    assert sport_of("Nordic Ski") == "ski"
    assert sport_of("Underwater basket weaving") == "other"


def test_registration() -> None:
    registered: list[Adapter] = []
    strava.stridewise_register_adapters(registered.append)
    (adapter,) = registered
    assert adapter.name == "strava" and isinstance(adapter, Adapter)


# ---------------------------------------------------------------------------------------------
# Property: hostile bytes only ever give InputError or Skipped
# ---------------------------------------------------------------------------------------------

_REAL_CSV = (REAL / "activities.csv").read_bytes()
_MIXED_CSV = (DATA / "mixed_export" / "activities.csv").read_bytes()


@st.composite
def mutated_csv(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([_REAL_CSV, _MIXED_CSV])))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 40))
        junk = draw(
            st.one_of(
                st.binary(max_size=20),
                st.sampled_from([b'"', b",", b"\n", b"\r", b"\x00", b"\xff", b"\xef\xbb\xbf"]),
                st.sampled_from([b"nan", b"1e999", b"-5", b"99999999999", b"Lauf", b"PM"]),
            )
        )
        data[at : at + cut] = junk
    return bytes(data)


def run_csv(data: bytes) -> Iterator[Event | Skipped]:
    tree = tree_from_files({"activities.csv": data, "shoes.csv": b"Shoe Name\nX\n"})
    yield from StravaAdapter().read_tree(tree)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=3000), mutated_csv()))
def test_hostile_activities_csv_only_raises_input_error(data: bytes) -> None:
    started = time.perf_counter()
    try:
        for item in run_csv(data):
            assert isinstance(item, Run | CrossTraining | Shoe | Skipped)
    except InputError:
        pass
    assert time.perf_counter() - started < 2.0
