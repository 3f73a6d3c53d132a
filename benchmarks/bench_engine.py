"""Engine speed and memory: one evaluation, a 10-year replay, RSS over many evaluations.

Run from the repository root with the package installed::

    python benchmarks/bench_engine.py            # full run (100,000 evaluations for RSS)
    python benchmarks/bench_engine.py --quick    # smaller counts, for a smoke test

Figures printed:

1. one evaluation "as of today" for an athlete with 10 years of daily runs: median and p99,
   with the derived series rebuilt from the athlete's run columns every time (no cache), for
   stridewise (facts + durable_rules through our wrapper, the starter packs) and for a
   plain-Python reference that evaluates the same starter rules by hand on the same facts;
   the ratio is our overhead;
2. a 10-year daily timeline replay (3,650 evaluations): total time and evaluations/second,
   with outputs checked day by day against the reference;
3. RSS before and after N evaluations (must stay flat).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from synthetic import DEMO_END, daily_runs  # noqa: E402

import stridewise  # noqa: E402
from stridewise.engine.rules import load_packs  # noqa: E402

Facts = Sequence[Mapping[str, Any]]


def reference_rules(facts: Facts) -> set[str]:
    """The starter packs (benchmarks/starter_packs) written by hand, defaults inlined."""
    fired: set[str] = set()
    training = next(f for f in facts if f["type"] == "training")
    acwr = training.get("acwr_ewma")
    flag = False
    if training.get("enough_history") is False and training.get("days_of_history", 0) > 0:
        fired.add("training-load/not-enough-history")
    if acwr is not None and 1.5 < acwr <= 2.0:
        fired.add("training-load/acwr-spike")
        flag = True
    if acwr is not None and acwr > 2.0:
        fired.add("training-load/acwr-very-high")
        flag = True
    if training.get("two_week_change_pct", -1e9) > 30:
        fired.add("training-load/two-week-increase")
    if training.get("run_vs_longest_30d_pct", -1e9) > 10:
        fired.add("training-load/single-run-spike")
    if training.get("days_since_rest", 0) >= 14:
        fired.add("training-load/no-rest-day")
    pains = [f for f in facts if f["type"] == "pain"]
    if flag and any(p.get("with_activity") for p in pains):
        fired.add("training-load/spike-with-pain")
    for shoe in (f for f in facts if f["type"] == "shoe"):
        if shoe["distance_km"] >= 500:
            fired.add("footwear/shoe-worn")
        elif shoe["distance_km"] >= 425:
            fired.add("footwear/shoe-approaching")
    for p in pains:
        if p.get("at_rest") or p.get("at_night"):
            fired.add("symptoms/pain-at-rest-or-night")
        if p.get("high_risk_site"):
            fired.add("symptoms/high-risk-site-pain")
        if p.get("site") in ("groin", "hip") and p.get("with_activity"):
            fired.add("symptoms/groin-hip-pain")
        if p.get("hop_pain"):
            fired.add("symptoms/hop-pain")
        if p.get("point_tenderness") and p.get("swelling"):
            fired.add("symptoms/tender-swollen-bone")
        if p.get("with_activity") and p.get("after_rest"):
            fired.add("symptoms/pain-lingers")
    return fired


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def pct(samples: list[float], q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(q * len(samples)))]


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (smoke test)")
    parser.add_argument("--evaluations", type=int, default=100_000, help="for the RSS check")
    args = parser.parse_args()
    single_n = 50 if args.quick else 500
    rss_n = 5_000 if args.quick else args.evaluations

    packs, errors = load_packs([HERE / "starter_packs"])
    assert not errors, errors
    engine = stridewise.Engine(packs)
    events = stridewise.load_events(daily_runs(10))
    history = stridewise.History(events)
    today = DEMO_END
    print(f"athlete: {len(history.runs)} daily runs over 10 years; {len(engine.rules)} rules")

    # 1. one evaluation as of today, series rebuilt each time
    def ours() -> Any:
        history._series = None
        return engine.evaluate(history, today)

    def reference() -> Any:
        history._series = None
        return reference_rules(history.facts(today))

    def facts_only() -> Any:
        history._series = None
        return history.facts(today)

    for fn in (ours, reference, facts_only):
        fn()  # warm up
    t_ours = timed(ours, single_n)
    t_ref = timed(reference, single_n)
    t_facts = timed(facts_only, single_n)
    cold = timed(
        lambda: engine.evaluate(stridewise.History(events), today), max(10, single_n // 10)
    )
    history.facts(today)  # fill the cache: what an app that keeps its History gets
    warm = timed(lambda: engine.evaluate(history, today), single_n)
    m_ours, m_ref = statistics.median(t_ours), statistics.median(t_ref)
    print("\n1. one evaluation as of today (10 years of daily runs, derived series rebuilt)")
    print(
        f"   stridewise:         median {m_ours * 1e3:.3f} ms, p99 {pct(t_ours, 0.99) * 1e3:.3f} ms"
    )
    print(
        f"   plain-Python rules: median {m_ref * 1e3:.3f} ms, p99 {pct(t_ref, 0.99) * 1e3:.3f} ms"
    )
    print(f"   of which deriving facts: median {statistics.median(t_facts) * 1e3:.3f} ms")
    print(f"   overhead ratio (stridewise / plain Python): {m_ours / m_ref:.2f}x")
    print(f"   from raw events (History built too): median {statistics.median(cold) * 1e3:.2f} ms")
    print(
        f"   History kept by the app (series cached): median {statistics.median(warm) * 1e3:.3f}"
        f" ms, p99 {pct(warm, 0.99) * 1e3:.3f} ms"
    )

    # 2. a 10-year replay, checked day by day against the reference
    start = today - dt.timedelta(days=3649)
    history._series = None
    t0 = time.perf_counter()
    replay = [
        (day, {c.key for c in cards}) for day, cards in engine.timeline(history, start, today)
    ]
    t_replay = time.perf_counter() - t0
    t0 = time.perf_counter()
    expected = [(day, reference_rules(facts)) for day, facts in history.timeline(start, today)]
    t_ref_replay = time.perf_counter() - t0
    mismatches = sum(1 for a, b in zip(replay, expected, strict=True) if a != b)
    fired_days = sum(1 for _, keys in replay if keys)
    print("\n2. 10-year timeline replay (3,650 daily evaluations)")
    print(f"   stridewise: {t_replay:.3f} s, {len(replay) / t_replay:,.0f} evaluations/s")
    print(f"   plain-Python rules on the same facts: {t_ref_replay:.3f} s")
    print(f"   days with cards: {fired_days}; days differing from the reference: {mismatches}")
    if mismatches:
        raise SystemExit("engine and reference disagree")

    # 3. RSS over many evaluations
    day_facts = [facts for _, facts in history.timeline(today - dt.timedelta(days=99), today)]
    for facts in day_facts:
        engine.evaluate_facts(facts, today)
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    for i in range(rss_n):
        engine.evaluate_facts(day_facts[i % len(day_facts)], today)
    elapsed = time.perf_counter() - t0
    gc.collect()
    after = rss_mb()
    print(f"\n3. RSS over {rss_n:,} evaluations ({elapsed:.1f} s)")
    print(f"   before {before:.1f} MB, after {after:.1f} MB, growth {after - before:+.1f} MB")


if __name__ == "__main__":
    main()
