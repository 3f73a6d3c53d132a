"""Normalized events: what every adapter emits and the engine consumes.

One marshmallow 4 schema per event kind loads plain dicts (JSON-style: ISO dates, SI units,
snake_case names that carry their unit) into frozen dataclasses. Unknown fields, impossible
values and dates in the future are rejected with an :class:`EventValidationError` naming the
field and the value. :func:`json_schema` publishes the same contract as JSON Schema.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeAlias

import orjson
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from .errors import EventValidationError, InputError

# ---------------------------------------------------------------------------------------------
# Vocabularies
# ---------------------------------------------------------------------------------------------

RUN_SPORTS = ("run", "trail_run", "treadmill_run", "track_run", "virtual_run")
CROSS_SPORTS = (
    "walk",
    "hike",
    "ride",
    "virtual_ride",
    "swim",
    "deep_water_run",
    "antigravity_treadmill",
    "elliptical",
    "rowing",
    "ski",
    "strength",
    "yoga",
    "workout",
    "other",
)
SURFACES = ("road", "trail", "track", "treadmill", "grass", "sand", "mixed", "unknown")
SIDES = ("left", "right", "both", "none")
SEXES = ("female", "male", "other")
DISORDERED_EATING = ("none", "some_restriction", "current_or_past", "diagnosed")

#: Bone sites. High-risk sites (``docs/evidence.md``) need a physician and imaging.
HIGH_RISK_SITES = frozenset(
    {
        "femoral_neck",
        "tibia_anterior",
        "medial_malleolus",
        "talus",
        "navicular",
        "metatarsal_5_proximal",
        "metatarsal_2_base",
        "sesamoid",
    }
)
LOW_RISK_SITES = frozenset(
    {
        "tibia_posteromedial",
        "fibula",
        "femoral_shaft",
        "pelvis",
        "sacrum",
        "calcaneus",
        "metatarsal_shaft",
        "cuboid",
    }
)
#: Trabecular sites count double in the Triad cumulative risk assessment (De Souza 2014).
TRABECULAR_SITES = frozenset({"femoral_neck", "sacrum", "pelvis"})
#: Regions a runner can name before anyone has found the exact bone.
REGIONS = frozenset({"shin", "foot", "ankle", "hip", "groin", "thigh", "knee", "heel", "other"})
SITES = tuple(sorted(HIGH_RISK_SITES | LOW_RISK_SITES | REGIONS))
#: The bone sites inside each region a runner names. A region holding a high-risk site is
#: *possibly* high-risk until the exact spot is known (groin and hip pain can be the femoral
#: neck; shin pain the anterior tibia; foot pain the navicular, the base of the 5th or 2nd
#: metatarsal or a sesamoid; ankle pain the medial malleolus or the talus).
REGION_SITES: dict[str, frozenset[str]] = {
    "shin": frozenset({"tibia_anterior", "tibia_posteromedial", "fibula"}),
    "foot": frozenset(
        {
            "navicular",
            "metatarsal_5_proximal",
            "metatarsal_2_base",
            "sesamoid",
            "metatarsal_shaft",
            "cuboid",
        }
    ),
    "ankle": frozenset({"medial_malleolus", "talus", "fibula"}),
    "heel": frozenset({"calcaneus"}),
    "hip": frozenset({"femoral_neck", "pelvis"}),
    "groin": frozenset({"femoral_neck", "pelvis"}),
    "thigh": frozenset({"femoral_shaft"}),
    "knee": frozenset(),
    "other": frozenset(),
}
#: Regions that contain a high-risk site.
POSSIBLY_HIGH_RISK_REGIONS = frozenset(
    r for r, sites in REGION_SITES.items() if sites & HIGH_RISK_SITES
)
#: The words runners use for a site, mapped to a region or site code. Matching ignores case,
#: spaces, hyphens and underscores, and the words "the", "my", "a" and "an" ("Front of the
#: shin" = "front-of-shin" = "shin_front"). Bone names a runner uses loosely (``tibia``,
#: ``femur``) map to the *region*, so the question that decides the exact spot is still asked;
#: phrases that name one spot map to that site. Ambiguous foot words err on the safe side:
#: the outer edge of the foot maps to the base of the 5th metatarsal (a high-risk site).
SITE_ALIASES: dict[str, str] = {
    # shin
    "tibia": "shin",
    "shinbone": "shin",
    "shin bone": "shin",
    "shins": "shin",
    "lower leg": "shin",
    "calf": "shin",  # the lower leg from behind: the shin region's question still decides
    "calves": "shin",
    "shin splints": "shin",
    "front of shin": "tibia_anterior",
    "shin front": "tibia_anterior",
    "front shin": "tibia_anterior",
    "anterior shin": "tibia_anterior",
    "anterior tibia": "tibia_anterior",
    "inner shin": "tibia_posteromedial",
    "inside of shin": "tibia_posteromedial",
    "inner edge of shin": "tibia_posteromedial",
    "shin inner": "tibia_posteromedial",
    "medial shin": "tibia_posteromedial",
    "posteromedial tibia": "tibia_posteromedial",
    "outer lower leg": "fibula",
    "outside of lower leg": "fibula",
    # foot
    "feet": "foot",
    "midfoot": "foot",
    "arch": "foot",
    "toe": "foot",
    "toes": "foot",
    "metatarsal": "foot",
    "metatarsals": "foot",
    "top of midfoot": "navicular",
    "midfoot top": "navicular",
    "top of the midfoot": "navicular",
    "navicular bone": "navicular",
    "base of fifth metatarsal": "metatarsal_5_proximal",
    "base of 5th metatarsal": "metatarsal_5_proximal",
    "fifth metatarsal base": "metatarsal_5_proximal",
    "5th metatarsal base": "metatarsal_5_proximal",
    "outer edge of foot": "metatarsal_5_proximal",
    "outer edge of midfoot": "metatarsal_5_proximal",
    "outside of foot": "metatarsal_5_proximal",
    "base of second metatarsal": "metatarsal_2_base",
    "base of 2nd metatarsal": "metatarsal_2_base",
    "under big toe": "sesamoid",
    "under great toe": "sesamoid",
    "big toe joint underneath": "sesamoid",
    "sesamoids": "sesamoid",
    "metatarsal shafts": "metatarsal_shaft",
    # ankle and heel
    "inner ankle": "medial_malleolus",
    "inside of ankle": "medial_malleolus",
    "inner ankle bone": "medial_malleolus",
    "medial ankle": "medial_malleolus",
    "heel bone": "calcaneus",
    # hip, groin, thigh, pelvis
    "hips": "hip",
    "femoral neck": "femoral_neck",
    "neck of femur": "femoral_neck",
    "femur": "thigh",
    "thigh bone": "thigh",
    "thighbone": "thigh",
    "thighs": "thigh",
    "femoral shaft": "femoral_shaft",
    "pubic bone": "groin",
    "sit bone": "pelvis",
    "lower back": "sacrum",
}
_SITE_FILLER = frozenset({"the", "my", "a", "an"})


def site_key(text: str) -> str:
    """A site word reduced for matching: lower case, words joined by ``_``, fillers dropped."""
    words = re.split(r"[^a-z0-9]+", text.strip().lower())
    return "_".join(w for w in words if w and w not in _SITE_FILLER)


_SITE_LOOKUP: dict[str, str] = {
    **{site_key(s): s for s in SITES},
    **{site_key(word): code for word, code in SITE_ALIASES.items()},
}
#: Every word :func:`normalize_site` accepts (codes and aliases), for error messages and help.
SITE_WORDS = tuple(sorted({*SITES, *SITE_ALIASES}))


def normalize_site(text: str) -> str:
    """The region or site code for a word a runner uses (raises ValueError for unknown words)."""
    code = _SITE_LOOKUP.get(site_key(text))
    if code is None:  # one short line: the CLI and the service's 422 show it as it is
        import difflib

        words = sorted({w.replace("_", " ") for w in SITE_WORDS})
        close = difflib.get_close_matches(" ".join(text.lower().split()), words, n=2, cutoff=0.6)
        named = [repr(w) for w in close]
        guess = " or ".join([", ".join(named[:-1]), named[-1]] if len(named) > 1 else named)
        regions = ", ".join(sorted(REGIONS - {"other"}))
        raise ValueError(
            f"{text!r} is not a body site stridewise knows"
            + (f" (did you mean {guess}?)" if guess else "")
            + f"; use a region ({regions}), a spot like 'front of shin' or 'top of midfoot' or a "
            "bone like tibia or navicular (more: 'stridewise log pain --help')"
        )
    return code


def site_regions(site: str) -> frozenset[str]:
    """The regions a site or region code lies in (``other`` lies in none)."""
    if site in REGIONS:
        return frozenset() if site == "other" else frozenset({site})
    return frozenset(r for r, sites in REGION_SITES.items() if site in sites)


def sites_near(a: str, b: str) -> bool:
    """Same site, or sites (or regions) that share a region: "at or near" each other."""
    if a == "other" or b == "other":
        return False
    return a == b or bool(site_regions(a) & site_regions(b))


# Plausibility bounds (SI). Out-of-range values are rejected, with a hint when a unit mix-up is
# the likely cause.
MAX_RUN_M = 350_000.0  # longer than the longest single-stage ultras
MAX_DURATION_S = 7 * 24 * 3600.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _not_future_date(value: dt.date) -> None:
    if value > (_now() + dt.timedelta(days=1)).date():
        raise ValidationError(f"{value.isoformat()} is in the future")


def _not_future_datetime(value: dt.datetime) -> None:
    if value > _now() + dt.timedelta(days=1):
        raise ValidationError(f"{value.isoformat()} is in the future")


def _range(lo: float, hi: float, unit: str, hint: str = "") -> validate.Range:
    msg = f"{{input}} is outside {lo:g}-{hi:g} {unit}" + (f" ({hint})" if hint else "")
    return validate.Range(min=lo, max=hi, error=msg)


def _one_of(choices: Iterable[str]) -> validate.OneOf:
    return validate.OneOf(tuple(choices), error="{input!r} is not one of: {choices}")


class NumberField(fields.Float):
    """A number given as a number: ``"8000"`` (text) and ``true`` are refused, not coerced."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"must be a number, not {type(value).__name__} {value!r}")
        return super()._deserialize(value, attr, data, **kwargs)


