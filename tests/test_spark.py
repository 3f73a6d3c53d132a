"""The Spark jobs in local mode (tox env ``spark``): Java 17 and ``stridewise[spark]`` needed.

Without Java or PySpark these tests fail (never skip): the env installs both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import stridewise
from stridewise.engine.events import load_stored_events
from stridewise.engine.packs import load_profile
from stridewise.spark.synthetic import population

pytestmark = pytest.mark.spark

AS_OF = dt.date(2026, 10, 31)
#: The CI data set: 10,000 athletes x 1 year (STRIDEWISE_SPARK_ATHLETES makes it smaller).
ATHLETES = int(os.environ.get("STRIDEWISE_SPARK_ATHLETES", "10000"))
STRIDEWISE = Path(sys.executable).parent / "stridewise"
VALIDATED = ["--as-of", AS_OF.isoformat(), "--validate"]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from stridewise.spark import local_session

    session = local_session("stridewise-tests")
    yield session
    session.stop()


def card_json(card: stridewise.Card) -> str:
    return json.dumps(card.to_dict(), ensure_ascii=False, sort_keys=True)


def reference(
    athletes: Iterator[tuple[str, list[dict[str, Any]]]], engine: stridewise.Engine
) -> dict[str, list[str]]:
    """Each athlete's cards from the single-process API (sorted card JSON)."""
    out = {}
    for athlete, dicts in athletes:
        history = stridewise.History(load_stored_events(dicts))
        cards = engine.evaluate(history, AS_OF, athlete=athlete)
        out[athlete] = sorted(card_json(c) for c in cards)
    return out


