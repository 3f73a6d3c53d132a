"""Facts added for the clinical packs: trends, breaks, shoes in use, intake, return to run."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pytest

from stridewise.engine.events import Event, load_event
from stridewise.engine.facts import History, Series

D0 = dt.date(2025, 1, 6)


def day(i: int) -> dt.date:
    return D0 + dt.timedelta(days=i)


def ev(kind: str, ident: str, **fields: Any) -> Event:
    return load_event({"kind": kind, "id": ident, "source": "t", **fields})


def run(i: int, km: float, **fields: Any) -> Event:
    return ev("run", f"r{i}", start=f"{day(i)}T07:00:00+00:00", distance_m=km * 1000, **fields)


def of_type(facts: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in facts if f["type"] == kind]


def test_strain_mean_matches_the_daily_strain_it_averages() -> None:
    kms = [(5 + (i * 7) % 11) if i % 3 else 0 for i in range(80)]
    history = History([run(i, km) for i, km in enumerate(kms) if km])
    daily = {i: history.facts(day(i))[0].get("strain") for i in range(80)}
    fact = history.facts(day(79))[0]
    window = [daily[i] or 0.0 for i in range(51, 79) if daily[i] is not None]
    assert fact["strain_28d_mean"] == pytest.approx(sum(window) / len(window), abs=0.2)
    expected = (fact["strain"] - fact["strain_28d_mean"]) / fact["strain_28d_mean"] * 100
    assert fact["strain_vs_28d_pct"] == pytest.approx(expected, abs=0.5)


def test_breaks_and_the_28_day_trend() -> None:
    events = [run(i, 10) for i in range(0, 56, 2)] + [run(i, 10) for i in (66, 68)]
    t = History(events).facts(day(68))[0]
    assert t["longest_break_28d_days"] == 11  # days 55-65 without a run
    assert t["days_since_last_run"] == 0
    # days 41-68: runs on 42..54 (7) + 66, 68 = 90 km; days 13-40: 14 runs = 140 km.
    assert t["load_28d_change_pct"] == pytest.approx((90 - 140) / 140 * 100, abs=0.05)


def test_intake_trend_between_the_last_two_logs() -> None:
    events = [run(i, 5) for i in range(0, 30, 2)] + [run(i, 10) for i in range(30, 60, 2)]
    events += [
        ev("nutrition", "n1", date=day(29).isoformat(), energy_intake_kcal=2500),
        ev("nutrition", "n2", date=day(59).isoformat(), energy_intake_kcal=2000),
    ]
    n = of_type(History(events).facts(day(60)), "nutrition")[0]
    assert n["prev_log_days_before"] == 30
    assert n["intake_change_pct"] == -20.0
    # 28 days to day 59: 14 runs x 10 km; 28 days to day 29: days 2..28, 14 runs x 5 km.
    assert n["load_change_pct"] == pytest.approx(100.0)


def test_shoes_in_use() -> None:
    events = [
        ev("shoe", "old", name="Old"),
        ev("shoe", "new", name="New", first_used=day(100).isoformat()),
        ev("shoe", "later", name="Later"),
        ev("shoe", "gone", name="Gone", retired=day(50).isoformat()),
        ev("shoe", "unrun", name="Never run"),
    ]
    events += [run(i, 8, shoe_id="old") for i in range(0, 20)]
    events += [run(i, 8, shoe_id="gone") for i in range(20, 40)]
    events += [run(i, 8, shoe_id="later") for i in range(120, 125)]
    history = History(events)

    def shoes(i: int) -> dict[str, dict[str, Any]]:
        return {s["shoe_id"]: s for s in of_type(history.facts(day(i)), "shoe")}

    assert set(shoes(30)) == {"old", "gone", "unrun"}  # 'later' has not been run in yet
    assert set(shoes(60)) == {"old", "unrun"}  # 'gone' retired on day 50
    assert set(shoes(105)) == {"old", "new", "unrun"}  # 'new' first used on day 100
    assert set(shoes(115)) == {"new", "unrun"}  # 'old' idle for 96 days counts as retired
    later = shoes(124)["later"]
    assert later["days_in_use"] == 4 and later["km_last_28d"] == 40.0
    assert later["share_of_28d_pct"] == 100.0


def test_return_to_run_facts() -> None:
    events = [run(i, 10) for i in range(0, 28, 2)]  # 14 runs, 140 km before the injury
    events += [
        ev(
            "injury",
            "old",
            date=day(-400).isoformat(),
            site="fibula",
            cleared=day(-300).isoformat(),
        ),
        ev(
            "injury", "inj", date=day(28).isoformat(), site="navicular", cleared=day(70).isoformat()
        ),
        run(40, 3),  # ran before clearance
        ev("pain", "p1", date=day(60).isoformat(), site="foot", severity=2),
        ev(
            "cross_training", "w1", start=f"{day(58)}T09:00:00+00:00", sport="walk", duration_s=3000
        ),
        ev(
            "cross_training", "w2", start=f"{day(65)}T09:00:00+00:00", sport="walk", duration_s=1800
        ),
        ev(
            "cross_training", "c1", start=f"{day(62)}T09:00:00+00:00", sport="swim", duration_s=2400
        ),
        run(71, 1.6),
        run(73, 1.6),
    ]
    history = History(events)
    before = of_type(history.facts(day(66)), "injury")
    old, inj = before
    assert (old["latest"], inj["latest"]) == (False, True)
    assert inj["cleared"] is False and "runs_since_cleared" not in inj
    assert inj["runs_since_diagnosis"] == 1 and inj["last_run_days_ago"] == 26
    assert inj["pre_injury_weekly_km"] == 35.0  # days 0-27: 140 km / 4
    assert inj["pre_injury_run_km"] == 10.0
    assert inj["days_since_pain"] == 6
    assert inj["walk_pain_free_min_14d"] == 30.0  # the 50-min walk came before the pain
    assert inj["cross_training_min_14d"] == 40.0  # the swim; walks are counted separately
    after = of_type(history.facts(day(74)), "injury")[1]
    assert after["runs_since_cleared"] == 2 and after["km_since_cleared"] == 3.2
    assert after["last_run_vs_usual_pct"] == 16.0
    assert (after["ladder_phase"], after["ladder_sessions_in_phase"]) == (2, 0)


def test_timeline_facts_equal_single_day_facts_and_derive_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    try:
        from synthetic import daily_runs
    finally:
        sys.path.pop(0)
    events = [load_event(e) for e in daily_runs(10)]
    events.append(ev("injury", "i", date="2024-03-01", site="fibula", cleared="2024-04-20"))
    events.append(ev("pain", "p", date="2024-05-01", site="shin", severity=3, after_rest=True))
    history = History(events)
    end = dt.date(2026, 10, 31)
    start = end - dt.timedelta(days=3649)
    builds = []
    real_build = Series.build.__func__

    def counting_build(cls: type[Series], *args: object, **kwargs: object) -> Series:
        builds.append(1)
        return real_build(cls, *args, **kwargs)

    monkeypatch.setattr(Series, "build", classmethod(counting_build))
    replay = dict(history.timeline(start, end))
    assert len(replay) == 3650
    # Incremental: the whole history is derived once for the replay, never once per day.
    # (Speed itself is measured by benchmarks/bench_engine.py, not asserted here.)
    assert len(builds) == 1
    monkeypatch.undo()
    fresh = History(events)
    for d in (start, dt.date(2024, 4, 25), dt.date(2024, 5, 2), end):
        assert replay[d] == fresh.facts(d)


def test_site_labels_read_as_plain_words() -> None:
    events = [
        ev("pain", "p", date=day(3).isoformat(), site="tibia_posteromedial", severity=2),
        ev("injury", "i", date=day(1).isoformat(), site="metatarsal_5_proximal"),
    ]
    facts = History(events).facts(day(4))
    assert of_type(facts, "pain")[0]["site_label"] == "posteromedial tibia"
    assert of_type(facts, "injury")[0]["site_label"] == "base of the 5th metatarsal"
