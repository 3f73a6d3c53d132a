"""Garmin Connect account export ("Export Your Data" at account.garmin.com), zip or folder.

Layout read (at the root of the zip or folder, or one folder down)::

    DI_CONNECT/DI-Connect-Fitness/<user>_<n>_summarizedActivities.json   the history
    DI_CONNECT/DI-Connect-Fitness/<user>_gear.json                       shoes and bikes
    DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_*.zip             original FIT files

The summaries are the history. The original files are read only for activities the summaries
do not hold. Their names use Garmin's upload numbering, not the activity id, so time is the
only link: each FIT file's ``file_id.time_created`` is peeked (from its first 16 KB, without
decoding the file) and a summarised activity whose span, give or take two minutes, holds it is
claimed by the closest such file (one file per activity, so a short run recorded just after a
summarised walk is not mistaken for it). Unclaimed files are parsed in full and kept unless a
summarised activity of the same kind starts within two minutes of them. Events from those
files keep the FIT/TCX/GPX reader's id and source.

No real export is public, so each field below says where its meaning was checked.

Verified against michael-simons/garmin-babel (Apache-2.0; ``Activity.java``,
``AdditionalUnits.java`` and ``Application.java``), a tool written for this very export:
    * file names ``<user>_<n>_summarizedActivities.json`` and ``<user>_gear.json`` in
      ``DI_CONNECT/DI-Connect-Fitness``; the wrapper ``[{"summarizedActivitiesExport": [...]}]``;
    * ``activityId``; ``activityType`` and ``sportType`` as plain strings;
    * ``beginTimestamp`` / ``startTimeGmt``: epoch milliseconds (UTC);
    * ``distance`` and ``elevationGain``: centimetres; ``avgSpeed``: cm/ms;
    * ``duration``, ``elapsedDuration``, ``movingDuration``: milliseconds;
    * gear: ``[{"gearDTOS": [{"gearPk", "customMakeModel", ...}], "gearActivityDTOs":
      {"<gearPk>": [{"activityId", "gearPk"}]}}]``.

Checked in public importers' notes only (code search excerpts; no repository named), so
treated with care:
    * ``startTimeLocal``: epoch milliseconds shifted to local wall time, so
      ``startTimeLocal - startTimeGmt`` is the UTC offset (one importer saw exactly 4 h for an
      EDT account). Offsets beyond +-14 h are dropped with a note.
    * ``avgRunCadence`` is per foot (strides per minute, as FIT's ``avg_running_cadence``) and
      ``avgDoubleCadence`` is steps per minute (one importer quotes a real pair, 84 and 169.3).
      We take ``avgDoubleCadence``, else 2 x ``avgRunCadence``; when both are present and
      disagree by more than 3 steps/min, cadence is left out with a note.
    * ``avgHr``, ``maxHr``: beats per minute.
    * gear ``displayName``, ``gearTypeName`` (``Shoes``, ``Bike`` ...), ``gearStatusName``
      (``active``/``retired``), ``dateBegin``/``dateEnd`` (ISO dates, read by their first ten
      characters).

Assumed (not seen anywhere): gear of an unknown type linked to a run or walk is a shoe; the
``multi_sport`` parent record only groups its legs (which are records of their own), so it is
skipped with a note, and so are ``transition`` legs.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import io
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from stridewise.engine.errors import InputError
from stridewise.engine.events import (
    RUN_SPORTS,
    CrossTraining,
    Event,
    Run,
    Shoe,
    stable_id,
)
from stridewise.plugins.hookspecs import Adapter, Skipped, hookimpl

from . import strava
from .archive import Tree, is_zip, open_tree

__all__ = [
    "SOURCE",
    "GarminExportAdapter",
    "garmin_sport",
    "parse_uploaded_file",
    "stridewise_register_adapters",
]

SOURCE = "garmin_export"
_FITNESS = "DI_CONNECT/DI-Connect-Fitness/"
_UPLOADS = "DI_CONNECT/DI-Connect-Uploaded-Files/"
_SUMMARY = re.compile(r"[^/]*summarizedActivities[^/]*\.json")
_GEAR = re.compile(r"[^/]*_gear\.json")
_ACTIVITY_FILES = (".fit", ".tcx", ".gpx", ".fit.gz", ".tcx.gz", ".gpx.gz")
#: A FIT file's ``time_created`` within this of a summarised activity's start or end (or in
#: between) may belong to it; the closest file claims the activity (one file per activity).
_MARGIN = dt.timedelta(minutes=2)
#: A parsed file starting this close to a summarised activity of the same kind is that activity
#: (the engine's cross-source de-duplication uses the same two minutes).
_SAME_START = dt.timedelta(seconds=120)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_OFFSET_S = 14 * 3600
_FOOT = frozenset({*RUN_SPORTS, "walk", "hike"})
_SHOE_OPTIONAL = frozenset({"model", "first_used", "retired"})

# ---------------------------------------------------------------------------------------------
# Sports: Garmin activity type keys (and sport types as a fallback)
# ---------------------------------------------------------------------------------------------

_TYPES: dict[str, str] = {}
for _sport, _keys in {
    "run": "running street_running ultra_run obstacle_run",
    "trail_run": "trail_running",
    "treadmill_run": "treadmill_running indoor_running",
    "track_run": "track_running",
    "virtual_run": "virtual_run",
    "walk": "walking casual_walking speed_walking",
    "hike": "hiking mountaineering snow_shoe_ws",
    "ride": "cycling road_biking mountain_biking gravel_cycling cyclocross downhill_biking "
    "e_bike_fitness e_bike_mountain bmx recumbent_cycling track_cycling hand_cycling",
    "virtual_ride": "virtual_ride indoor_cycling",
    "swim": "swimming lap_swimming open_water_swimming",
    "strength": "strength_training",
    "workout": "indoor_cardio hiit fitness_equipment stair_climbing floor_climbing "
    "pilates jump_rope",
    "yoga": "yoga",
    "elliptical": "elliptical",
    "rowing": "rowing indoor_rowing rowing_v2",
    "ski": "cross_country_skiing_ws skate_skiing_ws resort_skiing_snowboarding_ws "
    "backcountry_skiing backcountry_snowboarding skiing",
}.items():
    for _key in _keys.split():
        _TYPES[_key] = _sport
_SPORT_TYPES = {
    "RUNNING": "run",
    "WALKING": "walk",
    "HIKING": "hike",
    "CYCLING": "ride",
    "SWIMMING": "swim",
    "TRAINING": "workout",
    "FITNESS_EQUIPMENT": "workout",
}
_CONTAINERS = frozenset({"multi_sport", "multisport"})
_TRANSITIONS = frozenset({"transition", "transition_v2", "swimtobiketransition"})


def garmin_sport(activity_type: str | None, sport_type: str | None = None) -> str:
    """Our sport for a Garmin ``activityType`` key (``sportType`` as fallback); else ``other``."""
    key = (activity_type or "").strip().lower()
    if key in _TYPES:
        return _TYPES[key]
    return _SPORT_TYPES.get((sport_type or "").strip().upper(), "other")


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


class _Bad(ValueError):
    """A value of the wrong type or out of any sense."""


def _number(entry: Mapping[str, Any], key: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"{key} {str(value)[:40]!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise _Bad(f"{key} {value!r} is not a finite number")
    return number


def _instant(ms: float, key: str) -> dt.datetime:
    try:
        return _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        raise _Bad(f"{key} {ms!r} is not a time (epoch milliseconds)") from None


def _iso_date(value: object) -> str | None:
    if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
        return value[:10]
    return None


def _load_json(tree: Tree, name: str) -> Any:
    data = tree.read(name)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise InputError(f"is not valid JSON ({str(exc)[:120]})", file=tree.where(name)) from None


def _summary_records(payload: Any, where: str) -> list[Any]:
    """The activity records inside ``[{"summarizedActivitiesExport": [...]}]``."""
    chunks = payload if isinstance(payload, list) else [payload]
    records: list[Any] = []
    found = False
    for chunk in chunks:
        if isinstance(chunk, dict) and isinstance(chunk.get("summarizedActivitiesExport"), list):
            records.extend(chunk["summarizedActivitiesExport"])
            found = True
    if not found:
        raise InputError(
            'expected [{"summarizedActivitiesExport": [...]}], the layout of Garmin\'s '
            "export; this file has another layout",
            file=where,
        )
    return records


# ---------------------------------------------------------------------------------------------
# Gear
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Gear:
    pk: str
    name: str
    model: str | None
    kind: str  # "shoe", "bike" or "unknown"
    first_used: str | None
    retired: str | None
    activities: set[str] = dataclasses.field(default_factory=set)


def _gear(payload: Any, where: str) -> tuple[dict[str, _Gear], list[Skipped]]:
    notes: list[Skipped] = []
    chunks = payload if isinstance(payload, list) else [payload]
    gear: dict[str, _Gear] = {}
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        dtos = chunk.get("gearDTOS")
        for index, dto in enumerate(dtos if isinstance(dtos, list) else []):
            if not isinstance(dto, dict) or dto.get("gearPk") is None:
                notes.append(Skipped(file=where, row=f"gearDTOS[{index}]", reason="no gearPk"))
                continue
            texts = {
                k: str(dto[k]).strip()
                for k in ("displayName", "customMakeModel", "gearMakeName", "gearModelName")
                if isinstance(dto.get(k), str) and str(dto[k]).strip()
            }
            make_model = " ".join(
                t for t in (texts.get("gearMakeName"), texts.get("gearModelName")) if t
            )
            model = texts.get("customMakeModel") or make_model or None
            display = texts.get("displayName")
            name = display if display and display.lower() != "unknown" else model
            if not name:
                name = f"Garmin gear {dto['gearPk']}"
            type_name = str(dto.get("gearTypeName") or "").lower()
            kind = (
                "shoe"
                if "shoe" in type_name or "footwear" in type_name
                else "bike"
                if "bike" in type_name or "bicycle" in type_name
                else "unknown"
            )
            status = str(dto.get("gearStatusName") or "").lower()
            pk = str(dto["gearPk"])
            gear[pk] = _Gear(
                pk=pk,
                name=name[:200],
                model=model,
                kind=kind,
                first_used=_iso_date(dto.get("dateBegin")),
                retired=_iso_date(dto.get("dateEnd")) if status == "retired" else None,
            )
        links = chunk.get("gearActivityDTOs")
        if isinstance(links, dict):
            for pk, items in links.items():
                for item in items if isinstance(items, list) else []:
                    if isinstance(item, dict) and str(pk) in gear:
                        aid = item.get("activityId")
                        if isinstance(aid, int | str) and not isinstance(aid, bool):
                            gear[str(pk)].activities.add(str(aid))
        elif links is not None:
            notes.append(
                Skipped(file=where, reason="gearActivityDTOs is not a mapping; gear not linked")
            )
    return gear, notes


# ---------------------------------------------------------------------------------------------
# Activities
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Activity:
    """One summary record, checked and converted to SI units (not yet an event)."""

    activity_id: str
    sport: str
    start: dt.datetime
    utc_offset_s: int
    distance_m: float | None
    moving_s: float | None
    elapsed_s: float | None
    timer_s: float | None
    elevation_gain_m: float | None
    cadence_spm: float | None
    avg_hr: float | None
    max_hr: float | None
    notes: list[str]

    @property
    def end(self) -> dt.datetime:
        length = max(self.elapsed_s or 0.0, self.timer_s or 0.0, self.moving_s or 0.0)
        return self.start + dt.timedelta(seconds=min(length, 7 * 86400.0))


def _activity(entry: object) -> _Activity | str:
    """Convert one record, or say (a string) why it is left out."""
    if not isinstance(entry, dict):
        return "not an activity record (expected a JSON object)"
    raw_id = entry.get("activityId")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str):
        return "no activityId"
    activity_id = str(raw_id).strip()
    if not re.fullmatch(r"\d{1,20}", activity_id):
        return f"activityId {activity_id[:30]!r} is not a Garmin activity id"
    type_value = entry.get("activityType")
    if isinstance(type_value, dict):  # the web API nests it; accept that shape too
        type_value = type_value.get("typeKey")
    type_key = type_value if isinstance(type_value, str) else None
    sport_type = entry.get("sportType") if isinstance(entry.get("sportType"), str) else None
    if (type_key or "").lower() in _CONTAINERS or entry.get("parent") is True:
        return "multisport record: its legs are imported one by one"
    if (type_key or "").lower() in _TRANSITIONS:
        return "multisport transition: not training"
    notes: list[str] = []

    def optional(key: str, scale: float = 1.0) -> float | None:
        try:
            value = _number(entry, key)
        except _Bad as exc:
            notes.append(f"{exc}; left out")
            return None
        return None if value is None else value * scale

    try:
        gmt = _number(entry, "startTimeGmt")
        if gmt is None:
            gmt = _number(entry, "beginTimestamp")
        if gmt is None:
            return "no start time (startTimeGmt or beginTimestamp)"
        start = _instant(gmt, "startTimeGmt")
        distance_cm = _number(entry, "distance")
    except _Bad as exc:
        return str(exc)
    offset = 0
    local = optional("startTimeLocal")
    if local is not None:
        seconds = round((local - gmt) / 60_000) * 60
        if abs(seconds) <= _MAX_OFFSET_S:
            offset = seconds
        else:
            notes.append(f"startTimeLocal is {seconds} s from startTimeGmt; UTC offset left out")
    sport = garmin_sport(type_key, sport_type)
    cadence = None
    if sport in RUN_SPORTS:
        double = optional("avgDoubleCadence")
        single = optional("avgRunCadence")
        if double is not None and single is not None and abs(double - 2 * single) > 3:
            notes.append(
                f"avgDoubleCadence {double:g} and avgRunCadence {single:g} (per foot) disagree; "
                "cadence left out"
            )
        else:
            cadence = double if double is not None else None if single is None else 2 * single
    return _Activity(
        activity_id=activity_id,
        sport=sport,
        start=start,
        utc_offset_s=offset,
        distance_m=None if distance_cm is None else distance_cm / 100,
        moving_s=optional("movingDuration", 1 / 1000),
        elapsed_s=optional("elapsedDuration", 1 / 1000),
        timer_s=optional("duration", 1 / 1000),
        elevation_gain_m=optional("elevationGain", 1 / 100),
        cadence_spm=cadence,
        avg_hr=optional("avgHr"),
        max_hr=optional("maxHr"),
        notes=notes,
    )


def _event_dict(act: _Activity, shoe_id: str | None) -> dict[str, Any]:
    common: dict[str, Any] = {
        "id": f"{SOURCE}:{act.activity_id}",
        "source": SOURCE,
        "source_id": act.activity_id,
        "start": act.start,
        "utc_offset_s": act.utc_offset_s,
        "avg_hr_bpm": act.avg_hr,
        "shoe_id": shoe_id,
    }
    if act.sport in RUN_SPORTS:
        if act.distance_m is None:
            raise InputError("a run with no distance")
        return {
            "kind": "run",
            **common,
            "sport": act.sport,
            "distance_m": act.distance_m,
            # ``duration`` is the timer time: the moving time when Garmin gives none.
            "moving_time_s": act.moving_s if act.moving_s is not None else act.timer_s,
            "elapsed_time_s": act.elapsed_s if act.elapsed_s is not None else act.timer_s,
            "elevation_gain_m": act.elevation_gain_m,
            "cadence_spm": act.cadence_spm,
            "max_hr_bpm": act.max_hr,
        }
    length = next((v for v in (act.timer_s, act.moving_s, act.elapsed_s) if v is not None), None)
    if length is None:
        raise InputError("no duration (duration, movingDuration or elapsedDuration)")
    return {
        "kind": "cross_training",
        **common,
        "sport": act.sport,
        "duration_s": length,
        "distance_m": act.distance_m,
    }


# ---------------------------------------------------------------------------------------------
# Original files
# ---------------------------------------------------------------------------------------------


def parse_uploaded_file(data: bytes, name: str) -> Run | CrossTraining:
    """Parse one original activity file with the FIT/TCX/GPX readers."""
    return strava.parse_activity_file(data, name)


def fit_time_created(data: bytes) -> dt.datetime | None:
    """``file_id.time_created`` of a FIT file, read from its first messages only (or None)."""
    import fitdecode  # here, not at the top: loading the plugin stays cheap

    try:
        with fitdecode.FitReader(
            io.BytesIO(data), check_crc=fitdecode.CrcCheck.DISABLED, keep_raw_chunks=False
        ) as reader:
            for count, frame in enumerate(reader):
                if count > 64:
                    return None
                if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "file_id":
                    value = frame.get_value("time_created", fallback=None)
                    return value if isinstance(value, dt.datetime) and value.tzinfo else None
    except Exception:
        return None
    return None


# ---------------------------------------------------------------------------------------------
# Adapter
# ---------------------------------------------------------------------------------------------


class _Reader:
    """One pass over one export tree."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        names = tree.names()
        fitness = _root(tree, names) + _FITNESS
        uploads = _root(tree, names) + _UPLOADS
        in_fitness = [n.removeprefix(fitness) for n in names if n.startswith(fitness)]
        self.summaries = sorted(fitness + n for n in in_fitness if _SUMMARY.fullmatch(n))
        self.gear_files = sorted(fitness + n for n in in_fitness if _GEAR.fullmatch(n))
        self.uploads = sorted(n for n in names if n.startswith(uploads))

    def read(self) -> Iterator[Event | Skipped]:
        """Shoes, activities in file order, notes on records left out, then uploaded files."""
        if not self.summaries and not self.uploads:
            raise InputError(
                "no DI_CONNECT/DI-Connect-Fitness/*_summarizedActivities.json and no uploaded "
                "files: not a Garmin Connect export",
                file=self.tree.label,
            )
        records: list[tuple[str, int, object]] = []
        for name in self.summaries:
            short = name.rsplit("/", 1)[-1]
            try:
                found = _summary_records(_load_json(self.tree, name), self.tree.where(name))
            except InputError as exc:
                if len(self.summaries) == 1 and not self.uploads:
                    raise
                yield Skipped(file=short, reason=exc.reason)
                continue
            records.extend((short, index, entry) for index, entry in enumerate(found, start=1))

        activities: list[tuple[str, int, _Activity]] = []
        seen: set[str] = set()
        pending: list[Skipped] = []
        for short, index, entry in records:
            result = _activity(entry)
            if isinstance(result, str):
                pending.append(Skipped(file=short, row=index, reason=result))
            elif result.activity_id in seen:
                reason = f"activityId {result.activity_id} appears twice; the first is kept"
                pending.append(Skipped(file=short, row=index, reason=reason))
            else:
                seen.add(result.activity_id)
                activities.append((short, index, result))

        shoe_of: dict[str, str] = {}
        yield from self.shoes([a for _, _, a in activities], shoe_of)
        for short, index, act in activities:
            try:
                event, dropped = strava.load_lenient(
                    _event_dict(act, shoe_of.get(act.activity_id)), file=short, row=index
                )
            except InputError as exc:
                yield Skipped(file=short, row=index, reason=exc.reason)
                continue
            yield event
            for note in [*act.notes, *dropped]:
                yield Skipped(file=short, row=index, reason=note)
        yield from pending
        yield from self.original_files([a for _, _, a in activities])

    def shoes(
        self, activities: list[_Activity], shoe_of: dict[str, str]
    ) -> Iterator[Event | Skipped]:
        """Shoe events from ``*_gear.json``; fills ``shoe_of`` (activity id -> shoe id)."""
        sport_of = {a.activity_id: a.sport for a in activities}
        for name in self.gear_files:
            short = name.rsplit("/", 1)[-1]
            try:
                gear, notes = _gear(_load_json(self.tree, name), short)
            except InputError as exc:
                yield Skipped(file=short, reason=exc.reason)
                continue
            yield from notes
            for item in sorted(gear.values(), key=lambda g: (len(g.pk), g.pk)):
                worn = any(sport_of.get(a) in _FOOT for a in item.activities)
                if item.kind == "bike" or (item.kind == "unknown" and not worn):
                    continue
                shoe_id = stable_id(SOURCE, "shoe", item.pk)
                try:
                    event, dropped = strava.load_lenient(
                        {
                            "kind": "shoe",
                            "id": shoe_id,
                            "source": SOURCE,
                            "name": item.name,
                            "model": item.model,
                            "first_used": item.first_used,
                            "retired": item.retired,
                        },
                        file=short,
                        row=f"gearPk {item.pk}",
                        optional=_SHOE_OPTIONAL,
                    )
                except InputError as exc:
                    yield Skipped(file=short, row=f"gearPk {item.pk}", reason=exc.reason)
                    continue
                assert isinstance(event, Shoe)
                yield event
                for note in dropped:
                    yield Skipped(file=short, row=f"gearPk {item.pk}", reason=note)
                for activity_id in sorted(item.activities):
                    shoe_of.setdefault(activity_id, shoe_id)

    def original_files(self, summarised: list[_Activity]) -> Iterator[Event | Skipped]:
        """Events from the uploaded files that no summary covers."""
        opened: list[Tree] = []
        try:
            files: list[tuple[Tree, str]] = []
            for name in self.uploads:
                if name.lower().endswith(".zip"):
                    try:
                        nested = self.tree.open_nested(name)
                    except InputError as exc:
                        yield Skipped(file=self._short(self.tree, name), reason=exc.reason)
                        continue
                    opened.append(nested)
                    files.extend((nested, n) for n in nested.names() if _is_activity_file(n))
                elif _is_activity_file(name):
                    files.append((self.tree, name))
            created: list[dt.datetime | None] = []
            for tree, name in files:
                created.append(self._peek(tree, name))
            claimed = _claims(created, summarised)
            starts = sorted((a.start, a.sport in RUN_SPORTS) for a in summarised)
            for index, (tree, name) in enumerate(files):
                if index in claimed:
                    continue
                try:
                    event = parse_uploaded_file(tree.read_decompressed(name), name)
                except InputError as exc:
                    yield Skipped(file=self._short(tree, name), reason=exc.reason)
                    continue
                if not _same_start(event, starts):
                    yield event
        finally:
            for nested in opened:
                nested.close()

    def _short(self, tree: Tree, name: str) -> str:
        return tree.where(name).removeprefix(self.tree.label + "/")

    @staticmethod
    def _peek(tree: Tree, name: str) -> dt.datetime | None:
        if not name.lower().endswith(".fit"):
            return None
        try:
            return fit_time_created(tree.read_head(name, 16 * 1024))
        except InputError:
            return None  # read it in full later, and say then what is wrong with it


