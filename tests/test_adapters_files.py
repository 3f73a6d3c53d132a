"""FIT, TCX and GPX adapters against real sample files (see tests/data/ORIGIN.md).

FIT values are cross-checked against fitdecode read directly here, with its default settings,
so the test does not reuse the adapter's own code path.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import time
from pathlib import Path
from typing import Any

import fitdecode
import pytest

from stridewise.adapters.common import gunzip, safe_xml_bytes, sniff
from stridewise.adapters.fit import ADAPTER as FIT_ADAPTER
from stridewise.adapters.fit import fit_sport, parse_fit
from stridewise.adapters.xmlfiles import GPX_ADAPTER, TCX_ADAPTER, parse_gpx, parse_tcx
from stridewise.engine.errors import InputError
from stridewise.engine.events import CrossTraining, Run
from stridewise.plugins import PluginHost

DATA = Path(__file__).parent / "data"
FIT = DATA / "fit"
BAD = FIT / "bad"
TCX = DATA / "tcx"
GPX = DATA / "gpx"
UTC = dt.UTC


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------------------------
# FIT: cross-check against fitdecode
# ---------------------------------------------------------------------------------------------


@functools.cache
def _reference_messages(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(sessions, records) as plain fitdecode (default settings) reports them."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    sessions: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    try:
        with fitdecode.FitReader(raw) as reader:
            for frame in reader:
                if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "session":
                    sessions.append({f.name: f.value for f in frame.fields})
                elif isinstance(frame, fitdecode.FitDataMessage) and frame.name == "record":
                    records.append({f.name: f.value for f in frame.fields})
    except fitdecode.FitError:
        pass  # a recording that stops part-way (strava-android-app, nick); keep what came first
    return sessions, records


def _reference_session(path: Path) -> dict[str, Any] | None:
    """The first running session's values, or None if the file has no running session."""
    sessions, _ = _reference_messages(path)
    session = next((s for s in sessions if s.get("sport") == "running"), None)
    if session is None:
        return None
    # avg_running_cadence is how fitdecode names avg_cadence in running sessions
    whole = session.get("avg_running_cadence", session.get("avg_cadence"))
    cadence = 2 * (whole + (session.get("avg_fractional_cadence") or 0)) if whole else None
    moving = session.get("total_moving_time")
    return {
        "start": session["start_time"],
        "distance": session["total_distance"],
        "moving": moving if moving is not None else session["total_timer_time"],
        "elapsed": session["total_elapsed_time"],
        "cadence": cadence,
    }


@functools.cache
def _parsed(path: Path) -> Run | CrossTraining:
    return parse_fit(path.read_bytes(), path.name)


RUNNING_FIT = [
    FIT / "fitparse__garmin-fenix-5-run.fit",
    FIT / "fitparse__activity-small-fenix2-run.fit",
    FIT / "fitparse__chained-multiple-header.fit",  # triathlon: the running leg is imported
    FIT / "fitparse__developer-types-sample.fit",
    FIT / "fitparse__sdk-Activity.fit",
    FIT / "fitparse__strava-android-app.fit",  # crashed recorder, session written first
    FIT / "gap__2022-05-29_Laufen_Landal_Park.fit",
    FIT / "derived__fenix5run.fit.gz",
    FIT / "12866632127.fit.gz",
    BAD / "bad__tormoder-mornindew-broken.fit",  # decodes cleanly, see BAD_BUT_VALID
]


@pytest.mark.parametrize("path", RUNNING_FIT, ids=lambda p: p.name)
def test_running_fit_matches_fitdecode_session(path: Path) -> None:
    expected = _reference_session(path)
    assert expected is not None
    run = _parsed(path)
    assert isinstance(run, Run)
    assert run.start == expected["start"]
    assert run.distance_m == pytest.approx(expected["distance"])
    assert run.moving_time_s == pytest.approx(expected["moving"])
    assert run.elapsed_time_s == pytest.approx(expected["elapsed"])
    if expected["cadence"] is None:
        assert run.cadence_spm is None
    else:
        assert run.cadence_spm == pytest.approx(expected["cadence"])
    assert run.source == "fit"
    assert run.id.startswith("fit:")


