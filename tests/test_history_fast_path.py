"""The fast paths give the same answers as the slow ones (speed is the benchmarks' business).

- events from the store (dicts validated before) load without schema validation into the same
  dataclasses, and a dict that does not fit is validated and refused as before;
- a run added to a long history (what an app does after each upload) gives the same facts and
  the same cards as building the history again from all its events.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import stridewise
from stridewise.engine.errors import InputError
from stridewise.engine.events import (
    Event,
    dump_event,
    dump_stored_event,
    load_event,
    load_stored_events,
    load_stored_json,
)
from stridewise.engine.facts import History, Series

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
try:
    from synthetic import daily_runs
finally:
    sys.path.pop(0)

END = dt.date(2026, 10, 31)


def ev(kind: str, ident: str, **fields: Any) -> Event:
    return load_event({"kind": kind, "id": ident, "source": "t", **fields})


def run(day: dt.date, km: float, ident: str, **fields: Any) -> Event:
    return ev("run", ident, start=f"{day}T07:00:00+00:00", distance_m=km * 1000.0, **fields)


def every_kind() -> list[Event]:
    """One or more events of every kind, with the optional fields a runner fills in."""
    return [
        ev(
            "profile",
            "p1",
            recorded="2026-01-01",
            sex="female",
            birth_year=1990,
            height_m=1.7,
            weight_kg=55,
            prior_bsi=[{"site": "front of shin", "date": "2024-05-01", "side": "left"}],
            menses_last_12_months=9,
            disordered_eating="none",
        ),
        ev(
            "run",
            "r1",
            start="2026-10-30T07:15:00+02:00",
            distance_m=10000,
            moving_time_s=3000,
            cadence_spm=170,
            shoe_id="s1",
            surface="trail",
            rpe=5,
            also_sources=["strava:1"],
        ),
        ev("run", "r2", start="2026-10-31T23:30:00-05:00", distance_m=5500.5, elapsed_time_s=2000),
        ev("cross_training", "c1", start="2026-10-29T18:00:00Z", sport="strength", duration_s=1800),
        ev("pain", "pa1", date="2026-10-31", site="tibia", severity=4, with_activity=True),
        ev("shoe", "s1", name="Trail shoe", first_used="2026-01-10", start_distance_m=120000),
        ev("nutrition", "n1", date="2026-10-01", energy_intake_kcal=2100, calcium_mg=900),
        ev("injury", "i1", date="2026-03-01", site="navicular", cleared="2026-05-01", grade=3),
    ]


def stored(events: list[Event]) -> list[dict[str, Any]]:
    """What the store keeps: each event dumped to JSON and read back."""
    return [json.loads(json.dumps(dump_event(e))) for e in events]


def test_events_from_the_store_load_as_the_same_events_without_validation() -> None:
    events = every_kind()
    loaded = load_stored_events(stored(events))
    assert loaded == events
    assert [type(e) for e in loaded] == [type(e) for e in events]
    # Local time survives: the run at 23:30 at UTC-5 counts on its local day.
    assert loaded[2].day == dt.date(2026, 10, 31) and loaded[2].utc_offset_s == -5 * 3600


def test_compact_stored_rows_load_as_the_same_events() -> None:
    events = every_kind()
    rows = [json.dumps(dump_stored_event(e)) for e in events]
    assert all("null" not in row for row in rows)
    assert load_stored_json(rows) == events
    assert load_stored_json(json.dumps(dump_event(e)) for e in events) == events


def test_a_history_from_stored_events_gives_the_same_facts() -> None:
    events = every_kind() + [load_event(e) for e in daily_runs(1)]
    fast, slow = History.from_stored(stored(events)), History(events)
    for day in (END - dt.timedelta(days=200), dt.date(2026, 10, 30), END):
        assert fast.facts(day) == slow.facts(day)


@pytest.mark.parametrize(
    "change",
    [
        {"distance_m": "8000"},  # a string where the store writes a number
        {"surprise": 1},  # a field the schema does not know
        {"distance_m": None},  # a required field missing
        {"start": "2026-10-30T07:15:00"},  # a time without its UTC offset
        {"kind": "walk"},  # a kind that does not exist
    ],
)
def test_a_stored_dict_that_does_not_fit_is_validated_as_any_other(change: dict[str, Any]) -> None:
    good = stored(every_kind())[1]
    bad = {**good, **change}
    try:
        expected: Any = load_event(bad)
    except InputError as exc:
        with pytest.raises(type(exc)):
            load_stored_events([bad])
    else:
        assert load_stored_events([bad]) == [expected]


def ten_years() -> list[Event]:
    events = [load_event(e) for e in daily_runs(10)]
    events += [
        ev("injury", "inj", date="2024-03-01", site="fibula", cleared="2024-04-20"),
        ev("pain", "pain1", date="2024-05-01", site="shin", severity=3, after_rest=True),
        ev("cross_training", "walk1", start="2024-04-10T10:00:00Z", sport="walk", duration_s=2400),
        ev(
            "cross_training",
            "gym",
            start=f"{END - dt.timedelta(days=3)}T18:00:00Z",
            sport="strength",
            duration_s=2700,
            rpe=6,
        ),
        run(END - dt.timedelta(days=10), 12.0, "trail1", surface="trail", rpe=5),
    ]
    return events


CHECK_DAYS = (
    dt.date(2024, 4, 25),
    dt.date(2025, 6, 1),
    END - dt.timedelta(days=1),
    END,
    END + dt.timedelta(days=1),
    END + dt.timedelta(days=45),
)


def assert_same_as_rebuilt(history: History, days: tuple[dt.date, ...] = CHECK_DAYS) -> None:
    fresh = History(history.events())
    for day in days:
        assert history.facts(day) == fresh.facts(day), day
    ours, theirs = history.series(max(days)), fresh.series(max(days))
    for name in Series.__slots__:
        a, b = getattr(ours, name), getattr(theirs, name)
        if isinstance(a, np.ndarray):
            n = min(len(a), len(b))
            assert np.allclose(a[:n], b[:n], rtol=1e-12, atol=1e-9), name
    # The shoe index after uploads is the one a fresh index gives, number for number.
    for name in ("bounds", "days", "cum_km", "km", "shoe"):
        assert np.array_equal(getattr(ours.shoe_runs, name), getattr(theirs.shoe_runs, name))
    for a, b in zip(ours.shoe_spans, theirs.shoe_spans, strict=True):
        assert np.array_equal(a, b)


def test_an_uploaded_run_gives_the_same_facts_as_rebuilding_the_history() -> None:
    history = History(ten_years())
    history.facts(END)  # the app keeps its History: the series is derived and cached
    history.add([run(END + dt.timedelta(days=1), 21.1, "upload1", shoe_id="shoe5", rpe=7)])
    assert_same_as_rebuilt(history)


@pytest.mark.parametrize(
    "runs",
    [
        # a second run on a day that already has one, in the same shoe
        [(END, 4.0, {"shoe_id": "shoe5"})],
        # a late upload from six weeks ago (the series changes from that day on)
        [(END - dt.timedelta(days=42), 30.0, {"surface": "road", "cadence_spm": 150})],
        # a first run in a new pair, and a run without any distance
        [(END + dt.timedelta(days=2), 8.0, {"shoe_id": "new-pair"}), (END, 0.0, {})],
        # back after a four-week break, on grass
        [(END + dt.timedelta(days=29), 5.0, {"surface": "grass"})],
        # a run before the first day of the history
        [(dt.date(2016, 1, 1), 10.0, {})],
        # during the return to run after the injury
        [(dt.date(2024, 4, 22), 2.0, {"rpe": 3})],
    ],
)
def test_runs_added_anywhere_give_the_same_facts_as_rebuilding(
    runs: list[tuple[dt.date, float, dict[str, Any]]],
) -> None:
    history = History(ten_years())
    history.facts(END)
    history.add(run(day, km, f"added{n}", **fields) for n, (day, km, fields) in enumerate(runs))
    assert_same_as_rebuilt(history)


def test_many_uploads_one_by_one_stay_the_same_as_rebuilding() -> None:
    rng = random.Random(12)
    start = dt.date(2025, 6, 30)
    history = History([load_event(e) for e in daily_runs(2, end=start)])
    day = start
    for n in range(40):
        day += dt.timedelta(days=rng.choice([0, 1, 1, 2, 9]))
        history.add([run(day, rng.uniform(0, 25), f"u{n}", shoe_id=rng.choice([None, "shoe1"]))])
        if n % 3 == 0:
            history.facts(day)  # sometimes the app evaluates between uploads, sometimes not
    assert_same_as_rebuilt(history, (start, day - dt.timedelta(days=10), day))


def test_other_events_and_replaced_runs_give_the_same_facts_as_rebuilding() -> None:
    history = History(ten_years())
    history.facts(END)
    history.add([ev("pain", "pain2", date=str(END), site="foot", severity=6, hop_pain=True)])
    history.add([ev("shoe", "shoe9", name="Racer", first_used=str(END))])
    assert_same_as_rebuilt(history)
    history.add([run(dt.date(2026, 10, 1), 42.2, "bench:3621")])  # the same id, corrected
    history.add([ev("cross_training", "swim", start=f"{END}T12:00:00Z", sport="swim",
                    duration_s=3600, rpe=6)])  # fmt: skip
    assert_same_as_rebuilt(history)


def test_a_replay_after_an_upload_matches_a_fresh_history() -> None:
    history = History(ten_years())
    history.facts(END)
    history.add([run(END + dt.timedelta(days=1), 12.0, "upload")])
    fresh = History(history.events())
    start = END - dt.timedelta(days=60)
    assert list(history.timeline(start, END + dt.timedelta(days=1))) == list(
        fresh.timeline(start, END + dt.timedelta(days=1))
    )


def test_an_uploaded_run_shows_the_same_cards_as_a_rebuilt_history() -> None:
    engine = stridewise.build_engine()
    pain = ev("pain", "shin", date=str(END + dt.timedelta(days=1)), site="shin", severity=5)
    events = [*ten_years(), pain]
    history = History(events)
    engine.evaluate(history, END)
    upload = run(END + dt.timedelta(days=1), 32.0, "long-one", shoe_id="shoe5")
    history.add([upload])
    after = END + dt.timedelta(days=1)
    ours = engine.evaluate(history, after)
    theirs = engine.evaluate(History([*events, upload]), after)
    assert [c.to_dict() for c in ours] == [c.to_dict() for c in theirs]
    assert ours  # the spike and the shin pain say something


def test_a_first_run_after_only_a_profile_and_a_pain_gives_the_same_facts() -> None:
    history = History(every_kind()[:1] + every_kind()[4:5])
    history.facts(END)
    history.add([run(END, 6.0, "first", shoe_id="new-pair", surface="road", rpe=4)])
    history.add([run(END, 3.0, "second", shoe_id="new-pair")])
    assert_same_as_rebuilt(history, (END - dt.timedelta(days=1), END, END + dt.timedelta(days=3)))
