"""EWMA acute:chronic workload ratio, checked by hand against the published formula.

Williams S, West S, Cross MJ, Stokes KA. Better way to determine the acute:chronic workload
ratio? Br J Sports Med 2017;51(3):209-210. doi:10.1136/bjsports-2016-096589

    EWMA_today = Load_today * lambda_a + (1 - lambda_a) * EWMA_yesterday
    lambda_a = 2 / (N + 1),  N = 7 (acute) and 28 (chronic)
    EWMA ACWR = EWMA_acute / EWMA_chronic

stridewise seeds the EWMA with 0 before the first day of history (days without a run count
as 0 load) and reports the ratio once 28 days of history exist.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import numpy as np
import pytest

from stridewise.engine.events import Event, load_event
from stridewise.engine.facts import History, ewma

START = dt.date(2026, 1, 1)


def runs(daily_km: list[float]) -> list[Event]:
    """One Run event per day with a non-zero distance, day 0 = START."""
    return [
        load_event(
            {
                "kind": "run",
                "id": f"w{i}",
                "source": "test",
                "start": f"{START + dt.timedelta(days=i)}T07:00:00+00:00",
                "distance_m": km * 1000,
            }
        )
        for i, km in enumerate(daily_km)
        if km > 0
    ]


def recurrence(loads: list[float], n: int) -> list[Fraction]:
    """The published recurrence, in exact fractions, seeded with 0."""
    lam = Fraction(2, n + 1)
    out, prev = [], Fraction(0)
    for x in loads:
        prev = Fraction(x) * lam + (1 - lam) * prev
        out.append(prev)
    return out


def test_hand_worked_five_days() -> None:
    # lambda_7 = 2/8 = 0.25. Loads 10, 0, 5, 0, 8 km:
    #   day 1: 10 * 0.25 + 0.75 * 0           = 2.5
    #   day 2:  0 * 0.25 + 0.75 * 2.5         = 1.875
    #   day 3:  5 * 0.25 + 0.75 * 1.875       = 2.65625
    #   day 4:  0 * 0.25 + 0.75 * 2.65625     = 1.9921875
    #   day 5:  8 * 0.25 + 0.75 * 1.9921875   = 3.494140625
    loads = np.array([10.0, 0.0, 5.0, 0.0, 8.0])
    by_hand = [2.5, 1.875, 2.65625, 1.9921875, 3.494140625]
    assert ewma(loads, 7).tolist() == pytest.approx(by_hand, abs=1e-12)
    # lambda_28 = 2/29: day 1 = 10 * 2/29 = 0.6896...; day 2 = 0.6896 * 27/29 = 0.6421...
    chronic = ewma(loads, 28)
    assert chronic[0] == pytest.approx(20 / 29, abs=1e-12)
    assert chronic[1] == pytest.approx(20 / 29 * 27 / 29, abs=1e-12)
    assert chronic.tolist() == pytest.approx([float(v) for v in recurrence([10, 0, 5, 0, 8], 28)])


def test_block_vectorization_matches_the_recurrence_over_years() -> None:
    rng = np.random.default_rng(7)
    loads = np.where(rng.random(1500) < 0.7, rng.uniform(3, 25, 1500), 0.0).round(1)
    for n in (7, 28):
        exact = [float(v) for v in recurrence(loads.tolist(), n)]
        assert ewma(loads, n).tolist() == pytest.approx(exact, rel=1e-9, abs=1e-9)


def test_training_fact_reports_the_ratio_of_the_two_ewmas() -> None:
    # Five weeks: four steady weeks (8 km Mon/Wed/Fri, 15 km Sun), then a week at double volume.
    week = [8.0, 0.0, 8.0, 0.0, 8.0, 0.0, 15.0]
    daily = week * 4 + [2 * x for x in week]
    as_of = START + dt.timedelta(days=len(daily) - 1)
    fact = History(runs(daily)).facts(as_of)[0]
    acute = recurrence(daily, 7)[-1]
    chronic = recurrence(daily, 28)[-1]
    assert fact["acwr_ewma"] == pytest.approx(float(acute / chronic), abs=5e-4)
    # The rolling ratio on the same data: 78 km this week / (195 km in 28 days / 4).
    load7 = sum(daily[-7:])
    load28 = sum(daily[-28:])
    assert (load7, load28) == (78.0, 195.0)
    assert fact["acwr_rolling"] == pytest.approx(load7 / (load28 / 4), abs=5e-4)


def test_same_rolling_ratio_different_ewma_by_timing() -> None:
    """Williams 2017's point: the rolling ratio cannot see *when* in the week load came.

    Their worked example had three athletes with a rolling ACWR of 1.43 and EWMA ratios of
    1.25, 1.41 and 1.55. The same effect here: an identical extra 20 km placed early, mid or
    late in the last week leaves the rolling ratio unchanged while the EWMA ratio rises the
    later (more recent) the load.
    """
    base = [6.0] * 35
    ratios = {}
    for label, day in (("early", 28), ("middle", 31), ("late", 34)):
        daily = list(base)
        daily[day] += 20.0
        fact = History(runs(daily)).facts(START + dt.timedelta(days=34))[0]
        ratios[label] = (fact["acwr_rolling"], fact["acwr_ewma"])
    rolling = {r for r, _ in ratios.values()}
    assert len(rolling) == 1  # the rolling ratio is blind to timing
    assert ratios["early"][1] < ratios["middle"][1] < ratios["late"][1]


def test_no_ratio_before_28_days() -> None:
    daily = [8.0, 0.0] * 13 + [8.0]  # 27 days
    fact = History(runs(daily)).facts(START + dt.timedelta(days=26))[0]
    assert fact["enough_history"] is False
    assert "acwr_ewma" not in fact and "acwr_rolling" not in fact
