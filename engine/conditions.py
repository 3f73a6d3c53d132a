"""The condition language of rule packs, in one place.

A rule's ``when`` binds facts by type and tests their fields (see docs/packs.md)::

    - fact: training                         # bind a fact by type (alias = type, or `as:`)
      where:                                 # field tests, and-ed; nest {any: [...]}/{all: [...]}
        enough_history: true                 # a bare value means eq
        acwr_ewma: {gt: $acwr_danger}        # $name = a pack parameter
        site: {in: [tibia, navicular]}
        cadence_28d_spm: {exists: false}
    - fact: pain
      where: {severity: {gte: {ref: training.days_since_rest}}}   # a join on an earlier alias

This module owns everything that gives those tests their meaning, and every reader uses it:

- :data:`CATALOGUE`: every fact type the engine asserts and every field of it, with type, unit,
  range, allowed values and a description (:data:`FACT_FIELDS` is its type-only view). The
  loader checks rules against it, lint reads its ranges and allowed values, and the field
  reference in docs/packs.md is generated from it (:func:`catalogue_markdown`).
- :data:`OPERATORS` and :func:`compare` / :func:`passes`: what each test means, with the one
  :data:`MISSING` marker for a field a fact does not have (every test fails on it except
  ``exists: false``; a ``None`` value counts as missing).
- Type rules: :func:`type_of`, :func:`compatible`, :data:`ORDERED_TYPES`.
- Two compilations of a pattern's tests: :func:`core_test` (the JSON conditions the rules
  core runs) and :func:`python_filter` (joins, checked in Python on each match). Explain and
  lint read the tests with :func:`passes` and :func:`describe_test`.

Mixed types: an ordering test (``gt gte lt lte``) between a number and a string never holds,
as in the rules core. The loader refuses such a test when it can see the types; only a join on
a derived field two rules fill with different kinds of value can meet one at run time, and then
:func:`python_filter` raises :class:`TypeError`: the pack is reported as failed, never quietly
silent.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from .cards import fmt_value
from .events import DISORDERED_EATING, SEXES, SIDES, SITES, SURFACES

__all__ = [
    "CATALOGUE",
    "FACT_FIELDS",
    "FACT_TYPES",
    "MISSING",
    "OPERATORS",
    "ORDERED_TYPES",
    "PLACEHOLDER",
    "PY_TYPES",
    "SYMBOLS",
    "Field",
    "Filter",
    "allowed_values",
    "catalogue_markdown",
    "comparable",
    "compare",
    "compatible",
    "core_test",
    "describe_test",
    "domain_note",
    "field_spec",
    "has_ref",
    "is_ref",
    "ops",
    "param_name",
    "passes",
    "python_filter",
    "range_of",
    "resolve_operand",
    "resolve_param",
    "rule_aliases",
    "rule_patterns",
    "type_of",
    "value_of",
    "value_problem",
]

# ---------------------------------------------------------------------------------------------
# The missing marker and the operators
# ---------------------------------------------------------------------------------------------


class _Missing:
    """A fact without the field: every test fails on it except ``exists: false``."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<missing>"

    def __copy__(self) -> _Missing:
        return self

    def __deepcopy__(self, memo: Any) -> _Missing:
        return self


#: The one marker for "this fact has no such field" (explain, lint and the join filters).
MISSING: Any = _Missing()

#: Every test of the language and the rules core's operator for it (``eq`` is a bare value;
#: ``in`` becomes an ``$or`` of ``eq``; ``exists`` becomes ``$ex`` / ``$nex``).
OPERATORS: Mapping[str, str | None] = MappingProxyType(
    {
        "gt": "$gt",
        "gte": "$gte",
        "lt": "$lt",
        "lte": "$lte",
        "eq": None,
        "ne": "$neq",
        "in": "$or",
        "exists": "$ex",
    }
)
#: How a test reads in an explanation or a lint finding.
SYMBOLS: Mapping[str, str] = MappingProxyType(
    {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "ne": "!=", "in": "in"}
)
#: Field types an ordering test (gt, gte, lt, lte) may be used on.
ORDERED_TYPES = frozenset({"number", "integer", "any"})
_ORDERING = frozenset({"gt", "gte", "lt", "lte"})
#: The Python types a value of each field or parameter type may have.
PY_TYPES: Mapping[str, tuple[type, ...]] = MappingProxyType(
    {"number": (int, float), "integer": (int,), "boolean": (bool,), "string": (str,)}
)