def _is_activity_file(name: str) -> bool:
    return name.lower().endswith(_ACTIVITY_FILES)


def _claims(created: list[dt.datetime | None], summarised: list[_Activity]) -> set[int]:
    """Indexes of the files that a summarised activity accounts for (closest file first)."""
    spans = sorted((a.start, a.end, i) for i, a in enumerate(summarised))
    starts = [span[0] for span in spans]
    longest = max((end - start for start, end, _ in spans), default=dt.timedelta(0))
    pairs: list[tuple[dt.timedelta, int, int]] = []
    for file_index, when in enumerate(created):
        if when is None:
            continue
        lo = bisect.bisect_left(starts, when - longest - _MARGIN)
        hi = bisect.bisect_right(starts, when + _MARGIN)
        for start, end, activity_index in spans[lo:hi]:
            if start - _MARGIN <= when <= end + _MARGIN:
                distance = min(abs(when - start), abs(when - end))
                pairs.append((distance, file_index, activity_index))
    pairs.sort()
    files: set[int] = set()
    activities: set[int] = set()
    for _, file_index, activity_index in pairs:
        if file_index not in files and activity_index not in activities:
            files.add(file_index)
            activities.add(activity_index)
    return files


def _same_start(event: Run | CrossTraining, starts: list[tuple[dt.datetime, bool]]) -> bool:
    """True if a summarised activity of the same kind starts within two minutes of ``event``."""
    is_run = isinstance(event, Run)
    at = bisect.bisect_left(starts, (event.start - _SAME_START, False))
    for start, run in starts[at:]:
        if start > event.start + _SAME_START:
            return False
        if run == is_run:
            return True
    return False