@pytest.mark.slow
def test_every_fit_fixture_with_a_running_session_is_cross_checked() -> None:
    rejected = {"fitparse__compressed-speed-distance.fit"}  # no real dates, see its own test
    for path in sorted(FIT.glob("*.fit*")):
        if _reference_session(path) is not None:
            assert path in RUNNING_FIT or path.name in rejected, path.name


def test_fit_values_beyond_the_session() -> None:
    run = parse_fit(_read(FIT / "gap__2022-05-29_Laufen_Landal_Park.fit"), "laufen.fit")
    assert isinstance(run, Run)
    assert run.utc_offset_s == 7200  # activity.local_timestamp - timestamp (CEST)
    assert run.day == dt.date(2022, 5, 29)
    assert run.device == "garmin venusq"
    assert run.avg_hr_bpm == 136 and run.max_hr_bpm == 169
    assert run.elevation_gain_m == 109
    assert run.source_id == "3388076788/2022-05-29T15:53:35Z"
    fenix = parse_fit(_read(FIT / "fitparse__garmin-fenix-5-run.fit"), "fenix.fit")
    assert fenix.utc_offset_s == -7 * 3600  # PDT
    assert fenix.device == "garmin fenix5"


def test_gzipped_fit_is_the_same_activity() -> None:
    plain = parse_fit(_read(FIT / "fitparse__garmin-fenix-5-run.fit"), "a.fit")
    zipped = parse_fit(_read(FIT / "derived__fenix5run.fit.gz"), "a.fit.gz")
    assert zipped == plain


@pytest.mark.parametrize(
    ("name", "kind", "sport", "distance"),
    [
        ("fitparse__garmin-fenix-5-walk.fit", CrossTraining, "walk", 67.85),
        ("gap__2023-09-05_walk_NB860v11.fit", CrossTraining, "walk", 3638.33),
        ("tormoder__sdk-poolswim-hr.fit", CrossTraining, "swim", 1700.0),
        ("fitparse__20170518-191602-1740899583.fit", CrossTraining, "rowing", 0.0),
        ("tormoder__0134902991.fit", CrossTraining, "virtual_ride", 7123.39),  # indoor_cycling
    ],
)
def test_fit_sports(name: str, kind: type, sport: str, distance: float) -> None:
    event = parse_fit(_read(FIT / name), name)
    assert isinstance(event, kind)
    assert event.sport == sport
    assert event.distance_m == pytest.approx(distance)


@pytest.mark.parametrize(
    ("sport", "sub_sport", "ours"),
    [
        ("running", "generic", "run"),
        ("running", "trail", "trail_run"),
        ("running", "treadmill", "treadmill_run"),
        ("running", "track", "track_run"),
        ("running", "virtual_activity", "virtual_run"),
        ("fitness_equipment", "treadmill", "treadmill_run"),
        ("fitness_equipment", "elliptical", "elliptical"),
        ("cycling", "indoor_cycling", "virtual_ride"),
        ("cycling", "road", "ride"),
        ("training", "strength_training", "strength"),
        ("training", "yoga", "yoga"),
        ("hiking", None, "hike"),
        ("swimming", "open_water", "swim"),
        ("multisport", None, "other"),
        (None, None, "other"),
        (250, 7, "other"),  # values this fitdecode does not know arrive as numbers
    ],
)
def test_fit_sport_mapping(sport: object, sub_sport: object, ours: str) -> None:
    assert fit_sport(sport, sub_sport) == ours


