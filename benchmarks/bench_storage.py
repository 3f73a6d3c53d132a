"""The service store's two calls on the upload path, on SQLite and on PostgreSQL.

Run from the repository root with the test extra installed (``pip install -e '.[test]'``)::

    python benchmarks/bench_storage.py                 # 1,000 athletes, both backends
    python benchmarks/bench_storage.py --athletes 100 --reps 200 --backend sqlite
    python benchmarks/bench_storage.py --pg-url postgresql://user:pw@host/db   # your server

Each backend gets ``--athletes`` athletes of one clinic with a year of daily runs each (366
events: the synthetic one-year history of ``synthetic.daily_runs``), then, for athletes picked
at random:

1. put one new run (a new event id: one transaction with the athlete's lock, one insert);
2. put the same run again (the idempotent path: nothing written);
3. load the athlete's year of events (366 events through ``load_stored_json``), and look
   the athlete's version up (what a cache of the events checks instead);
4. put one new run and load the year, as the service does for "post one new run, get cards";
5. 8 threads putting new runs at once, each for athletes of its own (the service's request
   threads): puts per second, median and p99;
6. with the store's cache of athletes' events (``cache_athletes``, every athlete read once
   first): loading an unchanged year, and putting a run and loading the year.

Median and p99 of wall time, in milliseconds. SQLite is a file in a temporary folder (WAL),
timed with ``synchronous=full`` (the default: an fsync per write) and ``normal`` (no fsync per
write; safe against crashes, not against power loss); PostgreSQL is, unless ``--pg-url`` is
given, a throwaway local server started as the tests start it (``tests/pgserver.py``) but with
fsync and synchronous commits on, reached over TCP on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from synthetic import daily_runs  # noqa: E402

from stridewise.engine.events import Event, load_stored_events  # noqa: E402
from stridewise.storage import ServiceStore, hash_key, open_store  # noqa: E402

CLINIC = "bench-clinic"


def year_of(athlete: int) -> list[Event]:
    """One year of daily runs (and the shoes), ids unique to the athlete."""
    items = daily_runs(years=1, seed=athlete)
    for item in items:
        item["id"] = f"a{athlete}:{item['id']}"
    return load_stored_events(items)


def new_run(athlete: int, n: int) -> Event:
    start = dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
    [event] = load_stored_events(
        [
            {
                "kind": "run",
                "id": f"a{athlete}:new:{n}",
                "source": "bench",
                "start": start.isoformat(),
                "distance_m": 8000.0,
                "moving_time_s": 2640.0,
            }
        ]
    )
    return event


def timed(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def bench(name: str, url: str, athletes: int, reps: int) -> None:
    with open_store(url) as store:
        run_bench(name, store, url, athletes, reps)


def run_bench(name: str, store: ServiceStore, url: str, athletes: int, reps: int) -> None:
    store.add_clinic(CLINIC, hash_key("bench-key"), {"profile": "default"})
    fill = 0.0
    for a in range(athletes):
        year = year_of(a)  # made outside the timing
        t0 = time.perf_counter()
        store.put_events(CLINIC, f"athlete-{a}", year)
        fill += time.perf_counter() - t0
    per_year = len(year_of(0))
    os.sync()  # let the fill's writeback finish: the timings below are the steady state
    print(f"\n{name}: {store.url}")
    print(
        f"  fill: {athletes:,} athletes x {per_year} events = {athletes * per_year:,} events in "
        f"{fill:.1f} s ({fill / athletes * 1000:.1f} ms per athlete's year, one batch each)"
    )
    rng = random.Random(7)
    counter = iter(range(10**9))
    recent: list[tuple[int, Event]] = []  # the last new run put (athlete, event)

    def put_new() -> None:
        a = rng.randrange(athletes)
        event = new_run(a, next(counter))
        assert store.put_events(CLINIC, f"athlete-{a}", [event]).added == 1
        recent[:] = [(a, event)]

    def put_again() -> None:
        [(a, event)] = recent
        assert store.put_events(CLINIC, f"athlete-{a}", [event]).already_stored == 1

    def load_year() -> None:
        a = rng.randrange(athletes)
        assert len(store.events(CLINIC, f"athlete-{a}")) >= per_year

    def version() -> None:
        assert store.athlete_version(CLINIC, f"athlete-{rng.randrange(athletes)}") is not None

    def put_and_load() -> None:
        a = rng.randrange(athletes)
        store.put_events(CLINIC, f"athlete-{a}", [new_run(a, next(counter))])
        store.events(CLINIC, f"athlete-{a}")

    new = timed(put_new, reps)
    again: list[float] = []  # the idempotent path, each after a fresh put
    for _ in range(reps):
        put_new()
        t = time.perf_counter()
        put_again()
        again.append((time.perf_counter() - t) * 1000)
    again.sort()
    rows = [
        ("put one new run", new),
        ("put the same run again", (statistics.median(again), again[int(len(again) * 0.99)])),
        ("load one year (366+ events)", timed(load_year, reps)),
        ("athlete_version (cache check)", timed(version, reps)),
        ("put one run + load the year", timed(put_and_load, reps)),
    ]
    for label, (median, p99) in rows:
        print(f"  {label:<31} median {median:7.2f} ms   p99 {p99:7.2f} ms")
    concurrent(store, athletes, reps, threads=8)
    with open_store(url, cache_athletes=athletes) as cached:
        t0 = time.perf_counter()
        for a in range(athletes):
            cached.events(CLINIC, f"athlete-{a}")
        warm = time.perf_counter() - t0
        print(
            f"  with the cache (cache_athletes={athletes}), filled by reading all in {warm:.1f} s:"
        )

        def cached_load() -> None:
            cached.events(CLINIC, f"athlete-{rng.randrange(athletes)}")

        def cached_put_and_load() -> None:
            a = rng.randrange(athletes)
            cached.put_events(CLINIC, f"athlete-{a}", [new_run(a, next(counter))])
            cached.events(CLINIC, f"athlete-{a}")

        for label, (median, p99) in (
            ("load one year, unchanged", timed(cached_load, reps)),
            ("put one run + load the year", timed(cached_put_and_load, reps)),
        ):
            print(f"    {label:<29} median {median:7.2f} ms   p99 {p99:7.2f} ms")


def concurrent(store: ServiceStore, athletes: int, reps: int, threads: int) -> None:
    """``threads`` threads each putting ``reps // 4`` new runs for athletes of their own at
    once (the service's request threads): puts per second and the latency of each."""
    lock = threading.Lock()
    latencies: list[float] = []
    per_thread = max(1, reps // 4)

    def writer(k: int) -> None:
        mine = [a for a in range(athletes) if a % threads == k] or [k % athletes]
        done: list[float] = []
        for n in range(per_thread):
            a = mine[n % len(mine)]
            event = new_run(a, 10**6 * (k + 1) + n)
            t = time.perf_counter()
            store.put_events(CLINIC, f"athlete-{a}", [event])
            done.append((time.perf_counter() - t) * 1000)
        with lock:
            latencies.extend(done)

    workers = [threading.Thread(target=writer, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"  {threads} threads putting runs     {len(latencies) / wall:7.0f} puts/s, "
        f"median {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--athletes", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--sqlite-synchronous",
        default="full,normal",
        help="SQLite durability level(s) to time: full (the default), normal, or both",
    )
    parser.add_argument("--pg-url", help="an existing PostgreSQL database (else a local one)")
    args = parser.parse_args(argv)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load average {load}; "
        f"{args.athletes} athletes, {args.reps} reps"
    )
    if args.backend in ("sqlite", "both"):
        for sync in args.sqlite_synchronous.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{tmp}/bench.sqlite3?synchronous={sync}"
                bench(f"SQLite (synchronous={sync})", url, args.athletes, args.reps)
    if args.backend in ("postgresql", "both"):
        if args.pg_url:
            bench("PostgreSQL", args.pg_url, args.athletes, args.reps)
        else:
            from pgserver import PgServer

            with PgServer(durable=True) as server:
                url = server.url(server.create_database())
                bench("PostgreSQL 15 (local, fsync on)", url, args.athletes, args.reps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
