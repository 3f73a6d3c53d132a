"""A generated population of athletes for the Spark tests and benchmark (no cache, seeded).

Each athlete has a year of running (a different share of days run, distance, cadence and
shoe-replacement habit each), a profile, and for some a pain report, a nutrition log, a past
stress fracture or a recent spike in load: enough variety that most rule packs fire somewhere.

:func:`population` returns the events in two equal forms: a ``pyarrow`` table in the published
schema's columns (what a platform keeps in Parquet; an ``athlete`` column, unset fields null)
and, per athlete, the event dicts (what the single-process API is given).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

SITES = ("shin", "foot", "hip", "knee", "groin")


def _iso(seconds: np.ndarray[Any, Any]) -> list[str]:
    stamps = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return [f"{s}+00:00" for s in stamps.tolist()]


class Population:
    """Columns per event kind (lists, None for unset), with each athlete's row ranges."""

    def __init__(self) -> None:
        self.kinds: dict[str, dict[str, list[Any]]] = {}
        self.spans: dict[str, list[tuple[str, int, int]]] = {}

    def add(self, kind: str, athlete: str, columns: dict[str, list[Any]]) -> None:
        table = self.kinds.setdefault(kind, {})
        n = len(next(iter(columns.values())))
        before = len(table.get("athlete", []))
        table.setdefault("athlete", []).extend([athlete] * n)
        table.setdefault("kind", []).extend([kind] * n)
        for name, values in columns.items():
            table.setdefault(name, []).extend(values)
        self.spans.setdefault(kind, []).append((athlete, before, before + n))

    def athletes(self) -> list[str]:
        seen: dict[str, None] = {}
        for spans in self.spans.values():
            seen.update((a, None) for a, _, _ in spans)
        return list(seen)

    def event_dicts(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """(athlete, event dicts in the published schema) for each athlete."""
        per: dict[str, list[dict[str, Any]]] = {a: [] for a in self.athletes()}
        for kind, spans in self.spans.items():
            table = self.kinds[kind]
            names = [n for n in table if n != "athlete"]
            for athlete, lo, hi in spans:
                cols = [table[n][lo:hi] for n in names]
                per[athlete].extend(
                    {n: v for n, v in zip(names, row, strict=True) if v is not None}
                    for row in zip(*cols, strict=True)
                )
        yield from per.items()

    def table(self) -> pa.Table:
        """The events as one Arrow table in the published schema's columns."""
        import pyarrow as pa

        types = {
            "start": pa.timestamp("us", tz="UTC"),
            "recorded": pa.date32(),
            "date": pa.date32(),
            "first_used": pa.date32(),
            "birth_year": pa.int64(),
            "severity": pa.int64(),
            "prior_bsi": pa.list_(
                pa.struct([("site", pa.string()), ("date", pa.date32()), ("side", pa.string())])
            ),
        }
        parts = []
        for table in self.kinds.values():
            arrays = {}
            for name, values in table.items():
                if name == "start" or types.get(name) == pa.date32():
                    arrays[name] = pa.array(values, type=pa.string()).cast(types[name])
                    continue
                if name == "prior_bsi":
                    values = [
                        [{**p, "date": dt.date.fromisoformat(p["date"])} for p in v] for v in values
                    ]
                arrays[name] = pa.array(values, type=types.get(name))
            parts.append(pa.table(arrays))
        return pa.concat_tables(parts, promote_options="default")


def population(
    athletes: int, *, end: dt.date = dt.date(2026, 10, 31), days: int = 365, seed: int = 13
) -> Population:
    """``athletes`` athletes with ``days`` days of history each, ending ``end``."""
    out = Population()
    first = dt.datetime.combine(end - dt.timedelta(days=days - 1), dt.time(6, 30), dt.UTC)
    day0 = int(first.timestamp())
    for i in range(athletes):
        rng = np.random.default_rng((seed, i))
        athlete = f"athlete-{i:06d}"
        share = rng.uniform(0.45, 1.0)
        ran = np.flatnonzero(rng.random(days) < share)
        base = rng.uniform(4.0, 12.0)
        km = base * rng.uniform(0.75, 1.25, ran.size)
        km[(ran % 7) == 6] *= 1.6  # a long run a week
        if i % 3 == 0:  # a spike in the last fortnight
            km[ran >= days - rng.integers(7, 15)] *= rng.uniform(1.4, 2.4)
        if i % 11 == 0 and ran.size:  # a run far beyond anything in the past 30 days
            km[-1] = base * rng.uniform(2.5, 4.0)
        km = np.round(km, 2)
        pace = rng.uniform(290, 400)
        life = rng.uniform(400, 900)
        shoe = (np.cumsum(km) // life).astype(int)
        starts = day0 + ran * 86400 + rng.integers(0, 3600, ran.size)
        has_cadence = i % 4 != 1
        cadence: list[float | None] = (
            rng.integers(158, 182, ran.size).astype(float).tolist()
            if has_cadence
            else [None] * ran.size
        )
        out.add(
            "run",
            athlete,
            {
                "id": [f"{athlete}:run:{d}" for d in ran.tolist()],
                "source": ["synthetic"] * ran.size,
                "start": _iso(starts),
                "distance_m": np.round(km * 1000, 1).tolist(),
                "moving_time_s": np.round(km * pace, 1).tolist(),
                "cadence_spm": cadence,
                "shoe_id": [f"{athlete}:shoe{s}" for s in shoe.tolist()],
                "rpe": rng.integers(2, 9, ran.size).astype(float).tolist(),
            },
        )
        pairs = int(shoe.max()) + 1 if shoe.size else 0
        out.add(
            "shoe",
            athlete,
            {
                "id": [f"{athlete}:shoe{s}" for s in range(pairs)],
                "source": ["synthetic"] * pairs,
                "name": [f"Pair {s + 1}" for s in range(pairs)],
            },
        )
        sex = ("female", "male", "other")[i % 3]
        prior = [{"site": SITES[i % 2], "date": "2024-03-15", "side": "left"}] if i % 7 == 0 else []
        out.add(
            "profile",
            athlete,
            {
                "id": [f"{athlete}:profile"],
                "source": ["synthetic"],
                "recorded": [(end - dt.timedelta(days=days - 1)).isoformat()],
                "sex": [sex],
                "birth_year": [1960 + int(rng.integers(0, 46))],
                "height_m": [round(float(rng.uniform(1.5, 1.95)), 2)],
                "weight_kg": [round(float(rng.uniform(45, 100)), 1)],
                "prior_bsi": [prior],
            },
        )
        if i % 4 == 0:
            out.add(
                "pain",
                athlete,
                {
                    "id": [f"{athlete}:pain"],
                    "source": ["synthetic"],
                    "date": [(end - dt.timedelta(days=int(rng.integers(0, 10)))).isoformat()],
                    "site": [SITES[int(rng.integers(0, len(SITES)))]],
                    "severity": [int(rng.integers(1, 9))],
                    "with_activity": [bool(rng.random() < 0.7)],
                    "after_rest": [bool(rng.random() < 0.4)],
                    "at_night": [bool(rng.random() < 0.15)],
                    "point_tenderness": [bool(rng.random() < 0.3)],
                },
            )
        if i % 5 == 0:
            out.add(
                "nutrition",
                athlete,
                {
                    "id": [f"{athlete}:nutrition"],
                    "source": ["synthetic"],
                    "date": [(end - dt.timedelta(days=int(rng.integers(0, 40)))).isoformat()],
                    "energy_intake_kcal": [float(rng.integers(1500, 3200))],
                    "exercise_energy_kcal": [float(rng.integers(300, 1000))],
                    "fat_free_mass_kg": [float(rng.integers(40, 65))],
                    "calcium_mg": [float(rng.integers(500, 1400))],
                    "vitamin_d_iu": [float(rng.integers(200, 2000))],
                },
            )
    return out
