"""Property tests: random and mutated bytes never make the file adapters crash or hang.

The only exception a user's file may cause is :class:`InputError` (or a subclass). Seeds are
small real samples (tests/data/ORIGIN.md) so each example decodes in milliseconds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import os
import time
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stridewise.adapters.fit import parse_fit
from stridewise.adapters.xmlfiles import parse_gpx, parse_tcx
from stridewise.engine.errors import InputError

#: Slow (processes, wheels or fuzzing): `pytest -m 'not slow'` skips them in a quick loop.
pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data"
PARSERS: dict[str, Callable[[bytes, str], object]] = {
    "fit": parse_fit,
    "tcx": parse_tcx,
    "gpx": parse_gpx,
}

FIT_SEEDS = [
    (DATA / "fit" / name).read_bytes()
    for name in (
        "fitparse__sdk-Activity.fit",
        "fitparse__garmin-fenix-5-run.fit",
        "fitparse__garmin-fenix-5-walk.fit",
        "fitparse__sdk-MonitoringFile.fit",
        "derived__fenix5run.fit.gz",
    )
]
_TCX_SMALL = b"""<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">
<Activities><Activity Sport="Running"><Id>2024-03-01T05:00:00Z</Id>
<Lap StartTime="2024-03-01T05:00:00Z"><TotalTimeSeconds>600</TotalTimeSeconds>
<DistanceMeters>2000</DistanceMeters><AverageHeartRateBpm><Value>150</Value></AverageHeartRateBpm>
<Track><Trackpoint><Time>2024-03-01T05:00:00Z</Time><DistanceMeters>0</DistanceMeters>
<Cadence>85</Cadence></Trackpoint><Trackpoint><Time>2024-03-01T05:10:00Z</Time>
<DistanceMeters>2000</DistanceMeters><Cadence>86</Cadence></Trackpoint></Track></Lap>
</Activity></Activities></TrainingCenterDatabase>"""
XML_SEEDS = [
    _TCX_SMALL,
    (DATA / "tcx" / "tcxreader__sup_activity_1.tcx").read_bytes()[:6000],  # cut mid-track
    (DATA / "gpx" / "gpxpy__track-with-empty-segment.gpx").read_bytes(),
    (DATA / "gpx" / "gpxpy__unicode_with_bom.gpx").read_bytes(),
    (DATA / "gpx" / "gap__Berlin_0.9km.gpx").read_bytes(),
    (DATA / "gpx" / "gap__2025-08-30_walk_BrooksCaldera5.gpx").read_bytes()[:8000],
]
#: Fragments that stress the XML readers when spliced into a real file.
XML_SPLICES = [
    b"<!DOCTYPE x>",
    b'<!ENTITY e "x">',
    b"&e;",
    b"NaN",
    b"-1e999",
    b"9999999999",
    b"</trkseg>",
    b"<trkpt lat='91' lon='0'><time>0000-00-00T00:00:00Z</time></trkpt>",
    b"<time>2999-01-01T00:00:00Z</time>",
    b"<Lap><TotalTimeSeconds>inf</TotalTimeSeconds></Lap>",
    b"<type>9</type>",
    b"\xff\xfe",
    b"\x00",
    b"]]>",
]

EXAMPLE_DEADLINE = dt.timedelta(seconds=3)
#: STRIDEWISE_FUZZ_EXAMPLES=5000 pytest tests/test_adapters_fuzz.py for a deeper run.
FUZZ = settings(
    max_examples=int(os.environ.get("STRIDEWISE_FUZZ_EXAMPLES", "150")),
    deadline=EXAMPLE_DEADLINE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _only_input_errors(parse: Callable[[bytes, str], object], data: bytes) -> None:
    try:
        parse(data, "fuzzed")
    except InputError as exc:
        assert exc.file == "fuzzed"
        assert exc.reason


@st.composite
def _mutated(draw: st.DrawFn, seeds: list[bytes], splices: list[bytes] | None = None) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):  # flip bytes
        if data:
            pos = draw(st.integers(0, len(data) - 1))
            data[pos] = draw(st.integers(0, 255))
    if splices and draw(st.booleans()):
        pos = draw(st.integers(0, len(data)))
        data[pos:pos] = draw(st.sampled_from(splices))
    if draw(st.booleans()):  # truncate
        data = data[: draw(st.integers(0, len(data)))]
    out = bytes(data)
    return gzip.compress(out, mtime=0) if draw(st.integers(0, 9)) == 0 else out


@FUZZ
@given(data=st.binary(max_size=4096), fmt=st.sampled_from(sorted(PARSERS)))
def test_random_bytes(data: bytes, fmt: str) -> None:
    _only_input_errors(PARSERS[fmt], data)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_behind_a_fit_header(data: bytes) -> None:
    """A valid-looking 14-byte header so fitdecode gets past its signature check."""
    header = FIT_SEEDS[1][:14]
    _only_input_errors(parse_fit, header + data)


@FUZZ
@given(data=_mutated(FIT_SEEDS))
def test_mutated_fit(data: bytes) -> None:
    _only_input_errors(parse_fit, data)


@FUZZ
@given(data=_mutated(XML_SEEDS, XML_SPLICES), fmt=st.sampled_from(["tcx", "gpx"]))
def test_mutated_xml(data: bytes, fmt: str) -> None:
    _only_input_errors(PARSERS[fmt], data)


_TCX_TEMPLATE = """<TrainingCenterDatabase><Activities><Activity Sport="{sport}"><Id>{when}</Id>
<Lap StartTime="{when}"><TotalTimeSeconds>{seconds}</TotalTimeSeconds>
<DistanceMeters>{metres}</DistanceMeters><AverageHeartRateBpm><Value>{hr}</Value>
</AverageHeartRateBpm><Track><Trackpoint><Time>{when}</Time><Cadence>{cad}</Cadence>
</Trackpoint><Trackpoint><Time>{later}</Time><DistanceMeters>{metres}</DistanceMeters>
</Trackpoint></Track></Lap></Activity></Activities></TrainingCenterDatabase>"""
_GPX_TEMPLATE = """<gpx xmlns="http://www.topografix.com/GPX/1/1"
xmlns:t="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"><trk><type>{sport}</type>
<trkseg><trkpt lat="{lat}" lon="{lon}"><ele>{metres}</ele><time>{when}</time><extensions>
<t:TrackPointExtension><t:hr>{hr}</t:hr><t:cad>{cad}</t:cad></t:TrackPointExtension>
</extensions></trkpt><trkpt lat="{lon}" lon="{lat}"><time>{later}</time></trkpt></trkseg></trk>
</gpx>"""
_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.text(max_size=12),
)
_WHEN = st.one_of(
    st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat()),
    st.sampled_from(["", "0000-00-00T00:00:00Z", "2024-02-30T00:00:00Z", "9999-12-31T23:59:59"]),
    st.text(max_size=12),
)


@FUZZ
@given(
    fmt=st.sampled_from(["tcx", "gpx"]),
    values=st.fixed_dictionaries(
        {
            "sport": st.sampled_from(["Running", "Biking", "Other", "9", "running", ""]),
            "when": _WHEN,
            "later": _WHEN,
            "seconds": _NUMBERS,
            "metres": _NUMBERS,
            "hr": _NUMBERS,
            "cad": _NUMBERS,
            "lat": _NUMBERS,
            "lon": _NUMBERS,
        }
    ),
)
def test_odd_values_in_well_formed_xml(fmt: str, values: dict[str, str]) -> None:
    template = _TCX_TEMPLATE if fmt == "tcx" else _GPX_TEMPLATE
    text = template.format(**{k: escape(v, {'"': "&quot;"}) for k, v in values.items()})
    _only_input_errors(PARSERS[fmt], text.encode("utf-8", "surrogatepass"))


def test_bad_fit_files_finish_quickly() -> None:
    """Every damaged sample ends (in an event or an InputError) well within 5 s."""
    slow = {}
    for path in sorted((DATA / "fit" / "bad").iterdir()):
        started = time.perf_counter()
        with contextlib.suppress(InputError):
            parse_fit(path.read_bytes(), path.name)
        elapsed = time.perf_counter() - started
        if elapsed >= 5:
            slow[path.name] = round(elapsed, 1)
    assert not slow