def test_fit_without_session_is_salvaged_from_its_records() -> None:
    """nick.fit (a Sigma bike computer) stops mid-message past its declared end: no session,
    one lap of 5 m at the start. The records carry the ride: start, end and distance."""
    path = FIT / "fitparse__nick.fit"
    _, records = _reference_messages(path)
    first, last = records[0]["timestamp"], records[-1]["timestamp"]
    ride = _parsed(path)
    assert isinstance(ride, CrossTraining)
    assert ride.sport == "ride"  # from the file's sport message
    assert ride.start == first
    assert ride.duration_s == (last - first).total_seconds()
    assert ride.distance_m == pytest.approx(records[-1]["distance"])
    assert ride.distance_m == pytest.approx(113550.87)


def test_monitoring_file_is_not_an_activity() -> None:
    with pytest.raises(InputError, match="not an activity file") as err:
        parse_fit(_read(FIT / "fitparse__sdk-MonitoringFile.fit"), "MonitoringFile.fit")
    assert err.value.file == "MonitoringFile.fit"


def test_relative_timestamps_are_not_dates() -> None:
    """A 2012 Forerunner 70 run: every timestamp counts seconds since power-on."""
    with pytest.raises(InputError, match="no usable start time"):
        parse_fit(_read(FIT / "fitparse__compressed-speed-distance.fit"), "fr70.fit")


def test_strava_twin_is_the_same_run() -> None:
    device = parse_fit(_read(FIT / "gap__2022-05-29_Laufen_Landal_Park.fit"), "device.fit")
    strava = parse_fit(_read(FIT / "12866632127.fit.gz"), "12866632127.fit.gz")
    assert isinstance(device, Run) and isinstance(strava, Run)
    assert device.start == strava.start == _utc("2022-05-29T15:53:35Z")
    assert strava.distance_m == pytest.approx(device.distance_m, rel=0.03)
    # Strava keeps the device's file_id (serial + creation time), so the ids agree too.
    assert device.id == strava.id


# ---------------------------------------------------------------------------------------------
# FIT: damaged files
# ---------------------------------------------------------------------------------------------

#: Damaged on purpose: each must be refused with this problem named.
BAD_FILES = {
    "bad__activity-unexpected-eof.fit": "truncated",
    "bad__activity-filecrc.fit": "CRC mismatch",
    "bad__activity-activity-filecrc.fit": "CRC mismatch",  # chained: 2nd part's CRC
    "bad__activity-settings-corruptheader.fit": "corrupt FIT header",
    "bad__activity-settings-nodata.fit": "truncated",  # chained: 2nd part cut short
    "derived__empty.fit": "empty file",
    "derived__fenix5run_header_only.fit": "truncated",
    "derived__fenix5run_truncated_50pct.fit": "truncated",
    "derived__gpx_renamed.fit": "not a FIT file",
    "derived__random_garbage.fit": "not a FIT file",
}

#: "BAD-ish" regression files from other FIT decoders. fitdecode reads each completely with
#: every CRC matching, and the decoders they come from expect success too (python-fitparse and
#: tormoder/fit decode them as regression tests for developer fields and unterminated
#: strings). They are valid activities, so importing them is right.
BAD_BUT_VALID = {
    "bad__elemnt-bolt-no-app-id.fit": (CrossTraining, "ride", 963.65),
    "bad__tormoder-mornindew-broken.fit": (Run, "run", 16773.34),
    "bad__tormoder-unterminated-strings.fit": (CrossTraining, "virtual_ride", 69.0),
}


def test_every_bad_file_is_classified() -> None:
    names = {p.name for p in BAD.iterdir()}
    assert names == set(BAD_FILES) | set(BAD_BUT_VALID)


@pytest.mark.parametrize(("name", "problem"), sorted(BAD_FILES.items()))
def test_bad_fit_is_refused_with_a_reason(name: str, problem: str) -> None:
    path = BAD / name
    started = time.perf_counter()
    with pytest.raises(InputError) as err:
        parse_fit(_read(path), str(path))
    assert time.perf_counter() - started < 5
    assert problem in err.value.reason
    assert str(path) in str(err.value)
    assert err.value.file == str(path)


