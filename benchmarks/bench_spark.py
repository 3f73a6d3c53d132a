"""Athletes per second on Spark local[2] against the single-process API, on the same data.

Run from the repository root with ``pip install -e '.[spark]'`` and Java 17::

    python benchmarks/bench_spark.py                 # 10,000 athletes x 1 year
    python benchmarks/bench_spark.py --athletes 2000 # smaller

The data set is generated (``stridewise.spark.synthetic``, no cache) and written as Parquet in
the published schema's columns. Figures printed:

1. the single-process API (``History`` from the stored events -> ``Engine.evaluate``, one core):
   wall and CPU time, athletes/s, CPU ms per athlete;
2. the Spark batch job (``evaluate_cards`` -> Parquet) in ``local[CORES]``, run twice in one
   session (the first run starts the Python workers and builds their engines): wall time,
   athletes/s, and the CPU time of the whole process tree (JVM + Python workers; the driver's
   own Python is not counted) per athlete;
3. the sizing of a 10-million-athlete run, from the measured CPU per athlete.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path
from typing import Any

AS_OF = dt.date(2026, 10, 31)
TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> tuple[float, float]:
    """CPU seconds (user + system, own and reaped children) of ``root`` and of its
    descendants."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        values = text[text.rfind(")") + 2 :].split()
        pid = int(entry)
        stats[pid] = values
        children.setdefault(int(values[1]), []).append(pid)
    own = sum(int(v) for v in stats.get(root, ["0"] * 15)[11:13])  # utime stime
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        fields = stats.get(pid)
        if fields is not None:
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        todo += children.get(pid, [])
    return own / TICK, (total - own) / TICK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--athletes", type=int, default=10_000)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1,000 athletes")
    args = parser.parse_args()
    n = 1000 if args.quick else args.athletes

    import pyarrow.parquet as pq

    import stridewise
    from stridewise.engine.events import load_stored_events
    from stridewise.spark import evaluate_cards, local_session
    from stridewise.spark.synthetic import population

    t0 = time.perf_counter()
    people = population(n)
    folder = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    table = people.table()
    pq.write_table(table, folder / "events.parquet")
    print(
        f"data: {n:,} athletes, {table.num_rows:,} events, "
        f"{(folder / 'events.parquet').stat().st_size / 1e6:.0f} MB of Parquet, "
        f"made in {time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.1f}"
    )

    # 1. single process
    engine = stridewise.build_engine()
    dicts = list(people.event_dicts())
    del people
    t0, c0 = time.perf_counter(), time.process_time()
    shown = 0
    for athlete, events in dicts:
        history = stridewise.History(load_stored_events(events))
        shown += len(engine.evaluate(history, AS_OF, athlete=athlete))
    wall_1, cpu_1 = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"\n1. single-process API, one core: {wall_1:.1f} s wall, {cpu_1:.1f} s CPU; "
        f"{n / wall_1:.0f} athletes/s; {cpu_1 / n * 1e3:.2f} ms CPU per athlete; "
        f"{shown:,} cards"
    )
    del dicts

    # 2. Spark
    t0 = time.perf_counter()
    spark = local_session("bench-spark", cores=args.cores)
    gateway: Any = spark.sparkContext._gateway
    jvm = int(gateway.proc.pid)  # the JVM (spark-submit)
    print(f"\n2. Spark local[{args.cores}] (session started in {time.perf_counter() - t0:.1f} s)")
    frame = spark.read.parquet(str(folder / "events.parquet"))
    best = None
    for run in (1, 2):
        jvm0, py0 = tree_cpu(jvm)
        t0 = time.perf_counter()
        out = folder / f"cards-{run}"
        evaluate_cards(frame, AS_OF).write.parquet(str(out))
        wall = time.perf_counter() - t0
        jvm1, py1 = tree_cpu(jvm)
        cpu = jvm1 - jvm0 + py1 - py0
        cards = spark.read.parquet(str(out)).count()
        print(
            f"   run {run}: {wall:.1f} s wall, {cpu:.1f} s CPU (JVM {jvm1 - jvm0:.1f} s, "
            f"Python workers {py1 - py0:.1f} s); "
            f"{n / wall:.0f} athletes/s; {cpu / n * 1e3:.2f} ms CPU per athlete; "
            f"{cards:,} card rows; load average {os.getloadavg()[0]:.1f}"
        )
        best = (wall, cpu) if best is None or wall < best[0] else best
    spark.stop()
    assert best is not None
    wall_s, cpu_s = best
    print(
        f"   Spark / single process: {n / wall_s / (n / wall_1):.2f}x the athletes/s; "
        f"{cpu_s / cpu_1:.2f}x the CPU per athlete"
    )

    # 3. sizing for 10 million athletes
    per = cpu_s / n
    total_h = per * 10_000_000 / 3600
    print(
        f"\n3. 10,000,000 athletes at {per * 1e3:.1f} ms CPU each: {total_h:.0f} core-hours; "
        f"in one hour on {total_h / 0.8:.0f} cores at 80% use, e.g. "
        f"{total_h / 0.8 / 4:.0f} executors x 4 cores"
    )


if __name__ == "__main__":
    main()
