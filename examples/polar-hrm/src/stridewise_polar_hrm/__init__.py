"""A stridewise adapter for Polar HRM files (``.hrm``).

Polar's training software (Polar Precision Performance, ProTrainer) saves each recording of
a Polar heart rate monitor (S410, S610, S625X, S710, S725, RS800 and others) as a plain-text
HRM file, described by Polar in "Polar HRM2 File Format Description" (version 1.4, 2009):

- ``[Params]``: ``Version``, ``Monitor`` (the model), ``SMode`` (which columns were recorded,
  and whether units are metric or US), ``Date``, ``StartTime`` and ``Length`` (local time),
  ``Interval`` (seconds between samples; 238 means beat-to-beat intervals);
- ``[Trip]`` (with a speed sensor): distance (0.1 km or 0.1 mile), ascent (m or ft), ...;
- ``[HRData]``: one row per sample: heart rate, then speed (0.1 km/h or 0.1 mph), cadence,
  altitude, power... as ``SMode`` says.

An HRM file does not name the sport. The adapter takes it from ``--sport``
(:func:`stridewise.plugins.read_hints`), else from the file: cycling data recorded
(``SMode`` 7th digit) means a ride, a speed sensor without it a run, and says so in a
:class:`~stridewise.plugins.Note`. A recording with neither distance nor sport is skipped
with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

from stridewise.plugins import (
    RUN_SPORTS,
    Adapter,
    Event,
    InputError,
    Note,
    Skipped,
    head_of,
    hookimpl,
    load_event,
    read_hints,
    stable_id,
)

__version__ = "1.0.0"
SOURCE = "polar_hrm"
#: HRM versions this adapter reads (1.05, 1.06, 1.07).
VERSIONS = ("105", "106", "107")
#: Largest HRM file read (a 24-hour recording at 1 s with every column is about 6 MB).
MAX_BYTES = 32 * 1024 * 1024
_MILE_M = 1609.344
_FOOT_M = 0.3048
_RR_INTERVAL = 238  # Interval=238: [HRData] holds beat-to-beat intervals in ms


def _monitors() -> dict[str, str]:
    text = files(__package__).joinpath("monitors.json").read_text(encoding="utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


class PolarHrmAdapter:
    """Reads one Polar HRM file into one run or cross-training session."""

    name = "polar_hrm"
    description = "Polar HRM files (.hrm) from Polar heart rate monitors and training software"

    def recognise(self, path: Path) -> bool:
        """An HRM file starts with ``[Params]`` and a ``Version=1xx`` line (first 512 bytes)."""
        head = head_of(path, 512).lstrip(b"\xef\xbb\xbf \t\r\n")
        return head.startswith(b"[Params]") and b"Version=1" in head

    def read(self, path: Path) -> Iterator[Event | Skipped | Note]:
        name = str(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise InputError(f"cannot read the file ({exc.strerror})", file=name) from None
        if size > MAX_BYTES:
            raise InputError(f"larger than {MAX_BYTES // 2**20} MB: not an HRM file", file=name)
        text = path.read_bytes().decode("latin-1")  # Polar's Windows software wrote ANSI text
        try:
            yield from _session(_sections(text), path)
        except InputError as exc:
            raise exc.located(file=name) from None


def _sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif current is not None and line:
            current.append(line)
    return sections


def _params(sections: dict[str, list[str]]) -> dict[str, str]:
    if "Params" not in sections:
        raise InputError("no [Params] section: not a Polar HRM file")
    out = {}
    for line in sections["Params"]:
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    for key in ("Version", "Date", "StartTime", "Length", "Interval"):
        if not out.get(key):
            raise InputError(f"[Params] has no {key}=", field=key)
    if out["Version"] not in VERSIONS:
        raise InputError(
            f"HRM version {out['Version']} is not supported (reads {', '.join(VERSIONS)})",
            field="Version",
        )
    return out


def _clock(text: str, field: str) -> dt.timedelta:
    """``h:mm:ss.d`` (``StartTime``, ``Length``)."""
    try:
        h, m, s = text.split(":")
        return dt.timedelta(hours=int(h), minutes=int(m), seconds=float(s))
    except ValueError:
        raise InputError(f"{text!r} is not a time (h:mm:ss.d)", field=field) from None


def _start(params: dict[str, str]) -> dt.datetime:
    try:
        day = dt.datetime.strptime(params["Date"], "%Y%m%d")
    except ValueError:
        raise InputError(f"{params['Date']!r} is not a date (YYYYMMDD)", field="Date") from None
    local = day + _clock(params["StartTime"], "StartTime")
    zone = read_hints().tz
    try:
        return local.replace(tzinfo=zoneinfo.ZoneInfo(zone)) if zone else local.astimezone()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone {zone!r} (--tz)") from None


def _rows(sections: dict[str, list[str]], width: int) -> list[list[int]]:
    rows = []
    for n, line in enumerate(sections.get("HRData", []), start=1):
        try:
            values = [int(v) for v in line.split()]
        except ValueError:
            raise InputError(f"[HRData] row {n} is not numbers: {line[:40]!r}") from None
        if len(values) < width:
            raise InputError(f"[HRData] row {n} has {len(values)} values, SMode says {width}")
        rows.append(values)
    return rows


def _session(sections: dict[str, list[str]], path: Path) -> Iterator[Event | Skipped | Note]:
    params = _params(sections)
    smode = params.get("SMode", "0" * 8).ljust(9, "0")
    has_speed, cycling, us_units = smode[0] == "1", smode[6] == "1", smode[7] == "1"
    width = 1 + sum(smode[i] == "1" for i in range(5)) + (smode[8] == "1")  # HR + columns
    try:
        interval = int(params["Interval"])
    except ValueError:
        raise InputError(f"{params['Interval']!r} is not a number", field="Interval") from None
    start = _start(params)
    duration_s = _clock(params["Length"], "Length").total_seconds()
    if duration_s <= 0:
        yield Skipped(str(path), "the recording lasts 0 seconds")
        return
    rows = _rows(sections, width)
    trip = [int(v) for v in sections.get("Trip", []) if v.lstrip("-").isdigit()]

    distance_m: float | None = None
    if trip and trip[0] > 0:
        distance_m = trip[0] * 100.0 * (_MILE_M / 1000 if us_units else 1.0)
    elif has_speed and rows and interval != _RR_INTERVAL:  # integrate 0.1 km/h (or mph)
        tenth_units = sum(r[1] for r in rows) * interval / 3600.0
        distance_m = tenth_units * 100.0 * (_MILE_M / 1000 if us_units else 1.0) or None
    ascent_m = trip[1] * (_FOOT_M if us_units else 1.0) if len(trip) > 1 and trip[1] > 0 else None

    heart = [r[0] for r in rows if r[0] > 0]
    avg_hr: float | None
    max_hr: float | None
    if interval == _RR_INTERVAL and heart:
        avg_hr, max_hr = 60000.0 / (sum(heart) / len(heart)), 60000.0 / min(heart)
    elif heart:
        avg_hr, max_hr = sum(heart) / len(heart), float(max(heart))
    else:
        avg_hr = max_hr = None

    monitor = params.get("Monitor", "")
    device = _monitors().get(monitor, f"Polar monitor {monitor}" if monitor else None)
    key = stable_id(SOURCE, params["Date"], params["StartTime"], params["Length"], monitor)

    sport, why = _sport(read_hints().sport, has_speed=distance_m is not None, cycling=cycling)
    if sport is None:
        yield Skipped(str(path), why)
        return
    common: dict[str, Any] = {
        "id": key,
        "source": SOURCE,
        "source_id": path.name,
        "start": start.isoformat(),
        "avg_hr_bpm": round(avg_hr, 1) if avg_hr else None,
        "device": device,
    }
    event: Event
    if sport in RUN_SPORTS:
        if distance_m is None:
            yield Skipped(str(path), "a run needs a distance; this recording has no speed sensor")
            return
        event = load_event(
            {
                **common,
                "kind": "run",
                "sport": sport,
                "distance_m": round(distance_m, 1),
                "elapsed_time_s": duration_s,
                "max_hr_bpm": max_hr,
                "elevation_gain_m": ascent_m,
            }
        )
    else:
        event = load_event(
            {
                **common,
                "kind": "cross_training",
                "sport": sport,
                "duration_s": duration_s,
                "distance_m": round(distance_m, 1) if distance_m else None,
            }
        )
    yield event
    if why:
        yield Note(str(path), why, event.id)


def _sport(hint: str | None, *, has_speed: bool, cycling: bool) -> tuple[str | None, str]:
    """(sport, note) from ``--sport`` or the file; (None, reason) when it cannot say."""
    unnamed = "(HRM files do not name the sport; set it with --sport)"
    if hint:
        return hint, ""
    if cycling and has_speed:
        return "ride", f"sport taken as a ride: the file holds cycling data {unnamed}"
    if has_speed:
        return "run", f"sport taken as a run: a speed sensor and no cycling data {unnamed}"
    return None, (
        "heart-rate-only recording: no distance and no sport in the file; "
        "import it with --sport (e.g. --sport swim) or log the session in your journal"
    )


ADAPTER: Adapter = PolarHrmAdapter()


@hookimpl
def stridewise_register_adapters(register: Callable[[Adapter], None]) -> None:
    """Register the Polar HRM adapter."""
    register(ADAPTER)