def test_gpx_renamed_to_fit_says_what_it_is() -> None:
    with pytest.raises(InputError, match="looks like a GPX file"):
        parse_fit(_read(BAD / "derived__gpx_renamed.fit"), "x.fit")


def test_truncation_reasons_are_specific() -> None:
    with pytest.raises(InputError, match=r"ends at byte 768 .* declares 771 bytes"):
        parse_fit(_read(BAD / "bad__activity-unexpected-eof.fit"), "eof.fit")
    with pytest.raises(InputError, match=r"chained FIT file no\. 2"):
        parse_fit(_read(BAD / "bad__activity-activity-filecrc.fit"), "crc.fit")


def test_only_the_crc_footer_missing_is_salvaged_anything_shorter_is_truncated() -> None:
    """All declared data present but no checksum (a file its writer never closed): the session
    is intact and is used. One byte less and declared data is missing: refused."""
    whole = _read(FIT / "fitparse__garmin-fenix-5-run.fit")
    assert parse_fit(whole[:-2], "no-crc.fit") == parse_fit(whole, "no-crc.fit")
    with pytest.raises(InputError, match="truncated"):
        parse_fit(whole[:-3], "cut.fit")


@pytest.mark.parametrize(("name", "expected"), sorted(BAD_BUT_VALID.items()))
def test_bad_ish_fit_that_decodes_is_imported(name: str, expected: tuple[type, str, float]) -> None:
    kind, sport, distance = expected
    event = _parsed(BAD / name)
    assert isinstance(event, kind)
    assert event.sport == sport
    assert event.distance_m == pytest.approx(distance)


def test_fit_adapter_reads_paths_and_names_them() -> None:
    (event,) = FIT_ADAPTER.read(FIT / "fitparse__sdk-Activity.fit")
    assert isinstance(event, Run)
    bad = BAD / "bad__activity-filecrc.fit"
    with pytest.raises(InputError) as err:
        list(FIT_ADAPTER.read(bad))
    assert err.value.file == str(bad)
    with pytest.raises(InputError, match="cannot read"):
        list(FIT_ADAPTER.read(FIT / "no-such-file.fit"))


# ---------------------------------------------------------------------------------------------
# Recognising files by content
# ---------------------------------------------------------------------------------------------


def test_adapters_recognise_by_content(tmp_path: Path) -> None:
    assert FIT_ADAPTER.recognise(FIT / "fitparse__garmin-fenix-5-run.fit")
    assert FIT_ADAPTER.recognise(FIT / "derived__fenix5run.fit.gz")
    assert FIT_ADAPTER.recognise(FIT / "12866632127.fit.gz")
    assert not FIT_ADAPTER.recognise(BAD / "derived__gpx_renamed.fit")
    assert not FIT_ADAPTER.recognise(BAD / "derived__empty.fit")
    assert GPX_ADAPTER.recognise(BAD / "derived__gpx_renamed.fit")
    assert GPX_ADAPTER.recognise(GPX / "gpxpy__unicode_with_bom.gpx")
    assert TCX_ADAPTER.recognise(TCX / "tcxparser__test_FR410_run.tcx")
    assert not TCX_ADAPTER.recognise(GPX / "gap__Berlin_0.9km.gpx")
    zipped = tmp_path / "run.tcx.gz"
    zipped.write_bytes(gzip.compress(_read(TCX / "tcxparser__test_FR410_run.tcx")))
    assert TCX_ADAPTER.recognise(zipped)
    for adapter in (FIT_ADAPTER, TCX_ADAPTER, GPX_ADAPTER):
        assert not adapter.recognise(tmp_path)
        assert not adapter.recognise(tmp_path / "missing")


