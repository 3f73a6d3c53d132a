"""Strava bulk export: the zip from "Download or Delete Your Account", or its unpacked folder.

What is read
    ``activities.csv`` (at the root, or one folder down), ``shoes.csv`` and ``bikes.csv``; the
    linked activity file (``activities/NNN.fit.gz`` ...) only when the CSV lacks something a
    run needs (see :func:`needs_file`).

Header layouts understood (checked against public samples, see ``tests/data/ORIGIN.md``)
    * English, 2019 onwards: ``Activity ID,Activity Date,...``. Since about 2020 it has 80-99
      columns with duplicated names, read by position: the first ``Distance`` is in the
      user's unit (km or mi; metres or yards for swims), the later one in metres; the first
      ``Elapsed Time`` is rounded, the later one raw seconds. A short-lived 10-column variant
      (mid-2019) has only the user-unit distance.
    * German (``Aktivitäts-ID,Aktivitätsdatum,...``): headers mapped to English with the real
      mapping shipped as ``strava_headers_de.json`` (same column order); day-first dates
      (``29.05.2022, 15:53:35`` or ``29. Mai 2022, 15:53:35``), decimal commas, German type
      names (``Lauf``, ``Radfahrt`` ...).
    * The lowercase export before mid-2019: ``id,date,name,type,description,elapsed_time,
      distance,commute,gear,filename``: ISO dates (UTC), distance in metres.

    Any other language is refused with an InputError naming the first header not understood.

Units and time
    ``Activity Date`` is UTC and the CSV does not say the local offset. ``utc_offset_s`` is
    the linked activity file's offset when that file was opened and states one (not 0), else
    the home time zone's offset at that moment (``--tz``, else this computer's zone; see
    :func:`home_offset_s`). Strava's ``Average Cadence`` for runs is per foot: it is
    doubled to steps per minute. A distance whose unit cannot be established (the user-unit
    column with no metres column and no speed to check it against) is never guessed: the
    linked file is read instead, and the row is skipped if there is none.

Activity types
    English and German names map to our sports (:func:`sport_of`); anything not a run is a
    :class:`CrossTraining`, unknown types as ``other``. Strava has no treadmill type and the CSV
    no trainer flag: a ``Run`` becomes a treadmill run only when its linked file, if it had to
    be read, says so.

Each bad row becomes a :class:`~stridewise.plugins.hookspecs.Skipped` naming ``activities.csv``
and the row (the header is row 1, as a spreadsheet shows it), and the import goes on.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import importlib
import json
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from stridewise.engine.errors import EventValidationError, InputError
from stridewise.engine.events import (
    RUN_SPORTS,
    CrossTraining,
    Event,
    Run,
    Shoe,
    load_event,
    stable_id,
)
from stridewise.plugins.hookspecs import Adapter, Skipped, hookimpl

from .archive import Tree, is_zip, open_tree
from .common import MAX_BYTES

__all__ = [
    "OPTIONAL_FIELDS",
    "SOURCE",
    "StravaAdapter",
    "events_only",
    "home_offset_s",
    "load_lenient",
    "locate",
    "needs_file",
    "parse_activity_file",
    "parse_date",
    "parse_number",
    "skipped_only",
    "sport_of",
    "stridewise_register_adapters",
]

SOURCE = "strava"
CSV_NAME = "activities.csv"
_HEADERS_DE_FILE = Path(__file__).with_name("strava_headers_de.json")

#: The lowercase header of exports before mid-2019 (hugovk/strava-tools#2 shows one).
_OLD_HEADER = (
    "id",
    "date",
    "name",
    "type",
    "description",
    "elapsed_time",
    "distance",
    "commute",
    "gear",
    "filename",
)
_OLD_TO_EN = {
    "id": "Activity ID",
    "date": "Activity Date",
    "name": "Activity Name",
    "type": "Activity Type",
    "description": "Activity Description",
    "elapsed_time": "Elapsed Time",
    "distance": "Distance",
    "commute": "Commute",
    "gear": "Activity Gear",
    "filename": "Filename",
}
#: Columns newer than the German mapping, seen in English exports (kept so they are "known").
_EN_EXTRA = ("With Kid", "Downhill Distance", "Total Sets", "Total Reps", "Media")
_FOOT_SPORTS = frozenset({*RUN_SPORTS, "walk", "hike"})
_LINKED_SUFFIXES = (".fit", ".tcx", ".gpx")


@functools.cache
def _headers_de() -> dict[str, str]:
    """German -> English column names (the mapping geo-activity-playground maintains)."""
    try:
        raw = json.loads(_HEADERS_DE_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"this installation lacks a readable {_HEADERS_DE_FILE.name} (package data), "
            f"needed for German Strava exports: {exc}"
        ) from None
    return {str(k): str(v) for k, v in raw.items() if k != "NaN"}


@functools.cache
def _headers_en() -> frozenset[str]:
    return frozenset(_headers_de().values()) | frozenset(_EN_EXTRA)


# ---------------------------------------------------------------------------------------------
# Activity types
# ---------------------------------------------------------------------------------------------

_SPORTS: dict[str, str] = {}


def _add_sports(sport: str, *names: str) -> None:
    for name in names:
        _SPORTS[_type_key(name)] = sport


def _type_key(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


# English (Strava's display names; the API's CamelCase forms normalise to the same keys).
_add_sports("run", "Run")
_add_sports("trail_run", "Trail Run")
_add_sports("virtual_run", "Virtual Run")
_add_sports("walk", "Walk", "Wheelchair")
_add_sports("hike", "Hike", "Snowshoe")
_add_sports(
    "ride",
    "Ride",
    "Mountain Bike Ride",
    "Gravel Ride",
    "E-Bike Ride",
    "E-Mountain Bike Ride",
    "Handcycle",
    "Velomobile",
)
_add_sports("virtual_ride", "Virtual Ride")
_add_sports("swim", "Swim")
_add_sports("workout", "Workout", "HIIT", "Stair-Stepper", "Pilates")
_add_sports("strength", "Weight Training", "Crossfit")
_add_sports("yoga", "Yoga")
_add_sports("elliptical", "Elliptical")
_add_sports("rowing", "Rowing", "Virtual Row")
_add_sports("ski", "Nordic Ski", "Alpine Ski", "Backcountry Ski", "Roller Ski", "Snowboard")
# German (as Strava's German interface and exports name them; several spellings are in use).
_add_sports("run", "Lauf", "Laufen")
_add_sports("trail_run", "Traillauf", "Trailrun", "Trailrunning")
_add_sports("virtual_run", "Virtueller Lauf")
_add_sports("walk", "Spaziergang", "Gehen", "Rollstuhl")
_add_sports("hike", "Wanderung", "Wandern", "Schneeschuhwandern")
_add_sports(
    "ride",
    "Radfahrt",
    "Radfahren",
    "Mountainbike-Fahrt",
    "Mountainbike",
    "Gravel-Fahrt",
    "Gravel-Radfahrt",
    "E-Bike-Fahrt",
    "E-Bike-Radfahrt",
    "E-Mountainbike-Fahrt",
    "Handbike",
    "Velomobil",
)
_add_sports("virtual_ride", "Virtuelle Radfahrt", "Virtuelle Ausfahrt")
_add_sports("swim", "Schwimmen")
_add_sports("workout", "Training", "Treppensteigen", "Stepper")
_add_sports("strength", "Krafttraining", "Gewichtstraining")
_add_sports("elliptical", "Crosstrainer", "Ellipsentrainer")
_add_sports("rowing", "Rudern", "Virtuelles Rudern")
_add_sports("ski", "Skilanglauf", "Langlauf", "Ski Alpin", "Alpinski", "Skitour", "Rollski")


def sport_of(activity_type: str) -> str:
    """Our sport for a Strava activity type (English or German); ``other`` if unknown."""
    return _SPORTS.get(_type_key(activity_type), "other")


# ---------------------------------------------------------------------------------------------
# Numbers and dates
# ---------------------------------------------------------------------------------------------

_EN_PLAIN = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_EN_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DE_PLAIN = re.compile(r"[+-]?\d+(?:,\d+)?")
_DE_GROUPED = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_DE_POINT = re.compile(r"[+-]?\d+\.\d+(?:[eE][+-]?\d+)?")


def parse_number(text: str, *, decimal_comma: bool) -> float | None:
    """A number as Strava writes it (``None`` for an empty cell); ValueError if unreadable.

    English: ``1428``, ``3322.95``, ``1,500``. German: ``3,32``, ``1.234,5`` and raw floats with
    a point (``3322.949951171875``). A German ``1.500`` could be 1500 or 1.5 and is refused.
    """
    text = text.strip().replace("\u00a0", "").replace("\u202f", "")
    if not text:
        return None
    if not decimal_comma:
        if _EN_PLAIN.fullmatch(text):
            value = float(text)
        elif _EN_GROUPED.fullmatch(text):
            value = float(text.replace(",", ""))
        else:
            raise ValueError(f"{text!r} is not a number")
    elif _DE_PLAIN.fullmatch(text):
        value = float(text.replace(",", "."))
    elif _DE_GROUPED.fullmatch(text):
        if "," not in text:
            raise ValueError(
                f"{text!r} is ambiguous in a German export (thousands separator or decimal point?)"
            )
        value = float(text.replace(".", "").replace(",", "."))
    elif _DE_POINT.fullmatch(text):
        value = float(text)
    else:
        raise ValueError(f"{text!r} is not a number")
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


_MONTHS_EN = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for m in names
}
_MONTHS_DE = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "januar", "jän", "jänner"),
            ("feb", "februar"),
            ("mär", "märz", "mrz"),
            ("apr", "april"),
            ("mai",),
            ("jun", "juni"),
            ("jul", "juli"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("okt", "oktober"),
            ("nov", "november"),
            ("dez", "dezember"),
        ]
    )
    for m in names
}
_TIME = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T]" + _TIME + r"(?:\.\d+)?(?:Z|[+-]00:?00)?")
_EN_DATE = re.compile(
    r"([A-Za-z]{3,9})\.? (\d{1,2}), (\d{4}),? " + _TIME + r"(?: ?([AaPp])\.?[Mm]\.?)?"
)
_DE_NUMERIC = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4}),? " + _TIME)
_DE_LONG = re.compile(r"(\d{1,2})\. ?([^\W\d_]{3,9})\.? (\d{4}),? " + _TIME)


def parse_date(text: str, *, language: str) -> dt.datetime | None:
    """``Activity Date`` as an aware UTC datetime, or None if it is not a date we read."""
    text = " ".join(text.split())
    try:
        if m := _ISO_DATE.fullmatch(text):
            y, mo, d, h, mi, s = m.groups()
            return _utc(int(y), int(mo), int(d), int(h), int(mi), s)
        if language == "de":
            if m := _DE_NUMERIC.fullmatch(text):
                d, mo, y, h, mi, s = m.groups()
                return _utc(int(y), int(mo), int(d), int(h), int(mi), s)
            if m := _DE_LONG.fullmatch(text):
                d, name, y, h, mi, s = m.groups()
                month = _MONTHS_DE.get(name.casefold())
                return None if month is None else _utc(int(y), month, int(d), int(h), int(mi), s)
            return None
        if m := _EN_DATE.fullmatch(text):
            name, d, y, h, mi, s, half = m.groups()
            month = _MONTHS_EN.get(name.casefold())
            hour = int(h)
            if half is not None:
                if not 1 <= hour <= 12:
                    return None
                hour = hour % 12 + (12 if half in "Pp" else 0)
            return None if month is None else _utc(int(y), month, int(d), hour, int(mi), s)
    except (ValueError, OverflowError):
        return None
    return None


def _utc(y: int, mo: int, d: int, h: int, mi: int, s: str | None) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, int(s or 0), tzinfo=dt.UTC)


@functools.cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def home_offset_s(start: dt.datetime) -> int:
    """The home time zone's UTC offset at ``start`` (with its daylight saving rules then).

    The zone is the import's ``--tz`` (:class:`stridewise.importer.ReadHints`), else this
    computer's. ``activities.csv`` stores UTC times only; without this, an evening run of a
    runner in UTC-3 would count on the next day.
    """
    from stridewise.importer import read_hints

    name = read_hints().tz
    try:
        local = start.astimezone(_zone(name)) if name else start.astimezone()
    except (OverflowError, OSError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        return 0
    offset = local.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    return seconds if abs(seconds) <= 14 * 3600 else 0


# ---------------------------------------------------------------------------------------------
# Header layout
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Layout:
    """Where each value sits in a row of one header layout, and how values are written."""

    language: str  # "en", "de" or "old"
    width: int
    activity_id: int
    date: int
    type: int
    filename: int | None
    gear: int | None
    distance_m: int | None
    distance_user: int | None
    moving: int | None
    elapsed: tuple[int, ...]  # raw seconds first
    speed: int | None
    elevation_gain: int | None
    cadence: int | None
    avg_hr: int | None
    max_hr: tuple[int, ...]
    rpe: int | None

    @property
    def decimal_comma(self) -> bool:
        return self.language == "de"


def layout_of(header: list[str], *, file: str) -> _Layout:
    """Work out the layout of an ``activities.csv`` header, or raise InputError naming it."""
    cleaned = [h.strip().lstrip("\ufeff").strip() for h in header]
    if [h.lower() for h in cleaned[: len(_OLD_HEADER)]] == list(_OLD_HEADER):
        names, language = [_OLD_TO_EN.get(h.lower(), h) for h in cleaned], "old"
    elif {"Activity ID", "Activity Date", "Activity Type"} <= set(cleaned):
        names, language = cleaned, "en"
    elif {"Aktivitäts-ID", "Aktivitätsdatum", "Aktivitätsart"} <= set(cleaned):
        mapping = _headers_de()
        names, language = [mapping.get(h, h) for h in cleaned], "de"
    else:
        known = _headers_en() | set(_headers_de()) | set(_OLD_HEADER)
        unknown = next((h for h in cleaned if h not in known), cleaned[0] if cleaned else "")
        raise InputError(
            f"unknown column header {unknown!r}: stridewise reads Strava exports in English and "
            "German only. Set Strava's language to English (Settings > Display Preferences), "
            "request the archive again and import the new one",
            file=file,
        )
    where: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        where.setdefault(name, []).append(i)

    def first(name: str) -> int | None:
        return where[name][0] if name in where else None

    distances = where.get("Distance", [])
    elapsed = where.get("Elapsed Time", [])
    if language == "old":
        distance_m, distance_user = first("Distance"), None
    elif len(distances) >= 2:
        distance_m, distance_user = distances[1], distances[0]
    else:
        distance_m, distance_user = None, first("Distance")
    return _Layout(
        language=language,
        width=len(names),
        activity_id=where["Activity ID"][0],
        date=where["Activity Date"][0],
        type=where["Activity Type"][0],
        filename=first("Filename"),
        gear=first("Activity Gear"),
        distance_m=distance_m,
        distance_user=distance_user,
        moving=first("Moving Time"),
        elapsed=tuple(reversed(elapsed)),
        speed=first("Average Speed"),
        elevation_gain=first("Elevation Gain"),
        cadence=first("Average Cadence"),
        avg_hr=first("Average Heart Rate"),
        max_hr=tuple(reversed(where.get("Max Heart Rate", []))),
        rpe=first("Perceived Exertion"),
    )


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------

#: Event fields that may be left out (with a note) when their value fails validation.
OPTIONAL_FIELDS = frozenset(
    {
        "moving_time_s",
        "elapsed_time_s",
        "elevation_gain_m",
        "cadence_spm",
        "avg_hr_bpm",
        "max_hr_bpm",
        "rpe",
        "shoe_id",
        "device",
        "utc_offset_s",
        "surface",
    }
)


def load_lenient(
    data: dict[str, Any],
    *,
    file: str,
    row: int | str | None,
    optional: frozenset[str] = OPTIONAL_FIELDS,
) -> tuple[Event, list[str]]:
    """Validate an event dict; drop ``optional`` fields that fail, saying which (the notes).

    A bad required value (id, start, distance, duration, sport) raises the
    :class:`EventValidationError`, located at ``file``/``row``.
    """
    notes: list[str] = []
    data = dict(data)
    for _ in range(len(optional) + 1):
        try:
            return load_event(data), notes
        except EventValidationError as exc:
            bad = set(exc.messages)
            droppable = {k for k in bad if k in optional and data.get(k) is not None}
            if not droppable or bad - droppable:
                raise exc.located(file=file, row=row) from None
            for key in sorted(droppable):
                problem = " ".join(str(p) for p in exc.messages[key])
                notes.append(f"{key} left out: {problem}")
                data.pop(key)
    raise InputError("event could not be validated", file=file, row=row)  # pragma: no cover


def needs_file(sport: str, *, start: object, distance_m: object, moving: object) -> bool:
    """True when the CSV lacks what the event needs, so the linked activity file must be read.

    A run needs its start, distance and moving time; other sports their start and a duration
    (checked by the caller through ``moving``, which is then moving-or-elapsed time). A missing
    cadence is not a reason.
    """
    if start is None or moving is None:
        return True
    return sport in RUN_SPORTS and distance_m is None


def parse_activity_file(data: bytes, name: str) -> Run | CrossTraining:
    """Parse one linked activity file (already gunzipped) with the FIT/TCX/GPX readers."""
    lower = name.lower().removesuffix(".gz")
    if lower.endswith(".fit"):
        module, func = "fit", "parse_fit"
    elif lower.endswith(".tcx"):
        module, func = "xmlfiles", "parse_tcx"
    elif lower.endswith(".gpx"):
        module, func = "xmlfiles", "parse_gpx"
    else:
        raise InputError("not a FIT, TCX or GPX file", file=name)
    try:
        parser: Callable[[bytes, str], object] = getattr(
            importlib.import_module(f"{__package__}.{module}"), func
        )
    except (ImportError, AttributeError):
        kind = lower.rsplit(".", 1)[-1].upper()
        raise InputError(f"no reader for {kind} files is installed", file=name) from None
    event = parser(data, name)
    if not isinstance(event, Run | CrossTraining):
        raise InputError("the file holds no activity", file=name)
    return event


def _from_file(event: Run | CrossTraining) -> dict[str, Any]:
    """The values a linked file can add to a CSV row."""
    if isinstance(event, Run):
        moving, elapsed = event.moving_time_s, event.elapsed_time_s
        extra = {
            "elevation_gain_m": event.elevation_gain_m,
            "cadence_spm": event.cadence_spm,
            "max_hr_bpm": event.max_hr_bpm,
            "sport": event.sport,
        }
    else:
        moving, elapsed, extra = event.duration_s, None, {}
    return {
        "start": event.start,
        "utc_offset_s": event.utc_offset_s,
        "distance_m": event.distance_m,
        "moving_time_s": moving,
        "elapsed_time_s": elapsed,
        "avg_hr_bpm": event.avg_hr_bpm,
        "device": event.device,
        **extra,
    }


class _RowError(Exception):
    """A row that cannot become an event; the message says why."""


class _Reader:
    """One pass over one export tree."""

    def __init__(self, tree: Tree, csv_name: str) -> None:
        self.tree = tree
        self.csv_name = csv_name
        self.base = csv_name.rsplit("/", 1)[0] + "/" if "/" in csv_name else ""
        self.shoes: dict[str, str] = {}  # shoe name -> id
        self.bikes: set[str] = set()
        self.seen_ids: set[str] = set()

    # -- gear ------------------------------------------------------------------------------------

    def gear_files(self) -> Iterator[Event | Skipped]:
        """Shoe events from ``shoes.csv``; bike names from ``bikes.csv`` (kept out of shoes)."""
        for name, sink in (("bikes.csv", None), ("shoes.csv", self.shoes)):
            path = self.base + name
            if not self.tree.is_file(path):
                continue
            try:
                rows = list(csv.reader(self.tree.open_text(path, errors="replace")))
            except (InputError, csv.Error) as exc:
                yield Skipped(file=name, reason=f"cannot be read: {exc}")
                continue
            for number, row in enumerate(rows[1:], start=2):
                cells = [c.strip() for c in row]
                if not any(cells):
                    continue
                nickname = cells[0]
                model = " ".join(c for c in cells[1:3] if c) or None
                display = nickname or model
                if not display:
                    yield Skipped(file=name, row=number, reason="no name, brand or model")
                elif sink is None:
                    self.bikes.add(display)
                elif display not in self.shoes:
                    try:
                        yield self.shoe(display, model)
                    except InputError as exc:
                        yield Skipped(file=name, row=number, reason=exc.reason)

    def shoe(self, name: str, model: str | None = None) -> Shoe:
        shoe_id = stable_id(SOURCE, "shoe", name)
        event = load_event(
            {"kind": "shoe", "id": shoe_id, "source": SOURCE, "name": name[:200], "model": model}
        )
        self.shoes[name] = shoe_id
        assert isinstance(event, Shoe)
        return event

    def shoe_for(self, gear: str) -> str | None:
        """The id of the shoe named ``gear``, if it is one we know."""
        return self.shoes.get(gear) if gear else None

    # -- activities ------------------------------------------------------------------------------

    def activities(self) -> Iterator[Event | Skipped]:
        file = self.csv_name.rsplit("/", 1)[-1]
        reader = csv.reader(self.tree.open_text(self.csv_name, errors="replace"))
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise InputError(f"header cannot be read ({exc})", file=file, row=1) from None
        if not header:
            raise InputError("is empty: no header row", file=self.tree.where(self.csv_name))
        layout = layout_of(header, file=self.tree.where(self.csv_name))
        number = 1
        while True:
            number += 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Skipped(file=file, row=number, reason=f"not valid CSV ({exc})")
                continue
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != layout.width:
                yield Skipped(
                    file=file,
                    row=number,
                    reason=f"has {len(row)} fields where the header has {layout.width} "
                    "(a broken quote?)",
                )
                continue
            try:
                yield from self.row(row, layout, file, number)
            except _RowError as exc:
                yield Skipped(file=file, row=number, reason=str(exc))
            except InputError as exc:
                yield Skipped(file=file, row=number, reason=exc.reason)

    def row(
        self, row: list[str], layout: _Layout, file: str, number: int
    ) -> Iterator[Event | Skipped]:
        notes: list[str] = []
        activity_id = row[layout.activity_id].strip()
        if not re.fullmatch(r"\d{1,20}", activity_id):
            raise _RowError(f"Activity ID {activity_id[:40]!r} is not a Strava activity id")
        if activity_id in self.seen_ids:
            raise _RowError(f"Activity ID {activity_id} appears twice; the first row is kept")
        activity_type = row[layout.type].strip()
        sport = sport_of(activity_type)
        is_run = sport in RUN_SPORTS

        def number_at(index: int | None, label: str, *, required: bool = False) -> float | None:
            if index is None:
                return None
            try:
                return parse_number(row[index], decimal_comma=layout.decimal_comma)
            except ValueError as exc:
                if required:
                    raise _RowError(f"{label}: {exc}") from None
                notes.append(f"{label} left out: {exc}")
                return None

        def first_number(indexes: Iterable[int], label: str) -> float | None:
            for index in indexes:
                value = number_at(index, label)
                if value is not None:
                    return value
            return None

        start = parse_date(row[layout.date], language=layout.language)
        moving = number_at(layout.moving, "Moving Time", required=True)
        elapsed = first_number(layout.elapsed, "Elapsed Time")
        distance = number_at(layout.distance_m, "Distance", required=True)
        if distance is None and layout.distance_user is not None:
            distance = self.user_distance(row, layout, number_at, moving or elapsed)
        values: dict[str, Any] = {
            "start": start,
            "distance_m": distance,
            "moving_time_s": moving,
            "elapsed_time_s": elapsed,
            "elevation_gain_m": number_at(layout.elevation_gain, "Elevation Gain"),
            "avg_hr_bpm": number_at(layout.avg_hr, "Average Heart Rate"),
            "max_hr_bpm": first_number(layout.max_hr, "Max Heart Rate"),
            "rpe": number_at(layout.rpe, "Perceived Exertion"),
            "utc_offset_s": None,  # the linked file's, else the home time zone's (below)
        }
        cadence = number_at(layout.cadence, "Average Cadence")
        if is_run and cadence:
            values["cadence_spm"] = 2 * cadence  # per foot in Strava's CSV

        duration = moving if is_run else (moving if moving is not None else elapsed)
        if needs_file(sport, start=start, distance_m=distance, moving=duration):
            self.fill_from_file(row, layout, values, notes)

        def failed(reason: str) -> _RowError:
            """The row cannot be used: say why, and what went wrong with its file."""
            return _RowError("; ".join([reason, *notes]))

        if values["start"] is None:
            raise failed(
                f"Activity Date {row[layout.date][:60]!r} is not a date stridewise reads, "
                "and no readable activity file gives the start"
            )
        if values["utc_offset_s"] is None:
            values["utc_offset_s"] = home_offset_s(values["start"])
        gear = row[layout.gear].strip() if layout.gear is not None else ""
        shoe_id = self.shoe_for(gear)
        if shoe_id is None and gear and sport in _FOOT_SPORTS and gear not in self.bikes:
            yield self.shoe(gear)
            shoe_id = self.shoes[gear]
        event_id = f"{SOURCE}:{activity_id}"
        common = {
            "id": event_id,
            "source": SOURCE,
            "source_id": activity_id,
            "start": values["start"],
            "utc_offset_s": values["utc_offset_s"],
            "avg_hr_bpm": values["avg_hr_bpm"],
            "rpe": values["rpe"],
            "shoe_id": shoe_id,
            "device": values.get("device"),
        }
        if is_run:
            if values["distance_m"] is None:
                raise failed(
                    "no distance in metres (and no readable activity file to take it from)"
                )
            file_sport = values.get("sport")
            data = {
                "kind": "run",
                **common,
                "sport": file_sport if sport == "run" and file_sport in RUN_SPORTS else sport,
                "distance_m": values["distance_m"],
                "moving_time_s": values["moving_time_s"],
                "elapsed_time_s": values["elapsed_time_s"],
                "elevation_gain_m": values["elevation_gain_m"],
                "cadence_spm": values.get("cadence_spm"),
                "max_hr_bpm": values["max_hr_bpm"],
            }
        else:
            length = values["moving_time_s"]
            if length is None:
                length = values["elapsed_time_s"]
            if length is None:
                raise failed("no moving or elapsed time (and no readable activity file)")
            data = {
                "kind": "cross_training",
                **common,
                "sport": sport,
                "duration_s": length,
                "distance_m": values["distance_m"],
            }
        event, dropped = load_lenient(data, file=file, row=number)
        self.seen_ids.add(activity_id)
        yield event
        for note in [*notes, *dropped]:
            yield Skipped(file=file, row=number, reason=note)

    def user_distance(
        self,
        row: list[str],
        layout: _Layout,
        number_at: Callable[..., float | None],
        seconds: float | None,
    ) -> float | None:
        """Metres from the user-unit ``Distance``, if ``Average Speed`` x time pins the unit."""
        value = number_at(layout.distance_user, "Distance")
        speed = number_at(layout.speed, "Average Speed")
        if value is None or not speed or not seconds:
            return None
        expected = speed * seconds
        if expected < 1:
            return None
        for factor in (1000.0, 1609.344, 1.0, 0.9144):  # km, mi, m (swims), yd (swims)
            if abs(value * factor - expected) <= 0.03 * expected:
                return value * factor
        return None

    def fill_from_file(
        self, row: list[str], layout: _Layout, values: dict[str, Any], notes: list[str]
    ) -> None:
        """Read the linked activity file and fill in what the CSV lacks."""
        linked = row[layout.filename].strip() if layout.filename is not None else ""
        if not linked:
            return  # a manual activity: there is no file
        name = self.base + linked.replace("\\", "/").lstrip("/")
        if not linked.lower().removesuffix(".gz").endswith(_LINKED_SUFFIXES):
            notes.append(f"linked file {linked[:80]!r} is not a FIT, TCX or GPX file")
            return
        if not self.tree.is_file(name):
            notes.append(f"linked file {linked[:80]!r} is not in the export")
            return
        try:
            data = self.tree.read_decompressed(name, limit=MAX_BYTES)
            event = parse_activity_file(data, linked)
        except InputError as exc:
            notes.append(f"linked file {linked[:80]!r} cannot be read: {exc.reason}")
            return
        found = _from_file(event)
        for key, value in found.items():
            if key == "utc_offset_s":
                if value:  # 0 is what files without an offset say: not evidence of UTC
                    values[key] = value
            elif values.get(key) is None:
                values[key] = value


# ---------------------------------------------------------------------------------------------
# Adapter
# ---------------------------------------------------------------------------------------------


def _header_looks_known(head: bytes) -> bool | None:
    """True/False for a known/unknown header; None when the text is not even CSV."""
    text = head.decode("utf-8-sig", errors="replace")
    try:
        header = next(csv.reader(text.splitlines()[:1]), None)
    except csv.Error:
        return None
    if not header or len(header) < 5:
        return None
    try:
        layout_of(header, file=CSV_NAME)
    except (InputError, KeyError, IndexError):
        return False
    return True


_STRAVA_SIBLINGS = frozenset(
    {"profile.csv", "shoes.csv", "bikes.csv", "components.csv", "global_challenges.csv"}
)


def locate(tree: Tree) -> str | None:
    """The export's ``activities.csv``: at the root, or inside a lone wrapper folder."""
    for candidate in (CSV_NAME, tree.base() + CSV_NAME):
        if tree.is_file(candidate):
            return candidate
    return None