class WholeNumberField(fields.Integer):
    """A whole number given as one: 5.7 is refused (not truncated to 5), so are "5" and true."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"must be a whole number, not {type(value).__name__} {value!r}")
        return super()._deserialize(value, attr, data, **kwargs)


class SiteField(fields.String):
    """A body site: the words runners use (see :data:`SITE_ALIASES`) load as region or site
    codes; the published schema lists the codes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=_one_of(SITES), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text is None:
            return None
        try:
            return normalize_site(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


# ---------------------------------------------------------------------------------------------
# Event dataclasses: the one declaration of each event (the schemas below are generated)
# ---------------------------------------------------------------------------------------------


def _f(
    validate: Any = None,
    *,
    default: Any = dataclasses.MISSING,
    field: type[fields.Field[Any]] | None = None,
    description: str | None = None,
) -> Any:
    """A dataclass field with how it is checked when an event is loaded: ``validate`` (a
    marshmallow validator), ``field`` (a marshmallow field class other than the one its type
    gives) and ``description`` (published in the JSON Schema). Required when it has no
    default; a default of None also accepts an explicit null."""
    meta = {"validate": validate, "field": field, "description": description}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _event_id() -> Any:
    return _f(validate.Length(min=1, max=200))


def _source() -> Any:
    return _f(validate.Length(min=1, max=100))


def _start() -> Any:
    return _f(_not_future_datetime)


def _utc_offset() -> Any:
    # Stored as 0 when absent from a dataclass built by hand; on load, taken from the timestamp.
    return _f(_range(-14 * 3600, 14 * 3600, "s"), default=0)


def _hr() -> Any:
    return _f(_range(25, 250, "bpm"), default=None)


def _rpe() -> Any:
    return _f(_range(0, 10, "(RPE 0-10)"), default=None)


def _day() -> Any:
    return _f(_not_future_date)


def _optional_day() -> Any:
    return _f(_not_future_date, default=None)


def _side() -> Any:
    return _f(_one_of(SIDES), default="none")


def _duration() -> Any:
    return _f(_range(0, MAX_DURATION_S, "s"), default=None)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PriorInjury:
    """A bone stress injury in the athlete's past, as told in the profile."""

    site: str = _f(field=SiteField)
    date: dt.date | None = _optional_day()
    side: str = _side()


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Profile:
    """Athlete profile; the latest by ``recorded`` wins."""

    kind: ClassVar[str] = "profile"
    id: str = _event_id()
    source: str = _source()
    recorded: dt.date = _day()
    sex: str | None = _f(_one_of(SEXES), default=None)
    birth_year: int | None = _f(_range(1900, 2025, ""), default=None)
    height_m: float | None = _f(_range(1.0, 2.5, "m", "height is in metres"), default=None)
    weight_kg: float | None = _f(_range(25, 250, "kg"), default=None)
    prior_bsi: tuple[PriorInjury, ...] = _f(default=())
    menarche_age_y: float | None = _f(_range(7, 25, "y"), default=None)
    menses_last_12_months: int | None = _f(_range(0, 20, ""), default=None)
    hormonal_contraception: bool | None = _f(default=None)
    bmd_z_score: float | None = _f(_range(-6, 6, "SD"), default=None)
    disordered_eating: str | None = _f(_one_of(DISORDERED_EATING), default=None)
    weight_loss_pct_month: float | None = _f(_range(0, 50, "%"), default=None)

    @property
    def day(self) -> dt.date:
        return self.recorded


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Run:
    """One run. ``start`` is UTC; ``utc_offset_s`` gives local time (and the training day)."""

    kind: ClassVar[str] = "run"
    id: str = _event_id()
    source: str = _source()
    start: dt.datetime = _start()
    distance_m: float = _f(_range(0, MAX_RUN_M, "m", "distance is in metres"), field=NumberField)
    utc_offset_s: int = _utc_offset()
    sport: str = _f(_one_of(RUN_SPORTS), default="run")
    moving_time_s: float | None = _duration()
    elapsed_time_s: float | None = _duration()
    elevation_gain_m: float | None = _f(_range(0, 20000, "m"), default=None)
    cadence_spm: float | None = _f(
        _range(
            100, 260, "steps/min", "cadence is steps per minute, both feet: double a per-foot value"
        ),
        default=None,
    )
    avg_hr_bpm: float | None = _hr()
    max_hr_bpm: float | None = _hr()
    surface: str | None = _f(_one_of(SURFACES), default=None)
    shoe_id: str | None = _f(default=None)
    rpe: float | None = _rpe()
    source_id: str | None = _f(default=None)
    also_sources: tuple[str, ...] = _f(default=())
    device: str | None = _f(default=None)

    @property
    def day(self) -> dt.date:
        return (self.start + dt.timedelta(seconds=self.utc_offset_s)).date()

    @property
    def duration_s(self) -> float | None:
        return self.moving_time_s if self.moving_time_s is not None else self.elapsed_time_s


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class CrossTraining:
    """A non-running session (ride, swim, walk, strength...)."""

    kind: ClassVar[str] = "cross_training"
    id: str = _event_id()
    source: str = _source()
    start: dt.datetime = _start()
    sport: str = _f(_one_of(CROSS_SPORTS))
    duration_s: float = _f(_range(0, MAX_DURATION_S, "s"))
    utc_offset_s: int = _utc_offset()
    distance_m: float | None = _f(_range(0, 2_000_000, "m"), default=None, field=NumberField)
    avg_hr_bpm: float | None = _hr()
    rpe: float | None = _rpe()
    shoe_id: str | None = _f(default=None)
    source_id: str | None = _f(default=None)
    also_sources: tuple[str, ...] = _f(default=())
    device: str | None = _f(default=None)

    @property
    def day(self) -> dt.date:
        return (self.start + dt.timedelta(seconds=self.utc_offset_s)).date()


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PainReport:
    """A pain report: where, how bad (0-10) and when it hurts."""

    kind: ClassVar[str] = "pain"
    id: str = _event_id()
    source: str = _source()
    date: dt.date = _day()
    site: str = _f(field=SiteField)
    severity: int = _f(_range(0, 10, "(pain 0-10)"), field=WholeNumberField)
    side: str = _side()
    with_activity: bool = _f(default=False)
    after_rest: bool = _f(default=False)
    at_rest: bool = _f(default=False)
    at_night: bool = _f(default=False)
    swelling: bool = _f(default=False)
    point_tenderness: bool = _f(default=False)
    hop_pain: bool = _f(default=False)
    worsening: bool = _f(default=False)
    stopped_run: bool = _f(
        default=False,
        description="The pain stopped the run (pain that stops a run is severe).",
    )
    note: str | None = _f(validate.Length(max=2000), default=None)

    @property
    def day(self) -> dt.date:
        return self.date


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Shoe:
    """A pair of shoes; distance is summed from runs plus ``start_distance_m``."""

    kind: ClassVar[str] = "shoe"
    id: str = _event_id()
    source: str = _source()
    name: str = _f(validate.Length(min=1, max=200))
    model: str | None = _f(default=None)
    first_used: dt.date | None = _optional_day()
    retired: dt.date | None = _optional_day()
    start_distance_m: float = _f(_range(0, 5_000_000, "m"), default=0.0, field=NumberField)

    @property
    def day(self) -> dt.date:
        return self.first_used or dt.date.min


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class NutritionLog:
    """A day's (or a typical day's) intake and expenditure."""

    kind: ClassVar[str] = "nutrition"
    id: str = _event_id()
    source: str = _source()
    date: dt.date = _day()
    energy_intake_kcal: float | None = _f(_range(0, 15000, "kcal/day"), default=None)
    exercise_energy_kcal: float | None = _f(_range(0, 15000, "kcal/day"), default=None)
    fat_free_mass_kg: float | None = _f(_range(15, 150, "kg"), default=None)
    calcium_mg: float | None = _f(_range(0, 10000, "mg/day"), default=None)
    vitamin_d_iu: float | None = _f(_range(0, 100000, "IU/day"), default=None)
    serum_25ohd_nmol_l: float | None = _f(
        _range(0, 600, "nmol/L", "ng/mL x 2.5 = nmol/L"), default=None
    )

    @property
    def day(self) -> dt.date:
        return self.date


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Injury:
    """A diagnosed bone stress injury (or reaction)."""

    kind: ClassVar[str] = "injury"
    id: str = _event_id()
    source: str = _source()
    date: dt.date = _day()
    site: str = _f(field=SiteField)
    side: str = _side()
    grade: int | None = _f(_range(1, 4, "(grade 1-4)"), default=None)
    cleared: dt.date | None = _optional_day()
    imaging_healed: bool | None = _f(default=None)
    hop_test_pain: int | None = _f(
        _range(0, 10, "(pain 0-10)"),
        default=None,
        description="Worst pain (0-10) when hopping 10-15 times on the injured leg.",
    )
    strength_test_passed: bool | None = _f(
        default=None, description="The return-to-run strength test was passed."
    )

    @property
    def day(self) -> dt.date:
        return self.date


Event: TypeAlias = Profile | Run | CrossTraining | PainReport | Shoe | NutritionLog | Injury

# ---------------------------------------------------------------------------------------------
# Schemas, generated from the dataclasses
# ---------------------------------------------------------------------------------------------


class _EventSchema(Schema):
    """What every event schema does besides its fields: refuse unknown fields and a kind that
    is not its own, and build the frozen dataclass (start in UTC, lists as tuples)."""

    class Meta:
        unknown = RAISE

    event_class: ClassVar[type[Any]]

    kind = fields.String(load_only=False)

    @validates_schema
    def _check_kind(self, data: Mapping[str, Any], **_: Any) -> None:
        kind = data.get("kind")
        if kind is not None and kind != self.event_class.kind:
            raise ValidationError(
                f"{kind!r} given to the {self.event_class.kind} schema", field_name="kind"
            )

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Any:
        data.pop("kind", None)
        start = data.get("start")
        if isinstance(start, dt.datetime):
            if data.get("utc_offset_s") is None:  # take the local offset from the timestamp
                offset = start.utcoffset()
                data["utc_offset_s"] = int(offset.total_seconds()) if offset else 0
            data["start"] = start.astimezone(dt.UTC)
        for key, value in list(data.items()):
            if isinstance(value, list):
                data[key] = tuple(value)
        return self.event_class(**data)


class _PriorInjuryBase(Schema):
    class Meta:
        unknown = RAISE

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> PriorInjury:
        return PriorInjury(**data)


class _RunChecks(_EventSchema):
    @validates_schema
    def _check_pace(self, data: Mapping[str, Any], **_: Any) -> None:
        duration = data.get("moving_time_s") or data.get("elapsed_time_s")
        distance = data.get("distance_m") or 0.0
        if duration and distance and distance / duration > 12.5:
            raise ValidationError(
                f"{distance:g} m in {duration:g} s is faster than any human runs "
                "(check the units: metres and seconds)",
                field_name="distance_m",
            )


class _InjuryChecks(_EventSchema):
    @validates_schema
    def _cleared_after(self, data: Mapping[str, Any], **_: Any) -> None:
        cleared, date = data.get("cleared"), data.get("date")
        if cleared and date and cleared < date:
            raise ValidationError(
                f"cleared {cleared.isoformat()} is before the diagnosis {date.isoformat()}",
                field_name="cleared",
            )


#: The marshmallow field for each annotated type (without ``| None``).
_FIELD_TYPES: dict[str, type[fields.Field[Any]]] = {
    "str": fields.String,
    "float": fields.Float,
    "int": fields.Integer,
    "bool": fields.Boolean,
    "dt.date": fields.Date,
    "dt.datetime": fields.AwareDateTime,
}


def _schema_field(f: dataclasses.Field[Any]) -> fields.Field[Any]:
    """The marshmallow field for one dataclass field (type, default and :func:`_f` metadata)."""
    annotation = str(f.type)
    base = annotation.removesuffix(" | None")
    kwargs: dict[str, Any] = {}
    if f.metadata.get("validate") is not None:
        kwargs["validate"] = f.metadata["validate"]
    if f.metadata.get("description"):
        kwargs["metadata"] = {"description": f.metadata["description"]}
    if f.default is dataclasses.MISSING:
        kwargs["required"] = True
    elif f.name == "utc_offset_s":  # absent: taken from the timestamp when the event loads
        kwargs.update(load_default=None, allow_none=True)
    else:
        kwargs["load_default"] = list if f.default == () else f.default
        if f.default is None:
            kwargs["allow_none"] = True
    if base == "tuple[str, ...]":
        return fields.List(fields.String(), **kwargs)
    if base == "tuple[PriorInjury, ...]":
        return fields.List(fields.Nested(PriorInjurySchema), **kwargs)
    return (f.metadata.get("field") or _FIELD_TYPES[base])(**kwargs)


def _schema_for(cls: type[Any], base: type[Schema] = _EventSchema) -> Any:
    """The load schema of a dataclass: one field per dataclass field, in the same order."""
    attrs: dict[str, Any] = {f.name: _schema_field(f) for f in dataclasses.fields(cls)}
    if issubclass(base, _EventSchema):
        attrs["event_class"] = cls
    return type(f"{cls.__name__}Schema", (base,), attrs)


PriorInjurySchema: type[Schema] = _schema_for(PriorInjury, _PriorInjuryBase)
ProfileSchema: type[_EventSchema] = _schema_for(Profile)
RunSchema: type[_EventSchema] = _schema_for(Run, _RunChecks)
CrossTrainingSchema: type[_EventSchema] = _schema_for(CrossTraining)
PainReportSchema: type[_EventSchema] = _schema_for(PainReport)
ShoeSchema: type[_EventSchema] = _schema_for(Shoe)
NutritionLogSchema: type[_EventSchema] = _schema_for(NutritionLog)
InjurySchema: type[_EventSchema] = _schema_for(Injury, _InjuryChecks)


SCHEMAS: dict[str, type[_EventSchema]] = {
    "profile": ProfileSchema,
    "run": RunSchema,
    "cross_training": CrossTrainingSchema,
    "pain": PainReportSchema,
    "shoe": ShoeSchema,
    "nutrition": NutritionLogSchema,
    "injury": InjurySchema,
}
EVENT_CLASSES: dict[str, type[Any]] = {k: s.event_class for k, s in SCHEMAS.items()}
_SCHEMA_CACHE: dict[str, _EventSchema] = {}


def _schema(kind: str) -> _EventSchema:
    schema = _SCHEMA_CACHE.get(kind)
    if schema is None:
        if kind not in SCHEMAS:
            raise InputError(
                f"unknown event kind {kind!r}; expected one of: {', '.join(SCHEMAS)}", field="kind"
            )
        schema = _SCHEMA_CACHE[kind] = SCHEMAS[kind]()
    return schema


def load_event(data: Mapping[str, Any], kind: str | None = None) -> Event:
    """Validate one event dict (``kind`` from the argument or the dict) into its dataclass."""
    if not isinstance(data, Mapping):
        raise InputError(f"an event must be a mapping, got {type(data).__name__}")
    kind = kind or data.get("kind")
    if not isinstance(kind, str):
        raise InputError("event has no 'kind'", field="kind")
    schema = _schema(kind)
    try:
        event: Event = schema.load(dict(data))
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        bad = {k: _with_value(v, data.get(k)) for k, v in messages.items()}
        raise EventValidationError(bad, kind=kind) from None
    return event


def _with_value(problem: Any, value: Any) -> Any:
    if value is None or not isinstance(problem, list):
        return problem
    text = " ".join(str(p) for p in problem)
    shown = repr(value)
    return problem if shown in text or len(shown) > 60 else [f"{text} (got {shown})"]


# ---------------------------------------------------------------------------------------------
# Fast path for events that were validated before (the store, our own adapters)
# ---------------------------------------------------------------------------------------------


def _to_float(value: Any) -> float:
    if type(value) is int:
        return float(value)
    raise TypeError(value)


def _to_date(value: Any) -> dt.date:
    return dt.date.fromisoformat(value)


def _to_strings(value: Any) -> tuple[str, ...]:
    out = tuple(value)
    if not isinstance(value, list | tuple) or any(type(v) is not str for v in out):
        raise TypeError(value)
    return out


def _to_prior(value: Any) -> tuple[PriorInjury, ...]:
    out = []
    for item in value:
        if not item.keys() <= {"site", "date", "side"}:
            raise KeyError(item.keys())
        date = item.get("date")
        site, side = item["site"], item.get("side", "none")
        if type(site) is not str or type(side) is not str:
            raise TypeError(item)
        out.append(PriorInjury(site=site, date=None if date is None else _to_date(date), side=side))
    return tuple(out)


def _offset(start: dt.datetime) -> int:
    offset = start.utcoffset()
    return int(offset.total_seconds()) if offset else 0


#: How a stored value of each annotated type is checked or converted (``v`` is not None).
_STORED_CODE = {
    "str": "if type({v}) is not str: raise TypeError({v})",
    "bool": "if type({v}) is not bool: raise TypeError({v})",
    "int": "if type({v}) is not int: raise TypeError({v})",
    "float": "if type({v}) is not float: {v} = _to_float({v})",
    "dt.date": "{v} = _to_date({v})",
    "dt.datetime": "{v} = _fromiso({v})\nif {v}.tzinfo is None: raise ValueError({v})",
    "tuple[str, ...]": "{v} = () if {v} == [] else _to_strings({v})",
    "tuple[PriorInjury, ...]": "{v} = _to_prior({v})",
}


def _stored_maker(cls: type[Any]) -> Any:
    """A function that builds ``cls`` from a stored dict: each field checked for its declared
    type and set directly (the frozen dataclass's ``__init__`` is most of the cost otherwise)."""
    names = [f.name for f in dataclasses.fields(cls)]
    env: dict[str, Any] = {
        "_new": object.__new__,
        "_cls": cls,
        "_allowed": frozenset([*names, "kind"]),
        "_to_float": _to_float,
        "_to_date": _to_date,
        "_fromiso": dt.datetime.fromisoformat,
        "_to_strings": _to_strings,
        "_to_prior": _to_prior,
        "_UTC": dt.UTC,
        "_offset": _offset,
    }
    for name in names:  # the slots' own setters: half the cost of object.__setattr__
        env[f"_s_{name}"] = cls.__dict__[name].__set__
    env["_names"] = tuple(names)
    local = [f"v_{name}" for name in names]
    lines = [
        "def make(d):",
        "    if not d.keys() <= _allowed or d.get('kind') != _cls.kind: raise KeyError(d.keys())",
        f"    ({', '.join(local)},) = map(d.get, _names)",  # one C loop for every field
        "    self = _new(_cls)",
    ]
    for f in dataclasses.fields(cls):
        annotation = str(f.type).removesuffix(" | None")
        code = _STORED_CODE[annotation].format(v=f"v_{f.name}")
        check = code.replace("\n", "\n    ")  # a check of two lines, at the top level
        nested = code.replace("\n", "\n        ")  # the same under an if/else
        if f.default is dataclasses.MISSING:
            lines.append(f"    if v_{f.name} is None: raise KeyError({f.name!r})")
            lines.append(f"    {check}")
        elif f.name == "utc_offset_s":  # the local offset from the timestamp, as load_event
            lines.append(f"    if v_{f.name} is None: v_{f.name} = _offset(v_start)")
            lines.append("    else:")
            lines.append(f"        {nested}")
        elif f.default is None:  # absent: stays None
            lines.append(f"    if v_{f.name} is not None:")
            lines.append(f"        {nested}")
        else:
            env[f"_d_{f.name}"] = f.default
            lines.append(f"    if v_{f.name} is None: v_{f.name} = _d_{f.name}")
            lines.append("    else:")
            lines.append(f"        {nested}")
        lines.append(f"    _s_{f.name}(self, v_{f.name})")
    if "start" in names:
        lines.append("    if v_start.tzinfo is not _UTC: _s_start(self, v_start.astimezone(_UTC))")
    lines.append("    return self")
    exec("\n".join(lines), env)  # code built from our own dataclass fields only
    return env["make"]


class _Makers(dict[str, Any]):
    """Kind -> its stored-dict constructor, generated on first use (not at import)."""

    def __missing__(self, kind: str) -> Any:
        maker = self[kind] = _stored_maker(EVENT_CLASSES[kind])
        return maker


_STORED_MAKERS = _Makers()


def load_stored_event(data: Mapping[str, Any]) -> Event:
    """An event dict that was validated before (what :func:`dump_event` wrote, e.g. in the
    store) into its dataclass without schema validation: the same frozen dataclass
    :func:`load_event` builds, 10-20 times faster. Only the shape is checked (known kind and
    fields, the types the dataclass declares, required fields present); a dict that does not
    fit goes through :func:`load_event`, which validates it and raises as usual. Values are not
    range-checked: use this for dicts from the store and our own adapters, never for input from
    outside."""
    try:
        event: Event = _STORED_MAKERS[data["kind"]](data)
    except (KeyError, TypeError, ValueError, AttributeError):
        return load_event(data)
    return event


def dump_stored_event(event: Event) -> dict[str, Any]:
    """:func:`dump_event` without the fields that are not set (None or an empty list): what a
    store needs to keep, about half the JSON to read back (:func:`load_stored_event` fills the
    defaults in again)."""
    return {k: v for k, v in dump_event(event).items() if v is not None and v != []}


def load_stored_json(texts: Iterable[str]) -> list[Event]:
    """Events from the JSON text of stored rows (one event object per text, as the store keeps
    them), decoded in one pass (orjson: 2-3x faster than the standard library here) and then
    :func:`load_stored_events` on the decoded dicts."""
    text = "[" + ",".join(texts) + "]"
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError:
        items = json.loads(text)  # the standard library's reading and error, as before
    return load_stored_events(items)


def load_stored_events(items: Iterable[Mapping[str, Any]]) -> list[Event]:
    """:func:`load_stored_event` for many dicts (the store's rows, an app's own cache)."""
    makers = _STORED_MAKERS
    out: list[Event] = []
    for data in items:
        try:
            out.append(makers[data["kind"]](data))
        except (KeyError, TypeError, ValueError, AttributeError):
            out.append(load_event(data))
    return out


def dump_event(event: Event) -> dict[str, Any]:
    """Serialize an event to a JSON-ready dict in the published schema (with ``kind``)."""
    out: dict[str, Any] = {"kind": event.kind}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        out[f.name] = _jsonable(value)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def stable_id(source: str, *parts: object) -> str:
    """A deterministic event id from its source and identifying content."""
    digest = hashlib.blake2b(
        json.dumps([source, *[_jsonable(p) for p in parts]], default=str).encode(), digest_size=8
    ).hexdigest()
    return f"{source}:{digest}"


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12 style, via apispec) for every event kind."""
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    spec = APISpec(
        title="stridewise events",
        version="1",
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
    )
    for kind, schema_cls in SCHEMAS.items():
        spec.components.schema(kind, schema=schema_cls)
    components: dict[str, Any] = spec.to_dict()["components"]["schemas"]
    for kind, body in components.items():
        if kind in SCHEMAS:
            body.setdefault("properties", {})["kind"] = {"type": "string", "const": kind}
            body["required"] = sorted({*body.get("required", []), "kind"})
            body["additionalProperties"] = False
    defs = {
        name: retarget_refs(body, "#/components/schemas/", "#/$defs/")
        for name, body in components.items()
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://stridewise.invalid/schema/events.json",
        "title": "stridewise normalized event",
        "description": "SI units; field names carry their unit. One object per event.",
        "oneOf": [{"$ref": f"#/$defs/{kind}"} for kind in SCHEMAS],
        "$defs": defs,
    }


def retarget_refs(node: Any, old: str, new: str) -> Any:
    """A JSON Schema document with every ``$ref`` prefix ``old`` replaced by ``new`` (OpenAPI
    components to JSON Schema ``$defs`` and back)."""
    if isinstance(node, dict):
        return {
            k: (
                v.replace(old, new)
                if k == "$ref" and isinstance(v, str)
                else retarget_refs(v, old, new)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [retarget_refs(v, old, new) for v in node]
    return node


# ---------------------------------------------------------------------------------------------
# Cross-source de-duplication
# ---------------------------------------------------------------------------------------------

#: Two activities are the same when their UTC starts are this close...
DEDUP_START_S = 120.0
#: ...and their distances differ by at most this fraction (of the longer one).
DEDUP_DISTANCE_FRACTION = 0.03


def _same_activity(a: Run | CrossTraining, b: Run | CrossTraining) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, CrossTraining) and a.sport != b.sport:
        return False
    if abs((a.start - b.start).total_seconds()) > DEDUP_START_S:
        return False
    da, db = a.distance_m or 0.0, b.distance_m or 0.0
    if da == 0.0 and db == 0.0:
        return True
    return abs(da - db) <= DEDUP_DISTANCE_FRACTION * max(da, db)


def _richness(e: Run | CrossTraining) -> tuple[int, int]:
    filled = sum(
        1
        for f in dataclasses.fields(e)
        if getattr(e, f.name) not in (None, (), "") and f.name not in ("id", "source")
    )
    return filled, 0 if e.source == "strava" else 1  # on a tie, prefer the device's own file


def _merge(keep: Any, other: Any) -> Any:
    """``keep`` with gaps filled from ``other`` and both records' ids remembered."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(keep):
        if getattr(keep, f.name) is None and getattr(other, f.name) is not None:
            changes[f.name] = getattr(other, f.name)
    also = [*keep.also_sources]
    for ref in (other.id, *other.also_sources):
        if ref not in also and ref != keep.id:
            also.append(ref)
    changes["also_sources"] = tuple(also)
    return dataclasses.replace(keep, **changes)


