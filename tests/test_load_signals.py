"""Load signals calibrated on real training patterns (issue 7, section 3 and 6).

Every history here goes through the real engine (``stridewise.build_engine()``) from event
dicts (``stridewise.load_events``). Which rules *fired* is read from the evaluation, so the
tests hold whether the engine shows a card or folds it into another card of the same topic.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import pytest

import stridewise
from stridewise.engine.runtime import Evaluation

MONDAY = dt.date(2026, 1, 5)


@pytest.fixture(scope="module")
def engine() -> stridewise.Engine:
    return stridewise.build_engine(strict=True)


def day(i: int) -> dt.date:
    return MONDAY + dt.timedelta(days=i)


def runs(
    daily_km: Sequence[float],
    *,
    rpe: Sequence[float] | None = None,
    surface: str | None = None,
    cadence: float | None = None,
    start: int = 0,
) -> list[dict[str, Any]]:
    """Run events, one per day with distance (day 0 = a Monday), at 6 min/km."""
    out = []
    for i, km in enumerate(daily_km):
        if not km:
            continue
        run: dict[str, Any] = {
            "kind": "run",
            "id": f"r{start + i}",
            "source": "t",
            "start": f"{day(start + i)}T07:00:00+00:00",
            "distance_m": km * 1000,
            "moving_time_s": km * 360,
        }
        if rpe is not None:
            run["rpe"] = rpe[i % len(rpe)]
        if surface:
            run["surface"] = surface
        if cadence:
            run["cadence_spm"] = cadence
        out.append(run)
    return out


def history(*items: list[dict[str, Any]]) -> stridewise.History:
    return stridewise.History(stridewise.load_events([e for group in items for e in group]))


def training(h: stridewise.History, i: int) -> dict[str, Any]:
    (fact,) = [f for f in h.facts(day(i)) if f["type"] == "training"]
    return fact


def evaluate(engine: stridewise.Engine, h: stridewise.History, i: int) -> Evaluation:
    return engine.evaluate_facts(h.facts(day(i)), day(i))


def fired(engine: stridewise.Engine, h: stridewise.History, i: int) -> set[str]:
    return {
        key.split("/", 1)[1]
        for key in evaluate(engine, h, i).fired
        if key.startswith("training-load/")
    }


def load_spike_rules(engine: stridewise.Engine, h: stridewise.History, i: int) -> set[str]:
    cards = evaluate(engine, h, i).all_cards
    return {
        c.rule_id for c in cards if c.key.startswith("training-load/") and c.topic == "load-spike"
    }


# -- monotony --------------------------------------------------------------------------------

FIVE_EQUAL = [8, 8, 0, 8, 8, 8, 0]  # 5 runs, 2 rest days
SIX_EQUAL = [8, 8, 8, 8, 8, 8, 0]
FOUR_WITH_LONG = [0, 8, 0, 8, 0, 8, 16]
FIVE_WITH_LONG = [0, 8, 8, 8, 0, 8, 16]
SIX_WITH_LONG = [8, 8, 8, 8, 8, 0, 16]


@pytest.mark.parametrize(
    ("week", "expected"),
    [
        (FIVE_EQUAL, 5 / math.sqrt(10)),  # 1.58: Runalyze's 1.5 warning fired on this
        (SIX_EQUAL, math.sqrt(6)),  # 2.45
        (FOUR_WITH_LONG, 5 / math.sqrt(24)),  # 1.02
        (FIVE_WITH_LONG, 6 / math.sqrt(20)),  # 1.34
        (SIX_WITH_LONG, 7 / math.sqrt(14)),  # 1.87
    ],
)
def test_ordinary_weeks_are_not_flagged_as_monotonous(
    engine: stridewise.Engine, week: list[float], expected: float
) -> None:
    h = history(runs(week * 6))
    last = 6 * 7 - 1
    assert training(h, last)["monotony"] == pytest.approx(expected, abs=1e-3)
    assert not {"monotony-high", "monotony-very-high", "strain-spike"} & fired(engine, h, last)


def test_five_equal_runs_a_week_is_not_flagged_as_monotonous(engine: stridewise.Engine) -> None:
    h = history(runs(FIVE_EQUAL * 6))
    for i in range(35, 42):
        assert not {"monotony-high", "monotony-very-high"} & fired(engine, h, i)


def test_running_every_day_at_the_same_distance_is_monotonous(engine: stridewise.Engine) -> None:
    h = history(runs([8, 8, 8, 8, 8, 8, 12] * 6))
    t = training(h, 41)
    assert t["monotony"] > 4.0
    assert {"monotony-very-high", "no-rest-day"} <= fired(engine, h, 41)


def test_monotony_uses_session_effort_when_every_run_has_an_rpe(engine: stridewise.Engine) -> None:
    # Same distance every run day, but easy, hard and long days by effort: Foster's measure sees
    # the variation that distance cannot.
    week = [0, 8, 8, 8, 0, 8, 8]
    effort = [3, 3, 8, 3, 3, 5, 3]
    h = history(runs(week * 6, rpe=effort))
    t = training(h, 41)
    loads = [km * 6 * r for km, r in zip(week, effort, strict=True)]  # RPE x minutes
    mean = sum(loads) / 7
    sd = math.sqrt(sum((x - mean) ** 2 for x in loads) / 7)
    assert t["monotony_srpe"] == pytest.approx(mean / sd, abs=1e-3)
    assert t["load_7d_srpe"] == pytest.approx(sum(loads), abs=0.1)
    assert t["strain_srpe"] == pytest.approx(sum(loads) * mean / sd, abs=0.5)
    assert "monotony-srpe-high" not in fired(engine, h, 41)


def test_six_alike_sessions_by_effort_earn_a_monotony_warning(engine: stridewise.Engine) -> None:
    h = history(runs(SIX_EQUAL * 6, rpe=[5]))
    t = training(h, 41)
    assert t["monotony_srpe"] == pytest.approx(math.sqrt(6), abs=1e-3)
    keys = fired(engine, h, 41)
    assert "monotony-srpe-high" in keys
    assert not {"monotony-high", "monotony-very-high"} & keys  # the distance rules stand down


def test_a_week_with_one_unrated_run_falls_back_to_distance_monotony() -> None:
    events = runs(FIVE_EQUAL * 6, rpe=[4])
    events[-1].pop("rpe")
    t = training(history(events), 41)
    assert "monotony_srpe" not in t and "monotony" in t


# -- the headline ratio ----------------------------------------------------------------------


def test_headline_ratio_is_the_same_on_every_day_of_a_steady_week(
    engine: stridewise.Engine,
) -> None:
    h = history(runs(FIVE_WITH_LONG * 8))
    rolling = {training(h, i)["acwr_rolling"] for i in range(49, 56)}
    ewma = [training(h, i)["acwr_ewma"] for i in range(49, 56)]
    assert rolling == {1.0}
    assert max(ewma) - min(ewma) > 0.2  # what the runner saw before: 0.87 to 1.20 in one week
    assert evaluate(engine, h, 52).fired  # the default method is the stable one
    params = next(c for c in engine.packs if c.id == "training-load")
    assert params.parameters["acwr_method"].default == "rolling"


def test_headline_summary_matches_the_numbers_shown(engine: stridewise.Engine) -> None:
    # Four weeks of 24 km, then a week of 48 km: 28 days hold 24 * 3 + 48 = 120 km, a weekly
    # average of 30 km, and 48 / 30 = 1.6.
    weeks = [[0, 5, 5, 5, 0, 4, 5]] * 4 + [[0, 9, 9, 12, 0, 9, 9]]
    h = history(runs([km for w in weeks for km in w]))
    t = training(h, 34)
    assert (t["load_7d_km"], t["load_28d_km"], t["weekly_avg_28d_km"]) == (48, 120, 30)
    assert t["acwr_rolling"] == 1.6
    cards = [c for c in evaluate(engine, h, 34).all_cards if c.rule_id == "acwr-spike"]
    assert len(cards) == 1
    assert cards[0].summary == (
        "Last 7 days: 48 km, 1.6x your weekly average of the past 4 weeks (30 km)."
    )


def test_an_85_percent_two_week_ramp_is_caught_every_day_of_the_next_week_including_monday(
    engine: stridewise.Engine,
) -> None:
    base = [0, 6, 6, 6, 0, 6, 6]  # 30 km
    ramp1 = [0, 8, 8, 8, 0, 8, 8]  # 40 km
    ramp2 = [0, 11, 11, 11, 0, 11, 11.5]  # 55.5 km: +85% on the base in two weeks
    h = history(runs(base * 4 + ramp1 + ramp2 + ramp2))
    for i in range(42, 49):  # Monday (a rest day) to Sunday of the week after the ramp
        keys = load_spike_rules(engine, h, i)
        assert "two-week-increase" in keys, (day(i).strftime("%a"), keys)
    assert day(42).weekday() == 0


def test_ewma_stays_selectable_and_names_its_own_numbers() -> None:
    weeks = [0, 6, 6, 6, 0, 6, 6] * 4 + [0, 12, 12, 12, 0, 12, 24]
    h = history(runs(weeks))
    clinic = stridewise.build_engine(overrides={"training-load": {"acwr_method": "ewma"}})
    ev = clinic.evaluate_facts(h.facts(day(34)), day(34))
    t = training(h, 34)
    (card,) = [c for c in ev.all_cards if c.rule_id.startswith("acwr-") and "ewma" in c.rule_id]
    assert f"{t['ewma_acute_km_day']:.2f}".rstrip("0").rstrip(".") in card.summary
    assert t["ewma_acute_km_day"] / t["ewma_chronic_km_day"] == pytest.approx(
        t["acwr_ewma"], abs=0.01
    )
    assert not [k for k in ev.fired if k.endswith("/acwr-spike") or k.endswith("/acwr-very-high")]


# -- rest days -------------------------------------------------------------------------------


def test_a_day_without_a_run_yet_does_not_end_the_streak(engine: stridewise.Engine) -> None:
    h = history(runs([8] * 7))  # Monday to Sunday, nothing yet on the next Monday
    assert training(h, 6)["run_days_in_a_row"] == 7
    assert training(h, 7)["run_days_in_a_row"] == 7  # today is not over
    assert "no-rest-day" in fired(engine, h, 7)
    assert training(h, 8)["run_days_in_a_row"] == 0  # Monday was a complete rest day
    assert "no-rest-day" not in fired(engine, h, 8)


def test_one_rest_day_a_week_is_enough(engine: stridewise.Engine) -> None:
    h = history(runs([8, 8, 8, 8, 8, 8, 0] * 4))
    assert all("no-rest-day" not in fired(engine, h, i) for i in range(7, 28))
    seven = history(runs([8] * 7))
    assert "no-rest-day" in fired(engine, seven, 6)
    cards = [c for c in evaluate(engine, seven, 6).all_cards if c.rule_id == "no-rest-day"]
    assert cards[0].summary.startswith("7 days of running in a row")


# -- new runners and comebacks ---------------------------------------------------------------


def test_too_much_too_soon_is_caught_in_a_new_runners_first_weeks(
    engine: stridewise.Engine,
) -> None:
    week1 = [3, 0, 3, 0, 3, 0, 0]  # 9 km
    week2 = [5, 0, 5, 0, 5, 0, 8]  # 23 km: +156%
    h = history(runs(week1 + week2))
    t = training(h, 13)
    assert t["enough_history"] is False and "acwr_rolling" not in t
    assert t["week_change_pct"] == pytest.approx((23 - 9) / 9 * 100, abs=0.05)
    keys = fired(engine, h, 13)
    assert {"new-runner-week-jump", "single-run-spike-large", "not-enough-history"} <= keys
    assert not {"week-increase", "two-week-increase"} & keys


def test_a_new_runners_first_week_long_run_and_run_days_are_checked(
    engine: stridewise.Engine,
) -> None:
    # First week: runs on 5 days, the last one 12 km (more than half the week).
    h = history(runs([3, 3, 3, 0, 3, 0, 12]))
    t = training(h, 6)
    assert t["long_run_share_7d_pct"] == pytest.approx(12 / 24 * 100, abs=0.05)
    assert t["run_days_7d"] == 5
    keys = fired(engine, h, 6)
    assert {"new-runner-frequency", "single-run-spike-extreme"} <= keys
    assert "new-runner-long-run" not in keys  # exactly half is not more than half
    h2 = history(runs([3, 3, 0, 3, 0, 0, 14]))
    assert {"new-runner-long-run", "single-run-spike-extreme"} <= fired(engine, h2, 6)


def test_a_new_runner_building_gently_gets_no_load_warning(engine: stridewise.Engine) -> None:
    # Runs never more than 10% longer than the longest before, weeks up by under 10%.
    weeks = [[3, 0, 3, 0, 3, 0, 0], [3, 0, 3, 0, 3.3, 0, 0], [3.3, 0, 3.3, 0, 3.6, 0, 0]]
    h = history(runs([km for w in weeks for km in w]))
    for i in range(21):
        assert not load_spike_rules(engine, h, i), i


def test_comeback_after_three_weeks_off_at_full_distance(engine: stridewise.Engine) -> None:
    usual = [0, 8, 8, 8, 0, 8, 8]  # 40 km a week, 8 km runs
    daily = usual * 6 + [0] * 24 + [8, 0, 8, 8, 0, 8, 0]
    h = history(runs(daily))
    last = len(daily) - 1
    t = training(h, last - 1)
    assert t["longest_break_28d_days"] == 24  # days 42..65 without running
    assert t["pre_break_weekly_km"] == 40.0 and t["pre_break_run_km"] == 8.0
    assert t["comeback_run_vs_usual_pct"] == 100.0
    assert "comeback-too-much" in fired(engine, h, last - 1)
    assert {"comeback-too-much", "comeback-frequency"} <= fired(engine, h, 69)  # 2nd day in a row
    cards = [c for c in evaluate(engine, h, last - 1).all_cards if c.rule_id == "comeback-too-much"]
    assert "a third to a half" in cards[0].summary


def test_comeback_at_a_third_on_alternate_days_is_left_alone(engine: stridewise.Engine) -> None:
    usual = [0, 8, 8, 8, 0, 8, 8]
    daily = usual * 6 + [0] * 24 + [4, 0, 4, 0, 4, 0, 0]
    h = history(runs(daily))
    for i in range(66, len(daily)):
        keys = fired(engine, h, i)
        assert not {"comeback-too-much", "comeback-frequency", "comeback-week-jump"} & keys, i
        assert not load_spike_rules(engine, h, i), i


# -- prevention cards ------------------------------------------------------------------------


def strength(i: int) -> dict[str, Any]:
    return {
        "kind": "cross_training",
        "id": f"s{i}",
        "source": "t",
        "start": f"{day(i)}T18:00:00+00:00",
        "sport": "strength",
        "duration_s": 1800,
    }


def test_regular_runner_without_strength_work_is_told_to_add_it(
    engine: stridewise.Engine,
) -> None:
    h = history(runs(FIVE_WITH_LONG * 6))
    assert training(h, 41)["strength_sessions_28d"] == 0
    (card,) = [c for c in evaluate(engine, h, 41).all_cards if c.rule_id == "no-strength-training"]
    assert card.advice == "modify" and card.indicator == "info"
    logged = history(runs(FIVE_WITH_LONG * 6), [strength(30), strength(37)])
    assert training(logged, 41)["strength_sessions_28d"] == 2
    assert "no-strength-training" not in fired(engine, logged, 41)
    assert "no-strength-training" not in fired(engine, history([]), 41)  # no running data


def test_all_road_while_building_up_suggests_softer_ground(engine: stridewise.Engine) -> None:
    steady = [0, 6, 6, 6, 0, 6, 6] * 4
    build = [0, 8, 8, 8, 0, 8, 8]
    road = history(runs(steady + build, surface="road"))
    t = training(road, 34)
    assert t["hard_surface_28d_pct"] == 100.0 and t["surface_known_28d_pct"] == 100.0
    assert "hard-surfaces" in fired(engine, road, 34)
    assert "hard-surfaces" not in fired(engine, road, 27)  # steady and moderate: no card
    trail = history(runs(steady + build, surface="trail"))
    assert "hard-surfaces" not in fired(engine, trail, 34)


def test_cadence_card_for_every_runner_not_only_after_an_injury(
    engine: stridewise.Engine,
) -> None:
    h = history(runs(FIVE_WITH_LONG * 2, cadence=158))
    ev = evaluate(engine, h, 13)
    (card,) = [c for c in ev.all_cards if c.rule_id == "low-cadence"]
    assert card.topic == "cadence" and card.advice == "modify"
    assert "158" in card.summary
    quick = history(runs(FIVE_WITH_LONG * 2, cadence=176))
    assert "low-cadence" not in fired(engine, quick, 13)


# -- cards -----------------------------------------------------------------------------------


def test_pain_during_a_spike_says_cut_back_not_wait_and_see(engine: stridewise.Engine) -> None:
    daily = [0, 6, 6, 6, 0, 6, 6] * 4 + [0, 12, 12, 12, 0, 12, 24]
    pain = {
        "kind": "pain",
        "id": "p1",
        "source": "t",
        "date": day(34).isoformat(),
        "site": "shin",
        "severity": 3,
        "with_activity": True,
    }
    h = history(runs(daily), [pain])
    cards = [c for c in evaluate(engine, h, 34).all_cards if c.rule_id == "spike-with-pain"]
    assert len(cards) == 1
    text = (cards[0].summary + cards[0].detail).lower()
    assert cards[0].advice == "reduce" and cards[0].topic == "load-spike"
    assert "stop increasing" in text and "persists" not in text


def test_every_training_card_names_its_advice_and_no_file(engine: stridewise.Engine) -> None:
    pack = next(p for p in engine.packs if p.id == "training-load")
    for rule in pack.rules:
        card = rule["then"].get("card")
        if card:
            assert card.get("advice"), rule["id"]
    for source in pack.sources.values():
        label = source["label"] if isinstance(source, dict) else source.label
        assert ".txt" not in label and "seeds/" not in label