def by_athlete(rows: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for athlete, card in rows:
        out[athlete].append(card)
    return {a: sorted(c) for a, c in out.items()}


def jsonl(path: Path, athletes: list[tuple[str, list[dict[str, Any]]]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for athlete, dicts in athletes:
            for d in dicts:
                f.write(json.dumps({"athlete": athlete, **d}) + "\n")


@pytest.mark.slow
def test_ten_thousand_athletes_get_on_spark_the_cards_the_single_process_api_gives(
    spark: Any, tmp_path: Path
) -> None:
    from pyspark.sql import functions as F

    from stridewise.spark import evaluate_cards

    t0 = time.perf_counter()
    people = population(ATHLETES)
    import pyarrow.parquet as pq

    pq.write_table(people.table(), tmp_path / "events.parquet")
    t_data = time.perf_counter() - t0

    t0 = time.perf_counter()
    events = spark.read.parquet(str(tmp_path / "events.parquet"))
    evaluate_cards(events, AS_OF).write.parquet(str(tmp_path / "cards"))
    t_spark = time.perf_counter() - t0
    written = spark.read.parquet(str(tmp_path / "cards"))
    assert written.where(F.col("error").isNotNull()).count() == 0
    got = by_athlete(
        (r["athlete"], r["h"])
        for r in written.select("athlete", F.md5("card").alias("h")).toLocalIterator()
    )

    t0 = time.perf_counter()
    want = reference(people.event_dicts(), stridewise.build_engine())
    t_single = time.perf_counter() - t0
    want_h = {
        a: sorted(hashlib.md5(c.encode()).hexdigest() for c in cards)
        for a, cards in want.items()
        if cards
    }
    print(
        f"\n{ATHLETES:,} athletes: data {t_data:.1f} s; Spark local[2] {t_spark:.1f} s "
        f"({ATHLETES / t_spark:.0f} athletes/s); single process {t_single:.1f} s "
        f"({ATHLETES / t_single:.0f} athletes/s)"
    )
    assert len(want_h) > ATHLETES * 0.9  # nearly every athlete has cards
    differ = [a for a in want_h.keys() | got.keys() if want_h.get(a) != got.get(a)]
    assert differ == [], f"{len(differ)} athletes differ, e.g. {differ[:3]}"
    kinds = Counter(
        json.loads(c)["ruleset_id"] for cards in list(want.values())[:500] for c in cards
    )
    assert len(kinds) >= 5, kinds  # the data set makes most packs speak


def test_an_athlete_with_invalid_events_is_an_error_row_and_the_others_get_their_cards(
    tmp_path: Path,
) -> None:
    people = list(population(6, days=60).event_dicts())
    bad_run = {
        "kind": "run",
        "id": "bad-run",
        "source": "t",
        "start": "2026-10-30T07:00:00Z",
        "distance_m": -5.0,
    }
    broken = [
        ("negative-distance", [*people[0][1], bad_run]),
        ("unknown-kind", [{"kind": "walk", "id": "w1", "source": "t"}]),
        ("bad-date", [{**bad_run, "id": "r9", "start": "yesterday", "distance_m": 5000.0}]),
    ]
    jsonl(tmp_path / "events.jsonl", [*people, *broken])
    out = tmp_path / "cards"
    res = subprocess.run(
        [str(STRIDEWISE), "spark-job", str(tmp_path / "events.jsonl"), str(out), *VALIDATED],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "3 error rows" in res.stdout

    import pyarrow.parquet as pq

    rows = pq.read_table(out).to_pylist()
    errors = {r["athlete"]: r["error"] for r in rows if r["error"]}
    assert errors.keys() == {"negative-distance", "unknown-kind", "bad-date"}
    assert "'bad-run'" in errors["negative-distance"]
    assert "distance_m" in errors["negative-distance"]
    assert "unknown event kind 'walk'" in errors["unknown-kind"]
    assert "'r9'" in errors["bad-date"]
    assert all(r["rule"] is None and r["card"] is None for r in rows if r["error"])
    want = reference(iter(people), stridewise.build_engine())
    got = by_athlete((r["athlete"], r["card"]) for r in rows if not r["error"])
    assert got == {a: c for a, c in want.items() if c}


OWN_PACK = """
ruleset:
  id: lakeside-mileage
  version: 0.1.0
  title: Lakeside's weekly distance note
  status: active
  reviewed: "2026-12-01"
sources:
  lakeside:
    label: "Lakeside Running Clinic, weekly distance note (test fixture)"
rules:
  - id: big-week
    when:
      - fact: training
        where: {load_7d_km: {gte: 50}}
    then:
      card:
        indicator: info
        advice: inform
        summary: "Lakeside: {training.load_7d_km} km in the last 7 days; tell us how you feel."
        detail: "Talk to us about your plan."
        source: lakeside
"""


def test_a_clinic_profile_tunes_the_cards_on_every_worker(spark: Any, tmp_path: Path) -> None:
    from stridewise.spark import evaluate_cards

    clinic = tmp_path / "clinic"
    (clinic / "packs").mkdir(parents=True)
    (clinic / "profile.yaml").write_text(
        "clinic: {id: lakeside, name: Lakeside Running Clinic}\n"
        "own_packs: [packs]\n"
        "parameters: {footwear: {replace_km: 700, approaching_km: 480}}\n"
        "wording:\n"
        "  footwear/shoe-worn:\n"
        "    summary: \"Lakeside: '{shoe.name}' has {shoe.distance_km} km, past our "
        '{replace_km} km mark."\n',
        encoding="utf-8",
    )
    # The clinic's own pack must reach the workers too (they need no file system shared).
    (clinic / "packs" / "lakeside.yaml").write_text(OWN_PACK, encoding="utf-8")
    people = population(40, days=200)
    import pyarrow.parquet as pq

    pq.write_table(people.table(), tmp_path / "events.parquet")
    events = spark.read.parquet(str(tmp_path / "events.parquet"))
    rows = evaluate_cards(events, AS_OF, profile=clinic / "profile.yaml").collect()
    got = by_athlete((r["athlete"], r["card"]) for r in rows)
    engine = load_profile(clinic / "profile.yaml").build_engine(stridewise.plugin_packs()[0])
    want = reference(people.event_dicts(), engine)
    assert got == {a: c for a, c in want.items() if c}
    summaries = [r["summary"] for r in rows if r["rule"] == "shoe-worn"]
    assert summaries and all(s.startswith("Lakeside:") and "700 km" in s for s in summaries)
    assert any(r["pack"] == "lakeside-mileage" for r in rows)


def test_a_timeline_gives_every_day_the_cards_of_that_day(spark: Any, tmp_path: Path) -> None:
    from stridewise.spark import evaluate_cards

    people = population(8, days=120)
    import pyarrow.parquet as pq

    pq.write_table(people.table(), tmp_path / "events.parquet")
    events = spark.read.parquet(str(tmp_path / "events.parquet"))
    start, end = AS_OF - dt.timedelta(days=13), AS_OF
    rows = evaluate_cards(events, start=start, end=end).collect()
    got = Counter((r["athlete"], r["date"], r["card"]) for r in rows)
    assert max(got.values()) == 1  # no card twice
    engine = stridewise.build_engine()
    want = Counter()
    for athlete, dicts in people.event_dicts():
        history = stridewise.History(load_stored_events(dicts))
        for day, cards in engine.timeline(history, start, end, athlete=athlete):
            want.update((athlete, day, card_json(c)) for c in cards)
    assert got == want
    assert {r["date"] for r in rows} == {start + dt.timedelta(days=i) for i in range(14)}


def test_a_worker_that_dies_is_retried_by_spark_and_writes_no_card_twice(
    spark: Any, tmp_path: Path
) -> None:
    from stridewise.spark import evaluate_cards

    people = population(30, days=90)
    import pyarrow.parquet as pq

    pq.write_table(people.table(), tmp_path / "events.parquet")
    marker = tmp_path / "crashed"
    env = spark.sparkContext.environment
    env["STRIDEWISE_SPARK_CRASH_ONCE"] = f"athlete-000017:{marker}"
    try:
        events = spark.read.parquet(str(tmp_path / "events.parquet"))
        evaluate_cards(events, AS_OF).write.parquet(str(tmp_path / "cards"))
    finally:
        del env["STRIDEWISE_SPARK_CRASH_ONCE"]
    assert marker.exists()  # a worker did die in the middle of the job
    rows = pq.read_table(tmp_path / "cards").to_pylist()
    keys = Counter((r["athlete"], r["rule"], r["pack"], r["card"]) for r in rows)
    assert max(keys.values()) == 1
    want = reference(people.event_dicts(), stridewise.build_engine())
    got = by_athlete((r["athlete"], r["card"]) for r in rows)
    assert got == {a: c for a, c in want.items() if c}
    assert got["athlete-000017"]


def done(commits: Path) -> int:
    """Micro-batches the checkpoint records as done."""
    return sum(1 for p in commits.iterdir() if p.name.isdigit()) if commits.exists() else 0


FILES = 4


def _wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.slow
def test_a_stream_killed_mid_way_and_restarted_ends_with_the_batch_jobs_cards_and_no_duplicates(
    spark: Any, tmp_path: Path
) -> None:
    from pyspark.sql import functions as F

    from stridewise.spark import evaluate_cards, latest_cards

    people = list(population(16, days=90).event_dicts())
    # The events arrive in four files: most athletes' history split across several of them.
    drops: list[list[tuple[str, list[dict[str, Any]]]]] = [[] for _ in range(FILES)]
    for n, (athlete, dicts) in enumerate(people):
        ordered = sorted(dicts, key=lambda d: d.get("start") or d.get("date") or "")
        parts = 1 + n % 3
        size = -(-len(ordered) // parts)
        for k in range(parts):
            drops[(n + k) % FILES].append((athlete, ordered[k * size : (k + 1) * size]))
    incoming, out = tmp_path / "incoming", tmp_path / "out"
    incoming.mkdir()

    def drop(k: int) -> None:
        staging = tmp_path / f"drop-{k}.jsonl"
        jsonl(staging, drops[k])
        staging.rename(incoming / staging.name)  # a file appears whole, as uploads do

    for k in range(2):
        drop(k)
    cmd = [str(STRIDEWISE), "spark-job", str(incoming), str(out), "--stream"]
    cmd += ["--as-of", AS_OF.isoformat(), "--max-files-per-trigger", "1"]
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    commits = out / "checkpoint" / "commits"
    try:
        # Killed (SIGKILL, no clean stop) once a micro-batch is done and more are under way.
        started = _wait_for(lambda: done(commits) >= 1, 300)
        assert started, (tmp_path / "first.log").read_text()[-3000:]
        for k in range(2, FILES):
            drop(k)
        time.sleep(1.0)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        log.close()
    assert done(commits) < FILES  # the job was killed before it had read every file

    again = subprocess.run([*cmd, "--available-now"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert done(commits) == FILES  # one micro-batch a file, each done once

    stored = spark.read.parquet(str(out / "store" / "events"))
    assert stored.count() == stored.select("athlete", "event").distinct().count()
    assert stored.count() == sum(len(d) for _, d in people)  # every event stored once
    cards = latest_cards(spark, out)
    assert cards.where(F.col("error").isNotNull()).count() == 0
    got = Counter((r["athlete"], r["card"]) for r in cards.collect())
    assert max(got.values()) == 1  # no card twice
    events = spark.read.text(str(incoming))
    from stridewise.spark import events_from_json_lines

    batch = Counter(
        (r["athlete"], r["card"])
        for r in evaluate_cards(events_from_json_lines(events), AS_OF).collect()
    )
    if got != batch:  # say which athlete, which batches touched it, which cards differ
        touched = spark.read.parquet(str(out / "athletes")).collect()
        for athlete in sorted({a for a, _ in (got - batch) + (batch - got)}):
            print(
                athlete,
                "touched by batches",
                sorted(r["batch"] for r in touched if r["athlete"] == athlete),
            )
            print(
                "  stored per batch:",
                stored.where(F.col("athlete") == athlete).groupBy("batch").count().collect(),
            )
            for side, diff in (("stream only", got - batch), ("batch only", batch - got)):
                for a, card in diff:
                    if a == athlete:
                        print(f"  {side}:", json.loads(card)["summary"])
    assert got == batch