def value_of(fact: Mapping[str, Any], field: str) -> Any:
    """A fact's field value, or :data:`MISSING` (absent or ``None``)."""
    value = fact.get(field, MISSING)
    return MISSING if value is None else value


def comparable(value: Any, operand: Any) -> bool:
    """Whether an ordering test between the two can hold: numbers with numbers (booleans
    count as 0/1, as in the rules core), strings with strings."""
    if isinstance(value, int | float) and isinstance(operand, int | float):
        return True
    return isinstance(value, str) and isinstance(operand, str)


def compare(op: str, value: Any, operand: Any) -> bool:
    """One field test on a present value, as the rules core applies it (see :func:`passes`).

    Any other mix of types than :func:`comparable` allows never matches an ordering test.
    """
    if op == "in":
        return any(compare("eq", value, o) for o in operand)
    if op == "eq":
        return bool(value == operand)
    if op == "ne":
        return bool(value != operand)
    if op not in _ORDERING:
        raise ValueError(f"unknown operator {op!r}")
    if not comparable(value, operand):
        return False
    if op == "gt":
        return bool(value > operand)
    if op == "gte":
        return bool(value >= operand)
    if op == "lt":
        return bool(value < operand)
    return bool(value <= operand)


def passes(op: str, value: Any, operand: Any) -> bool:
    """A field test on a value that may be :data:`MISSING`."""
    if op == "exists":
        return (value is not MISSING) == bool(operand)
    if value is MISSING:
        return False
    return compare(op, value, operand)


def ops(value: Any) -> list[tuple[str, Any]]:
    """The (operator, operand) tests of one field entry (a bare value is ``eq``)."""
    return list(value.items()) if isinstance(value, Mapping) else [("eq", value)]


def is_ref(operand: Any) -> bool:
    """Whether an operand is a join ``{ref: alias.field}``."""
    return isinstance(operand, Mapping) and "ref" in operand