def test_sniff() -> None:
    assert sniff(_read(FIT / "fitparse__sdk-Activity.fit")[:64]) == "fit"
    assert sniff(_read(FIT / "derived__fenix5run.fit.gz")[:64]) == "gzip"
    assert sniff(_read(GPX / "gpxpy__unicode_with_bom.gpx")) == "gpx"
    assert sniff(_read(TCX / "tcxreader__sup_activity_1.tcx")[:4096]) == "tcx"
    assert sniff('<?xml version="1.0"?><gpx/>'.encode("utf-16")) == "gpx"
    assert sniff(b"") is None
    assert sniff(b"hello world") is None
    assert sniff(b"<html><body>gpx</body></html>") is None


def test_plugin_host_discovers_the_file_adapters() -> None:
    host = PluginHost()
    names = {adapter.name for adapter in host.adapters()}
    assert {"fit", "tcx", "gpx"} <= names
    assert not [e for e in host.errors if e.plugin in ("fit", "tcx_gpx")]


# ---------------------------------------------------------------------------------------------
# gzip limits
# ---------------------------------------------------------------------------------------------


def test_gzip_bomb_and_truncated_gzip_are_refused() -> None:
    bomb = gzip.compress(b"\0" * 100_000)
    with pytest.raises(InputError, match="expands to more than"):
        gunzip(bomb, "bomb.gz", limit=10_000)
    with pytest.raises(InputError, match="truncated"):
        parse_fit(_read(FIT / "derived__fenix5run.fit.gz")[:1000], "cut.fit.gz")
    with pytest.raises(InputError, match="damaged gzip"):
        parse_gpx(b"\x1f\x8b" + b"\xff" * 50, "junk.gpx.gz")


# ---------------------------------------------------------------------------------------------
# TCX
# ---------------------------------------------------------------------------------------------


def test_tcx_forerunner_run() -> None:
    run = parse_tcx(_read(TCX / "tcxparser__test_FR410_run.tcx"), "fr410.tcx")
    assert isinstance(run, Run)
    assert run.start == _utc("2012-12-26T21:29:53Z")
    # three laps: 1609.34399414 + 1609.34399414 + 1470.5546875 m; 608.47 + 714.80 + 669.51 s
    assert run.distance_m == pytest.approx(4689.24267578)
    assert run.moving_time_s == pytest.approx(1992.78)
    assert run.elapsed_time_s == pytest.approx(1992.78)  # last point 22:03:05, ~33 min
    assert run.max_hr_bpm == 189
    assert 150 < (run.avg_hr_bpm or 0) < 170  # time-weighted over the laps
    assert run.device == "Forerunner 410 Software Version 2.20"
    assert run.cadence_spm is None


def test_tcx_other_sport_is_cross_training() -> None:
    sup = parse_tcx(_read(TCX / "tcxreader__sup_activity_1.tcx"), "sup.tcx")
    assert isinstance(sup, CrossTraining)
    assert sup.sport == "other"
    assert sup.distance_m == pytest.approx(1157.51)  # two laps: 1000.0 + 157.51
    assert sup.duration_s == pytest.approx(966.796 + 145.539)


def test_tcx_gzipped() -> None:
    raw = _read(TCX / "tcxparser__test_FR410_run.tcx")
    assert parse_tcx(gzip.compress(raw), "a.tcx.gz") == parse_tcx(raw, "a.tcx")


TCX_RUN = """<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
  xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2">
 <Activities><Activity Sport="Running"><Id>2024-03-01T06:00:00+01:00</Id>
  <Lap StartTime="2024-03-01T05:00:00Z"><TotalTimeSeconds>600</TotalTimeSeconds>
   <DistanceMeters>2000</DistanceMeters><Track>
    <Trackpoint><Time>2024-03-01T05:00:00Z</Time><HeartRateBpm><Value>140</Value></HeartRateBpm>
     <Extensions><ns3:TPX><ns3:RunCadence>84</ns3:RunCadence></ns3:TPX></Extensions></Trackpoint>
    <Trackpoint><Time>2024-03-01T05:10:30Z</Time><HeartRateBpm><Value>160</Value></HeartRateBpm>
     <Extensions><ns3:TPX><ns3:RunCadence>86</ns3:RunCadence></ns3:TPX></Extensions></Trackpoint>
  </Track></Lap></Activity></Activities>
</TrainingCenterDatabase>"""


