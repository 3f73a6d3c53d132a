"""Deterministic synthetic athletes for the demo, the tests and the benchmarks.

``demo_journal()`` is the bundled sample athlete (``stridewise demo``): about five months of
running that builds steadily, then a spike in the last week, a pair of shoes past its
replacement distance and a shin pain report. ``daily_runs(years)`` is a long daily history for
the speed benchmarks.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

DEMO_END = dt.date(2026, 10, 31)


def demo_journal(end: dt.date = DEMO_END) -> dict[str, Any]:
    """The sample athlete as a journal mapping (see ``stridewise.adapters.journal``)."""
    rng = random.Random(20261031)
    start = end - dt.timedelta(days=150)
    runs: list[dict[str, Any]] = []
    day = start
    week = 0
    while day <= end:
        days_left = (end - day).days
        weekday = day.weekday()
        spike = days_left < 8
        if weekday in (0, 4) and not spike:  # rest days on Monday and Friday, until the spike
            day += dt.timedelta(days=1)
            continue
        week = (day - start).days // 7
        base = 6.0 + 0.12 * week
        km = base * (1.5 if weekday == 6 else 1.0) * rng.uniform(0.9, 1.1)
        if spike:
            km = base * 2.2 * rng.uniform(0.9, 1.1)
            if days_left == 0:
                km = 30.0  # a long run far beyond anything in the past 30 days
        pace_s_per_km = rng.uniform(320, 350)
        runs.append(
            {
                "date": day.isoformat(),
                "start_time": "07:15",
                "utc_offset": "+01:00",
                "distance_km": round(km, 2),
                "time": _clock(km * pace_s_per_km),
                "cadence_spm": round(rng.uniform(164, 172)),
                "shoe": "ghost" if days_left > 45 else "pegasus",
                "surface": "road",
                "rpe": 4 if weekday != 6 else 6,
            }
        )
        day += dt.timedelta(days=1)
    return {
        "stridewise": "journal",
        "profile": [
            {
                "recorded": start.isoformat(),
                "sex": "female",
                "birth_year": 1993,
                "height_m": 1.68,
                "weight_kg": 56.0,
                "prior_bsi": [{"site": "metatarsal_shaft", "date": "2023-04-10", "side": "left"}],
            }
        ],
        "shoes": [
            {
                "id": "ghost",
                "name": "Ghost 15",
                "model": "Brooks Ghost 15",
                "first_used": (start - dt.timedelta(days=200)).isoformat(),
                "retired": (end - dt.timedelta(days=45)).isoformat(),
            },
            {
                "id": "pegasus",
                "name": "Pegasus 40",
                "model": "Nike Pegasus 40",
                "first_used": (start - dt.timedelta(days=60)).isoformat(),
                "start_distance_m": 180000,
            },
        ],
        "runs": runs,
        "pain": [
            {
                "date": end.isoformat(),
                "site": "shin",
                "side": "left",
                "severity": 4,
                "with_activity": True,
                "after_rest": True,
                "point_tenderness": True,
            }
        ],
        "nutrition": [
            {
                "date": (end - dt.timedelta(days=20)).isoformat(),
                "energy_intake_kcal": 2100,
                "exercise_energy_kcal": 600,
                "fat_free_mass_kg": 44,
                "calcium_mg": 800,
                "vitamin_d_iu": 400,
            }
        ],
    }


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def daily_runs(years: int = 10, end: dt.date = DEMO_END, seed: int = 1) -> list[dict[str, Any]]:
    """Event dicts for one run a day over ``years`` years, with a shoe change every 600 km."""
    rng = random.Random(seed)
    days = 365 * years
    start = end - dt.timedelta(days=days - 1)
    out: list[dict[str, Any]] = []
    shoe, shoe_km = 0, 0.0
    for i in range(days):
        day = start + dt.timedelta(days=i)
        km = rng.uniform(5, 12) * (1.6 if i % 90 in range(80, 90) else 1.0)
        shoe_km += km
        if shoe_km > 600:
            shoe, shoe_km = shoe + 1, 0.0
        out.append(
            {
                "kind": "run",
                "id": f"bench:{i}",
                "source": "bench",
                "start": f"{day.isoformat()}T06:30:00+00:00",
                "distance_m": round(km * 1000, 1),
                "moving_time_s": round(km * 330, 1),
                "cadence_spm": 168,
                "shoe_id": f"shoe{shoe}",
                "rpe": 4,
            }
        )
    out.extend(
        {"kind": "shoe", "id": f"shoe{k}", "source": "bench", "name": f"Shoe {k}"}
        for k in range(shoe + 1)
    )
    return out
