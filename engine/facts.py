"""Derived facts: one athlete's event history turned into the numbers rules reason about.

Every formula lives here, once, written over whole daily series with numpy: :class:`Series`
computes every metric for every day of the history in one pass, so "as of one day" and a
timeline replay read the same arrays (a replay never recomputes the history per day).
Definitions follow ``docs/evidence.md`` (thresholds and their sources):

- rolling ACWR = 7-day load / (28-day load / 4) (Gabbett 2016), reported with the two
  numbers it divides (``load_7d_km`` and ``weekly_avg_28d_km``); for a week that repeats it is
  exactly 1.0 on every day of the week, which makes it the stable headline ratio
- EWMA ACWR = EWMA_7 / EWMA_28, EWMA_t = x_t * l + (1 - l) * EWMA_{t-1}, l = 2 / (N + 1),
  seeded with 0 before the first day of history (Williams 2017), with both EWMAs in km a day;
  on daily distance it swings with the day of the week (a rest day lowers EWMA_7 at once)
- uncoupled ACWR = mean(days t-6..t) / mean(days t-27..t-7) (Windt & Gabbett)
- monotony = mean / SD (population) of the last 7 daily loads, rest days count as 0; strain =
  7-day load x monotony (Foster 1998, doi 10.1097/00005768-199807000-00023). Seven identical
  non-zero days have SD 0: monotony is reported as :data:`MONOTONY_CAP`. On distance
  (``monotony``) it mostly counts rest days: 5 equal runs a week give 5 / sqrt(10) = 1.58, 6
  give sqrt(6) = 2.45. On the load Foster defined it for, session RPE x minutes
  (``monotony_srpe``), it is reported only when every run of the last 7 days has an RPE and a
  duration (cross-training with an RPE adds to that load; without an RPE it is not counted).
- single-run spike: today's longest run against the longest run of the 30 days before today
  (BJSM 2025, doi 10.1136/bjsports-2024-109380), with the number of running days that
  reference rests on (``run_days_before_30d``)
- week-over-week change once a full previous week is in the history (14 days), two-week
  change once two full ones are (28 days): new runners get them before the ratios
- rest days: ``run_days_in_a_row`` counts complete days; the as-of day counts only when it
  already has a run (a day without a run yet is not over, so it does not end the streak)
- comeback: for the longest break of the last 28 days, the days since it ended, the weekly
  distance and the average run of the 28 days before it, and the last 7 days against those
- frequency and long runs: running days in the last 7 and 28 days, the longest single run of
  the last 7 days and its share of the 7-day distance
- strength sessions (cross-training sport ``strength``) in the last 28 days; share of the last
  28 days' known-surface distance on hard surfaces (road, track)

- surface change: the surface with most distance in the last 7 days, its share of those 7
  days and its share of the 28 days before them (known surfaces only; ``mixed``, ``unknown``
  and missing say nothing)
- strain change: today's strain against the mean daily strain of the 28 days before
- breaks: the longest run of days without running that ended in the last 28 days
- shoes: distance, share of the last 7 and 28 days, days in use; a pair without a run for
  :data:`SHOE_IDLE_DAYS` counts as retired
- intake trend: the latest nutrition log against the one before, with the 28-day running load
  at each
- return to run (per diagnosed injury): runs since diagnosis and since clearance, pre-injury
  usual distance, pain-free walking and cross-training before the first run, and the walk-run
  ladder phase (army RCT, 6 phases, each at least twice; see :func:`walk_run_ladder`)

Ratios need 28 days of history; under that they are left out and ``enough_history`` is false.
They are also left out when days t-27..t-7 hold no running at all (a comeback after a long
break): a ratio against a chronic load of nothing is an artefact, not a spike.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import functools
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

# FACT_FIELDS (fact type -> field -> type): the type view of the conditions.py catalogue.
from .conditions import FACT_FIELDS  # noqa: F401
from .events import (
    HIGH_RISK_SITES,
    POSSIBLY_HIGH_RISK_REGIONS,
    SURFACES,
    TRABECULAR_SITES,
    CrossTraining,
    Event,
    Injury,
    NutritionLog,
    PainReport,
    Profile,
    Run,
    Shoe,
    load_stored_events,
    sites_near,
)

Array = npt.NDArray[np.float64]

MIN_HISTORY_DAYS = 28
MONOTONY_CAP = 10.0
#: Pain reports older than this many days are no longer current symptoms.
PAIN_WINDOW_DAYS = 14
#: A nutrition log older than this is too old to describe current intake.
NUTRITION_WINDOW_DAYS = 90
_EWMA_BLOCK = 1024
#: Surfaces the surface-change facts compare ("mixed", "unknown" and missing say nothing).
KNOWN_SURFACES = tuple(s for s in SURFACES if s not in ("mixed", "unknown"))
#: Known surfaces that count as hard terrain for the surface-choice card (seeds 000, 002).
HARD_SURFACES = ("road", "track")
#: Breaks shorter than this are not described as a comeback (the packs' thresholds are longer).
COMEBACK_MIN_BREAK_DAYS = 7
#: A pair with no run for this many days (and not first used within them) counts as retired.
SHOE_IDLE_DAYS = 90
#: Cross-training sports that count as walking for the return-to-run walking gate.
WALK_SPORTS = frozenset({"walk", "hike"})
#: Window for the return-to-run gate facts (walks, cross-training), in days.
GATE_WINDOW_DAYS = 14
#: Walk-run ladder (army RCT, trialsjournal 10.1186/s13063-023-07502-x, table 1).
LADDER_PHASES = 6
LADDER_SESSIONS_PER_PHASE = 2
#: The ladder is followed for at most this many days after clearance.
LADDER_HORIZON_DAYS = 365


@functools.cache
def _ewma_weights(n: int) -> tuple[float, Array, Array]:
    lam = 2.0 / (n + 1)
    k = np.arange(1, _EWMA_BLOCK + 1, dtype=np.float64)
    return lam, (1.0 - lam) ** (-k), (1.0 - lam) ** k


def ewma(x: Array, n: int, prev: Array | None = None) -> Array:
    """EWMA of a daily series with l = 2/(n+1), seeded with 0 (Williams 2017).

    Same numbers as the recurrence, vectorized in blocks: within a block of m days,
    E_j = (1-l)^j * (E_0 + l * sum_{i<=j} x_i (1-l)^-i); blocks keep the powers in range.
    ``x`` may be 2-D: each row is a series (one call for several series). ``prev`` is the
    EWMA of the day before ``x`` starts (0 by default): a series continued from a block
    boundary gives exactly the numbers of the whole series.
    """
    lam, up, down = _ewma_weights(n)
    out = np.zeros_like(x)
    if prev is None:
        if not x.any():
            return out
        prev = np.zeros(x.shape[:-1])
    length = x.shape[-1]
    for start in range(0, length, _EWMA_BLOCK):
        block = x[..., start : start + _EWMA_BLOCK]
        m = block.shape[-1]
        acc = np.cumsum(block * up[:m], axis=-1) * lam
        out[..., start : start + m] = down[:m] * (prev[..., None] + acc)
        prev = out[..., start + m - 1]
    return out


def window_sum(cum: Array, end: int, length: int) -> float:
    """Sum of the ``length`` days ending at index ``end`` from a cumulative sum with a 0 prefix."""
    lo = max(end + 1 - length, 0)
    return float(cum[end + 1] - cum[lo]) if end >= 0 else 0.0


def _sliding_max_before(x: Array, days: int) -> Array:
    """out[i] = max(x[i-days .. i-1]), 0 where there is nothing before (van Herk/Gil-Werman)."""
    n = len(x)
    padded = np.concatenate([np.zeros(days), x])  # window for out[i] is padded[i : i+days]
    m = -(-len(padded) // days) * days
    blocks = np.zeros(m)
    blocks[: len(padded)] = padded
    b = blocks.reshape(-1, days)
    prefix = np.maximum.accumulate(b, axis=1).ravel()
    suffix = np.maximum.accumulate(b[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.maximum(suffix[:n], prefix[days - 1 : days - 1 + n])


def _streak(active: npt.NDArray[np.bool_]) -> Array:
    """out[i] = number of consecutive active days ending at i (0 if day i is inactive)."""
    idx = np.arange(len(active))
    last_rest = np.where(~active, idx, -1)
    np.maximum.accumulate(last_rest, out=last_rest)
    return (idx - last_rest).astype(np.float64)


def _strain_series(
    x: Array,
    first_activity: int,
    valid: npt.NDArray[np.bool_] | None = None,
    offset: int = 0,
) -> tuple[Array, Array]:
    """Foster strain for every day (7-day load x monotony) and a 0/1 mask of defined days.

    Same definition as :meth:`Series.training` (population SD, missing days 0, monotony capped
    at :data:`MONOTONY_CAP`), computed over the whole series from 7-day window sums (each day's
    figure is the same whatever slice of the series it is computed on). ``valid`` narrows the
    defined days (e.g. to weeks whose runs all have an RPE); ``offset`` is the day index of
    ``x[0]`` when ``x`` is the tail of a series.
    """
    n = len(x)
    idx = np.arange(n) + offset
    padded = np.concatenate([np.zeros(6), x])
    squares = padded * padded
    # The 7 days ending at each index (days before day 0 count as 0), added in day order.
    s1, s2 = padded[:n].copy(), squares[:n].copy()
    for j in range(1, 7):
        s1 += padded[j : j + n]
        s2 += squares[j : j + n]
    mean = s1 / 7.0
    var = np.maximum(s2 / 7.0 - mean * mean, 0.0)
    sd = np.sqrt(var)
    safe = np.where(sd > 0, sd, 1.0)
    monotony = np.minimum(np.where(sd > 0, mean / safe, MONOTONY_CAP), MONOTONY_CAP)
    defined = (idx - first_activity + 1 >= 7) & (mean > 0)
    if valid is not None:
        defined &= valid
    return np.where(defined, s1 * monotony, 0.0), defined.astype(np.float64)


def _monotony(daily: Array, i: int) -> float | None:
    """Foster monotony of the 7 days ending at index ``i`` (mean / population SD, days before
    the series count as 0), capped at :data:`MONOTONY_CAP`; None for a week without load."""
    week = daily[max(i - 6, 0) : i + 1].tolist()  # 7 numbers: plain Python beats numpy here
    return _monotony_list(week, len(week) - 1)


def _monotony_list(daily: list[float], i: int) -> float | None:
    """:func:`_monotony` on the daily values as a plain list (the same arithmetic)."""
    values = daily[max(i - 6, 0) : i + 1]
    values = [0.0] * (7 - len(values)) + values
    mean = sum(values) / 7.0
    if mean <= 0:
        return None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 7.0)
    return MONOTONY_CAP if sd == 0 else min(mean / sd, MONOTONY_CAP)


#: Scaled values at least this large are left to Python's ``round`` (numpy's rint is exact
#: only below 2**52).
_ROUND_EXACT_LIMIT = 2.0**52


def _ints(x: Array) -> list[int]:
    """``[int(v) for v in x.tolist()]`` (truncation, as ``int`` of a float)."""
    out: list[int] = x.astype(np.int64).tolist()
    return out


def _round_list(x: Array, ndigits: int) -> list[float]:
    """``[round(v, ndigits) for v in x.tolist()]``, vectorized where that is provably the same.

    Python rounds the exact binary value half to even and returns the double nearest the
    decimal result; numpy's ``rint(x * 10**n) / 10**n`` gives the same double unless the
    product ``x * 10**n`` (rounded to a double) lies within an ulp of a half-integer, where
    its rounding error could move it across: those values (and huge ones) go through
    Python's ``round``. Non-finite values come back as they are (callers never use them).
    """
    scale = 10.0**ndigits
    y = x * scale
    with np.errstate(all="ignore"):
        out = np.rint(y) / scale
        frac = np.abs(y - np.floor(y) - 0.5)
        risky = np.isfinite(y) & (
            (frac <= np.abs(y) * 4.5e-16 + 1e-300) | (np.abs(y) >= _ROUND_EXACT_LIMIT)
        )
    values: list[float] = out.tolist()
    if risky.any():
        for j in np.flatnonzero(risky).tolist():
            values[j] = round(float(x[j]), ndigits)
    return values


#: Days before the first changed day that windowed figures read (the 30-day longest run,
#: 7-day strain): a partial build derives them from this many days earlier.
_WARM_UP_DAYS = 35


def old_of(prior: Series | None, name: str) -> Any:
    """An array of the prior series (None without one)."""
    return getattr(prior, name) if prior is not None else None


class _Tail:
    """Arrays derived again from day index ``k`` on, the days before copied from the prior
    series. Each gives exactly the array a full build gives: cumulative sums continue from
    the same partial sum (the same additions), streaks carry the day before's count, windowed
    figures are derived with enough days before ``k``. ``k`` = 0: a full build."""

    def __init__(self, k: int) -> None:
        self.k = k

    def cum(self, daily: Array, prior: Array | None) -> Array:
        """``_cumsum0`` of a daily series given its values from day ``k`` on."""
        k = self.k
        if k == 0:
            return _cumsum0(daily)
        out = np.zeros(k + len(daily) + 1)
        if prior is None:  # no such values before k (e.g. a surface first run on today)
            np.cumsum(daily, out=out[k + 1 :])
            return out
        out[:k] = prior[:k]
        np.cumsum(np.concatenate([prior[k : k + 1], daily]), out=out[k:])
        return out

    def cums(self, series: Mapping[str, tuple[Array, Array | None]]) -> dict[str, Array]:
        """:meth:`cum` of several series (one array each: stacking them into one 2-D sum was
        slower for long histories, whose large blocks the allocator maps afresh each time)."""
        return {name: self.cum(daily, prior) for name, (daily, prior) in series.items()}

    def streak(self, active: npt.NDArray[np.bool_], prior: Array | None) -> Array:
        """:func:`_streak` of a whole boolean series."""
        k = self.k
        if k == 0 or prior is None:
            return _streak(active)
        tail = _streak(active[k:])
        breaks = np.flatnonzero(~active[k:])
        tail[: int(breaks[0]) if len(breaks) else len(tail)] += prior[k - 1]
        return np.concatenate([prior[:k], tail])

    def window(
        self, x: Array, days: int, fn: Callable[[Array], Array], prior: Array | None
    ) -> Array:
        """``fn(x)`` for a function whose value on a day reads the ``days`` days before it."""
        k = self.k
        if k == 0 or prior is None:
            return fn(x)
        s = max(k - days, 0)
        return np.concatenate([prior[:k], fn(x[s:])[k - s :]])

    def join(self, tail: npt.NDArray[Any], prior: npt.NDArray[Any] | None) -> npt.NDArray[Any]:
        return tail if self.k == 0 or prior is None else np.concatenate([prior[: self.k], tail])


@dataclasses.dataclass(slots=True)
class Series:
    """Daily arrays over the whole history, day 0 = ``day0``; every metric for every day."""

    day0: dt.date
    first_activity: int
    distance_km: Array
    duration_min: Array
    srpe: Array
    srpe_days: Array
    longest_km: Array
    cum_km: Array
    cum_min: Array
    cum_srpe: Array
    cum_srpe_days: Array
    ewma7: Array
    ewma28: Array
    ewma7_srpe: Array
    ewma28_srpe: Array
    longest_before_30: Array
    run_streak: Array
    cadence_cum: Array
    cadence_w: Array
    shoe_runs: ShoeRuns
    cum_run_days: Array
    last_active: npt.NDArray[np.int64]
    longest_break_28: Array
    cum_strain: Array
    cum_strain_days: Array
    cum_strain_srpe: Array
    cum_strain_srpe_days: Array
    srpe_complete: npt.NDArray[np.bool_]
    rest_streak: Array
    cum_strength: Array
    surface_cum: dict[str, Array]
    shoe_ids: tuple[str, ...]
    shoe_spans: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]

    @classmethod
    def build(
        cls,
        cols: RunColumns,
        cross: Sequence[CrossTraining],
        end: dt.date,
        *,
        base: Series | None = None,
        since: dt.date | None = None,
    ) -> Series:
        """Every metric for every day from the first event to ``end``.

        With ``base`` (the series before runs were added) and ``since`` (the first day whose
        runs changed, or the day after ``base`` ended), days before ``since`` are copied from
        ``base`` and only the rest is derived again: the same numbers as a full build, at the
        cost of the days that changed (what :meth:`History.add` needs after an upload).
        """
        day0 = cols.day0 or end
        n = max((end - day0).days + 1, 1)
        d0 = day0.toordinal()
        # Days before ``k`` are the same as in ``base``: derive from ``k`` on (0: everything).
        k = 0
        if base is not None and since is not None and base.day0 == day0:
            first_changed = min((since - day0).days, len(base.distance_km), n)
            if base.first_activity < first_changed:  # so the first activity did not move
                k = first_changed
        prior = base if k > 0 else None
        tail = _Tail(k)
        # Daily values are counted from day ``o`` on (7-day run counts read 6 days back); the
        # days before come from ``prior``.
        o = max(k - 6, 0)
        m = n - o
        rel = cols.day_ord - (d0 + o)
        keep = (rel >= 0) & (rel < m)
        ri = rel[keep]
        km, minutes, rpe, cad = cols.km[keep], cols.minutes[keep], cols.rpe[keep], cols.cad[keep]

        def whole(values: Array, before: Array | None) -> Array:
            return values if before is None else np.concatenate([before[:o], values])

        distance = whole(
            np.bincount(ri, weights=km, minlength=m).astype(np.float64),
            old_of(prior, "distance_km"),
        )
        duration = whole(
            np.bincount(ri, weights=minutes, minlength=m).astype(np.float64),
            old_of(prior, "duration_min"),
        )
        has_rpe = ~np.isnan(rpe)
        srpe_t = np.bincount(ri[has_rpe], weights=(rpe * minutes)[has_rpe], minlength=m).astype(
            np.float64
        )
        strength_t = np.zeros(m)
        for c in cross:  # cross-training adds to session-RPE load only (not to running distance)
            i = c.day.toordinal() - d0 - o
            if 0 <= i < m:
                if c.rpe is not None:
                    srpe_t[i] += c.rpe * c.duration_s / 60.0
                if c.sport == "strength":
                    strength_t[i] += 1.0
        srpe = whole(srpe_t, old_of(prior, "srpe"))
        srpe_days = (srpe > 0).astype(np.float64)
        # Weeks whose every run has an RPE and a duration: session-RPE monotony is defined there.
        rated = has_rpe & (minutes > 0)
        runs_per_day = _cumsum0(np.bincount(ri, minlength=m).astype(np.float64))
        rated_per_day = _cumsum0(np.bincount(ri[rated], minlength=m).astype(np.float64))
        lo7 = np.maximum(np.arange(m) - 6, 0)
        runs7 = runs_per_day[1:] - runs_per_day[lo7]
        srpe_complete = (runs7 > 0) & (rated_per_day[1:] - rated_per_day[lo7] == runs7)
        if prior is not None:
            srpe_complete = np.concatenate([prior.srpe_complete[:k], srpe_complete[k - o :]])
        longest_t = np.zeros(m)
        np.maximum.at(longest_t, ri, km)
        longest = whole(longest_t, old_of(prior, "longest_km"))
        has_cad = ~np.isnan(cad)
        cadence_w = np.bincount(ri[has_cad], weights=km[has_cad], minlength=m).astype(np.float64)
        cadence_sum = np.bincount(ri[has_cad], weights=(cad * km)[has_cad], minlength=m).astype(
            np.float64
        )
        surface_km: dict[str, Array] = {}  # from day k on
        surface_idx = cols.surface_idx[keep]
        for j, name in enumerate(KNOWN_SURFACES):
            mask = surface_idx == j
            if mask.any():
                surface_km[name] = np.bincount(ri[mask], weights=km[mask], minlength=m).astype(
                    np.float64
                )[k - o :]
            elif prior is not None and name in prior.surface_cum:
                surface_km[name] = np.zeros(n - k)
        active = distance > 0
        if prior is not None:
            first_activity = prior.first_activity
        else:
            activity_days = np.flatnonzero(active)
            first_activity = int(activity_days[0]) if len(activity_days) else n

        def old(name: str) -> Any:
            return old_of(prior, name)

        rest = tail.streak(~active, old("rest_streak"))
        rest[:first_activity] = 0.0  # days before the first run are not a break
        s = max(k - _WARM_UP_DAYS, 0)  # windowed figures read the days before k
        strain, strain_days = _strain_series(distance[s:], first_activity, offset=s)
        strain_srpe, strain_srpe_days = _strain_series(
            srpe[s:], first_activity, srpe_complete[s:], offset=s
        )
        loads = np.vstack([distance, srpe])
        if prior is None:
            e7, e28 = ewma(loads, 7), ewma(loads, 28)
        else:  # from the start of k's block: the blocks (and the floats) of a full build
            kb = k // _EWMA_BLOCK * _EWMA_BLOCK
            e7 = np.vstack([prior.ewma7[:kb], prior.ewma7_srpe[:kb]])
            e28 = np.vstack([prior.ewma28[:kb], prior.ewma28_srpe[:kb]])
            if kb < n:
                carry7 = carry28 = None
                if kb:
                    carry7 = np.array([prior.ewma7[kb - 1], prior.ewma7_srpe[kb - 1]])
                    carry28 = np.array([prior.ewma28[kb - 1], prior.ewma28_srpe[kb - 1]])
                e7 = np.hstack([e7, ewma(loads[:, kb:], 7, carry7)])
                e28 = np.hstack([e28, ewma(loads[:, kb:], 28, carry28)])
        last_active = np.where(active[k:], np.arange(k, n), -1)
        if prior is not None and len(last_active):
            last_active[0] = max(int(last_active[0]), int(prior.last_active[k - 1]))
        np.maximum.accumulate(last_active, out=last_active)
        cums = tail.cums(
            {
                "cum_km": (distance[k:], old("cum_km")),
                "cum_min": (duration[k:], old("cum_min")),
                "cum_srpe": (srpe[k:], old("cum_srpe")),
                "cum_srpe_days": (srpe_days[k:], old("cum_srpe_days")),
                "cadence_cum": (cadence_sum[k - o :], old("cadence_cum")),
                "cadence_w": (cadence_w[k - o :], old("cadence_w")),
                "cum_run_days": (active[k:].astype(np.float64), old("cum_run_days")),
                "cum_strain": (strain[k - s :], old("cum_strain")),
                "cum_strain_days": (strain_days[k - s :], old("cum_strain_days")),
                "cum_strain_srpe": (strain_srpe[k - s :], old("cum_strain_srpe")),
                "cum_strain_srpe_days": (strain_srpe_days[k - s :], old("cum_strain_srpe_days")),
                "cum_strength": (strength_t[k - o :], old("cum_strength")),
                **{
                    f"surface:{name}": (daily, prior.surface_cum.get(name) if prior else None)
                    for name, daily in surface_km.items()
                },
            }
        )
        return cls(
            day0=day0,
            first_activity=first_activity,
            distance_km=distance,
            duration_min=duration,
            srpe=srpe,
            srpe_days=srpe_days,
            longest_km=longest,
            cum_km=cums["cum_km"],
            cum_min=cums["cum_min"],
            cum_srpe=cums["cum_srpe"],
            cum_srpe_days=cums["cum_srpe_days"],
            ewma7=e7[0],
            ewma28=e28[0],
            ewma7_srpe=e7[1],
            ewma28_srpe=e28[1],
            longest_before_30=tail.window(
                longest, 30, lambda x: _sliding_max_before(x, 30), old("longest_before_30")
            ),
            run_streak=tail.streak(active, old("run_streak")),
            cadence_cum=cums["cadence_cum"],
            cadence_w=cums["cadence_w"],
            shoe_runs=cols.shoe_runs,
            cum_run_days=cums["cum_run_days"],
            last_active=tail.join(last_active, old("last_active")).astype(np.int64),
            longest_break_28=tail.window(
                rest,
                27,
                lambda x: np.maximum(_sliding_max_before(x, 27), x),
                old("longest_break_28"),
            ),
            cum_strain=cums["cum_strain"],
            cum_strain_days=cums["cum_strain_days"],
            cum_strain_srpe=cums["cum_strain_srpe"],
            cum_strain_srpe_days=cums["cum_strain_srpe_days"],
            srpe_complete=srpe_complete,
            rest_streak=rest,
            cum_strength=cums["cum_strength"],
            surface_cum={name: cums[f"surface:{name}"] for name in surface_km},
            shoe_ids=cols.shoe_ids,
            shoe_spans=cols.shoe_spans,
        )

    def index(self, day: dt.date) -> int:
        return (day - self.day0).days

    def training(self, i: int) -> dict[str, Any]:
        """The ``training`` fact for day index ``i`` (every field in SI-ish display units)."""
        n = len(self.distance_km)
        if i < 0 or self.first_activity >= n or i < self.first_activity:
            return {"days_of_history": 0, "enough_history": False}
        i = min(i, n - 1)
        history = i - self.first_activity + 1
        c = self.cum_km
        load7 = window_sum(c, i, 7)
        load28 = window_sum(c, i, 28)
        prev7 = window_sum(c, i - 7, 7)
        load14 = window_sum(c, i, 14)
        prev14 = window_sum(c, i - 14, 14)
        today = float(self.longest_km[i])
        longest30 = float(self.longest_before_30[i])
        ran_today = self.distance_km[i] > 0
        fact: dict[str, Any] = {
            "days_of_history": history,
            "enough_history": history >= MIN_HISTORY_DAYS,
            "today_km": round(float(self.distance_km[i]), 3),
            "today_longest_run_km": round(today, 3),
            "load_7d_km": round(load7, 3),
            "load_28d_km": round(load28, 3),
            "load_7d_min": round(window_sum(self.cum_min, i, 7), 1),
            "load_28d_min": round(window_sum(self.cum_min, i, 28), 1),
            "longest_run_30d_km": round(longest30, 3),
            "days_since_rest": int(self.run_streak[i]),
            # The as-of day is not over: without a run yet it neither adds to nor ends a streak.
            "run_days_in_a_row": int(
                self.run_streak[i] if ran_today or i == 0 else self.run_streak[i - 1]
            ),
            "run_days_7d": int(window_sum(self.cum_run_days, i, 7)),
            "run_days_28d": int(window_sum(self.cum_run_days, i, 28)),
            "run_days_before_30d": int(window_sum(self.cum_run_days, i - 1, 30)),
            "strength_sessions_28d": int(window_sum(self.cum_strength, i, 28)),
        }
        # A ratio against a chronic load of nothing (no running in days t-27..t-7, e.g. the first
        # runs after months off) is an artefact, not a spike: no ratio is reported then.
        chronic = load28 - load7
        if history >= MIN_HISTORY_DAYS:
            fact["weekly_avg_28d_km"] = round(load28 / 4.0, 1)
            if chronic > 0:
                fact["acwr_rolling"] = round(load7 / (load28 / 4.0), 3)
                fact["acwr_uncoupled"] = round((load7 / 7.0) / (chronic / 21.0), 3)
                fact["weekly_avg_prev21_km"] = round(chronic / 3.0, 1)
                if self.ewma28[i] > 0:
                    fact["acwr_ewma"] = round(float(self.ewma7[i] / self.ewma28[i]), 3)
                    fact["ewma_acute_km_day"] = round(float(self.ewma7[i]), 2)
                    fact["ewma_chronic_km_day"] = round(float(self.ewma28[i]), 2)
            if prev14 > 0:
                fact["two_week_change_pct"] = round((load14 - prev14) / prev14 * 100.0, 1)
            srpe_days28 = window_sum(self.cum_srpe_days, i, 28)
            if srpe_days28 >= 8 and self.ewma28_srpe[i] > 0 and chronic > 0:
                fact["acwr_ewma_srpe"] = round(float(self.ewma7_srpe[i] / self.ewma28_srpe[i]), 3)
                fact["load_7d_srpe"] = round(window_sum(self.cum_srpe, i, 7), 1)
        # Week over week as soon as the previous 7 days are all inside the history: a new runner
        # gets it from day 14 (a partial first week would inflate the change).
        if history >= 14 and prev7 > 0:
            fact["prev_7d_km"] = round(prev7, 3)
            fact["week_change_pct"] = round((load7 - prev7) / prev7 * 100.0, 1)
        if history >= 7:
            monotony = _monotony(self.distance_km, i)
            if monotony is not None:
                fact["monotony"] = round(monotony, 3)
                fact["strain"] = round(load7 * monotony, 1)
            if self.srpe_complete[i]:
                mono_srpe = _monotony(self.srpe, i)
                if mono_srpe is not None:
                    srpe7 = window_sum(self.cum_srpe, i, 7)
                    fact["monotony_srpe"] = round(mono_srpe, 3)
                    fact["strain_srpe"] = round(srpe7 * mono_srpe, 1)
                    fact["load_7d_srpe"] = round(srpe7, 1)
        if today > 0 and longest30 > 0:
            fact["run_vs_longest_30d_pct"] = round((today - longest30) / longest30 * 100.0, 1)
        if fact["run_days_7d"] >= 2 and load7 > 0:
            longest7 = float(self.longest_km[max(i - 6, 0) : i + 1].max())
            fact["longest_run_7d_km"] = round(longest7, 3)
            fact["long_run_share_7d_pct"] = round(longest7 / load7 * 100.0, 1)
        w = window_sum(self.cadence_w, i, 28)
        if w > 0:
            fact["cadence_28d_spm"] = round(window_sum(self.cadence_cum, i, 28) / w, 1)
        last = int(self.last_active[i])
        if last >= 0:
            fact["days_since_last_run"] = i - last
        fact["longest_break_28d_days"] = int(self.longest_break_28[i])
        fact.update(self._comeback(i, load7))
        prev28 = window_sum(c, i - 28, 28)
        if history >= 2 * MIN_HISTORY_DAYS and prev28 > 0:
            fact["load_28d_change_pct"] = round((load28 - prev28) / prev28 * 100.0, 1)
        for key, cum, cum_days, min_history in (
            ("strain", self.cum_strain, self.cum_strain_days, MIN_HISTORY_DAYS + 7),
            ("strain_srpe", self.cum_strain_srpe, self.cum_strain_srpe_days, MIN_HISTORY_DAYS),
        ):
            days = window_sum(cum_days, i - 1, 28)
            if key in fact and history >= min_history and days > 0:
                mean_strain = window_sum(cum, i - 1, 28) / days
                if mean_strain > 0:
                    fact[f"{key}_28d_mean"] = round(mean_strain, 1)
                    fact[f"{key}_vs_28d_pct"] = round(
                        (fact[key] - mean_strain) / mean_strain * 100.0, 1
                    )
        fact.update(self._surface(i))
        return fact

    def training_range(self, lo: int, hi: int) -> list[dict[str, Any]]:
        """:meth:`training` for every day index ``lo..hi`` (a timeline replay): the same dicts
        (keys, order, floats), with the window sums, ratios and rounding done once over whole
        arrays instead of day by day. Floats are the ones :meth:`training` computes (the same
        IEEE operations in numpy) and rounded by :func:`_round_list` (Python's ``round``
        wherever numpy's rounding could differ); monotony keeps its Python arithmetic."""
        n = len(self.distance_km)
        first = self.first_activity
        if hi < lo:
            return []
        days = np.arange(lo, hi + 1)
        ok = (days >= 0) & (first < n) & (days >= first)
        out: list[dict[str, Any]] = [{} for _ in range(len(days))]
        if not ok.any():
            return [{"days_of_history": 0, "enough_history": False} for _ in out]
        # Only valid days from here on (a contiguous tail of the range: days >= first).
        j0 = int(np.flatnonzero(ok)[0])
        for j in range(j0):
            out[j] = {"days_of_history": 0, "enough_history": False}
        idx = np.minimum(days[j0:], n - 1)
        c = self.cum_km

        def ws(cum: Array, end: npt.NDArray[np.int64], length: int) -> Array:
            got = cum[np.maximum(end + 1, 0)] - cum[np.maximum(end + 1 - length, 0)]
            return np.where(end >= 0, got, 0.0)

        history = idx - first + 1
        load7, load28 = ws(c, idx, 7), ws(c, idx, 28)
        prev7, load14, prev14 = ws(c, idx - 7, 7), ws(c, idx, 14), ws(c, idx - 14, 14)
        prev28 = ws(c, idx - 28, 28)
        chronic = load28 - load7
        dist = self.distance_km[idx]
        today = self.longest_km[idx]
        longest30 = self.longest_before_30[idx]
        streak = self.run_streak
        in_a_row = np.where((dist > 0) | (idx == 0), streak[idx], streak[np.maximum(idx - 1, 0)])
        run7 = ws(self.cum_run_days, idx, 7)
        e7, e28 = self.ewma7[idx], self.ewma28[idx]
        e7s, e28s = self.ewma7_srpe[idx], self.ewma28_srpe[idx]
        srpe7 = ws(self.cum_srpe, idx, 7)
        cad_w = ws(self.cadence_w, idx, 28)
        longest7 = np.maximum(_sliding_max_before(self.longest_km, 6), self.longest_km)[idx]
        with np.errstate(all="ignore"):
            cols: dict[str, list[Any]] = {
                "today_km": _round_list(dist, 3),
                "today_longest_run_km": _round_list(today, 3),
                "load_7d_km": _round_list(load7, 3),
                "load_28d_km": _round_list(load28, 3),
                "load_7d_min": _round_list(ws(self.cum_min, idx, 7), 1),
                "load_28d_min": _round_list(ws(self.cum_min, idx, 28), 1),
                "longest_run_30d_km": _round_list(longest30, 3),
                "days_since_rest": streak[idx].astype(np.int64).tolist(),
                "run_days_in_a_row": in_a_row.astype(np.int64).tolist(),
                "run_days_7d": run7.astype(np.int64).tolist(),
                "run_days_28d": _ints(ws(self.cum_run_days, idx, 28)),
                "run_days_before_30d": _ints(ws(self.cum_run_days, idx - 1, 30)),
                "strength_sessions_28d": _ints(ws(self.cum_strength, idx, 28)),
                "weekly_avg_28d_km": _round_list(load28 / 4.0, 1),
                "acwr_rolling": _round_list(load7 / (load28 / 4.0), 3),
                "acwr_uncoupled": _round_list((load7 / 7.0) / (chronic / 21.0), 3),
                "weekly_avg_prev21_km": _round_list(chronic / 3.0, 1),
                "acwr_ewma": _round_list(e7 / e28, 3),
                "ewma_acute_km_day": _round_list(e7, 2),
                "ewma_chronic_km_day": _round_list(e28, 2),
                "two_week_change_pct": _round_list((load14 - prev14) / prev14 * 100.0, 1),
                "acwr_ewma_srpe": _round_list(e7s / e28s, 3),
                "load_7d_srpe": _round_list(srpe7, 1),
                "prev_7d_km": _round_list(prev7, 3),
                "week_change_pct": _round_list((load7 - prev7) / prev7 * 100.0, 1),
                "run_vs_longest_30d_pct": _round_list((today - longest30) / longest30 * 100.0, 1),
                "longest_run_7d_km": _round_list(longest7, 3),
                "long_run_share_7d_pct": _round_list(longest7 / load7 * 100.0, 1),
                "cadence_28d_spm": _round_list(ws(self.cadence_cum, idx, 28) / cad_w, 1),
                "load_28d_change_pct": _round_list((load28 - prev28) / prev28 * 100.0, 1),
            }
        hist = history.tolist()
        l7 = load7.tolist()
        # Conditions, one list each (the same tests as :meth:`training`).
        chronic_pos = (chronic > 0).tolist()
        e28_pos = (e28 > 0).tolist()
        prev14_pos = (prev14 > 0).tolist()
        srpe_days28 = ws(self.cum_srpe_days, idx, 28)
        srpe_ok = ((srpe_days28 >= 8) & (e28s > 0) & (chronic > 0)).tolist()
        prev7_pos = (prev7 > 0).tolist()
        spike = ((today > 0) & (longest30 > 0)).tolist()
        share = ((run7 >= 2) & (load7 > 0)).tolist()
        cad_pos = (cad_w > 0).tolist()
        last = self.last_active[idx].tolist()
        brk = self.longest_break_28[idx].astype(np.int64).tolist()
        prev28_pos = (prev28 > 0).tolist()
        complete = self.srpe_complete[idx].tolist()
        strain_days = ws(self.cum_strain_days, idx - 1, 28)
        strain_sum = ws(self.cum_strain, idx - 1, 28)
        strain_srpe_days = ws(self.cum_strain_srpe_days, idx - 1, 28)
        strain_srpe_sum = ws(self.cum_strain_srpe, idx - 1, 28)
        sd_l, ss_l = strain_days.tolist(), strain_sum.tolist()
        sds_l, sss_l = strain_srpe_days.tolist(), strain_srpe_sum.tolist()
        daily = self.distance_km.tolist()
        srpe_daily = self.srpe.tolist()
        srpe7_l = srpe7.tolist()
        ix = idx.tolist()
        surfaces = bool(self.surface_cum)
        base_keys = (
            "today_km",
            "today_longest_run_km",
            "load_7d_km",
            "load_28d_km",
            "load_7d_min",
            "load_28d_min",
            "longest_run_30d_km",
            "days_since_rest",
            "run_days_in_a_row",
            "run_days_7d",
            "run_days_28d",
            "run_days_before_30d",
            "strength_sessions_28d",
        )
        base_cols = [cols[k] for k in base_keys]
        g = cols.__getitem__
        for j, i in enumerate(ix):
            h = hist[j]
            fact: dict[str, Any] = {"days_of_history": h, "enough_history": h >= MIN_HISTORY_DAYS}
            for key, col in zip(base_keys, base_cols, strict=True):
                fact[key] = col[j]
            if h >= MIN_HISTORY_DAYS:
                fact["weekly_avg_28d_km"] = g("weekly_avg_28d_km")[j]
                if chronic_pos[j]:
                    fact["acwr_rolling"] = g("acwr_rolling")[j]
                    fact["acwr_uncoupled"] = g("acwr_uncoupled")[j]
                    fact["weekly_avg_prev21_km"] = g("weekly_avg_prev21_km")[j]
                    if e28_pos[j]:
                        fact["acwr_ewma"] = g("acwr_ewma")[j]
                        fact["ewma_acute_km_day"] = g("ewma_acute_km_day")[j]
                        fact["ewma_chronic_km_day"] = g("ewma_chronic_km_day")[j]
                if prev14_pos[j]:
                    fact["two_week_change_pct"] = g("two_week_change_pct")[j]
                if srpe_ok[j]:
                    fact["acwr_ewma_srpe"] = g("acwr_ewma_srpe")[j]
                    fact["load_7d_srpe"] = g("load_7d_srpe")[j]
            if h >= 14 and prev7_pos[j]:
                fact["prev_7d_km"] = g("prev_7d_km")[j]
                fact["week_change_pct"] = g("week_change_pct")[j]
            if h >= 7:
                monotony = _monotony_list(daily, i)
                if monotony is not None:
                    fact["monotony"] = round(monotony, 3)
                    fact["strain"] = round(l7[j] * monotony, 1)
                if complete[j]:
                    mono_srpe = _monotony_list(srpe_daily, i)
                    if mono_srpe is not None:
                        fact["monotony_srpe"] = round(mono_srpe, 3)
                        fact["strain_srpe"] = round(srpe7_l[j] * mono_srpe, 1)
                        fact["load_7d_srpe"] = g("load_7d_srpe")[j]
            if spike[j]:
                fact["run_vs_longest_30d_pct"] = g("run_vs_longest_30d_pct")[j]
            if share[j]:
                fact["longest_run_7d_km"] = g("longest_run_7d_km")[j]
                fact["long_run_share_7d_pct"] = g("long_run_share_7d_pct")[j]
            if cad_pos[j]:
                fact["cadence_28d_spm"] = g("cadence_28d_spm")[j]
            if last[j] >= 0:
                fact["days_since_last_run"] = i - last[j]
            fact["longest_break_28d_days"] = brk[j]
            if brk[j] >= COMEBACK_MIN_BREAK_DAYS:
                fact.update(self._comeback(i, l7[j]))
            if h >= 2 * MIN_HISTORY_DAYS and prev28_pos[j]:
                fact["load_28d_change_pct"] = g("load_28d_change_pct")[j]
            for key, days_l, sum_l, min_history in (
                ("strain", sd_l, ss_l, MIN_HISTORY_DAYS + 7),
                ("strain_srpe", sds_l, sss_l, MIN_HISTORY_DAYS),
            ):
                sdays = days_l[j]
                if key in fact and h >= min_history and sdays > 0:
                    mean_strain = sum_l[j] / sdays
                    if mean_strain > 0:
                        fact[f"{key}_28d_mean"] = round(mean_strain, 1)
                        fact[f"{key}_vs_28d_pct"] = round(
                            (fact[key] - mean_strain) / mean_strain * 100.0, 1
                        )
            if surfaces:
                fact.update(self._surface(i))
            out[j0 + j] = fact
        return out

    def _comeback(self, i: int, load7: float) -> dict[str, Any]:
        """The longest break of the last 28 days (once it has ended) against the 4 weeks before it.

        The break is the latest longest run of days without running in days i-27..i; when running
        resumed after it, the 28 days before its first day give the usual weekly distance and
        the usual run (distance per running day).
        """
        length = int(self.longest_break_28[i])
        if length < COMEBACK_MIN_BREAK_DAYS:
            return {}
        lo = max(i - 27, 0)
        window = self.rest_streak[lo : i + 1]
        end = lo + int(np.flatnonzero(window == length)[-1])
        if end >= i:
            return {}  # the break is still going on
        start = end - length + 1
        out: dict[str, Any] = {"days_since_break": i - end}
        usual = window_sum(self.cum_km, start - 1, 28)
        run_days = window_sum(self.cum_run_days, start - 1, 28)
        if usual > 0 and run_days > 0:
            week = usual / 4.0
            run = usual / run_days
            longest7 = float(self.longest_km[max(i - 6, end + 1) : i + 1].max())
            out["pre_break_weekly_km"] = round(week, 1)
            out["pre_break_run_km"] = round(run, 2)
            out["comeback_7d_vs_usual_pct"] = round(load7 / week * 100.0, 1)
            out["comeback_run_vs_usual_pct"] = round(longest7 / run * 100.0, 1)
        return out

    def _surface(self, i: int) -> dict[str, Any]:
        """Main surface of the last 7 days against the 28 days before them (known surfaces),
        and the share of the last 28 days' known-surface distance on hard surfaces."""
        out: dict[str, Any] = {}
        km28 = {s: window_sum(cum, i, 28) for s, cum in self.surface_cum.items()}
        total28 = sum(km28.values())
        load28 = window_sum(self.cum_km, i, 28)
        if total28 > 0 and load28 > 0:
            hard = sum(km for s, km in km28.items() if s in HARD_SURFACES)
            out["hard_surface_28d_pct"] = round(hard / total28 * 100.0, 1)
            out["surface_known_28d_pct"] = round(min(total28 / load28, 1.0) * 100.0, 1)
        km7 = {s: window_sum(cum, i, 7) for s, cum in self.surface_cum.items()}
        total7 = sum(km7.values())
        if total7 <= 0:
            return out
        main = max(km7, key=lambda s: km7[s])
        load7 = window_sum(self.cum_km, i, 7)
        out |= {
            "main_surface_7d": main,
            "main_surface_7d_share_pct": round(km7[main] / total7 * 100.0, 1),
            "surface_known_7d_pct": round(min(total7 / load7, 1.0) * 100.0, 1),
        }
        prev = {s: window_sum(cum, i - 7, 28) for s, cum in self.surface_cum.items()}
        total_prev = sum(prev.values())
        if total_prev > 0:
            out["main_surface_prev28_share_pct"] = round(prev[main] / total_prev * 100.0, 1)
            out["usual_surface_prev28"] = max(prev, key=lambda s: prev[s])
        return out

    def upto(self, cum: Array, i: int) -> float:
        """Sum of a cumulative series over every day up to and including index ``i``."""
        if i < 0:
            return 0.0
        return float(cum[min(i, len(cum) - 2) + 1])

    def shoe_km(self, shoe_id: str, i: int) -> float:
        """Kilometres run in this shoe on days up to and including index ``i``."""
        if i < 0:
            return 0.0
        return self.shoe_runs.km_upto(shoe_id, i + self.day0.toordinal())

    def shoe_km_window(self, shoe_id: str, i: int, days: int) -> float:
        return self.shoe_km(shoe_id, i) - self.shoe_km(shoe_id, i - days)

    def shoes_run_recently(self, i: int) -> list[str]:
        """Ids of the shoes with a run in the :data:`SHOE_IDLE_DAYS` days ending at index ``i``."""
        starts, ends, which = self.shoe_spans
        if i < 0 or not len(starts):
            return []
        day = i + self.day0.toordinal()
        hit = which[(starts <= day) & (ends >= day)]
        return [self.shoe_ids[k] for k in sorted(set(hit.tolist()))]

    def shoes_run_recently_range(self, lo: int, hi: int) -> list[list[str]]:
        """:meth:`shoes_run_recently` for every day index ``lo..hi`` (one pass over the spans)."""
        starts, ends, which = self.shoe_spans
        out: list[list[str]] = [[] for _ in range(max(hi - lo + 1, 0))]
        if not len(starts):
            return out
        d0 = self.day0.toordinal()
        hits: list[set[int]] = [set() for _ in out]
        for s, e, k in zip(starts.tolist(), ends.tolist(), which.tolist(), strict=True):
            for j in range(max(s - d0, lo, 0) - lo, min(e - d0, hi) - lo + 1):
                hits[j].add(k)
        ids = self.shoe_ids
        return [[ids[k] for k in sorted(h)] if h else [] for h in hits]

    def shoe_first_run(self, shoe_id: str) -> int | None:
        """Day index of the first run logged in this shoe (None when it has no runs)."""
        first = self.shoe_runs.first_day(shoe_id)
        return None if first is None else first - self.day0.toordinal()


def _shoe_index(
    shoe_ids: Sequence[str],
    shoe_idx: npt.NDArray[np.int64],
    ri: npt.NDArray[np.int64],
    km: Array,
) -> tuple[ShoeRuns, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Runs sorted by (shoe, day ordinal) with cumulative km, and the spans each shoe is in use.

    O(runs) once and vectorized across shoes, then O(log runs) per query: no per-shoe arrays
    over every day of history.
    """
    has = shoe_idx >= 0
    order = np.lexsort((ri[has], shoe_idx[has]))
    k_sorted, d_sorted, km_sorted = shoe_idx[has][order], ri[has][order], km[has][order]
    runs = ShoeRuns(
        ids={sid: k for k, sid in enumerate(shoe_ids)},
        bounds=np.searchsorted(k_sorted, np.arange(len(shoe_ids) + 1)),
        days=d_sorted,
        cum_km=_cumsum0(km_sorted),
        km=km_sorted,
        shoe=k_sorted,
    )
    return runs, _shoe_spans(k_sorted, d_sorted)


def _shoe_spans(
    k_sorted: npt.NDArray[np.int64], d_sorted: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(start day, end day, shoe) of the spans each shoe is in use, from runs sorted by (shoe,
    day): "run in the last SHOE_IDLE_DAYS days" holds on [d, d + IDLE - 1] for each run day d,
    merged per shoe into spans that break where the gap between runs is IDLE days or more."""
    if not len(d_sorted):
        empty = np.zeros(0, dtype=np.int64)
        return (empty, empty, empty)
    new_span = np.ones(len(d_sorted), dtype=np.bool_)
    new_span[1:] = (k_sorted[1:] != k_sorted[:-1]) | (np.diff(d_sorted) >= SHOE_IDLE_DAYS)
    first = np.flatnonzero(new_span)
    last = np.concatenate([first[1:] - 1, [len(d_sorted) - 1]]).astype(np.int64)
    return (d_sorted[first], d_sorted[last] + SHOE_IDLE_DAYS - 1, k_sorted[first])


@dataclasses.dataclass(frozen=True, slots=True)
class ShoeRuns:
    """Every run with a shoe, sorted by (shoe, day); ``bounds[k]:bounds[k+1]`` is shoe k."""

    ids: Mapping[str, int]
    bounds: npt.NDArray[np.int64]
    days: npt.NDArray[np.int64]
    cum_km: Array
    km: Array
    shoe: npt.NDArray[np.int64]
    _days: list[int] = dataclasses.field(default_factory=list)  # plain lists: bisect is faster
    _cum: list[float] = dataclasses.field(default_factory=list)  # than numpy on one scalar

    def __post_init__(self) -> None:
        if not self._days:
            self._days.extend(self.days.tolist())
            self._cum.extend(self.cum_km.tolist())

    def with_run(self, k: int, day: int, km: float, *, latest: bool) -> ShoeRuns | None:
        """These runs with one more run in shoe ``k`` on a day after all of that shoe's runs, or
        on its last day when the run is the latest of all (the usual upload): the arrays a full
        index gives, without sorting again. None when the run falls earlier: index again."""
        lo, hi = int(self.bounds[k]), int(self.bounds[k + 1])
        if hi > lo and (self._days[hi - 1] > day or (self._days[hi - 1] == day and not latest)):
            return None
        km_sorted = _insert(self.km, hi, km)
        bounds = self.bounds.copy()
        bounds[k + 1 :] += 1
        days = self._days.copy()
        days.insert(hi, day)
        cum = _cumsum0(km_sorted)
        return ShoeRuns(
            ids=self.ids,
            bounds=bounds,
            days=_insert(self.days, hi, day),
            cum_km=cum,
            km=km_sorted,
            shoe=_insert(self.shoe, hi, k),
            _days=days,
            _cum=cum.tolist(),
        )

    def km_upto(self, shoe_id: str, i: int) -> float:
        k = self.ids.get(shoe_id)
        if k is None or i < 0:
            return 0.0
        lo, hi = int(self.bounds[k]), int(self.bounds[k + 1])
        j = bisect.bisect_right(self._days, i, lo, hi)
        return self._cum[j] - self._cum[lo]

    def first_day(self, shoe_id: str) -> int | None:
        k = self.ids.get(shoe_id)
        if k is None or self.bounds[k] == self.bounds[k + 1]:
            return None
        return self._days[int(self.bounds[k])]


@dataclasses.dataclass(frozen=True, slots=True)
class RunColumns:
    """Per-run values as arrays, extracted once when the history changes."""

    day0: dt.date | None
    day_ord: npt.NDArray[np.int64]
    km: Array
    minutes: Array
    rpe: Array
    cad: Array
    shoe_idx: npt.NDArray[np.int64]
    shoe_ids: tuple[str, ...]
    shoe_runs: ShoeRuns
    shoe_spans: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]
    surface_idx: npt.NDArray[np.int64]

    @classmethod
    def of(cls, runs: Sequence[Run], cross: Sequence[CrossTraining]) -> RunColumns:
        n = len(runs)
        # One pass over the runs; missing values (None) become NaN in the float columns.
        cols = (
            list(
                zip(
                    *[
                        (
                            r.start.timestamp() + r.utc_offset_s,
                            r.distance_m,
                            r.moving_time_s,
                            r.elapsed_time_s,
                            r.rpe,
                            r.cadence_spm,
                            r.shoe_id or "",
                            r.surface or "",
                        )
                        for r in runs
                    ],
                    strict=True,
                )
            )
            or [()] * 8
        )
        # The local day of each run: the UTC start moved by its offset, in whole days.
        local = np.array(cols[0], dtype=np.float64)
        day_ord = (local // 86400.0).astype(np.int64) + _EPOCH_ORDINAL
        days = ([int(day_ord.min())] if n else []) + [c.day.toordinal() for c in cross[:1]]
        shoe_ids = tuple(sorted(set(cols[6]) - {""}))
        shoe_pos = {"": -1} | {sid: k for k, sid in enumerate(shoe_ids)}
        km = np.array(cols[1], dtype=np.float64) / 1000.0
        shoe_idx = np.array([shoe_pos[s] for s in cols[6]], dtype=np.int64)
        shoe_runs, shoe_spans = _shoe_index(shoe_ids, shoe_idx, day_ord, km)
        moving = np.array(cols[2], dtype=np.float64)
        duration = np.where(np.isnan(moving), np.array(cols[3], dtype=np.float64), moving)
        return cls(
            day0=dt.date.fromordinal(min(days)) if days else None,
            day_ord=day_ord,
            km=km,
            minutes=np.nan_to_num(duration, nan=0.0) / 60.0,
            rpe=np.array(cols[4], dtype=np.float64),
            cad=np.array(cols[5], dtype=np.float64),
            shoe_idx=shoe_idx,
            shoe_ids=shoe_ids,
            shoe_runs=shoe_runs,
            shoe_spans=shoe_spans,
            surface_idx=np.array([_SURFACE_POS.get(s, -1) for s in cols[7]], dtype=np.int64),
        )

    def with_run(self, pos: int, run: Run) -> RunColumns:
        """These columns with ``run`` inserted at row ``pos`` (the same columns :meth:`of`
        gives for the runs with ``run`` inserted there)."""
        shoe_ids, shoe_idx = self.shoe_ids, self.shoe_idx
        if run.shoe_id and run.shoe_id not in self.shoe_runs.ids:
            shoe_ids = tuple(sorted({*shoe_ids, run.shoe_id}))
            new_pos = {sid: k for k, sid in enumerate(shoe_ids)}
            remap = np.array([new_pos[sid] for sid in self.shoe_ids] + [-1], dtype=np.int64)
            shoe_idx = remap[shoe_idx]  # -1 (no shoe) picks the last entry: -1
        day = run.day
        day_ord = _insert(self.day_ord, pos, day.toordinal())
        km = _insert(self.km, pos, run.distance_m / 1000.0)
        k = shoe_ids.index(run.shoe_id) if run.shoe_id else -1
        shoe_idx = _insert(shoe_idx, pos, k)
        shoe_runs: ShoeRuns | None = self.shoe_runs
        shoe_spans = self.shoe_spans  # a run without a shoe leaves the shoe index as it is
        if run.shoe_id:
            if shoe_ids is self.shoe_ids:  # a pair already indexed
                shoe_runs = self.shoe_runs.with_run(
                    k, day.toordinal(), run.distance_m / 1000.0, latest=pos == len(self.day_ord)
                )
            else:
                shoe_runs = None
            if shoe_runs is None:
                shoe_runs, shoe_spans = _shoe_index(shoe_ids, shoe_idx, day_ord, km)
            else:
                shoe_spans = _shoe_spans(shoe_runs.shoe, shoe_runs.days)
        assert shoe_runs is not None
        return RunColumns(
            day0=day if self.day0 is None or day < self.day0 else self.day0,
            day_ord=day_ord,
            km=km,
            minutes=_insert(self.minutes, pos, (run.duration_s or 0.0) / 60.0),
            rpe=_insert(self.rpe, pos, np.nan if run.rpe is None else run.rpe),
            cad=_insert(self.cad, pos, np.nan if run.cadence_spm is None else run.cadence_spm),
            shoe_idx=shoe_idx,
            shoe_ids=shoe_ids,
            shoe_runs=shoe_runs,
            shoe_spans=shoe_spans,
            surface_idx=_insert(self.surface_idx, pos, _SURFACE_POS.get(run.surface or "", -1)),
        )


_SURFACE_POS = {name: k for k, name in enumerate(KNOWN_SURFACES)}
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


#: Runs sort by start, then id.
_run_key: Callable[[Run], tuple[dt.datetime, str]] = operator.attrgetter("start", "id")


def _insert(values: npt.NDArray[Any], pos: int, value: Any) -> npt.NDArray[Any]:
    """``np.insert`` of one value (without its general-case overhead)."""
    out = np.empty(len(values) + 1, dtype=values.dtype)
    out[:pos] = values[:pos]
    out[pos] = value
    out[pos + 1 :] = values[pos:]
    return out


def _cumsum0(x: npt.NDArray[Any]) -> Array:
    out = np.zeros(len(x) + 1)
    np.cumsum(x, out=out[1:])
    return out


class History:
    """One athlete's events, sorted and indexed, with derived series cached until it changes.

    Adding events keeps what they do not change: new runs are inserted into the run columns and
    the derived series is derived again only from the first day they touch (an upload after a
    run costs about the same at 1 year and at 30); events other than runs and cross-training
    leave the run indexes and the series alone.
    """

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self._by_id: dict[str, Event] = {}
        self._series: Series | None = None
        self._series_end: dt.date | None = None
        #: The first day whose runs changed since the series was derived (None: none did).
        self._dirty: dt.date | None = None
        self._cols: RunColumns | None = None
        self._ladders: dict[str, tuple[list[int], list[LadderState]]] = {}
        self._run_days: list[int] = []
        self._shoes_undated_unrun: list[str] = []
        self.last_day: dt.date | None = None
        self.runs: list[Run] = []
        self.cross: list[CrossTraining] = []
        self.profiles: list[Profile] = []
        self.pains: list[PainReport] = []
        self.shoes: list[Shoe] = []
        self.nutrition: list[NutritionLog] = []
        self.injuries: list[Injury] = []
        self.add(events)

    @classmethod
    def from_stored(cls, items: Iterable[Mapping[str, Any]]) -> History:
        """A history from event dicts validated before (the store's rows, our adapters'
        output) through :func:`~stridewise.engine.events.load_stored_events`: no schema
        validation, the same events and facts."""
        return cls(load_stored_events(items))

    def add(self, events: Iterable[Event]) -> None:
        """Add events; an event whose id is already known replaces the earlier one."""
        events = list(events)
        known = len(self._by_id)
        self._by_id.update((e.id, e) for e in events)
        replaces = len(self._by_id) != known + len(events)  # a known id, or one id twice
        kinds = {type(e) for e in events}
        if self._cols is None or replaces or CrossTraining in kinds:
            self._reindex()
        elif kinds == {Run}:
            self._add_runs([e for e in events if isinstance(e, Run)])
        elif events:
            self._reindex(runs=Run in kinds)

    def __len__(self) -> int:
        return len(self._by_id)

    def events(self) -> list[Event]:
        return list(self._by_id.values())

    def _add_runs(self, runs: list[Run]) -> None:
        """Insert new runs (ids not seen before) into the sorted runs and the run columns."""
        assert self._cols is not None
        cols = self._cols
        for run in sorted(runs, key=_run_key):
            pos = bisect.bisect_right(self.runs, _run_key(run), key=_run_key)
            self.runs.insert(pos, run)
            cols = cols.with_run(pos, run)
            day = run.day
            if run.distance_m > 0:
                d = day.toordinal()
                j = bisect.bisect_left(self._run_days, d)
                if j == len(self._run_days) or self._run_days[j] != d:
                    self._run_days.insert(j, d)
            if run.shoe_id in self._shoes_undated_unrun:
                self._shoes_undated_unrun.remove(run.shoe_id)
            if self.last_day is None or day > self.last_day:
                self.last_day = day
            if self._dirty is None or day < self._dirty:
                self._dirty = day
        self._cols = cols
        self._ladders = {}

    def _reindex(self, *, runs: bool = True) -> None:
        """Sort and index every event (``runs=False``: the runs and cross-training did not
        change, so their columns and the derived series are kept)."""
        buckets: dict[type[Any], list[Any]] = {}
        for event in self._by_id.values():
            buckets.setdefault(type(event), []).append(event)
        if runs or self._cols is None:
            self.runs = sorted(buckets.get(Run, []), key=_run_key)
            self.cross = sorted(buckets.get(CrossTraining, []), key=lambda c: (c.start, c.id))
            self._cols = RunColumns.of(self.runs, self.cross)
            self._run_days = sorted(set(self._cols.day_ord[self._cols.km > 0].tolist()))
            walks = sorted(
                (c.day.toordinal(), c.duration_s / 60.0)
                for c in self.cross
                if c.sport in WALK_SPORTS
            )
            self._walk_days = [d for d, _ in walks]
            self._walk_min = [m for _, m in walks]
            other = sorted(
                (c.day.toordinal(), c.duration_s / 60.0)
                for c in self.cross
                if c.sport not in WALK_SPORTS
            )
            self._cross_days = [d for d, _ in other]
            self._cross_cum_min = _cumsum0(np.array([m for _, m in other], dtype=np.float64))
            self._series = None
            self._series_end = None
            self._dirty = None
        self.profiles = sorted(buckets.get(Profile, []), key=lambda p: (p.recorded, p.id))
        self.pains = sorted(buckets.get(PainReport, []), key=lambda p: (p.date, p.id))
        self.shoes = sorted(buckets.get(Shoe, []), key=lambda s: s.id)
        self.nutrition = sorted(buckets.get(NutritionLog, []), key=lambda x: (x.date, x.id))
        self.injuries = _merge_injuries(buckets.get(Injury, []))
        self._pain_days = [p.date.toordinal() for p in self.pains]
        self._profile_days = [p.recorded.toordinal() for p in self.profiles]
        self._nutrition_days = [x.date.toordinal() for x in self.nutrition]
        # Pain that counts for return to run: any pain (severity >= 1) or swelling.
        self._symptoms = [p for p in self.pains if p.severity >= 1 or p.swelling]
        self._symptom_days = [p.date.toordinal() for p in self._symptoms]
        self._ladders = {}
        run_shoes = set(self._cols.shoe_ids)
        self._shoe_by_id = {shoe.id: shoe for shoe in self.shoes}
        by_first_use = sorted((s.first_used.toordinal(), s.id) for s in self.shoes if s.first_used)
        self._shoe_dated_days = [d for d, _ in by_first_use]
        self._shoe_dated_ids = [sid for _, sid in by_first_use]
        self._shoes_undated_unrun = [
            s.id for s in self.shoes if s.first_used is None and s.id not in run_shoes
        ]
        dated = [int(self._cols.day_ord.max())] if len(self.runs) else []
        dated += [c.day.toordinal() for c in self.cross]
        dated += self._pain_days + self._nutrition_days
        dated += [e.date.toordinal() for e in self.injuries]
        self.last_day = dt.date.fromordinal(max(dated)) if dated else None

    def series(self, end: dt.date) -> Series:
        """The daily series covering at least up to ``end`` (cached; after new runs or a later
        ``end``, derived again only from the first day that changed)."""
        cached, cached_end = self._series, self._series_end
        if (
            cached is not None
            and cached_end is not None
            and self._dirty is None
            and cached_end >= end
        ):
            return cached
        assert self._cols is not None
        last = self.last_day
        span_end = max(end, last) if last else end
        if cached is not None and cached_end is not None:
            span_end = max(span_end, cached_end)
            since = cached_end + dt.timedelta(days=1)  # the days after the cached series
            if self._dirty is not None and self._dirty < since:
                since = self._dirty
            self._series = Series.build(self._cols, self.cross, span_end, base=cached, since=since)
        else:
            self._series = Series.build(self._cols, self.cross, span_end)
        self._series_end = span_end
        self._dirty = None
        return self._series

    def facts(self, as_of: dt.date) -> list[dict[str, Any]]:
        """Every fact about the athlete as of the end of ``as_of`` (nothing later is seen)."""
        return self._facts(self.series(as_of), as_of)

    def timeline(
        self, start: dt.date, end: dt.date
    ) -> Iterator[tuple[dt.date, list[dict[str, Any]]]]:
        """Facts for every day from ``start`` to ``end`` inclusive, from one shared series."""
        series = self.series(end)
        if end < start:
            return
        lo = series.index(start)
        hi = series.index(end)
        training = series.training_range(lo, hi)
        recent = series.shoes_run_recently_range(lo, hi)
        days = [start + dt.timedelta(days=j) for j in range(hi - lo + 1)]
        in_use = [
            self._shoes_in_use(series, i, day, shoes)
            for i, day, shoes in zip(range(lo, hi + 1), days, recent, strict=True)
        ]
        shoe_facts = self._shoe_facts_range(series, lo, days, in_use)
        for day, t, shoes in zip(days, training, shoe_facts, strict=True):
            yield day, self._facts(series, day, t, shoes)

    def _shoe_facts_range(
        self, series: Series, lo: int, days: list[dt.date], in_use: list[list[Shoe]]
    ) -> list[list[dict[str, Any]]]:
        """The ``shoe`` facts of :meth:`_facts` for days ``lo, lo + 1, ...`` (``in_use`` the
        shoes of each day), computed over every (day, shoe) pair at once: the same floats
        (the same operations, rounded by :func:`_round_list`)."""
        pair_day = [j for j, shoes in enumerate(in_use) for _ in shoes]
        pairs = [shoe for shoes in in_use for shoe in shoes]
        out: list[list[dict[str, Any]]] = [[] for _ in in_use]
        if not pairs:
            return out
        runs = series.shoe_runs
        d0 = series.day0.toordinal()
        pi = np.array(pair_day, dtype=np.int64) + lo
        pk = np.array([runs.ids.get(shoe.id, -1) for shoe in pairs], dtype=np.int64)
        start_km = np.array([shoe.start_distance_m for shoe in pairs], dtype=np.float64) / 1000.0
        # Runs sorted by (shoe, day): one sorted key per run, so one search finds, for each
        # pair, the runs of its shoe up to a day (what ShoeRuns.km_upto bisects for).
        # Keys shoe * span + (day - base) sort as (shoe, day) for every run and every query
        # day i >= 0 (days i < 0 are masked: no runs before the history).
        has = pk >= 0
        first = runs.bounds[np.maximum(pk, 0)]
        if len(runs.days):
            base = min(int(runs.days.min()), d0)
            span = max(int(runs.days.max()), d0 + int(pi.max())) - base + 2
            keys = runs.shoe * span + (runs.days - base)

        def upto(i: npt.NDArray[np.int64]) -> Array:
            if not len(runs.days):
                return np.zeros(len(i))
            j = np.searchsorted(keys, np.maximum(pk, 0) * span + (i + d0 - base), side="right")
            got = runs.cum_km[j] - runs.cum_km[first]
            return np.where(has & (i >= 0), got, 0.0)

        run_km = upto(pi)
        shoe7 = run_km - upto(pi - 7)
        shoe28 = run_km - upto(pi - 28)
        km = start_km + run_km
        cum = series.cum_km
        lo7 = np.maximum(pi + 1 - 7, 0)
        lo28 = np.maximum(pi + 1 - 28, 0)
        top = np.maximum(pi + 1, 0)
        load7 = np.where(pi >= 0, cum[top] - cum[lo7], 0.0)
        load28 = np.where(pi >= 0, cum[top] - cum[lo28], 0.0)
        with np.errstate(all="ignore"):
            distance = _round_list(km, 1)
            last7 = _round_list(shoe7, 2)
            share7 = _round_list(shoe7 / load7 * 100.0, 1)
            before7 = _round_list(km - shoe7, 1)
            last28 = _round_list(shoe28, 2)
            share28 = _round_list(shoe28 / load28 * 100.0, 1)
        pos7, pos28 = (load7 > 0).tolist(), (load28 > 0).tolist()
        for p, (j, shoe) in enumerate(zip(pair_day, pairs, strict=True)):
            i = lo + j
            first_run = series.shoe_first_run(shoe.id)
            first_days = [(days[j] - shoe.first_used).days] if shoe.first_used else []
            if first_run is not None and first_run <= i:
                first_days.append(i - first_run)
            out[j].append(
                _clean(
                    {
                        "type": "shoe",
                        "shoe_id": shoe.id,
                        "name": shoe.name,
                        "distance_km": distance[p],
                        "km_last_7d": last7[p],
                        "share_of_7d_pct": share7[p] if pos7[p] else None,
                        "km_before_last_7d": before7[p],
                        "km_last_28d": last28[p],
                        "share_of_28d_pct": share28[p] if pos28[p] else None,
                        "days_in_use": max(first_days) if first_days else None,
                    }
                )
            )
        return out

    # -- fact assembly ---------------------------------------------------------------------------

    def _facts(
        self,
        series: Series,
        as_of: dt.date,
        training: dict[str, Any] | None = None,
        shoe_facts: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Every fact as of ``as_of``; ``training`` = ``series.training(i)`` and
        the ``shoe`` facts when already derived (a timeline
        derives them for every day at once)."""
        i = series.index(as_of)
        if training is None:
            training = series.training(i)
        facts: list[dict[str, Any]] = [{"type": "training", **training}]
        profile = _profile_as_of(self.profiles, self._profile_days, as_of)
        facts.append(self._athlete_fact(profile, as_of))
        if shoe_facts is None:
            shoe_facts = self._shoe_facts(series, i, as_of)
        facts += shoe_facts
        lo = bisect.bisect_left(self._pain_days, as_of.toordinal() - PAIN_WINDOW_DAYS + 1)
        hi = bisect.bisect_right(self._pain_days, as_of.toordinal())
        for pain in self.pains[lo:hi]:
            near = self._near_prior_bsi(pain, profile)
            facts.append(
                _clean(
                    {
                        "type": "pain",
                        "report_id": pain.id,
                        "days_ago": (as_of - pain.date).days,
                        "site": pain.site,
                        "site_label": site_label(pain.site),
                        "high_risk_site": pain.site in HIGH_RISK_SITES,
                        "side": pain.side,
                        "severity": pain.severity,
                        "with_activity": pain.with_activity,
                        "after_rest": pain.after_rest,
                        "at_rest": pain.at_rest,
                        "at_night": pain.at_night,
                        "swelling": pain.swelling,
                        "point_tenderness": pain.point_tenderness,
                        "hop_pain": pain.hop_pain,
                        "worsening": pain.worsening,
                        "stopped_run": pain.stopped_run,
                        "possible_high_risk_site": pain.site in HIGH_RISK_SITES
                        or pain.site in POSSIBLY_HIGH_RISK_REGIONS,
                        "near_prior_bsi": near is not None,
                        "prior_bsi_site_label": site_label(near) if near else None,
                    }
                )
            )
        current = [inj for inj in self.injuries if inj.date <= as_of]
        for inj in current:
            facts.append(
                _clean(
                    {
                        "type": "injury",
                        "injury_id": inj.id,
                        "site": inj.site,
                        "site_label": site_label(inj.site),
                        "high_risk_site": inj.site in HIGH_RISK_SITES,
                        "days_since_diagnosis": (as_of - inj.date).days,
                        "cleared": bool(inj.cleared and inj.cleared <= as_of),
                        "days_since_cleared": (as_of - inj.cleared).days
                        if inj.cleared and inj.cleared <= as_of
                        else None,
                        "imaging_healed": inj.imaging_healed,
                        "hop_test_pain": inj.hop_test_pain,
                        "strength_test_passed": inj.strength_test_passed,
                        "grade": inj.grade,
                        "latest": inj is current[-1],
                        **self._return_to_run(inj, series, as_of),
                    }
                )
            )
        k = bisect.bisect_right(self._nutrition_days, as_of.toordinal()) - 1
        if k >= 0 and (as_of - self.nutrition[k].date).days <= NUTRITION_WINDOW_DAYS:
            fact = _nutrition_fact(self.nutrition[k], as_of)
            if k >= 1:
                fact.update(_intake_trend(self.nutrition[k], self.nutrition[k - 1], series))
            facts.append(fact)
        return facts

    def _shoe_facts(self, series: Series, i: int, as_of: dt.date) -> list[dict[str, Any]]:
        """The ``shoe`` facts as of a day (day index ``i``)."""
        load7 = window_sum(series.cum_km, i, 7) if i >= 0 else 0.0
        load28 = window_sum(series.cum_km, i, 28) if i >= 0 else 0.0
        out: list[dict[str, Any]] = []
        for shoe in self._shoes_in_use(series, i, as_of):
            run_km = series.shoe_km(shoe.id, i)
            km = shoe.start_distance_m / 1000.0 + run_km
            shoe7 = run_km - series.shoe_km(shoe.id, i - 7)
            shoe28 = run_km - series.shoe_km(shoe.id, i - 28)
            first_run = series.shoe_first_run(shoe.id)
            first_days = [(as_of - shoe.first_used).days] if shoe.first_used else []
            if first_run is not None and first_run <= i:
                first_days.append(i - first_run)
            out.append(
                _clean(
                    {
                        "type": "shoe",
                        "shoe_id": shoe.id,
                        "name": shoe.name,
                        "distance_km": round(km, 1),
                        "km_last_7d": round(shoe7, 2),
                        "share_of_7d_pct": round(shoe7 / load7 * 100.0, 1) if load7 > 0 else None,
                        "km_before_last_7d": round(km - shoe7, 1),
                        "km_last_28d": round(shoe28, 2),
                        "share_of_28d_pct": round(shoe28 / load28 * 100.0, 1)
                        if load28 > 0
                        else None,
                        "days_in_use": max(first_days) if first_days else None,
                    }
                )
            )
        return out

    def _shoes_in_use(
        self, series: Series, i: int, as_of: dt.date, recent: list[str] | None = None
    ) -> list[Shoe]:
        """Shoes in use as of a day, by id: not retired, not first used later, and either run
        in within :data:`SHOE_IDLE_DAYS`, first used within them, or never dated nor run in
        (nothing says they are idle). A pair idle for longer counts as retired.
        """
        if recent is None:
            recent = series.shoes_run_recently(i)
        ids = set(recent) | set(self._shoes_undated_unrun)
        a = bisect.bisect_left(self._shoe_dated_days, as_of.toordinal() - SHOE_IDLE_DAYS)
        b = bisect.bisect_right(self._shoe_dated_days, as_of.toordinal())
        ids.update(self._shoe_dated_ids[a:b])
        out = []
        for sid in sorted(ids):
            shoe = self._shoe_by_id.get(sid)
            if shoe is None or (shoe.first_used and shoe.first_used > as_of):
                continue
            if shoe.retired and shoe.retired <= as_of:
                continue
            out.append(shoe)
        return out

    def _return_to_run(self, inj: Injury, series: Series, as_of: dt.date) -> dict[str, Any]:
        """Return-to-run facts for one injury as of a day (every lookup O(log n))."""
        i = min(series.index(as_of), len(series.distance_km) - 1)
        as_ord, diag_ord = as_of.toordinal(), inj.date.toordinal()
        diag_i = series.index(inj.date)
        out: dict[str, Any] = {
            "runs_since_diagnosis": int(
                series.upto(series.cum_run_days, i) - series.upto(series.cum_run_days, diag_i)
            )
        }
        last = int(series.last_active[i]) if i >= 0 else -1
        if last > diag_i:
            out["last_run_days_ago"] = i - last
            out["last_run_km"] = round(float(series.distance_km[last]), 2)
        pre_km = window_sum(series.cum_km, diag_i - 1, 28)
        pre_days = window_sum(series.cum_run_days, diag_i - 1, 28)
        if pre_km > 0 and pre_days > 0:
            out["pre_injury_weekly_km"] = round(pre_km / 4.0, 1)
            out["pre_injury_run_km"] = round(pre_km / pre_days, 2)
        k = bisect.bisect_right(self._symptom_days, as_ord) - 1
        last_pain = self._symptom_days[k] if k >= 0 and self._symptom_days[k] >= diag_ord else None
        if last_pain is not None:
            out["days_since_pain"] = as_ord - last_pain
        lo = max(as_ord - GATE_WINDOW_DAYS + 1, diag_ord, (last_pain or 0) + 1)
        a = bisect.bisect_left(self._walk_days, lo)
        b = bisect.bisect_right(self._walk_days, as_ord)
        if b > a:
            out["walk_pain_free_min_14d"] = round(max(self._walk_min[a:b]), 1)
        a = bisect.bisect_left(self._cross_days, max(as_ord - GATE_WINDOW_DAYS + 1, diag_ord))
        b = bisect.bisect_right(self._cross_days, as_ord)
        out["cross_training_min_14d"] = round(
            float(self._cross_cum_min[b] - self._cross_cum_min[a]), 1
        )
        # Pain-free cross-training (seed 002's gate): the sessions after the last pain report.
        a = max(a, bisect.bisect_left(self._cross_days, lo))
        out["cross_training_pain_free_min_14d"] = round(
            float(self._cross_cum_min[b] - self._cross_cum_min[a]) if b > a else 0.0, 1
        )
        if not (inj.cleared and inj.cleared <= as_of):
            return out
        cl_i = series.index(inj.cleared)
        out["runs_since_cleared"] = int(
            series.upto(series.cum_run_days, i) - series.upto(series.cum_run_days, cl_i - 1)
        )
        out["km_since_cleared"] = round(
            series.upto(series.cum_km, i) - series.upto(series.cum_km, cl_i - 1), 2
        )
        if last >= cl_i and "pre_injury_run_km" in out:
            out["last_run_vs_usual_pct"] = round(
                float(series.distance_km[last]) / out["pre_injury_run_km"] * 100.0, 1
            )
        days, states = self._ladder(inj)
        j = bisect.bisect_right(days, as_ord) - 1
        state = states[j] if j >= 0 else LadderState(1, 0, "start", inj.cleared.toordinal(), None)
        out.update(state.facts(as_ord))
        return out

    def _in_recovery(self, inj: Injury, day: dt.date) -> bool:
        """Whether an injury is still being rehabilitated on a day: not yet cleared, or cleared
        with the walk-run ladder not finished (within :data:`LADDER_HORIZON_DAYS`)."""
        if inj.cleared is None or inj.cleared > day:
            return True
        if (day - inj.cleared).days > LADDER_HORIZON_DAYS:
            return False
        days, states = self._ladder(inj)
        j = bisect.bisect_right(days, day.toordinal()) - 1
        return j < 0 or not states[j].facts(day.toordinal())["ladder_complete"]

    def _near_prior_bsi(self, pain: PainReport, profile: Profile | None) -> str | None:
        """The earlier bone stress injury site this pain is at or near (same site or region,
        side not known to differ), or None. Earlier = in the profile's history, or a diagnosed
        injury whose rehabilitation was over by the pain's date (pain during the walk-run
        ladder is the return-to-run pack's business: hold or step back)."""
        prior: list[tuple[str, str]] = []
        if profile is not None:
            prior += [
                (p.site, p.side) for p in profile.prior_bsi if p.date is None or p.date < pain.date
            ]
        prior += [
            (inj.site, inj.side)
            for inj in self.injuries
            if inj.date < pain.date and not self._in_recovery(inj, pain.date)
        ]
        for site, side in prior:
            if {side, pain.side} == {"left", "right"}:
                continue
            if sites_near(pain.site, site):
                return site
        return None

    def _ladder(self, inj: Injury) -> tuple[list[int], list[LadderState]]:
        cached = self._ladders.get(inj.id)
        if cached is None:
            assert inj.cleared is not None
            cached = self._ladders[inj.id] = walk_run_ladder(
                self._run_days, self._symptoms, inj.cleared.toordinal()
            )
        return cached

    def _athlete_fact(self, profile: Profile | None, as_of: dt.date) -> dict[str, Any]:
        if profile is None:
            return {"type": "athlete", "has_profile": False}
        prior = [p for p in profile.prior_bsi if p.date is None or p.date <= as_of]
        diagnosed = [inj for inj in self.injuries if inj.date <= as_of]
        # The same injury told twice (in the profile and as a logged injury on the same date)
        # counts once.
        logged = {(inj.site, inj.date) for inj in diagnosed}
        sites = [p.site for p in prior if (p.site, p.date) not in logged]
        sites += [inj.site for inj in diagnosed]
        bmi = (
            round(profile.weight_kg / profile.height_m**2, 1)
            if profile.weight_kg and profile.height_m
            else None
        )
        return _clean(
            {
                "type": "athlete",
                "has_profile": True,
                "sex": profile.sex,
                "age_y": as_of.year - profile.birth_year if profile.birth_year else None,
                "weight_kg": profile.weight_kg,
                "height_m": profile.height_m,
                "bmi": bmi,
                "prior_bsi_count": len(sites),
                "prior_high_risk_bsi": any(s in HIGH_RISK_SITES for s in sites),
                "prior_trabecular_bsi": any(s in TRABECULAR_SITES for s in sites),
                "menarche_age_y": profile.menarche_age_y,
                "menses_last_12_months": profile.menses_last_12_months,
                "bmd_z_score": profile.bmd_z_score,
                "disordered_eating": profile.disordered_eating,
                "weight_loss_pct_month": profile.weight_loss_pct_month,
                "hormonal_contraception": profile.hormonal_contraception,
                "profile_age_days": (as_of - profile.recorded).days,
            }
        )


def _merge_injuries(injuries: list[Injury]) -> list[Injury]:
    """One injury per (diagnosis date, site, side): a later journal entry for the same injury
    (``stridewise log injury`` again with the clearance date or test results) fills in and
    updates the earlier one instead of counting as a second injury. ``injuries`` come in the
    order they were added (journal order): a later value wins."""
    merged: dict[tuple[dt.date, str, str], Injury] = {}
    for inj in injuries:
        key = (inj.date, inj.site, inj.side)
        first = merged.get(key)
        if first is None:
            merged[key] = inj
            continue
        changes = {
            f.name: getattr(inj, f.name)
            for f in dataclasses.fields(inj)
            if f.name not in ("id", "source") and getattr(inj, f.name) is not None
        }
        merged[key] = dataclasses.replace(first, **changes)
    return sorted(merged.values(), key=lambda x: (x.date, x.id))


def _nutrition_fact(log: NutritionLog, as_of: dt.date) -> dict[str, Any]:
    ea = None
    if (
        log.energy_intake_kcal is not None
        and log.exercise_energy_kcal is not None
        and log.fat_free_mass_kg
    ):
        ea = round((log.energy_intake_kcal - log.exercise_energy_kcal) / log.fat_free_mass_kg, 1)
    return _clean(
        {
            "type": "nutrition",
            "log_id": log.id,
            "days_ago": (as_of - log.date).days,
            "energy_availability_kcal_per_kg_ffm": ea,
            "energy_intake_kcal": log.energy_intake_kcal,
            "calcium_mg": log.calcium_mg,
            "vitamin_d_iu": log.vitamin_d_iu,
            "serum_25ohd_nmol_l": log.serum_25ohd_nmol_l,
        }
    )


#: How a site reads in a card ("posteromedial tibia", not "tibia_posteromedial").
SITE_LABELS = {
    "tibia_anterior": "anterior tibia",
    "tibia_posteromedial": "posteromedial tibia",
    "metatarsal_5_proximal": "base of the 5th metatarsal",
    "metatarsal_2_base": "base of the 2nd metatarsal",
    "sesamoid": "great-toe sesamoid",
    "calcaneus": "heel bone",
    "other": "other site",
}


def site_label(site: str) -> str:
    """Plain words for a site or region code."""
    return SITE_LABELS.get(site, site.replace("_", " "))


def _intake_trend(latest: NutritionLog, prev: NutritionLog, series: Series) -> dict[str, Any]:
    """Latest nutrition log against the one before it, and the 28-day running load at each."""
    out: dict[str, Any] = {"prev_log_days_before": (latest.date - prev.date).days}
    if latest.energy_intake_kcal is not None and prev.energy_intake_kcal:
        out["intake_change_pct"] = round(
            (latest.energy_intake_kcal - prev.energy_intake_kcal) / prev.energy_intake_kcal * 100.0,
            1,
        )
    now = window_sum(series.cum_km, series.index(latest.date), 28)
    before = window_sum(series.cum_km, series.index(prev.date), 28)
    if before > 0:
        out["load_change_pct"] = round((now - before) / before * 100.0, 1)
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class LadderState:
    """Where a runner stands on the walk-run ladder after an event (see :func:`walk_run_ladder`).

    ``phase`` and ``clean`` describe the phase of the last session and how many sessions at that
    phase went without pain; ``action`` is what the last event did (``start``, ``session``,
    ``hold``, ``step_back``) and ``day`` its date ordinal; ``complete_day`` is set once two clean
    sessions of the last phase are done.
    """

    phase: int
    clean: int
    action: str
    day: int
    complete_day: int | None

    def facts(self, as_ord: int) -> dict[str, Any]:
        """The ladder fields of the ``injury`` fact: the phase of the *next* session."""
        done = self.phase == LADDER_PHASES and self.clean >= LADDER_SESSIONS_PER_PHASE
        advance = not done and self.clean >= LADDER_SESSIONS_PER_PHASE
        out: dict[str, Any] = {
            "ladder_complete": done,
            "ladder_last_action": "complete" if done else self.action,
            "ladder_action_days_ago": as_ord - self.day,
        }
        if done and self.complete_day is not None:
            out["ladder_complete_days_ago"] = as_ord - self.complete_day
        else:
            out["ladder_phase"] = self.phase + 1 if advance else self.phase
            out["ladder_sessions_in_phase"] = 0 if advance else self.clean
        return out


def walk_run_ladder(
    run_days: Sequence[int], pains: Sequence[PainReport], cleared: int
) -> tuple[list[int], list[LadderState]]:
    """Replay the walk-run ladder from clearance: the state after each day with an event.

    Rules (army RCT, table 1, as summarised in ``docs/evidence.md``): 6 phases, each done at
    least :data:`LADDER_SESSIONS_PER_PHASE` times; a run day is one session; do not progress
    with pain or swelling (a pain report after a session means that session does not count);
    pain that lasts (reported after rest, at rest or at night) steps back one phase. A run after
    the ladder is complete ends the replay (post-ladder running). ``run_days`` and the pain
    reports' dates are sorted; only the first :data:`LADDER_HORIZON_DAYS` after clearance count.
    """
    horizon = cleared + LADDER_HORIZON_DAYS
    runs = set(
        run_days[bisect.bisect_left(run_days, cleared) : bisect.bisect_right(run_days, horizon)]
    )
    by_day: dict[int, list[PainReport]] = {}
    for pain in pains:
        d = pain.date.toordinal()
        if cleared <= d <= horizon:
            by_day.setdefault(d, []).append(pain)
    phase, clean, counted, stepped = 1, 0, False, False
    complete: int | None = None
    days: list[int] = []
    states: list[LadderState] = []
    for d in sorted(runs | by_day.keys()):
        action = ""
        if d in runs:
            if phase == LADDER_PHASES and clean >= LADDER_SESSIONS_PER_PHASE:
                break  # the ladder was done before this run
            if clean >= LADDER_SESSIONS_PER_PHASE:
                phase, clean = phase + 1, 0
            clean += 1
            counted, stepped, action = True, False, "session"
            if phase == LADDER_PHASES and clean >= LADDER_SESSIONS_PER_PHASE:
                complete = d
        for pain in by_day.get(d, ()):
            if pain.after_rest or pain.at_rest or pain.at_night:
                if not stepped:
                    phase, clean = max(1, phase - 1), 0
                    counted, stepped, action, complete = False, True, "step_back", None
            elif counted:
                clean -= 1
                counted, action, complete = False, "hold", None
        if action:
            days.append(d)
            states.append(LadderState(phase, clean, action, d, complete))
    return days, states


#: Profile facts that do not change with time: told once (even today), they hold on every date.
TIMELESS_PROFILE_FIELDS = frozenset({"sex", "birth_year", "menarche_age_y", "prior_bsi"})


def _profile_as_of(
    profiles: Sequence[Profile], days: Sequence[int], as_of: dt.date
) -> Profile | None:
    """The profile that holds on ``as_of``, field by field: the latest value told on or before
    that date, and for :data:`TIMELESS_PROFILE_FIELDS` the latest told at any date (past bone
    stress injuries from every profile). A later entry that gives only the weight keeps the
    rest; a profile logged today counts for yesterday's run (``profiles`` sorted by date)."""
    if not profiles:
        return None
    k = bisect.bisect_right(days, as_of.toordinal())
    base = (
        profiles[k - 1]
        if k
        else Profile(id=profiles[0].id, source=profiles[0].source, recorded=as_of)
    )
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(Profile):
        if f.name in ("id", "source", "recorded", "prior_bsi"):
            continue
        pool = profiles if f.name in TIMELESS_PROFILE_FIELDS else profiles[:k]
        value = next((v for p in reversed(pool) if (v := getattr(p, f.name)) is not None), None)
        if value is not None:
            changes[f.name] = value
    prior = {(p.site, p.date, p.side): p for prof in profiles for p in prof.prior_bsi}
    changes["prior_bsi"] = tuple(prior.values())
    return dataclasses.replace(base, **changes)


def _latest(items: Sequence[Any], days: Sequence[int], as_of: dt.date) -> Any:
    """The last item dated on or before ``as_of`` (``days`` = the items' sorted ordinals)."""
    k = bisect.bisect_right(days, as_of.toordinal()) - 1
    return items[k] if k >= 0 else None


def _clean(fact: dict[str, Any]) -> dict[str, Any]:
    """Drop absent values: rules test absence with ``exists``, never by comparing to null."""
    return {k: v for k, v in fact.items() if v is not None}
