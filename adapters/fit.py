"""FIT activity files (Garmin, Wahoo, COROS, Strava exports...), plain or ``.fit.gz``.

One file gives one event: a :class:`Run` or a :class:`CrossTraining`. Values come from the
``session`` message (the device's own summary): distance, timer/moving and elapsed time,
ascent, heart rate and cadence (FIT running cadence counts one foot, so steps/min =
2 x (avg_running_cadence + avg_fractional_cadence)).

Choices worth knowing:

* Multisport files (triathlons) hold one session per leg. We import the first running session
  if there is one, else the first session that is not a transition: bone load comes from
  running, and one file gives one event.
* Damaged files. A CRC mismatch, a corrupt header, or data that ends before the length its
  header declares (a copy or download cut short) is refused: the file is not what the device
  wrote, and a good copy usually still exists. Two kinds of unfinished file are salvaged:
  one whose messages run to the physical end of the file, past its declared length, with no
  CRC footer (a recorder that never closed the file) gives its session, else its laps (when
  they cover the recording), else its records (start, end and distance only); one whose data
  turns undecodable part-way (a crashed app) is imported only from a session read before the
  damage, since laps and records from before it would be a silently partial activity. (A
  damaged definition message can, rarely, look like an unfinished file; no rule can tell.)
* Only activity files are read: the first ``file_id`` decides (monitoring, settings, course
  and workout files are refused by name).
* Ids: ``stable_id("fit", serial_number, time_created)`` from ``file_id``, so a device file and
  Strava's re-export of it get the same id; without ``time_created``, the start time.
* Sports: running sub-sports give trail/treadmill/track/virtual runs (and a surface); indoor
  and virtual rides become "virtual_ride"; sports with no match become "other".
* Timestamps below 0x10000000 count seconds since the device was switched on, not dates; a
  file with no real date anywhere is refused. The UTC offset comes from the ``activity``
  message (``local_timestamp - timestamp``) when it is plausible, else it is 0.
* Optional values outside the event schema's plausible range (a heart rate of 0, a cadence of
  3 from a bad foot pod) are dropped rather than failing the whole file.
* A session without a total distance (some Suunto files), or with 0 while the laps or records
  show one, takes its distance from the laps, else from the records' cumulative distance;
  the import says which (a note), rather than storing a 15 km run as 0 km.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Iterable
from typing import Any

from stridewise.engine.errors import InputError
from stridewise.engine.events import RUN_SPORTS, CrossTraining, Run, load_event, stable_id
from stridewise.plugins.hookspecs import Adapter, hookimpl

from .common import NotedFileAdapter, describe, sniff, unwrap

__all__ = ["ADAPTER", "fit_sport", "parse_fit", "read_fit", "stridewise_register_adapters"]

# Global message numbers (FIT profile).
_FILE_ID, _SPORT, _SESSION, _LAP, _RECORD, _ACTIVITY = 0, 12, 18, 19, 20, 34
_ACTIVITY_FILE_TYPES = ("activity", "activity_summary", None)
_FILE_TYPE_WORDS = {
    "monitoring_a": "a monitoring (all-day tracking) file",
    "monitoring_b": "a monitoring (all-day tracking) file",
    "monitoring_daily": "a monitoring (all-day tracking) file",
    "settings": "a device settings file",
    "device": "a device description file",
    "sport": "a sport settings file",
    "course": "a course (planned route) file",
    "workout": "a workout plan",
    "schedules": "a training schedule",
    "weight": "a weight scale file",
    "totals": "a totals file",
    "goals": "a goals file",
    "blood_pressure": "a blood pressure file",
    "segment": "a segment file",
    "segment_list": "a segment list",
}
_MAX_OFFSET_S = 14 * 3600
# Raw FIT date_time values count seconds since 1989-12-31T00:00Z; values below 0x10000000 count
# seconds since the device was switched on. We decode with no fitdecode data processor (its
# per-field hooks cost about a third of the decoding time) and convert the few dates we use.
_FIT_EPOCH = dt.datetime(1989, 12, 31, tzinfo=dt.UTC)
_FIT_DATE_MIN = 0x10000000

# ---------------------------------------------------------------------------------------------
# Sports
# ---------------------------------------------------------------------------------------------

_RUN_SUB = {
    "treadmill": "treadmill_run",
    "indoor_running": "treadmill_run",
    "trail": "trail_run",
    "track": "track_run",
    "virtual_activity": "virtual_run",
}
_SURFACE = {
    "treadmill_run": "treadmill",
    "virtual_run": "treadmill",
    "trail_run": "trail",
    "track_run": "track",
}
_CROSS_SUB = {
    "strength_training": "strength",
    "yoga": "yoga",
    "pilates": "yoga",
    "flexibility_training": "yoga",
    "breathing": "yoga",
    "elliptical": "elliptical",
    "indoor_rowing": "rowing",
    "indoor_walking": "walk",
}
_CROSS = {
    "cycling": "ride",
    "e_biking": "ride",
    "walking": "walk",
    "hiking": "hike",
    "mountaineering": "hike",
    "snowshoeing": "hike",
    "swimming": "swim",
    "rowing": "rowing",
    "cross_country_skiing": "ski",
    "alpine_skiing": "ski",
    "snowboarding": "ski",
    "training": "workout",
    "fitness_equipment": "workout",
    "hiit": "workout",
    "boxing": "workout",
    "mixed_martial_arts": "workout",
    "dance": "workout",
    "jump_rope": "workout",
    "floor_climbing": "workout",
}


def fit_sport(sport: object, sub_sport: object = None) -> str:
    """Our sport name for a FIT ``sport``/``sub_sport`` pair (unknown ones become "other")."""
    if sport == "running" or (
        sport == "fitness_equipment" and sub_sport in ("treadmill", "indoor_running")
    ):
        return _RUN_SUB.get(str(sub_sport), "run") if sport == "running" else "treadmill_run"
    if sport in ("cycling", "e_biking") and sub_sport in (
        "virtual_activity",
        "indoor_cycling",
        "spin",
    ):
        return "virtual_ride"
    if isinstance(sub_sport, str) and sub_sport in _CROSS_SUB:
        return _CROSS_SUB[sub_sport]
    return _CROSS.get(str(sport), "other")


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Scan:
    """The few messages we need, collected in one pass over the file."""

    file_id: Any = None
    sport: Any = None
    activity: Any = None
    sessions: list[Any] = dataclasses.field(default_factory=list)
    laps: list[Any] = dataclasses.field(default_factory=list)
    first_record: Any = None
    last_records: collections.deque[Any] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=32)
    )
    #: Why decoding stopped early, when what came before may still be used.
    problem: str | None = None
    #: True when the data turned undecodable part-way: only a session read before then counts.
    garbled: bool = False


@dataclasses.dataclass(slots=True)
class _Summary:
    """What one session (or its stand-in from laps or records) says about the activity."""

    start: dt.datetime | None
    sport: object
    sub_sport: object
    distance_m: float | None
    moving_s: float | None
    elapsed_s: float | None
    ascent_m: float | None = None
    avg_hr: float | None = None
    max_hr: float | None = None
    cadence_per_foot: float | None = None


def _scan(data: bytes, name: str) -> _Scan:
    import fitdecode  # here, not at the top: loading the plugin (`stridewise --help`) stays cheap

    data_frame, header_frame, crc_frame = (
        fitdecode.FIT_FRAME_DATA,
        fitdecode.FIT_FRAME_HEADER,
        fitdecode.FIT_FRAME_CRC,
    )
    scan = _Scan()
    sessions, laps, tail = scan.sessions, scan.laps, scan.last_records
    part_start = declared_end = parts = 0
    reader = fitdecode.FitReader(
        data,
        processor=None,
        check_crc=fitdecode.CrcCheck.RAISE,
        error_handling=fitdecode.ErrorHandling.IGNORE,
    )
    try:
        for frame in reader:
            kind = frame.frame_type
            if kind == data_frame:
                num = frame.def_mesg.global_mesg_num
                if num == _RECORD:
                    if scan.first_record is None:
                        scan.first_record = frame
                    tail.append(frame)
                elif num == _SESSION:
                    sessions.append(frame)
                elif num == _LAP:
                    laps.append(frame)
                elif num == _FILE_ID:
                    if scan.file_id is None:
                        _check_file_type(frame, name)
                        scan.file_id = frame
                elif num == _ACTIVITY:
                    if scan.activity is None:
                        scan.activity = frame
                elif num == _SPORT and scan.sport is None:
                    scan.sport = frame
            elif kind == header_frame:
                parts += 1
                declared_end = part_start + frame.header_size + frame.body_size
            elif kind == crc_frame:
                part_start = declared_end + 2
    except InputError:
        raise
    except fitdecode.FitCRCError as exc:
        where = "header" if "header" in str(exc) else "data"
        raise InputError(
            f"CRC mismatch in the FIT {where}{_part(parts)}: the file is damaged",
            file=name,
        ) from None
    except fitdecode.FitHeaderError as exc:
        if "truncated" in str(exc):
            raise InputError(
                f"truncated: the file ends inside a FIT header{_part(parts + 1)}", file=name
            ) from None
        reason = "no '.FIT' signature" if "not a FIT file" in str(exc) else str(exc)
        raise InputError(
            f"corrupt FIT header at byte {part_start}{_part(parts + 1)}: {reason}", file=name
        ) from None
    except fitdecode.FitEOFError as exc:
        if len(data) < declared_end:
            raise InputError(
                f"truncated: the file ends at byte {len(data)} but its FIT header"
                f"{_part(parts)} declares {declared_end + 2} bytes (copy it again from the "
                "device)",
                file=name,
            ) from None
        if exc.offset < declared_end:
            raise InputError(
                f"damaged FIT data{_part(parts)}: a message at byte {exc.offset} runs past the "
                "end of the file",
                file=name,
            ) from None
        scan.problem = f"unfinished: the last message runs past the end at byte {exc.offset}"
    except Exception as exc:  # fitdecode raises many kinds on garbage (asserts, KeyError...)
        offset = getattr(exc, "offset", None)
        at = f" at byte {offset}" if isinstance(offset, int) else ""
        scan.problem = f"undecodable FIT data{at} ({type(exc).__name__}: {exc})"
        scan.garbled = True
    finally:
        reader.close()
    return scan


def _part(parts: int) -> str:
    return f" (chained FIT file no. {parts})" if parts > 1 else ""


def _check_file_type(file_id: Any, name: str) -> None:
    kind = file_id.get_value("type", fallback=None)
    if kind not in _ACTIVITY_FILE_TYPES:
        what = _FILE_TYPE_WORDS.get(str(kind), f"a FIT file of type {kind!r}")
        raise InputError(f"not an activity file: it is {what}", file=name)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def _value(msg: Any, field: str) -> Any:
    return msg.get_value(field, fallback=None)


def _num(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _date(value: object) -> dt.datetime | None:
    """A FIT ``date_time`` as a UTC datetime; None for relative times (< 0x10000000)."""
    if isinstance(value, int) and not isinstance(value, bool) and _FIT_DATE_MIN <= value < 2**32:
        return _FIT_EPOCH + dt.timedelta(seconds=value)
    return None


def _within(value: float | None, lo: float, hi: float) -> float | None:
    return value if value is not None and lo <= value <= hi else None


def _weighted(pairs: Iterable[tuple[float | None, float | None]]) -> float | None:
    """Mean of values weighted by durations, over the pairs where both are known."""
    total = weight = 0.0
    for value, seconds in pairs:
        if value is not None and seconds:
            total += value * seconds
            weight += seconds
    return total / weight if weight else None


def _cadence(msg: Any) -> float | None:
    # avg_running_cadence is the running sub-field of avg_cadence: asking for avg_cadence
    # finds either.
    whole = _num(_value(msg, "avg_cadence"))
    if whole is None:
        return None
    return whole + (_num(_value(msg, "avg_fractional_cadence")) or 0.0)


def _from_session(msg: Any) -> _Summary:
    elapsed = _num(_value(msg, "total_elapsed_time"))
    start = _date(_value(msg, "start_time"))
    end = _date(_value(msg, "timestamp"))
    if start is None and end is not None and elapsed is not None and 0 <= elapsed < 1e8:
        start = end - dt.timedelta(seconds=elapsed)
    moving = _num(_value(msg, "total_moving_time"))
    return _Summary(
        start=start,
        sport=_value(msg, "sport"),
        sub_sport=_value(msg, "sub_sport"),
        distance_m=_num(_value(msg, "total_distance")),
        moving_s=moving if moving is not None else _num(_value(msg, "total_timer_time")),
        elapsed_s=elapsed,
        ascent_m=_num(_value(msg, "total_ascent")),
        avg_hr=_num(_value(msg, "avg_heart_rate")),
        max_hr=_num(_value(msg, "max_heart_rate")),
        cadence_per_foot=_cadence(msg),
    )


def _from_laps(laps: list[Any], scan: _Scan) -> _Summary:
    start = _date(_value(laps[0], "start_time"))
    end = _date(_value(laps[-1], "timestamp"))
    timers = [_num(_value(lap, "total_timer_time")) for lap in laps]
    elapsed = (end - start).total_seconds() if start and end else None
    if elapsed is None:
        elapsed = sum(_num(_value(lap, "total_elapsed_time")) or 0.0 for lap in laps) or None
    hr = [_num(_value(lap, "max_heart_rate")) for lap in laps]
    ascents = [_num(_value(lap, "total_ascent")) for lap in laps]
    sport, sub = _value(laps[0], "sport"), _value(laps[0], "sub_sport")
    if sport is None and scan.sport is not None:
        sport, sub = _value(scan.sport, "sport"), _value(scan.sport, "sub_sport")
    return _Summary(
        start=start,
        sport=sport,
        sub_sport=sub,
        distance_m=sum(_num(_value(lap, "total_distance")) or 0.0 for lap in laps),
        moving_s=sum(t or 0.0 for t in timers) or None,
        elapsed_s=elapsed,
        ascent_m=sum(a for a in ascents if a is not None) if any(ascents) else None,
        avg_hr=_weighted(
            (_num(_value(lap, "avg_heart_rate")), t) for lap, t in zip(laps, timers, strict=True)
        ),
        max_hr=max((h for h in hr if h is not None), default=None),
        cadence_per_foot=_weighted((_cadence(lap), t) for lap, t in zip(laps, timers, strict=True)),
    )


def _last_date(records: Iterable[Any]) -> dt.datetime | None:
    for record in reversed(list(records)):
        if (when := _date(_value(record, "timestamp"))) is not None:
            return when
    return None


def _from_records(scan: _Scan) -> _Summary:
    start = _date(_value(scan.first_record, "timestamp"))
    end = _last_date(scan.last_records)
    distance = _records_distance(scan)
    source = scan.sport if scan.sport is not None else (scan.laps[0] if scan.laps else None)
    return _Summary(
        start=start,
        sport=_value(source, "sport") if source is not None else None,
        sub_sport=_value(source, "sub_sport") if source is not None else None,
        distance_m=distance,
        moving_s=None,
        elapsed_s=(end - start).total_seconds() if start and end else None,
    )


def _laps_cover_records(scan: _Scan) -> bool:
    if scan.first_record is None:
        return True
    lap_end = _date(_value(scan.laps[-1], "timestamp"))
    last = _last_date(scan.last_records)
    return lap_end is not None and (last is None or lap_end >= last - dt.timedelta(seconds=60))


def _pick_session(sessions: list[Any]) -> Any:
    """The first running session, else the first that is not a multisport transition."""
    sports = [_value(s, "sport") for s in sessions]
    if "running" in sports:
        return sessions[sports.index("running")]
    legs = [s for s, sport in zip(sessions, sports, strict=True) if sport != "transition"]
    return (legs or sessions)[0]


def _laps_distance(laps: list[Any]) -> float | None:
    found = [d for lap in laps if (d := _num(_value(lap, "total_distance"))) is not None]
    return sum(found) if found else None


def _records_distance(scan: _Scan) -> float | None:
    for record in reversed(scan.last_records):  # the distance field is cumulative
        if (distance := _num(_value(record, "distance"))) is not None:
            return distance
    return None


def _distance_fallback(scan: _Scan, summary: _Summary) -> str | None:
    """Fill a session's missing (or zero) distance from its laps, else its records.

    Returns the note saying where the distance came from, or None if the session's own
    distance stands. Laps are used only for a single-session file (in a multisport file the
    laps belong to several legs).
    """
    if summary.distance_m:  # a distance the device wrote itself
        return None
    missing = "no total distance" if summary.distance_m is None else "a total distance of 0"
    laps = _laps_distance(scan.laps) if len(scan.sessions) == 1 else None
    if laps:
        summary.distance_m = laps
        return f"distance {laps / 1000:.2f} km from the laps (the session has {missing})"
    records = _records_distance(scan) if len(scan.sessions) == 1 else None
    if records:
        summary.distance_m = records
        return (
            f"distance {records / 1000:.2f} km from the recorded track points (the session "
            f"has {missing}, and the laps none)"
        )
    return None


def _summary(scan: _Scan, name: str) -> _Summary:
    if scan.sessions:
        return _from_session(_pick_session(scan.sessions))
    if scan.garbled:  # laps and records before damage would give a silently partial activity
        raise InputError(f"{scan.problem}, before the activity summary", file=name)
    if scan.laps and _laps_cover_records(scan):
        return _from_laps(scan.laps, scan)
    if scan.first_record is not None:
        return _from_records(scan)
    if scan.problem:
        raise InputError(f"{scan.problem}, before any activity data", file=name)
    raise InputError("no activity data (no session, lap or record messages)", file=name)


def _utc_offset(activity: Any) -> int:
    if activity is None:
        return 0
    utc = _date(_value(activity, "timestamp"))
    local = _date(_value(activity, "local_timestamp"))
    if utc is None or local is None:
        return 0
    offset = round((local - utc).total_seconds() / 900) * 900
    return offset if abs(offset) <= _MAX_OFFSET_S else 0


def _device(file_id: Any) -> str | None:
    if file_id is None:
        return None
    maker = _value(file_id, "manufacturer")
    product = _value(file_id, "product_name") or _value(file_id, "product")
    maker_s = str(maker) if isinstance(maker, str) else None
    if isinstance(product, str) and maker_s and maker_s.lower() in product.lower():
        return product
    parts = [p for p in (maker_s, None if product is None else str(product)) if p]
    return " ".join(parts) or None


def _identity(file_id: Any, start: dt.datetime, name: str) -> tuple[str, str]:
    """(event id, source id): from the file_id serial and creation time, else the start."""
    created = _date(_value(file_id, "time_created")) if file_id is not None else None
    if created is not None:
        serial = _value(file_id, "serial_number")
        created_s = created.isoformat().replace("+00:00", "Z")
        source_id = f"{serial}/{created_s}" if serial is not None else created_s
        return stable_id("fit", serial, created_s), source_id
    return stable_id("fit", "start", start), name.replace("\\", "/").rpartition("/")[2]


def _event(scan: _Scan, name: str, notes: list[str]) -> Run | CrossTraining:
    s = _summary(scan, name)
    if scan.sessions and (said := _distance_fallback(scan, s)) is not None:
        notes.append(said)
    if s.start is None:
        raise InputError(
            "no usable start time: the device recorded only seconds since it was switched "
            "on, not a date",
            file=name,
        )
    sport = fit_sport(s.sport, s.sub_sport)
    event_id, source_id = _identity(scan.file_id, s.start, name)
    common: dict[str, Any] = {
        "id": event_id,
        "source": "fit",
        "start": s.start,
        "utc_offset_s": _utc_offset(scan.activity),
        "sport": sport,
        "avg_hr_bpm": _within(s.avg_hr, 25, 250),
        "source_id": source_id,
        "device": _device(scan.file_id),
    }
    if sport in RUN_SPORTS:
        cadence = 2 * s.cadence_per_foot if s.cadence_per_foot is not None else None
        surface = _SURFACE.get(sport) or ("road" if s.sub_sport in ("street", "road") else None)
        payload = {
            **common,
            "kind": "run",
            "distance_m": s.distance_m or 0.0,
            "moving_time_s": s.moving_s,
            "elapsed_time_s": s.elapsed_s,
            "elevation_gain_m": _within(s.ascent_m, 0, 20000),
            "cadence_spm": _within(cadence, 100, 260),
            "max_hr_bpm": _within(s.max_hr, 25, 250),
            "surface": surface,
        }
    else:
        duration = s.moving_s if s.moving_s is not None else s.elapsed_s
        if duration is None:
            raise InputError("the activity has no duration", file=name)
        payload = {**common, "kind": "cross_training", "duration_s": duration}
        payload["distance_m"] = s.distance_m
    try:
        event = load_event(payload)
    except InputError as exc:
        raise exc.located(file=name) from None
    assert isinstance(event, Run | CrossTraining)
    return event


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def parse_fit(data: bytes, name: str) -> Run | CrossTraining:
    """Read one FIT activity (plain or gzipped bytes) into a Run or CrossTraining event.

    Raises :class:`InputError` naming ``name`` and the problem for anything unusable.
    """
    return read_fit(data, name)[0]


def read_fit(data: bytes, name: str) -> tuple[Run | CrossTraining, list[str]]:
    """Like :func:`parse_fit`, with the notes on what had to be decided (where the distance
    came from when the session has none)."""
    data = unwrap(data, name)
    if not data:
        raise InputError("empty file", file=name)
    kind = sniff(data[:4096])
    if kind != "fit":
        looks = f"; it looks like {describe(kind)}" if kind else ""
        if len(data) < 12:
            raise InputError(f"not a FIT file (only {len(data)} bytes)", file=name)
        raise InputError(f"not a FIT file (no '.FIT' signature in its header{looks})", file=name)
    scan = _scan(data, name)
    notes: list[str] = []
    try:
        return _event(scan, name, notes), notes
    except InputError:
        raise
    except Exception as exc:  # odd values from a damaged file (overflowing dates...)
        raise InputError(
            f"implausible values in the FIT data ({type(exc).__name__}: {exc})", file=name
        ) from None


ADAPTER = NotedFileAdapter(
    name="fit",
    description="FIT activity files from watches and bike computers (.fit, .fit.gz)",
    format="fit",
    parse=parse_fit,
    read_noted=read_fit,
)


@hookimpl
def stridewise_register_adapters(register: Callable[[Adapter], None]) -> None:
    """Register the FIT adapter."""
    register(ADAPTER)
