"""A timeline derives every day's facts at once; they are the facts of each day on its own.

``History.timeline`` computes the ``training`` fact for all its days from whole arrays
(``Series.training_range``); ``History.facts(day)`` derives one day. Every day of every
history here must give identical facts: the same keys in the same order, the same values
(floats compared exactly, with their type), on a long daily history, the bundled demo athlete
and random sparse histories with gaps, breaks, RPE, cadence, surfaces, shoes, pain, injuries
and nutrition logs.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import stridewise
from stridewise.engine.events import SURFACES, Event, load_event
from stridewise.engine.facts import History, _round_list

REPO = Path(__file__).parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
try:
    from synthetic import DEMO_END, daily_runs
finally:
    sys.path.pop(0)

DEMO = REPO / "src" / "stridewise" / "data" / "demo_athlete.yaml"


def ev(kind: str, ident: str, **fields: Any) -> Event:
    return load_event({"kind": kind, "id": ident, "source": "t", **fields})


def exact(facts: list[dict[str, Any]]) -> str:
    """Facts with their key order, value types and exact float digits (repr)."""
    rows = [[(k, type(v).__name__, repr(v)) for k, v in fact.items()] for fact in facts]
    return json.dumps(rows)


def assert_timeline_matches(history: History, start: dt.date, end: dt.date) -> int:
    days = 0
    for day, facts in history.timeline(start, end):
        one = history.facts(day)
        assert facts == one, day
        assert exact(facts) == exact(one), day
        days += 1
    assert days == (end - start).days + 1
    return days


def random_history(seed: int) -> tuple[History, dt.date, dt.date]:
    rng = random.Random(seed)
    end = dt.date(2026, 10, 31)
    length = rng.choice([40, 120, 400, 900])
    first = end - dt.timedelta(days=length)
    shoes = [f"shoe{k}" for k in range(rng.randint(0, 4))]
    events: list[Event] = []
    day = first
    n = 0
    while day <= end:
        if rng.random() < 0.03:  # a break of one to eight weeks
            day += dt.timedelta(days=rng.randint(7, 56))
            continue
        if rng.random() < rng.choice([0.4, 0.7, 0.95]):
            for _ in range(1 if rng.random() < 0.9 else 2):
                km = rng.choice([0.0, 0.1, 1.0, 3.333, 5.0, 7.77, 10.0, 12.5, 21.1, 42.195])
                if rng.random() < 0.7:
                    km = round(rng.uniform(0.0, 30.0), rng.choice([0, 1, 2, 3]))
                seconds = round(max(km, 0.5) * rng.uniform(250, 500), 1)
                fields: dict[str, Any] = {}
                if rng.random() < 0.7:
                    fields["moving_time_s"] = seconds
                elif rng.random() < 0.5:
                    fields["elapsed_time_s"] = seconds
                if rng.random() < 0.6:
                    fields["rpe"] = rng.choice([1, 2.5, 3, 4, 5, 6, 7.5, 9, 10])
                if rng.random() < 0.5:
                    fields["cadence_spm"] = rng.randint(150, 190)
                if shoes and rng.random() < 0.8:
                    fields["shoe_id"] = rng.choice(shoes)
                if rng.random() < 0.6:
                    fields["surface"] = rng.choice(SURFACES)
                hour = rng.randint(0, 23)
                events.append(
                    ev(
                        "run",
                        f"r{n}",
                        start=f"{day}T{hour:02d}:{rng.randint(0, 59):02d}:00+00:00",
                        utc_offset_s=rng.choice([None, -18000, 0, 3600, 36000]),
                        distance_m=round(km * 1000.0, 1),
                        **fields,
                    )
                )
                n += 1
        if rng.random() < 0.08:
            events.append(
                ev(
                    "cross_training",
                    f"c{n}",
                    start=f"{day}T18:00:00Z",
                    sport=rng.choice(["strength", "walk", "swim", "ride", "hike"]),
                    duration_s=rng.randint(600, 5400),
                    **({"rpe": rng.randint(1, 10)} if rng.random() < 0.5 else {}),
                )
            )
            n += 1
        if rng.random() < 0.02:
            events.append(
                ev(
                    "pain",
                    f"p{n}",
                    date=str(day),
                    site=rng.choice(["shin", "foot", "hip", "tibia_anterior", "navicular"]),
                    severity=rng.randint(0, 8),
                    with_activity=rng.random() < 0.5,
                    after_rest=rng.random() < 0.3,
                )
            )
            n += 1
        day += dt.timedelta(days=1)
    for k, sid in enumerate(shoes):
        fields = {}
        if rng.random() < 0.5:
            fields["first_used"] = str(first + dt.timedelta(days=rng.randint(-30, length)))
        if rng.random() < 0.3:
            fields["retired"] = str(first + dt.timedelta(days=rng.randint(0, length + 10)))
        if rng.random() < 0.5:
            fields["start_distance_m"] = rng.randint(0, 300_000)
        events.append(ev("shoe", sid, name=f"Shoe {k}", **fields))
    if rng.random() < 0.5:
        events.append(ev("shoe", "unrun", name="Never run in"))
    if rng.random() < 0.5:
        events.append(
            ev("profile", "pr", recorded=str(first), sex="female", birth_year=1990, weight_kg=55)
        )
    for k in range(rng.randint(0, 3)):
        events.append(
            ev(
                "nutrition",
                f"n{k}",
                date=str(first + dt.timedelta(days=rng.randint(0, length))),
                energy_intake_kcal=rng.randint(1500, 3000),
            )
        )
    if rng.random() < 0.5:
        diag = first + dt.timedelta(days=rng.randint(0, length))
        events.append(
            ev(
                "injury",
                "inj",
                date=str(diag),
                site="tibia_posteromedial",
                cleared=str(diag + dt.timedelta(days=rng.randint(20, 60))),
            )
        )
    # From before the first event (days without history) to a little after the last.
    start = first - dt.timedelta(days=rng.randint(0, 10))
    return History(events), start, end + dt.timedelta(days=rng.randint(0, 5))


@pytest.mark.slow
def test_ten_years_of_daily_runs() -> None:
    history = History(stridewise.load_events(daily_runs(10)))
    start = DEMO_END - dt.timedelta(days=3649)
    assert assert_timeline_matches(history, start, DEMO_END) == 3650


def test_demo_athlete() -> None:
    from stridewise.adapters.journal import read_journal

    events = [e for e in read_journal(DEMO) if isinstance(e, Event)]
    history = History(events)
    assert assert_timeline_matches(history, DEMO_END - dt.timedelta(days=200), DEMO_END) > 0


@pytest.mark.parametrize("seed", range(12))
def test_random_sparse_histories(seed: int) -> None:
    history, start, end = random_history(seed)
    assert_timeline_matches(history, start, end)


def test_a_timeline_that_starts_after_it_ends_is_empty() -> None:
    history, _, end = random_history(0)
    assert list(history.timeline(end, end - dt.timedelta(days=1))) == []


def test_empty_history() -> None:
    history = History([])
    end = dt.date(2026, 10, 31)
    assert_timeline_matches(history, end - dt.timedelta(days=3), end)


def test_round_list_is_pythons_round() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.uniform(0, 1000, 20_000),
            rng.uniform(-50, 50, 20_000),
            np.round(rng.uniform(0, 100, 20_000), 3) + 0.0005,  # near halves
            np.round(rng.uniform(0, 100, 20_000), 1) + 0.05,
            np.arange(0, 20, 0.0005),
            np.array([0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 1e16, 2.0**53 + 1, 0.045, 1.005, 2.675]),
        ]
    )
    for ndigits in (1, 2, 3):
        got = _round_list(values, ndigits)
        want = [round(v, ndigits) for v in values.tolist()]
        assert [repr(v) for v in got] == [repr(v) for v in want]
    with np.errstate(all="ignore"):
        special = np.array([math.inf, -math.inf, math.nan]) * 1.0
    assert len(_round_list(special, 2)) == 3


@pytest.mark.parametrize("seed", range(6))
def test_shoes_run_recently_range(seed: int) -> None:
    history, start, end = random_history(seed)
    series = history.series(end)
    lo, hi = series.index(start) - 3, series.index(end)
    got = series.shoes_run_recently_range(lo, hi)
    assert got == [series.shoes_run_recently(i) for i in range(lo, hi + 1)]


def test_shoes_without_runs_in_them() -> None:
    end = dt.date(2026, 10, 31)
    events = [
        ev("shoe", "a", name="A", start_distance_m=12345),
        ev("shoe", "b", name="B", first_used=str(end - dt.timedelta(days=20))),
        *(
            ev(
                "run",
                f"r{k}",
                start=f"{end - dt.timedelta(days=k)}T07:00:00+00:00",
                distance_m=5000.0 + k,
            )
            for k in range(0, 60, 2)
        ),
    ]
    assert_timeline_matches(History(events), end - dt.timedelta(days=70), end)