def _root(tree: Tree, names: list[str]) -> str:
    """Where ``DI_CONNECT/`` is: the root, or a lone wrapper folder."""
    return "" if any(n.startswith("DI_CONNECT/") for n in names) else tree.base()


class GarminExportAdapter:
    """Reads a Garmin Connect account export (zip as downloaded, or the unpacked folder)."""

    name = "garmin_export"
    description = "Garmin Connect account export (zip or folder): activity summaries, shoes"

    def recognise(self, path: Path) -> bool:
        """``DI_CONNECT/DI-Connect-Fitness/*summarizedActivities*.json``, root or wrapper folder."""
        try:
            path = Path(path)
            if not (path.is_dir() or is_zip(path)):
                return False
            with open_tree(path) as tree:
                if path.is_dir():  # look where it would be, without walking the whole folder
                    for root in dict.fromkeys(("", tree.base())):
                        folder = path / root / _FITNESS
                        if folder.is_dir() and any(
                            _SUMMARY.fullmatch(p.name) for p in folder.iterdir()
                        ):
                            return True
                    return False
                names = tree.names()
                fitness = _root(tree, names) + _FITNESS
                return any(
                    n.startswith(fitness) and _SUMMARY.fullmatch(n.removeprefix(fitness))
                    for n in names
                )
        except (InputError, OSError, ValueError):
            return False

    def read(self, path: Path) -> Iterator[Event | Skipped]:
        """Shoes, then one event per summarised activity, then uncovered original files."""
        with open_tree(Path(path)) as tree:
            yield from self.read_tree(tree)

    def read_tree(self, tree: Tree) -> Iterator[Event | Skipped]:
        """Read an export already opened as a :class:`~stridewise.adapters.archive.Tree`."""
        yield from _Reader(tree).read()


@hookimpl
def stridewise_register_adapters(register: Callable[[Adapter], None]) -> None:
    """Register the Garmin Connect export adapter."""
    register(GarminExportAdapter())
