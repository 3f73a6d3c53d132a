"""Time the Strava export import on the CSV fast path (no activity file opened).

Generates a synthetic export of 3,000 activities in a temporary folder: the real 94-column
English header (from ``tests/data/strava/gap_export``), realistic values (mostly runs, some
rides, walks and strength sessions, five pairs of shoes, descriptions with commas and
newlines) and an ``activities/`` file named in each row that is never opened. Reads it as a
folder and as a zip, three times each, and prints the best time. Target: under 2 s.

    .venv/bin/python benchmarks/bench_strava.py [--activities 3000] [--write]

``--write`` records the figures in ``benchmarks/RESULTS-strava.md``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import random
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from stridewise.adapters import strava
from stridewise.adapters.strava import StravaAdapter
from stridewise.engine.events import Run, Shoe
from stridewise.plugins.hookspecs import Skipped

ROOT = Path(__file__).resolve().parent.parent
HEADER_SOURCE = ROOT / "tests" / "data" / "strava" / "gap_export" / "activities.csv"
RESULTS = Path(__file__).resolve().parent / "RESULTS-strava.md"
TARGET_S = 2.0
SHOES = ["Pegasus 40", "Clifton 9", "Speedgoat 5", "Novablast 4", "Old Trainers"]
TYPES = ["Run"] * 14 + ["Trail Run"] * 2 + ["Ride"] * 2 + ["Walk"] + ["Weight Training"]


def header() -> list[str]:
    with open(HEADER_SOURCE, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def _putter(row: list[str], where: dict[str, list[int]]) -> Callable[..., None]:
    def put(column: str, value: str, nth: int = 0) -> None:
        row[where[column][nth]] = value

    return put


def make_export(folder: Path, count: int, seed: int = 20240501) -> None:
    """Write ``activities.csv``, ``shoes.csv`` and ``bikes.csv`` for ``count`` activities."""
    rng = random.Random(seed)
    names = header()
    where: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        where.setdefault(name, []).append(i)
    start = dt.datetime(2015, 1, 1, 6, 0, tzinfo=dt.UTC)
    rows = [names]
    for n in range(count):
        when = start + dt.timedelta(hours=26 * n + rng.uniform(0, 3))
        kind = rng.choice(TYPES)
        moving = rng.uniform(1500, 7200)
        elapsed = moving + rng.uniform(0, 600)
        speed = {"Ride": rng.uniform(6, 9), "Walk": rng.uniform(1.2, 1.6)}.get(
            kind, 0.0 if kind == "Weight Training" else rng.uniform(2.4, 4.2)
        )
        metres = speed * moving
        row = [""] * len(names)
        put = _putter(row, where)
        put("Activity ID", str(9_000_000_000 + n))
        put("Activity Date", when.strftime("%b %-d, %Y, %-I:%M:%S %p"))
        put("Activity Name", f"{kind} #{n}")
        put("Activity Type", kind)
        put("Activity Description", "easy, then strides\nfelt good" if n % 7 == 0 else "")
        put("Elapsed Time", str(round(elapsed)))
        put("Distance", f"{metres / 1000:.2f}" if metres else "")
        put("Elapsed Time", f"{elapsed:.1f}", 1)
        put("Moving Time", f"{moving:.1f}")
        put("Distance", f"{metres:.6f}" if metres else "", 1)
        put("Average Speed", f"{speed:.6f}" if speed else "")
        put("Elevation Gain", f"{rng.uniform(0, 400):.4f}" if metres else "")
        put("Average Heart Rate", f"{rng.uniform(120, 165):.1f}")
        put("Max Heart Rate", f"{rng.uniform(165, 190):.1f}", 1)
        put("Commute", "false")
        if kind in ("Run", "Trail Run"):
            put("Average Cadence", f"{rng.uniform(78, 92):.4f}")
        if kind in ("Run", "Trail Run", "Walk"):
            put("Activity Gear", rng.choice(SHOES))
        elif kind == "Ride":
            put("Activity Gear", "Canyon")
        if n % 3:
            put("Perceived Exertion", str(rng.randint(2, 9)))
        put("Filename", f"activities/{10_000_000_000 + n}.fit.gz")
        rows.append(row)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "activities.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    shoes = "Shoe Name,Shoe Brand,Shoe Model,Shoe Default Sport Types\n"
    shoes += "".join(f"{s},Brand,{s},Run\n" for s in SHOES[:4])
    (folder / "shoes.csv").write_text(shoes, encoding="utf-8")
    bikes = (
        "Bike Name,Bike Brand,Bike Model,Bike Default Sport Types\nCanyon,Canyon,Endurace,Ride\n"
    )
    (folder / "bikes.csv").write_text(bikes, encoding="utf-8")


def best_of(runs: int, read: Callable[[], list[object]]) -> tuple[float, list[object]]:
    best, items = float("inf"), []
    for _ in range(runs):
        started = time.perf_counter()
        items = read()
        best = min(best, time.perf_counter() - started)
    return best, items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=3000)
    parser.add_argument("--write", action="store_true", help="write RESULTS-strava.md")
    args = parser.parse_args()

    opened: list[str] = []

    def refuse(data: bytes, name: str) -> Run:
        opened.append(name)
        raise AssertionError("the fast path opened an activity file")

    strava.parse_activity_file = refuse
    adapter = StravaAdapter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "export"
        make_export(folder, args.activities)
        archive = Path(tmp) / "export.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.iterdir()):
                zf.write(path, f"export_1234/{path.name}")
        csv_bytes = (folder / "activities.csv").stat().st_size
        folder_s, items = best_of(3, lambda: list(adapter.read(folder)))
        zip_s, zip_items = best_of(3, lambda: list(adapter.read(archive)))

    assert items == zip_items, "zip and folder differ"
    assert not opened, opened
    events = [i for i in items if not isinstance(i, Skipped)]
    skipped = len(items) - len(events)
    shoes = sum(isinstance(e, Shoe) for e in events)
    activities = len(events) - shoes
    assert activities == args.activities and skipped == 0, (activities, skipped)
    verdict = "PASS" if max(folder_s, zip_s) < TARGET_S else "FAIL"
    lines = [
        f"activities: {activities:,} ({shoes} shoes), activities.csv {csv_bytes / 1e6:.1f} MB",
        f"folder: {folder_s:.3f} s ({folder_s / activities * 1e6:.0f} us per activity)",
        f"zip:    {zip_s:.3f} s ({zip_s / activities * 1e6:.0f} us per activity)",
        f"target: < {TARGET_S:.0f} s -> {verdict}; linked activity files opened: {len(opened)}",
    ]
    print("\n".join(lines))
    if args.write:
        machine = f"{platform.python_implementation()} {platform.python_version()}"
        cores, load = os.cpu_count(), os.getloadavg()[0]
        RESULTS.write_text(
            "# Strava export import, CSV fast path\n\n"
            "Command (from the repository root):\n\n"
            f"    .venv/bin/python benchmarks/bench_strava.py --activities {args.activities}"
            " --write\n\n"
            f"Machine: {platform.machine()}, {cores} cores, {machine}, {platform.system()}; "
            f"load average {load:.1f} while it ran (other work on the machine); best of 3 runs. "
            "Most of the time is the event schema's validation (marshmallow, about 75 %).\n\n"
            "```\n" + "\n".join(lines) + "\n```\n",
            encoding="utf-8",
        )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