class StravaAdapter:
    """Reads a Strava bulk export (zip as downloaded, or the unpacked folder)."""

    name = "strava"
    description = "Strava bulk export (export_*.zip or its folder): activities.csv and shoes"

    def recognise(self, path: Path) -> bool:
        """An ``activities.csv`` with a Strava header, at the root or in a lone wrapper folder."""
        try:
            path = Path(path)
            if path.is_file() and path.name.lower() == CSV_NAME:
                with open(path, "rb") as fh:
                    return bool(_header_looks_known(fh.read(64 * 1024)))
            if not (path.is_dir() or is_zip(path)):
                return False
            with open_tree(path) as tree:
                found = locate(tree)
                if found is None:
                    return False
                known = _header_looks_known(tree.read_head(found))
                if known is None:
                    return False
                if known:
                    return True
                # An export in a language we do not read: claim it, so read() can say so.
                base = found.removesuffix(CSV_NAME)
                return sum(tree.is_file(base + s) for s in _STRAVA_SIBLINGS) >= 2
        except (InputError, OSError, ValueError, UnicodeError):
            return False

    def read(self, path: Path) -> Iterator[Event | Skipped]:
        """Shoes, then one event per activity row; a Skipped for each row left out."""
        path = Path(path)
        if path.is_file() and path.name.lower() == CSV_NAME:
            with open_tree(path.parent) as tree:
                yield from self.read_tree(tree, CSV_NAME)
            return
        with open_tree(path) as tree:
            found = locate(tree)
            if found is None:
                raise InputError(
                    "no activities.csv at the top or in a single wrapper folder: "
                    "not a Strava export",
                    file=str(path),
                )
            yield from self.read_tree(tree, found)

    def read_tree(self, tree: Tree, csv_name: str = CSV_NAME) -> Iterator[Event | Skipped]:
        """Read an export already opened as a :class:`Tree`."""
        reader = _Reader(tree, csv_name)
        yield from reader.gear_files()
        yield from reader.activities()


def events_only(items: Iterable[Event | Skipped]) -> list[Event]:
    """The events of a read, without the Skipped notes (a convenience for callers and tests)."""
    return [item for item in items if not isinstance(item, Skipped)]


def skipped_only(items: Iterable[Event | Skipped]) -> list[Skipped]:
    """The Skipped notes of a read."""
    return [item for item in items if isinstance(item, Skipped)]


@hookimpl
def stridewise_register_adapters(register: Callable[[Adapter], None]) -> None:
    """Register the Strava export adapter."""
    register(StravaAdapter())