def has_ref(node: Any) -> bool:
    """Whether a pattern's tests hold a join anywhere."""
    if isinstance(node, Mapping):
        return "ref" in node or any(has_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(has_ref(v) for v in node)
    return False


def param_name(operand: Any) -> str | None:
    """``name`` for a ``$name`` operand, else None."""
    return operand[1:] if isinstance(operand, str) and operand.startswith("$") else None


def resolve_param(operand: Any, params: Mapping[str, Any]) -> Any:
    """An operand with ``$name`` parameters replaced by their values (lists too)."""
    name = param_name(operand)
    if name is not None and name in params:
        return params[name]
    if isinstance(operand, list):
        return [resolve_param(o, params) for o in operand]
    return operand


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(fmt_value(v) for v in value)
    return fmt_value(value)


def describe_test(op: str, operand: Any, params: Mapping[str, Any]) -> str:
    """A test in words: ``> 50 (threshold)``, ``one of tibia, navicular``, ``present``."""
    if op == "exists":
        return "present" if operand else "absent"
    if is_ref(operand):
        shown = operand["ref"]
    else:
        shown = _show(resolve_param(operand, params))
        name = param_name(operand)
        if name is not None:
            shown += f" ({name})"
    if op == "in":
        return f"one of {shown}"
    return f"{SYMBOLS[op]} {shown}"


# ---------------------------------------------------------------------------------------------
# Type rules
# ---------------------------------------------------------------------------------------------


def type_of(value: Any) -> str:
    """The field type of a literal in a pack."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def compatible(want: str, got: str) -> bool:
    """Whether a field of type ``want`` may be tested against a value of type ``got``."""
    if "any" in (want, got) or want == got:
        return True
    return {want, got} == {"number", "integer"}


# ---------------------------------------------------------------------------------------------
# The field catalogue
# ---------------------------------------------------------------------------------------------

_INF = math.inf


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """One field of a fact type: what rules may test and how its value is bounded."""

    name: str
    type: str  # number | integer | boolean | string
    description: str
    unit: str | None = None
    min: float = -_INF
    max: float = _INF
    allowed: tuple[str, ...] | None = None

    @property
    def range(self) -> tuple[float, float]:
        """(lowest, highest) value the engine can give the field (infinite: unbounded)."""
        return (self.min, self.max)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.unit:
            out["unit"] = self.unit
        if math.isfinite(self.min):
            out["min"] = self.min
        if math.isfinite(self.max):
            out["max"] = self.max
        if self.allowed is not None:
            out["allowed"] = list(self.allowed)
        return out


#: Surfaces a run's distance is counted under (``mixed`` and ``unknown`` are not a surface).
KNOWN_SURFACES = tuple(s for s in SURFACES if s not in ("mixed", "unknown"))
#: The walk-run ladder's phases (engine/facts.py LADDER_PHASES; a test keeps them equal).
_LADDER_PHASES = 6
#: Monotony's cap (engine/facts.py MONOTONY_CAP; a test keeps them equal).
_MONOTONY_CAP = 10.0
LADDER_ACTIONS = ("start", "session", "hold", "step_back", "complete")

_KM, _MIN, _DAYS, _PCT = "km", "min", "days", "%"


def _num(name: str, unit: str | None, lo: float, hi: float, text: str) -> Field:
    return Field(name, "number", text, unit, lo, hi)


def _int(name: str, unit: str | None, lo: float, hi: float, text: str) -> Field:
    return Field(name, "integer", text, unit, lo, hi)


def _bool(name: str, text: str) -> Field:
    return Field(name, "boolean", text)


def _str(name: str, text: str, allowed: tuple[str, ...] | None = None) -> Field:
    return Field(name, "string", text, allowed=allowed)


def _table(*fields: Field) -> Mapping[str, Field]:
    return MappingProxyType({f.name: f for f in fields})


_TRAINING = _table(
    _int("days_of_history", _DAYS, 0, _INF, "days since the first logged activity, today included"),
    _bool("enough_history", "at least 28 days of history (ratios are not reported before)"),
    _num("today_km", _KM, 0, _INF, "distance run today"),
    _num("today_longest_run_km", _KM, 0, _INF, "longest single run today"),
    _num("load_7d_km", _KM, 0, _INF, "distance run in the last 7 days, today included"),
    _num("load_28d_km", _KM, 0, _INF, "distance run in the last 28 days, today included"),
    _num("load_7d_min", _MIN, 0, _INF, "running time in the last 7 days"),
    _num("load_28d_min", _MIN, 0, _INF, "running time in the last 28 days"),
    _num("longest_run_30d_km", _KM, 0, _INF, "longest single run in the 30 days before today"),
    _int("days_since_rest", _DAYS, 0, _INF, "days in a row with a run, up to and with today"),
    _num(
        "acwr_rolling",
        None,
        0,
        _INF,
        "last 7 days' distance against the weekly average of the last 28 (rolling "
        "acute:chronic workload ratio, Gabbett 2016); only with 4 weeks of history",
    ),
    _num(
        "acwr_uncoupled",
        None,
        0,
        _INF,
        "daily average of the last 7 days against that of days 8-28 before (uncoupled ratio)",
    ),
    _num(
        "acwr_ewma",
        None,
        0,
        _INF,
        "exponentially weighted 7-day against 28-day load (EWMA ratio, Williams 2017)",
    ),
    _num("acwr_ewma_srpe", None, 0, _INF, "the EWMA ratio on session effort (RPE x minutes)"),
    _num("load_7d_srpe", "RPE x min", 0, _INF, "session effort of the last 7 days (Foster)"),
    _num("week_change_pct", _PCT, -100, _INF, "last 7 days' distance against the 7 before"),
    _num("two_week_change_pct", _PCT, -100, _INF, "last 14 days' distance against the 14 before"),
    _num(
        "monotony",
        None,
        0,
        _MONOTONY_CAP,
        "mean / standard deviation of the last 7 daily distances (Foster 1998), capped at 10",
    ),
    _num("strain", None, 0, _INF, "last 7 days' distance x monotony (Foster 1998)"),
    _num(
        "run_vs_longest_30d_pct",
        _PCT,
        -100,
        _INF,
        "today's longest run against the longest of the 30 days before",
    ),
    _num("cadence_28d_spm", "steps/min", 0, _INF, "average cadence of the last 28 days' runs"),
    _int("days_since_last_run", _DAYS, 0, _INF, "days since the last run (0: ran today)"),
    _int(
        "longest_break_28d_days",
        _DAYS,
        0,
        _INF,
        "longest break from running (days in a row without a run) that reaches into the last "
        "28 days, counted in full",
    ),
    _num("load_28d_change_pct", _PCT, -100, _INF, "last 28 days' distance against the 28 before"),
    _num("strain_28d_mean", None, 0, _INF, "average daily strain over the 28 days before today"),
    _num("strain_vs_28d_pct", _PCT, -100, _INF, "today's strain against that average"),
    _str("main_surface_7d", "surface with most of the last 7 days' distance", KNOWN_SURFACES),
    _num("main_surface_7d_share_pct", _PCT, 0, 100, "that surface's share of the known distance"),
    _num("surface_known_7d_pct", _PCT, 0, 100, "share of the last 7 days' distance with a surface"),
    _num(
        "main_surface_prev28_share_pct",
        _PCT,
        0,
        100,
        "share of the 28 days before the last 7 on this week's main surface",
    ),
    _str(
        "usual_surface_prev28",
        "surface with most distance in the 28 days before the last 7",
        KNOWN_SURFACES,
    ),
    _int("run_days_in_a_row", _DAYS, 0, _INF, "days in a row with a run (today counts once run)"),
    _int("run_days_7d", _DAYS, 0, 7, "days with a run in the last 7"),
    _int("run_days_28d", _DAYS, 0, 28, "days with a run in the last 28"),
    _int("run_days_before_30d", _DAYS, 0, 30, "days with a run in the 30 before today"),
    _int("strength_sessions_28d", None, 0, _INF, "strength sessions in the last 28 days"),
    _num("weekly_avg_28d_km", _KM, 0, _INF, "weekly average distance over the last 28 days"),
    _num("weekly_avg_prev21_km", _KM, 0, _INF, "weekly average of the 21 days before the last 7"),
    _num("ewma_acute_km_day", _KM, 0, _INF, "7-day exponentially weighted daily distance"),
    _num("ewma_chronic_km_day", _KM, 0, _INF, "28-day exponentially weighted daily distance"),
    _num("prev_7d_km", _KM, 0, _INF, "distance run in the 7 days before the last 7"),
    _num("monotony_srpe", None, 0, _MONOTONY_CAP, "monotony of the daily session effort"),
    _num("strain_srpe", None, 0, _INF, "last 7 days' session effort x its monotony"),
    _num("strain_srpe_28d_mean", None, 0, _INF, "average daily effort strain, 28 days before"),
    _num("strain_srpe_vs_28d_pct", _PCT, -100, _INF, "today's effort strain against that average"),
    _num("longest_run_7d_km", _KM, 0, _INF, "longest single run of the last 7 days"),
    _num("long_run_share_7d_pct", _PCT, 0, 100, "that run's share of the last 7 days' distance"),
    _int("days_since_break", _DAYS, 0, _INF, "days since the longest break of the last 28 ended"),
    _num("pre_break_weekly_km", _KM, 0, _INF, "weekly distance in the 4 weeks before that break"),
    _num("pre_break_run_km", _KM, 0, _INF, "distance per running day in those 4 weeks"),
    _num(
        "comeback_7d_vs_usual_pct",
        _PCT,
        0,
        _INF,
        "last 7 days' distance against the weekly distance before the break",
    ),
    _num(
        "comeback_run_vs_usual_pct",
        _PCT,
        0,
        _INF,
        "longest run since the break against the usual run before it",
    ),
    _num(
        "hard_surface_28d_pct",
        _PCT,
        0,
        100,
        "share of the last 28 days' known distance on road or track",
    ),
    _num(
        "surface_known_28d_pct", _PCT, 0, 100, "share of the last 28 days' distance with a surface"
    ),
)

_ATHLETE = _table(
    _bool("has_profile", "a profile was recorded (when false, no other field is present)"),
    _str("sex", "sex as recorded", SEXES),
    _int("age_y", "years", 0, 130, "age this year"),
    _num("weight_kg", "kg", 0, _INF, "body weight"),
    _num("height_m", "m", 0, _INF, "body height"),
    _num("bmi", "kg/m²", 0, _INF, "body mass index (weight / height²)"),
    _int("prior_bsi_count", None, 0, _INF, "earlier bone stress injuries (profile and logged)"),
    _bool("prior_high_risk_bsi", "an earlier bone stress injury at a high-risk site"),
    _bool(
        "prior_trabecular_bsi", "an earlier one at a trabecular site (femoral neck, pelvis, sacrum)"
    ),
    _num("menarche_age_y", "years", 7, 25, "age at the first period"),
    _int("menses_last_12_months", None, 0, 20, "periods in the last 12 months"),
    _num("bmd_z_score", "SD", -6, 6, "bone density Z-score"),
    _str("disordered_eating", "disordered eating as recorded", DISORDERED_EATING),
    _num("weight_loss_pct_month", _PCT, 0, 50, "weight lost in the last month"),
    _bool("hormonal_contraception", "uses hormonal contraception"),
    _int("profile_age_days", _DAYS, 0, _INF, "days since the profile was recorded"),
)

_SHOE = _table(
    _str("shoe_id", "the shoe's id"),
    _str("name", "the shoe's name"),
    _num("distance_km", _KM, 0, _INF, "distance on the shoe, its start distance included"),
    _num("km_last_7d", _KM, 0, _INF, "distance run in it in the last 7 days"),
    _num("share_of_7d_pct", _PCT, 0, 100, "its share of the last 7 days' distance"),
    _num("km_before_last_7d", _KM, 0, _INF, "distance on it before the last 7 days"),
    _num("km_last_28d", _KM, 0, _INF, "distance run in it in the last 28 days"),
    _num("share_of_28d_pct", _PCT, 0, 100, "its share of the last 28 days' distance"),
    _int("days_in_use", _DAYS, 0, _INF, "days since it was first used"),
)

_PAIN = _table(
    _str("report_id", "the pain report's id"),
    _int("days_ago", _DAYS, 0, _INF, "days since the report (reports of the last 14 days)"),
    _str("site", "where it hurts (a site or a region)", SITES),
    _str("site_label", "the site in plain words"),
    _bool("high_risk_site", "a site where a stress fracture heals poorly"),
    _str("side", "left, right, both or none", SIDES),
    _int("severity", "0-10", 0, 10, "pain on a 0-10 scale"),
    _bool("with_activity", "hurts while running or walking"),
    _bool("after_rest", "still hurts after rest"),
    _bool("at_rest", "hurts at rest"),
    _bool("at_night", "hurts at night"),
    _bool("swelling", "swelling at the spot"),
    _bool("point_tenderness", "one spot on the bone hurts to press"),
    _bool("hop_pain", "hopping on that leg hurts"),
    _bool("worsening", "getting worse"),
    _bool("stopped_run", "the pain stopped a run"),
    _bool("possible_high_risk_site", "a high-risk site, or a region that may hold one"),
    _bool("near_prior_bsi", "at or near an earlier bone stress injury"),
    _str("prior_bsi_site_label", "that earlier injury's site in plain words"),
)

_INJURY = _table(
    _str("injury_id", "the injury's id"),
    _str("site", "the diagnosed site", SITES),
    _str("site_label", "the site in plain words"),
    _bool("high_risk_site", "a site where a stress fracture heals poorly"),
    _int("days_since_diagnosis", _DAYS, 0, _INF, "days since the diagnosis"),
    _bool("cleared", "a clinician cleared a return to running"),
    _int("days_since_cleared", _DAYS, 0, _INF, "days since the clearance"),
    _bool("imaging_healed", "imaging shows the bone healed"),
    _int("hop_test_pain", "0-10", 0, 10, "pain during the hop test, 0-10"),
    _bool("strength_test_passed", "the strength test was passed"),
    _int("grade", None, 1, 4, "injury grade, 1-4"),
    _bool("latest", "the most recent injury"),
    _int("runs_since_diagnosis", None, 0, _INF, "days with a run since the diagnosis"),
    _int("last_run_days_ago", _DAYS, 0, _INF, "days since the last run after the diagnosis"),
    _num("last_run_km", _KM, 0, _INF, "that run's distance"),
    _num("pre_injury_weekly_km", _KM, 0, _INF, "weekly distance in the 4 weeks before it"),
    _num("pre_injury_run_km", _KM, 0, _INF, "distance per running day in those 4 weeks"),
    _int("days_since_pain", _DAYS, 0, _INF, "days since the last pain after the diagnosis"),
    _num("walk_pain_free_min_14d", _MIN, 0, _INF, "longest pain-free walk, last 14 days"),
    _num("cross_training_min_14d", _MIN, 0, _INF, "cross-training in the last 14 days"),
    _num(
        "cross_training_pain_free_min_14d",
        _MIN,
        0,
        _INF,
        "cross-training since the last pain, in the last 14 days",
    ),
    _int("runs_since_cleared", None, 0, _INF, "days with a run since the clearance"),
    _num("km_since_cleared", _KM, 0, _INF, "distance run since the clearance"),
    _num("last_run_vs_usual_pct", _PCT, 0, _INF, "last run against the usual run before"),
    _int("ladder_phase", None, 1, _LADDER_PHASES, "the walk-run ladder phase of the next session"),
    _int("ladder_sessions_in_phase", None, 0, _INF, "pain-free sessions done at that phase"),
    _bool("ladder_complete", "the walk-run ladder is finished"),
    _int("ladder_complete_days_ago", _DAYS, 0, _INF, "days since it was finished"),
    _str("ladder_last_action", "what the last ladder event did", LADDER_ACTIONS),
    _int("ladder_action_days_ago", _DAYS, 0, _INF, "days since that event"),
)

_NUTRITION = _table(
    _str("log_id", "the nutrition log's id"),
    _int("days_ago", _DAYS, 0, _INF, "days since the log (logs of the last 90 days)"),
    _num(
        "energy_availability_kcal_per_kg_ffm",
        "kcal/kg fat-free mass/day",
        -_INF,
        _INF,
        "energy left for the body after training: (intake - exercise energy) / fat-free mass",
    ),
    _num("energy_intake_kcal", "kcal/day", 0, _INF, "energy eaten per day"),
    _num("calcium_mg", "mg/day", 0, _INF, "calcium per day"),
    _num("vitamin_d_iu", "IU/day", 0, _INF, "vitamin D taken per day"),
    _num("serum_25ohd_nmol_l", "nmol/L", 0, _INF, "vitamin D blood level (25(OH)D)"),
    _int("prev_log_days_before", _DAYS, 0, _INF, "days between this log and the one before"),
    _num("intake_change_pct", _PCT, -100, _INF, "energy intake against the log before"),
    _num(
        "load_change_pct",
        _PCT,
        -100,
        _INF,
        "28-day distance at this log against that at the log before",
    ),
)

#: Every fact type the engine asserts, field by field.
CATALOGUE: Mapping[str, Mapping[str, Field]] = MappingProxyType(
    {
        "training": _TRAINING,
        "athlete": _ATHLETE,
        "shoe": _SHOE,
        "pain": _PAIN,
        "injury": _INJURY,
        "nutrition": _NUTRITION,
    }
)
#: Fact type -> field -> type: the catalogue's type-only view (what the loader checks rules by).
FACT_FIELDS: dict[str, dict[str, str]] = {
    kind: {name: f.type for name, f in fields.items()} for kind, fields in CATALOGUE.items()
}
#: One line on each fact type, for the docs.
FACT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "training": "one per day: the runner's load over the last days and weeks",
        "athlete": "one per day: the profile as of that day",
        "shoe": "one per shoe in use",
        "pain": "one per pain report of the last 14 days",
        "injury": "one per diagnosed injury, with its return-to-run progress",
        "nutrition": "the latest nutrition log of the last 90 days",
    }
)


def field_spec(fact_type: str, field: str) -> Field | None:
    """The catalogue entry of an engine fact's field (None for derived facts or unknown)."""
    return CATALOGUE.get(fact_type, {}).get(field)


def range_of(fact_type: str, field: str) -> tuple[float, float]:
    """The values the engine can give a field (unbounded for derived facts)."""
    spec = field_spec(fact_type, field)
    return spec.range if spec is not None else (-_INF, _INF)


def allowed_values(fact_type: str, field: str) -> tuple[str, ...] | None:
    """The values a string field can take, or None if it is free text (or not catalogued)."""
    spec = field_spec(fact_type, field)
    return spec.allowed if spec is not None else None


def value_problem(fact_type: str, field: str, value: Any) -> str | None:
    """Why the engine could never give a catalogued field this value (its type, its range or
    its allowed values), or None. ``None`` itself is fine: the field is then missing."""
    spec = field_spec(fact_type, field)
    if spec is None or value is None:
        return None
    if isinstance(value, bool) != (spec.type == "boolean") or not isinstance(
        value, PY_TYPES[spec.type]
    ):
        return f"{fact_type}.{field} is a {spec.type}, not {value!r}"
    if spec.allowed is not None and value not in spec.allowed:
        return f"{fact_type}.{field} = {value!r} is not one of {', '.join(spec.allowed)}"
    if isinstance(value, int | float) and not spec.min <= value <= spec.max:
        return (
            f"{fact_type}.{field} = {value!r} is outside its range{domain_note(fact_type, field)}"
        )
    return None


def domain_note(fact_type: str, field: str) -> str:
    """`` (it takes: a, b)``, `` (0-10)``, `` (at least 0)`` or nothing: a field's domain."""
    allowed = allowed_values(fact_type, field)
    if allowed:
        shown = ", ".join(allowed[:8]) + (", …" if len(allowed) > 8 else "")
        return f" (it takes: {shown})"
    lo, hi = range_of(fact_type, field)
    if math.isinf(lo) and math.isinf(hi):
        return ""
    if math.isinf(hi):
        return f" (at least {lo:g})"
    if math.isinf(lo):
        return f" (at most {hi:g})"
    return f" ({lo:g}-{hi:g})"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def catalogue_markdown() -> str:
    """The field reference of docs/packs.md (a test checks the page holds exactly this)."""
    lines: list[str] = []
    for kind, fields in CATALOGUE.items():
        lines += [f"### `{kind}`: {FACT_TYPES[kind]}", ""]
        lines += ["| field | type | unit | values | meaning |", "|---|---|---|---|---|"]
        for f in fields.values():
            if f.allowed is not None:
                values = ", ".join(f.allowed)
            else:
                values = domain_note(kind, f.name).strip(" ()")
            row = [f"`{f.name}`", f.type, f.unit or "", values, f.description]
            lines.append("| " + " | ".join(_md(c) for c in row) + " |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# A rule's patterns and card placeholders
# ---------------------------------------------------------------------------------------------

#: A placeholder in card text: ``{parameter}`` or ``{alias.field}`` of a bound fact.
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)(?:\.([a-z][a-z0-9_]*))?\}")