def _family(e: Run | CrossTraining) -> str:
    """Runs of every kind are one sport here (a watch's trail run is Strava's run)."""
    return "run" if isinstance(e, Run) else f"cross:{e.sport}"


def _sources_of(e: Run | CrossTraining) -> set[str]:
    """The sources a record holds: its own, and those of the records merged into it."""
    return {e.source, *(ref.partition(":")[0] for ref in e.also_sources)}


#: Half-width, in log(distance), of "distances within DEDUP_DISTANCE_FRACTION".
_LOG_TOLERANCE = -math.log(1.0 - DEDUP_DISTANCE_FRACTION) + 1e-9
_NO_DISTANCE = -1e300  # all activities without distance sort together, apart from the rest


def _log_distance(e: Run | CrossTraining) -> float:
    d = e.distance_m or 0.0
    return math.log(d) if d > 0 else _NO_DISTANCE


def deduplicate(
    events: Iterable[Event],
    *,
    merges: list[tuple[Run | CrossTraining, Run | CrossTraining]] | None = None,
) -> tuple[list[Event], int]:
    """Merge the same activity recorded by several sources; return events and merges made.

    Same sport (every kind of run counts as running), UTC start within
    :data:`DEDUP_START_S`, distance within :data:`DEDUP_DISTANCE_FRACTION`, and *different
    sources*: two sessions from one export or one folder are two sessions, and a record takes
    in at most one activity per source. The richer record is kept (more fields filled), its
    gaps filled from the other, and the other's ids kept in ``also_sources``. Exact id repeats
    (re-importing the same file), and records already merged into one present here, collapse
    silently and are not counted as merges. ``merges``, if given, receives (kept, merged) for
    each merge made.

    Near-linear: candidates are looked up per sport and source among the records of the last
    :data:`DEDUP_START_S` seconds, sorted by distance (32,000 activities starting at the same
    second take well under a second).
    """
    by_id: dict[str, Event] = {}
    for e in events:
        by_id[e.id] = e
    others = [e for e in by_id.values() if not isinstance(e, Run | CrossTraining)]
    # Records that already hold others (a stored merge) first: what they hold collapses.
    candidates = sorted(
        (e for e in by_id.values() if isinstance(e, Run | CrossTraining)),
        key=lambda e: -len(e.also_sources),
    )
    absorbed: set[str] = set()
    activities: list[Run | CrossTraining] = []
    for act in candidates:
        if act.id in absorbed:
            continue
        absorbed.update(act.also_sources)
        activities.append(act)
    activities.sort(key=lambda e: e.start)

    kept: list[Run | CrossTraining] = []
    held: list[set[str]] = []  # sources each kept record holds
    placed: list[float] = []  # the log-distance each kept record is filed under
    window: dict[str, collections.deque[int]] = {}  # per sport: kept records, oldest first
    pools: dict[str, dict[str, list[tuple[float, int]]]] = {}  # sport -> source -> sorted
    merged = 0
    for act in activities:
        family, source, ld = _family(act), act.source, _log_distance(act)
        recent = window.setdefault(family, collections.deque())
        while recent and (act.start - kept[recent[0]].start).total_seconds() > DEDUP_START_S:
            recent.popleft()
        by_source = pools.setdefault(family, {})
        pool = by_source.get(source)
        if pool is None:  # first record of this source and sport: what it may merge with
            pool = sorted((placed[k], k) for k in recent if source not in held[k])
            by_source[source] = pool
        i = bisect.bisect_left(pool, (ld - _LOG_TOLERANCE, -1))
        found = None
        while i < len(pool) and pool[i][0] <= ld + _LOG_TOLERANCE:
            k = pool[i][1]
            twin = kept[k]
            if (act.start - twin.start).total_seconds() > DEDUP_START_S:
                del pool[i]  # too old for this and every later activity
            elif _same_activity(twin, act) and not (_sources_of(act) & held[k]):
                found = k
                break
            else:
                i += 1
        if found is None:
            k = len(kept)
            kept.append(act)
            held.append(_sources_of(act))
            placed.append(ld)
            recent.append(k)
            for other_source, other_pool in by_source.items():
                if other_source not in held[k]:
                    bisect.insort(other_pool, (ld, k))
            continue
        twin = kept[found]
        keep, other = (twin, act) if _richness(twin) >= _richness(act) else (act, twin)
        kept[found] = _merge(keep, other)
        merged += 1
        if merges is not None:
            merges.append((keep, other))
        held[found] |= _sources_of(act)
        old, new = placed[found], _log_distance(kept[found])
        placed[found] = new
        for other_source, other_pool in by_source.items():
            j = bisect.bisect_left(other_pool, (old, found))
            present = j < len(other_pool) and other_pool[j] == (old, found)
            if present:
                del other_pool[j]
            if present and other_source not in held[found]:
                bisect.insort(other_pool, (new, found))
    return [*others, *kept], merged
