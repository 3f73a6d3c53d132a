"""What evaluating in worker processes costs (``stridewise.IsolatedEngine``, issue 12, item 9).

Run from the repository root with the package installed::

    python benchmarks/bench_isolation.py            # 2,000 evaluations per figure
    python benchmarks/bench_isolation.py --quick    # 200, for a smoke test

Figures printed (all six built-in packs; facts derived once in the app's process, as an app
that keeps its athletes' ``History`` does, so what is timed is the rules and the trip):

1. one evaluation, median and p99, in-process (``Engine.evaluate_facts``) and isolated (one
   worker): for a small fact set (one pain report) and for a runner with a year of daily runs
   and a pain report; the difference is the overhead per evaluation (pickling the facts to the
   worker, the cards back, two context switches); the two are timed in turn;
2. throughput over the year-long runner: in-process on one thread, and isolated with 2 workers
   driven from 2 threads;
3. pool start (2 workers, fork server included) and recovery: an evaluation whose worker
   crashes in the rules core (a real segmentation fault) and is retried on a fresh worker.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from synthetic import DEMO_END, daily_runs  # noqa: E402

import stridewise  # noqa: E402

Facts = Sequence[Mapping[str, Any]]


def alternated(
    a: Callable[[], Any], b: Callable[[], Any], n: int
) -> tuple[list[float], list[float]]:
    """Times of ``a`` and ``b`` run in turn, so that load on the machine hits both alike."""
    out: tuple[list[float], list[float]] = ([], [])
    for _ in range(n):
        for fn, times in ((a, out[0]), (b, out[1])):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return out


def pct(samples: list[float], q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(q * len(samples)))]


def ms(samples: list[float]) -> str:
    median, p99 = statistics.median(samples) * 1e3, pct(samples, 0.99) * 1e3
    return f"median {median:.3f} ms, p99 {p99:.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 evaluations per figure")
    args = parser.parse_args()
    n = 200 if args.quick else 2000

    packs, errors = stridewise.plugin_packs()
    assert not errors, errors
    today = DEMO_END
    pain = {
        "kind": "pain",
        "id": "p1",
        "source": "bench",
        "date": today.isoformat(),
        "site": "shin",
        "severity": 5,
        "at_night": True,
    }
    small = stridewise.History(stridewise.load_events([pain])).facts(today)
    year = stridewise.History(stridewise.load_events([*daily_runs(1), pain])).facts(today)
    engine = stridewise.Engine(packs)
    print(f"{len(packs)} packs, {len(engine.rules)} rules; year-long runner: {len(year)} facts")

    started = time.perf_counter()
    pool = stridewise.IsolatedEngine(packs, workers=2)
    start_s = time.perf_counter() - started
    with pool:
        for facts, label in ((small, "one pain report"), (year, "a year of daily runs")):
            here = engine.evaluate_facts(facts, today)
            there = pool.evaluate_facts(facts, today)
            assert here == there, "isolated and in-process evaluations differ"
            t_here, t_there = alternated(
                functools.partial(engine.evaluate_facts, facts, today),
                functools.partial(pool.evaluate_facts, facts, today),
                n,
            )
            extra = statistics.median(t_there) - statistics.median(t_here)
            print(f"\n1. one evaluation, {label} ({len(here.cards)} cards), {n} times")
            print(f"   in-process: {ms(t_here)}")
            print(f"   isolated:   {ms(t_there)}")
            print(f"   overhead per evaluation: {extra * 1e3:+.3f} ms (median)")

        print(f"\n2. throughput, a year of daily runs, {n} evaluations")
        t0 = time.perf_counter()
        for _ in range(n):
            engine.evaluate_facts(year, today)
        one = n / (time.perf_counter() - t0)

        def drive(count: int) -> None:
            for _ in range(count):
                pool.evaluate_facts(year, today)

        threads = [threading.Thread(target=drive, args=(n // 2,)) for _ in range(2)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        two = n / (time.perf_counter() - t0)
        print(f"   in-process, 1 thread:            {one:,.0f} evaluations/s")
        print(f"   isolated, 2 workers, 2 threads:  {two:,.0f} evaluations/s")

        print("\n3. pool start and crash recovery")
        print(f"   start of 2 workers (fork server included): {start_s:.2f} s")
        recoveries = []
        for _ in range(5):
            pool._inject("segfault")
            t0 = time.perf_counter()
            assert pool.evaluate_facts(small, today).cards
            recoveries.append(time.perf_counter() - t0)
        print(
            "   evaluation whose worker segfaults, replaced and retried: "
            f"median {statistics.median(recoveries) * 1e3:.0f} ms (5 crashes)"
        )


if __name__ == "__main__":
    main()