def rule_patterns(rule: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The patterns of a rule's ``when`` (a list, or the list under ``all``/``any``)."""
    when = rule["when"]
    if isinstance(when, list):
        return when
    return list(when.get("all") or when.get("any") or [])


def rule_aliases(rule: Mapping[str, Any]) -> dict[str, str]:
    """Alias -> fact type of the facts a rule binds."""
    return {p.get("as", p["fact"]): p["fact"] for p in rule_patterns(rule) if "fact" in p}


# ---------------------------------------------------------------------------------------------
# Compiling a pattern's tests: for the rules core, and as Python filters (joins)
# ---------------------------------------------------------------------------------------------

#: A check of the matched facts (alias -> fields) that the rules core does not do itself.
Filter = Callable[[Mapping[str, Mapping[str, Any]]], bool]


def resolve_operand(
    value: Any, params: Mapping[str, Any], used_params: set[str], used_fields: dict[str, set[str]]
) -> Any:
    """An operand ready to compile: a parameter's value, a join as ``{alias: field}``, or the
    literal; records the parameters and the joined fields it reads."""
    if is_ref(value):
        alias, field = value["ref"].split(".")
        used_fields.setdefault(alias, set()).add(field)
        return {alias: field}
    name = param_name(value)
    if name is not None:
        used_params.add(name)
        return copy.copy(params[name])
    return value


def core_test(
    test: Mapping[str, Any],
    alias: str,
    params: Mapping[str, Any],
    used_params: set[str],
    used_fields: dict[str, set[str]],
) -> dict[str, Any]:
    """A pattern's tests (without joins) as the rules core's JSON condition."""
    parts: list[Any] = []
    for key, value in test.items():
        if key in ("all", "any"):
            subs = [core_test(s, alias, params, used_params, used_fields) for s in value]
            parts.append({"$and" if key == "all" else "$or": subs})
            continue
        used_fields.setdefault(alias, set()).add(key)
        for op, operand in ops(value):
            if op == "exists":
                parts.append({"$ex" if operand else "$nex": {key: 1}})
            elif op == "in":
                alts = [
                    {key: resolve_operand(v, params, used_params, used_fields)} for v in operand
                ]
                parts.append({"$or": alts} if len(alts) > 1 else alts[0])
            else:
                resolved = resolve_operand(operand, params, used_params, used_fields)
                core_op = OPERATORS[op]
                parts.append({key: resolved} if core_op is None else {core_op: {key: resolved}})
    return parts[0] if len(parts) == 1 else {"$and": parts}


def python_filter(
    test: Mapping[str, Any],
    alias: str,
    params: Mapping[str, Any],
    used_params: set[str],
    used_fields: dict[str, set[str]],
) -> Filter:
    """A pattern's tests as a Python check of the matched facts (alias -> fields).

    The same meaning as :func:`core_test` (:func:`passes` on :func:`value_of`), except that a
    join whose two sides cannot be ordered raises :class:`TypeError` (see the module doc).
    """
    checks: list[Filter] = []
    for key, value in test.items():
        if key in ("all", "any"):
            subs = [python_filter(t, alias, params, used_params, used_fields) for t in value]
            checks.append(_combine(subs, every=key == "all"))
            continue
        used_fields.setdefault(alias, set()).add(key)
        for op, operand in ops(value):
            checks.append(_field_check(alias, key, op, operand, params, used_params, used_fields))
    return lambda m: all(check(m) for check in checks)


def _combine(subs: list[Filter], *, every: bool) -> Filter:
    if every:
        return lambda m: all(f(m) for f in subs)
    return lambda m: any(f(m) for f in subs)


def _field_check(
    alias: str,
    key: str,
    op: str,
    operand: Any,
    params: Mapping[str, Any],
    used_params: set[str],
    used_fields: dict[str, set[str]],
) -> Filter:
    def get(m: Mapping[str, Mapping[str, Any]]) -> Any:
        return value_of(m.get(alias, {}), key)

    if op == "exists":
        return lambda m: passes("exists", get(m), operand)
    if op == "in":
        values = [resolve_operand(v, params, used_params, used_fields) for v in operand]
        return lambda m: passes("in", get(m), values)
    resolved = resolve_operand(operand, params, used_params, used_fields)
    if is_ref(operand):
        ((other, field),) = resolved.items()

        def joined(m: Mapping[str, Mapping[str, Any]]) -> bool:
            mine, theirs = get(m), value_of(m.get(other, {}), field)
            if mine is MISSING or theirs is MISSING:
                return False
            if op in _ORDERING and not comparable(mine, theirs):
                raise TypeError(
                    f"{alias}.{key} {SYMBOLS[op]} {other}.{field}: cannot order "
                    f"{mine!r} ({type_of(mine)}) against {theirs!r} ({type_of(theirs)})"
                )
            return compare(op, mine, theirs)

        return joined
    return lambda m: passes(op, get(m), resolved)