def test_tcx_cadence_is_doubled_and_offset_kept() -> None:
    run = parse_tcx(TCX_RUN.encode(), "made.tcx")
    assert isinstance(run, Run)
    assert run.cadence_spm == pytest.approx(170)  # (84 + 86) / 2 per foot, x 2
    assert run.utc_offset_s == 3600
    assert run.start == _utc("2024-03-01T05:00:00Z")
    assert run.elapsed_time_s == 630
    assert run.avg_hr_bpm == 150 and run.max_hr_bpm == 160


def test_tcx_errors() -> None:
    with pytest.raises(InputError, match="not a TCX file"):
        parse_tcx(_read(GPX / "gpxpy__track-with-empty-segment.gpx"), "x.tcx")
    with pytest.raises(InputError, match="no activity"):
        parse_tcx(b"<TrainingCenterDatabase><Activities/></TrainingCenterDatabase>", "e.tcx")
    with pytest.raises(InputError, match="not a number"):
        parse_tcx(TCX_RUN.replace("<DistanceMeters>2000", "<DistanceMeters>2k").encode(), "n.tcx")
    with pytest.raises(InputError, match="not well-formed"):
        parse_tcx(TCX_RUN.encode()[:300], "cut.tcx")
    with pytest.raises(InputError, match="implausible TCX data"):  # would overflow the date
        parse_tcx(TCX_RUN.replace(">600<", ">1e300<").encode(), "long.tcx")
    with pytest.raises(InputError, match="moving_time_s"):
        parse_tcx(TCX_RUN.replace(">600<", ">-5<").encode(), "negative.tcx")


# ---------------------------------------------------------------------------------------------
# GPX
# ---------------------------------------------------------------------------------------------


def test_gpx_walk_with_offset() -> None:
    walk = parse_gpx(_read(GPX / "gap__2025-08-30_walk_BrooksCaldera5.gpx"), "walk.gpx")
    # <type>unknown</type>: not clearly running, so "other" cross training
    assert isinstance(walk, CrossTraining)
    assert walk.sport == "other"
    assert walk.start == _utc("2025-08-30T18:29:19.825Z")
    assert walk.utc_offset_s == 7200  # times are written with +02:00
    assert walk.distance_m == pytest.approx(1089.6, abs=0.1)  # 2D length of 104 points
    assert walk.duration_s == pytest.approx(647.7, abs=0.1)  # moving; elapsed is 760.7 s
    assert walk.device == "OpenTracks"


def test_gpx_with_empty_segment() -> None:
    event = parse_gpx(_read(GPX / "gpxpy__track-with-empty-segment.gpx"), "seg.gpx")
    assert isinstance(event, CrossTraining)
    assert event.start == _utc("2013-07-06T17:26:26Z")
    assert event.distance_m == pytest.approx(85.95, abs=0.01)
    assert event.duration_s == 32  # moving time of the 76 s track


def test_gpx_with_bom() -> None:
    # The sample holds a waypoint only: the BOM is read fine, and the answer is "no track".
    with pytest.raises(InputError, match=r"no track points \(only waypoints\)"):
        parse_gpx(_read(GPX / "gpxpy__unicode_with_bom.gpx"), "bom.gpx")
    raw = _read(GPX / "gpxpy__track-with-empty-segment.gpx")
    assert parse_gpx(b"\xef\xbb\xbf" + raw, "bom.gpx") == parse_gpx(raw, "bom.gpx")


