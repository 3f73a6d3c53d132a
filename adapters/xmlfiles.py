"""TCX and GPX activity files (Garmin, Strava, Polar, OpenTracks writers...), plain or gzipped.

Both are XML: every file first goes through :func:`~.common.safe_xml_bytes`, which refuses any
DOCTYPE or ENTITY declaration and never resolves entities or fetches anything.

TCX (read with lxml): the first ``Activity`` with ``Sport="Running"``, else the first one.
Distance is the sum of the laps' ``DistanceMeters`` (the last track point's distance when the
laps have none), moving time the sum of their ``TotalTimeSeconds``, elapsed time from the
start to the last track point. ``Sport`` is Running, Biking or Other; Other stays "other".

GPX (read with gpxpy): all tracks of the file make one activity. Distance is gpxpy's 2D length
(what Strava and Garmin report; GPS elevation is too noisy for 3D), moving time gpxpy's moving
time, elapsed time first to last point. Heart rate and cadence come from Garmin's
TrackPointExtension (``hr``, ``cad``) when present. A GPX file says little about its sport:
``<type>`` decides when it names one (``running``, ``trail_running``..., or ``9``, Strava's
number for Run; other known types map to their sport). Without a type we know (Strava's GPX
export writes none), the sport the user gave (``--sport``, see
:class:`stridewise.importer.ReadHints`) is used; else the track's speeds decide *only where
they clearly say running*: at least 5 minutes moving, a median moving speed of 2.2-5.0 m/s
(7.9-18 km/h) and 95% of the moving time under 6.5 m/s (a bike goes faster, a walk slower).
Anything else stays an "other" cross-training session, because calling an unknown activity a
run would add bone load that may never have happened. Every such decision is reported as a
note naming the activity, so a wrong guess can be corrected with ``--sport``. GPX without
times is a planned route, not a recorded activity, and is refused.

Running cadence in both formats counts one foot, so it is doubled into steps per minute.
Neither format records the local time zone unless its timestamps carry an offset; without one
the UTC offset is 0.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from lxml import etree

from stridewise.engine.errors import InputError
from stridewise.engine.events import RUN_SPORTS, CrossTraining, Run, load_event, stable_id
from stridewise.plugins.hookspecs import Adapter, hookimpl

from .common import (
    FileAdapter,
    NotedFileAdapter,
    describe,
    local_name,
    safe_xml_bytes,
    sniff,
    unwrap,
)

if TYPE_CHECKING:
    import gpxpy.gpx

__all__ = [
    "GPX_ADAPTER",
    "TCX_ADAPTER",
    "guess_sport",
    "parse_gpx",
    "parse_tcx",
    "read_gpx",
    "sport_from_label",
    "stridewise_register_adapters",
]

# Sport labels seen in TCX ``Sport`` and GPX ``<type>`` (lower case, spaces and dashes as "_").
_LABELS = {
    "running": "run",
    "run": "run",
    "9": "run",  # Strava's activity type number for Run
    "street_running": "run",
    "road_running": "run",
    "trail_running": "trail_run",
    "trail_run": "trail_run",
    "treadmill_running": "treadmill_run",
    "treadmill_run": "treadmill_run",
    "indoor_running": "treadmill_run",
    "track_running": "track_run",
    "track_run": "track_run",
    "virtual_run": "virtual_run",
    "virtualrun": "virtual_run",
    "biking": "ride",
    "cycling": "ride",
    "ride": "ride",
    "1": "ride",  # Strava's activity type number for Ride
    "road_biking": "ride",
    "mountain_biking": "ride",
    "gravel_cycling": "ride",
    "e_bike_ride": "ride",
    "virtual_ride": "virtual_ride",
    "virtualride": "virtual_ride",
    "indoor_cycling": "virtual_ride",
    "walking": "walk",
    "walk": "walk",
    "hiking": "hike",
    "hike": "hike",
    "swimming": "swim",
    "swim": "swim",
    "rowing": "rowing",
    "elliptical": "elliptical",
    "cross_country_skiing": "ski",
    "nordic_ski": "ski",
    "alpine_skiing": "ski",
    "alpine_ski": "ski",
    "backcountry_ski": "ski",
    "skiing": "ski",
    "strength_training": "strength",
    "weight_training": "strength",
    "strength": "strength",
    "yoga": "yoga",
    "workout": "workout",
}


def sport_from_label(label: str | None) -> str:
    """Our sport for a free-text sport label; anything unknown is "other"."""
    key = (label or "").strip().lower().replace(" ", "_").replace("-", "_")
    return _LABELS.get(key, "other")


# ---------------------------------------------------------------------------------------------
# Shared
# ---------------------------------------------------------------------------------------------


def _prepare(data: bytes, name: str, want: str) -> Any:
    """Gunzip if needed, check the format by content and parse the XML safely."""
    data = unwrap(data, name)
    if not data.strip():
        raise InputError("empty file", file=name)
    kind = sniff(data[:4096])
    root = safe_xml_bytes(data, name)
    tag = local_name(root)
    expected = "gpx" if want == "gpx" else "TrainingCenterDatabase"
    if tag != expected:
        looks = describe(kind) if kind else f"XML with a <{tag}> root"
        raise InputError(f"not a {want.upper()} file (it looks like {looks})", file=name)
    return root


def _finite(text: str | None, name: str, what: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{what} is not a number: {text.strip()[:40]!r}", file=name) from None
    if not math.isfinite(value):
        raise InputError(f"{what} is not a finite number: {text.strip()[:40]!r}", file=name)
    return value


def _time(text: str | None, name: str, what: str) -> dt.datetime | None:
    if text is None or not text.strip():
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"{what} is not a date and time: {text.strip()[:40]!r}", file=name
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _offset_s(when: dt.datetime) -> int:
    offset = when.utcoffset()
    seconds = int(offset.total_seconds()) if offset else 0
    return seconds if abs(seconds) <= 14 * 3600 else 0


def _within(value: float | None, lo: float, hi: float) -> float | None:
    return value if value is not None and lo <= value <= hi else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _weighted(pairs: Iterable[tuple[float | None, float | None]]) -> float | None:
    total = weight = 0.0
    for value, seconds in pairs:
        if value is not None and seconds:
            total += value * seconds
            weight += seconds
    return total / weight if weight else None


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _build(
    *,
    source: str,
    name: str,
    sport: str,
    start: dt.datetime,
    distance_m: float | None,
    moving_s: float | None,
    elapsed_s: float | None,
    ascent_m: float | None = None,
    avg_hr: float | None = None,
    max_hr: float | None = None,
    cadence_per_foot: float | None = None,
    device: str | None = None,
) -> Run | CrossTraining:
    """Validate the values through the event schema; errors name the file."""
    common: dict[str, Any] = {
        "id": stable_id(source, _iso(start)),
        "source": source,
        "start": start,
        "utc_offset_s": _offset_s(start),
        "sport": sport,
        "avg_hr_bpm": _within(avg_hr, 25, 250),
        "source_id": _iso(start),
        "device": device,
    }
    if sport in RUN_SPORTS:
        cadence = 2 * cadence_per_foot if cadence_per_foot is not None else None
        payload = {
            **common,
            "kind": "run",
            "distance_m": distance_m or 0.0,
            "moving_time_s": moving_s,
            "elapsed_time_s": elapsed_s,
            "elevation_gain_m": _within(ascent_m, 0, 20000),
            "cadence_spm": _within(cadence, 100, 260),
            "max_hr_bpm": _within(max_hr, 25, 250),
        }
    else:
        duration = moving_s if moving_s is not None else elapsed_s
        if duration is None:
            raise InputError("the activity has no duration", file=name)
        payload = {**common, "kind": "cross_training", "duration_s": duration}
        payload["distance_m"] = distance_m
    try:
        event = load_event(payload)
    except InputError as exc:
        raise exc.located(file=name) from None
    assert isinstance(event, Run | CrossTraining)
    return event


# ---------------------------------------------------------------------------------------------
# TCX
# ---------------------------------------------------------------------------------------------


def _kids(element: Any, tag: str) -> list[Any]:
    return [child for child in element if local_name(child) == tag]


def _text(element: Any, *path: str) -> str | None:
    """Text of the first element down ``path`` (local names), or None."""
    for tag in path:
        found = next((child for child in element if local_name(child) == tag), None)
        if found is None:
            return None
        element = found
    text = element.text
    return text if isinstance(text, str) else None


def parse_tcx(data: bytes, name: str) -> Run | CrossTraining:
    """Read one TCX activity (plain or gzipped bytes) into a Run or CrossTraining event."""
    root = _prepare(data, name, "tcx")
    try:
        return _from_tcx(root, name)
    except InputError:
        raise
    except Exception as exc:  # odd values (a lap lasting 1e300 s overflows the date...)
        raise InputError(f"implausible TCX data ({type(exc).__name__}: {exc})", file=name) from None


def _from_tcx(root: Any, name: str) -> Run | CrossTraining:
    activities = list(root.iter("{*}Activity"))
    if not activities:
        raise InputError("no activity in the TCX file (a course or workout only?)", file=name)
    activity = next((a for a in activities if a.get("Sport") == "Running"), activities[0])
    sport = sport_from_label(activity.get("Sport"))

    laps = _kids(activity, "Lap")
    points = list(activity.iter("{*}Trackpoint"))
    if not laps and not points:
        raise InputError("no laps or track points in the activity", file=name)

    lap_starts = [_time(lap.get("StartTime"), name, "Lap StartTime") for lap in laps]
    lap_times = [_finite(_text(lap, "TotalTimeSeconds"), name, "TotalTimeSeconds") for lap in laps]
    lap_dists = [_finite(_text(lap, "DistanceMeters"), name, "DistanceMeters") for lap in laps]
    point_times = [_time(_text(p, "Time"), name, "Trackpoint Time") for p in points]
    timed = [t for t in point_times if t is not None]

    start = _time(_text(activity, "Id"), name, "Activity Id") or next(
        (t for t in [*lap_starts, *timed] if t is not None), None
    )
    if start is None:
        raise InputError(
            "no start time (no Activity Id, lap StartTime or track point Time)", file=name
        )
    ends = [max(timed)] if timed else []
    if laps and lap_starts[-1] is not None and lap_times[-1] is not None:
        ends.append(lap_starts[-1] + dt.timedelta(seconds=lap_times[-1]))
    elapsed = (max(ends) - start).total_seconds() if ends else None
    moving = sum(t for t in lap_times if t is not None) if any(lap_times) else None
    if elapsed is not None and moving is not None:  # devices round lap times differently
        elapsed = max(elapsed, moving)

    if any(d is not None for d in lap_dists):
        distance: float | None = sum(d for d in lap_dists if d is not None)
    else:
        point_dists = [_finite(_text(p, "DistanceMeters"), name, "DistanceMeters") for p in points]
        distance = max((d for d in point_dists if d is not None), default=None)

    avg_hr = _weighted(
        (_finite(_text(lap, "AverageHeartRateBpm", "Value"), name, "heart rate"), t)
        for lap, t in zip(laps, lap_times, strict=True)
    )
    lap_max = [
        _finite(_text(lap, "MaximumHeartRateBpm", "Value"), name, "heart rate") for lap in laps
    ]
    max_hr = max((h for h in lap_max if h is not None), default=None)
    cadence = None
    if sport in RUN_SPORTS:
        cadence = _weighted(
            (_lap_cadence(lap, name), t) for lap, t in zip(laps, lap_times, strict=True)
        )
        if cadence is None:
            cadence = _mean([c for p in points if (c := _point_cadence(p, name))])
    if avg_hr is None or max_hr is None:
        rates = [
            h
            for p in points
            if (h := _finite(_text(p, "HeartRateBpm", "Value"), name, "heart rate"))
        ]
        avg_hr = avg_hr if avg_hr is not None else _mean(rates)
        max_hr = max_hr if max_hr is not None else max(rates, default=None)

    device = _text(activity, "Creator", "Name")
    return _build(
        source="tcx",
        name=name,
        sport=sport,
        start=start,
        distance_m=distance,
        moving_s=moving,
        elapsed_s=elapsed,
        avg_hr=avg_hr,
        max_hr=max_hr,
        cadence_per_foot=cadence,
        device=device.strip() if device and device.strip() else None,
    )


def _lap_cadence(lap: Any, name: str) -> float | None:
    """A lap's per-foot cadence: the LX AvgRunCadence extension, else the lap's Cadence."""
    for ext in _kids(lap, "Extensions"):
        for element in ext.iter("{*}AvgRunCadence"):
            value = _finite(element.text, name, "AvgRunCadence")
            if value:
                return value
    value = _finite(_text(lap, "Cadence"), name, "Cadence")
    return value or None


def _point_cadence(point: Any, name: str) -> float | None:
    for element in point.iter("{*}RunCadence", "{*}Cadence"):
        value = _finite(element.text, name, "cadence")
        if value:
            return value
    return None


# ---------------------------------------------------------------------------------------------
# GPX
# ---------------------------------------------------------------------------------------------


def parse_gpx(data: bytes, name: str) -> Run | CrossTraining:
    """Read one GPX recording (plain or gzipped bytes) into a Run or CrossTraining event."""
    return read_gpx(data, name)[0]


def read_gpx(data: bytes, name: str) -> tuple[Run | CrossTraining, list[str]]:
    """Like :func:`parse_gpx`, with notes on what had to be decided (the sport, when the
    file does not name it)."""
    import gpxpy  # here, not at the top: loading the plugin (`stridewise --help`) stays cheap

    root = _prepare(data, name, "gpx")
    notes: list[str] = []
    try:
        gpx = gpxpy.parse(etree.tostring(root, encoding="unicode"))
        return _from_gpx(gpx, name, notes), notes
    except InputError:
        raise
    except Exception as exc:  # gpxpy raises GPXException, ValueError, TypeError... on bad data
        raise InputError(f"unreadable GPX data ({type(exc).__name__}: {exc})", file=name) from None


#: Running, as the speeds of a track without a sport must show it to be called one.
RUN_MEDIAN_MPS = (2.2, 5.0)
RUN_P95_MAX_MPS = 6.5
GUESS_MIN_MOVING_S = 300.0
_MOVING_MPS = 0.5


def guess_sport(segments: Iterable[list[Any]]) -> tuple[str, str]:
    """("run" or "other", why in plain words) from the speeds between timed track points."""
    pieces: list[tuple[float, float]] = []  # (speed m/s, seconds) while moving
    for points in segments:
        previous = None
        for point in points:
            if point.time is None:
                continue
            if previous is not None:
                seconds = (point.time - previous.time).total_seconds()
                if 0 < seconds <= 60:
                    speed = point.distance_2d(previous) / seconds
                    if speed > _MOVING_MPS and math.isfinite(speed):
                        pieces.append((speed, seconds))
            previous = point
    moving = sum(seconds for _, seconds in pieces)
    if moving < GUESS_MIN_MOVING_S or len(pieces) < 30:
        return "other", f"only {moving / 60:.0f} min of moving track, too little to tell"
    pieces.sort()

    def share(fraction: float) -> float:
        done = 0.0
        for speed, seconds in pieces:
            done += seconds
            if done >= fraction * moving:
                return speed
        return pieces[-1][0]

    median, p95 = share(0.5), share(0.95)
    said = f"median {median * 3.6:.1f} km/h while moving, 95% under {p95 * 3.6:.1f} km/h"
    lo, hi = RUN_MEDIAN_MPS
    if lo <= median <= hi and p95 <= RUN_P95_MAX_MPS:
        return "run", said
    return "other", said


def _from_gpx(gpx: gpxpy.gpx.GPX, name: str, notes: list[str]) -> Run | CrossTraining:
    points = [p for track in gpx.tracks for segment in track.segments for p in segment.points]
    if not points:
        extra = ""
        if gpx.routes:
            extra = " (only a planned route)"
        elif gpx.waypoints:
            extra = " (only waypoints)"
        raise InputError(f"no track points{extra}", file=name)
    timed = [p.time for p in points if p.time is not None]
    if not timed:
        raise InputError(
            "the track points have no times: this is a planned route, not a recorded activity",
            file=name,
        )
    if len(timed) < 2:
        raise InputError("only one track point has a time; not enough for an activity", file=name)
    start, end = min(timed), max(timed)
    label = next((t.type for t in gpx.tracks if t.type), None)
    sport = sport_from_label(label)
    if sport == "other":  # no type, or one we do not know: say what we decided, and why
        sport = _unstated_sport(gpx, label, notes)
    moving = gpx.get_moving_data()
    updown = gpx.get_uphill_downhill()
    rates, cadences = _extension_values(points)
    return _build(
        source="gpx",
        name=name,
        sport=sport,
        start=start,
        distance_m=gpx.length_2d(),
        moving_s=moving.moving_time if moving is not None else None,
        elapsed_s=(end - start).total_seconds(),
        ascent_m=updown.uphill if updown is not None else None,
        avg_hr=_mean(rates),
        max_hr=max(rates, default=None),
        cadence_per_foot=_mean(cadences),
        device=gpx.creator.strip() if gpx.creator and gpx.creator.strip() else None,
    )


def _unstated_sport(gpx: gpxpy.gpx.GPX, label: str | None, notes: list[str]) -> str:
    from stridewise.importer import read_hints

    stated = "has no <type>" if not label else f"says <type>{label[:40]}</type>"
    given = read_hints().sport
    if given:
        notes.append(f"sport {given}, as you said with --sport (the file {stated})")
        return given
    guess, why = guess_sport(segment.points for track in gpx.tracks for segment in track.segments)
    if guess == "run":
        notes.append(
            f"sport guessed: a run, from its speeds ({why}); the file {stated}. If it was "
            "not a run, import it again with --sport"
        )
    else:
        notes.append(
            f"sport unknown: recorded as 'other' cross-training ({why}); the file {stated}. "
            "If it was a run, import it again with --sport run"
        )
    return guess


def _extension_values(points: Iterable[Any]) -> tuple[list[float], list[float]]:
    """Non-zero heart rates and cadences from the points' TrackPointExtension (hr, cad)."""
    rates: list[float] = []
    cadences: list[float] = []
    for point in points:
        for ext in point.extensions:
            for element in ext.iter():
                tag = local_name(element)
                if tag not in ("hr", "cad", "cadence"):
                    continue
                try:
                    value = float(element.text or "")
                except ValueError:
                    continue
                if math.isfinite(value) and value > 0:
                    (rates if tag == "hr" else cadences).append(value)
    return rates, cadences


# ---------------------------------------------------------------------------------------------
# Adapters
# ---------------------------------------------------------------------------------------------

TCX_ADAPTER = FileAdapter(
    name="tcx",
    description="TCX activity files (Garmin Training Center XML; .tcx, .tcx.gz)",
    format="tcx",
    parse=parse_tcx,
)


GPX_ADAPTER = NotedFileAdapter(
    name="gpx",
    description="GPX recorded tracks (.gpx, .gpx.gz); sport from <type>, --sport or the speeds",
    format="gpx",
    parse=parse_gpx,
    read_noted=read_gpx,
)


@hookimpl
def stridewise_register_adapters(register: Callable[[Adapter], None]) -> None:
    """Register the TCX and GPX adapters."""
    register(TCX_ADAPTER)
    register(GPX_ADAPTER)
