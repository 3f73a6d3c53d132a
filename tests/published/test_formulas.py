"""Training-load formulas computed by hand from their published definitions, on real Run events.

- Rolling ACWR = 7-day load / (28-day load / 4): Gabbett TJ. The training-injury prevention
  paradox. Br J Sports Med 2016;50:273 (doi:10.1136/bjsports-2015-095788).
- Uncoupled ACWR = mean(days t-6..t) / mean(days t-27..t-7): Windt J, Gabbett TJ (via
  hareshsuppiah.github.io/tools/ewma-load.html).
- Monotony = mean / SD of the last 7 daily loads (population SD, days without a run = 0);
  strain = weekly load x monotony: Foster C. Monitoring training in athletes with reference to
  overtraining syndrome. Med Sci Sports Exerc 1998;30:1164.
- Two-week change > 30%: Nielsen RO et al. J Orthop Sports Phys Ther 2014;44:739. Week-over-week
  change (the '10% rule'): Buist I et al. Am J Sports Med 2008;36:33.
- Single-run spike = today's longest run against the longest of the previous 30 days: BJSM
  2025, doi:10.1136/bjsports-2024-109380.
- Ratios need 28 days of history ("not enough data" before): Runalyze issue 315; the week-over-
  week change needs a full previous week (14 days), the two-week change two (28 days).
- Shoe distance (replace ~500 km, seeds/000_38e279b6a0becacb.txt) and BMI = kg / m^2.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from stridewise.engine.events import Event, load_event
from stridewise.engine.facts import History
from stridewise.engine.rules import builtin_pack_files, load_pack
from stridewise.engine.runtime import Engine

START = dt.date(2026, 1, 5)
#: Five weeks of running (km per day, day 0 = START): three weeks of 25 km, one of 30, one of 48.
WEEKS = [
    [5, 0, 5, 0, 5, 0, 10],
    [5, 0, 5, 0, 5, 0, 10],
    [5, 0, 5, 0, 5, 0, 10],
    [6, 0, 6, 0, 6, 0, 12],
    [8, 0, 8, 0, 8, 8, 16],
]
DAILY = [km for week in WEEKS for km in week]
LAST = START + dt.timedelta(days=len(DAILY) - 1)  # day 34
TRAINING = Engine(
    [p for p in (load_pack(f) for f in builtin_pack_files()) if p.id == "training-load"]
)


def day(i: int) -> dt.date:
    return START + dt.timedelta(days=i)


def events(daily: list[int] = DAILY) -> list[Event]:
    out: list[Event] = [
        load_event(
            {"kind": "shoe", "id": "a", "source": "t", "name": "Daily", "start_distance_m": 100_000}
        ),
        load_event(
            {
                "kind": "profile",
                "id": "p",
                "source": "t",
                "recorded": day(0).isoformat(),
                "sex": "female",
                "height_m": 1.70,
                "weight_kg": 60.0,
            }
        ),
    ]
    for i, km in enumerate(daily):
        if km:
            out.append(
                load_event(
                    {
                        "kind": "run",
                        "id": f"r{i}",
                        "source": "t",
                        "start": f"{day(i)}T07:00:00+00:00",
                        "distance_m": km * 1000,
                        "moving_time_s": km * 360,  # 6 min/km
                        "shoe_id": "a",
                        "surface": "trail" if i < 28 else "road",
                    }
                )
            )
    return out


@pytest.fixture(scope="module")
def facts() -> dict[str, dict[str, Any]]:
    return {f["type"]: f for f in History(events()).facts(LAST)}


def test_windows(facts: dict[str, dict[str, Any]]) -> None:
    t = facts["training"]
    assert t["days_of_history"] == 35 and t["enough_history"] is True
    assert t["load_7d_km"] == 48  # 8+0+8+0+8+8+16
    assert t["load_28d_km"] == 25 + 25 + 30 + 48  # days 7-34 = 128
    assert t["load_7d_min"] == 48 * 6


def test_rolling_and_uncoupled_acwr(facts: dict[str, dict[str, Any]]) -> None:
    t = facts["training"]
    # rolling: 48 / (128 / 4) = 48 / 32 = 1.5
    assert t["acwr_rolling"] == pytest.approx(1.5, abs=1e-3)
    # uncoupled: (48 / 7) / ((128 - 48) / 21) = (48 * 21) / (7 * 80) = 1.8
    assert t["acwr_uncoupled"] == pytest.approx(1.8, abs=1e-3)


def test_monotony_and_strain(facts: dict[str, dict[str, Any]]) -> None:
    t = facts["training"]
    # Last 7 days 8, 0, 8, 0, 8, 8, 16: mean = 48/7; sum of squares = 4*64 + 256 = 512;
    # population variance = 512/7 - (48/7)^2 = 1280/49; SD = sqrt(1280)/7;
    # monotony = (48/7) / (sqrt(1280)/7) = 48 / sqrt(1280) = 1.3416; strain = 48 * 1.3416.
    monotony = 48 / math.sqrt(1280)
    assert t["monotony"] == pytest.approx(monotony, abs=1e-3)
    assert t["strain"] == pytest.approx(48 * monotony, abs=0.05)


def test_rest_days_count_as_zero_in_monotony() -> None:
    daily = [0] * 21 + [10, 0, 0, 10, 0, 0, 10]  # three 10 km runs in the last 7 days
    t = History(events(daily)).facts(day(27))[0]
    # mean = 30/7; sum of squares = 300; variance = 300/7 - 900/49 = 1200/49; SD = sqrt(1200)/7
    assert t["monotony"] == pytest.approx(30 / math.sqrt(1200), abs=1e-3)


def test_week_and_two_week_change(facts: dict[str, dict[str, Any]]) -> None:
    t = facts["training"]
    assert t["week_change_pct"] == pytest.approx((48 - 30) / 30 * 100, abs=0.05)  # 60%
    assert t["two_week_change_pct"] == pytest.approx((78 - 50) / 50 * 100, abs=0.05)  # 56%


def test_longest_run_spike_and_days_since_rest(facts: dict[str, dict[str, Any]]) -> None:
    t = facts["training"]
    assert t["today_longest_run_km"] == 16
    assert t["longest_run_30d_km"] == 12  # day 27, inside days 4-33
    assert t["run_vs_longest_30d_pct"] == pytest.approx((16 - 12) / 12 * 100, abs=0.05)
    assert t["days_since_rest"] == 3  # days 32, 33, 34 run; day 31 was the last rest day
    assert t["days_since_last_run"] == 0


def test_surface_change(facts: dict[str, dict[str, Any]]) -> None:
    t = facts["training"]
    assert (t["main_surface_7d"], t["main_surface_7d_share_pct"]) == ("road", 100.0)
    assert (t["usual_surface_prev28"], t["main_surface_prev28_share_pct"]) == ("trail", 0.0)


def test_shoe_distance_and_bmi(facts: dict[str, dict[str, Any]]) -> None:
    shoe = facts["shoe"]
    assert shoe["distance_km"] == 100 + sum(DAILY)  # start distance + every run = 253
    assert shoe["km_last_7d"] == 48 and shoe["share_of_7d_pct"] == 100.0
    assert shoe["km_before_last_7d"] == 253 - 48
    assert facts["athlete"]["bmi"] == round(60.0 / 1.70**2, 1)  # 20.8


def test_not_enough_data_under_28_days() -> None:
    history = History(events())
    t = history.facts(day(26))[0]
    assert t["days_of_history"] == 27 and t["enough_history"] is False
    for ratio in ("acwr_rolling", "acwr_uncoupled", "acwr_ewma", "two_week_change_pct"):
        assert ratio not in t
    # Week over week is reported as soon as the previous 7 days are all inside the history (a
    # new runner's "too much too soon" is caught before the ratios): days 20-26 hold
    # 10 + 6 + 6 + 6 = 28 km, days 13-19 held 10 + 5 + 5 + 5 = 25 km.
    assert t["week_change_pct"] == pytest.approx((28 - 25) / 25 * 100, abs=0.05)
    cards = TRAINING.evaluate(history, day(26))
    assert [c.rule_id for c in cards if c.kind == "information-needed"] == ["not-enough-history"]
    assert not any(c.rule_id.startswith("acwr") for c in cards)


def test_the_training_pack_reads_these_numbers() -> None:
    evaluation = TRAINING.evaluate_facts(History(events()).facts(LAST), LAST)
    keys = {c.rule_id for c in evaluation.all_cards}
    # 56% over two weeks (> 30), a 33% longer run (30-100% band), a week up 60% (> 10%),
    # road after four weeks on trail. The three load cards share the topic load-spike: one shows
    # (the single-run spike ranks highest), the other two fold into it.
    shown = {c.rule_id for c in evaluation.cards if c.topic == "load-spike"}
    assert shown == {"single-run-spike-large"}
    assert {
        "two-week-increase",
        "single-run-spike-large",
        "week-increase",
        "surface-change",
    } <= keys
    assert "single-run-spike" not in keys and "monotony-high" not in keys