def test_gpx_without_usable_track() -> None:
    with pytest.raises(InputError, match="planned route"):
        parse_gpx(_read(GPX / "gap__Berlin_0.9km.gpx"), "berlin.gpx")  # no times
    with pytest.raises(InputError, match="no track points") as err:
        parse_gpx(_read(GPX / "gpxpy__gpx_with_garmin_extension.gpx"), "wpt.gpx")
    assert err.value.file == "wpt.gpx"
    with pytest.raises(InputError, match="not a GPX file"):
        parse_gpx(_read(TCX / "tcxreader__sup_activity_1.tcx"), "x.gpx")


GPX_RUN = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="StravaGPX" xmlns="http://www.topografix.com/GPX/1/1"
 xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">
 <trk><type>{type}</type><trkseg>
  <trkpt lat="52.0" lon="13.0"><time>2024-05-01T07:00:00Z</time><extensions>
   <gpxtpx:TrackPointExtension><gpxtpx:hr>140</gpxtpx:hr><gpxtpx:cad>84</gpxtpx:cad>
   </gpxtpx:TrackPointExtension></extensions></trkpt>
  <trkpt lat="52.0" lon="13.01"><time>2024-05-01T07:03:00Z</time><extensions>
   <gpxtpx:TrackPointExtension><gpxtpx:hr>150</gpxtpx:hr><gpxtpx:cad>86</gpxtpx:cad>
   </gpxtpx:TrackPointExtension></extensions></trkpt>
 </trkseg></trk>
</gpx>"""


@pytest.mark.parametrize(
    ("label", "sport"),
    [("9", "run"), ("running", "run"), ("Trail Running", "trail_run"), ("1", "ride"),
     ("hiking", "hike"), ("", "other"), ("unknown", "other")],
)  # fmt: skip
def test_gpx_type_decides_the_sport(label: str, sport: str) -> None:
    event = parse_gpx(GPX_RUN.format(type=label).encode(), "made.gpx")
    assert event.sport == sport
    assert isinstance(event, Run if sport in ("run", "trail_run") else CrossTraining)


def test_gpx_run_cadence_and_heart_rate() -> None:
    run = parse_gpx(GPX_RUN.format(type="running").encode(), "made.gpx")
    assert isinstance(run, Run)
    assert run.cadence_spm == pytest.approx(170)  # per-foot cad 84, 86 -> steps/min
    assert run.avg_hr_bpm == 145 and run.max_hr_bpm == 150
    assert run.distance_m == pytest.approx(684.6, abs=1)  # 0.01 deg of longitude at 52 N
    assert run.elapsed_time_s == 180
    assert run.device == "StravaGPX"


# ---------------------------------------------------------------------------------------------
# XML attacks
# ---------------------------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE gpx [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<gpx version="1.1"><trk><name>&lol4;</name></trk></gpx>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE TrainingCenterDatabase [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<TrainingCenterDatabase><Activities><Activity Sport="Running"><Id>&xxe;</Id>
</Activity></Activities></TrainingCenterDatabase>"""


@pytest.mark.parametrize(
    ("parse", "text"),
    [(parse_gpx, BILLION_LAUGHS), (parse_tcx, EXTERNAL_ENTITY), (parse_gpx, EXTERNAL_ENTITY)],
)
def test_doctype_and_entities_are_refused(parse: Any, text: str) -> None:
    for data in (text.encode(), text.encode("utf-16"), gzip.compress(text.encode())):
        with pytest.raises(InputError, match="DOCTYPE or ENTITY") as err:
            parse(data, "evil.xml")
        assert err.value.file == "evil.xml"
        assert "root:" not in str(err.value)  # nothing from /etc/passwd
        assert "lollol" not in str(err.value)


def test_entity_declaration_without_doctype_is_refused() -> None:
    with pytest.raises(InputError, match="DOCTYPE or ENTITY"):
        safe_xml_bytes(b'<gpx><!ENTITY x "y"></gpx>', "e.gpx")
