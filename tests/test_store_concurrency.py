"""Concurrent writers on one history database: every event written is kept.

Two imports into the same history at once used to lose thousands of events (each read the
history, then rewrote all of it from its own stale copy). Writes are now incremental and
serialised by SQLite's write lock, so the count kept equals the count written.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stridewise.engine.events import load_event
from stridewise.store import Store

#: Slow (processes, wheels or fuzzing): `pytest -m 'not slow'` skips them in a quick loop.
pytestmark = pytest.mark.slow

PROCESSES = 6
SAVES_PER_PROCESS = 5
EVENTS_PER_SAVE = 60


def _runs(writer: int, batch: int) -> list[Any]:
    out = []
    for n in range(EVENTS_PER_SAVE):
        # Each writer's runs sit on their own days, far from the others: nothing to merge.
        day = writer * 400 + batch * EVENTS_PER_SAVE + n
        out.append(
            load_event(
                {
                    "kind": "run",
                    "id": f"w{writer}:{batch}:{n}",
                    "source": f"writer{writer}",
                    "distance_m": 5000.0 + n,
                    "start": _day(day),
                }
            )
        )
    return out


def _day(n: int) -> str:
    return (dt.datetime(2015, 1, 1, 7, tzinfo=dt.UTC) + dt.timedelta(days=n)).isoformat()


def _writer(db: str, writer: int, barrier: Any) -> None:
    batches = [_runs(writer, b) for b in range(SAVES_PER_PROCESS)]
    barrier.wait()
    for events in batches:
        with Store(db) as store:
            store.save(events, {"writer": writer})


def test_six_processes_saving_at_once_keep_every_event(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    Store(db).close()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    procs = [ctx.Process(target=_writer, args=(db, w, barrier)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    written = PROCESSES * SAVES_PER_PROCESS * EVENTS_PER_SAVE
    with Store(db) as store:
        kept = len(store.load())
        imports = len(store.imports())
    print(f"store: {kept} of {written} events kept, {imports} imports logged")
    assert kept == written
    assert imports == PROCESSES * SAVES_PER_PROCESS


def _journal(path: Path, first_day: int, n: int) -> None:
    lines = ["kind,date,distance_km,time"]
    for k in range(n):
        lines.append(f"run,{_day(first_day + k)[:10]},{5 + k % 7},{25 + k % 9}:00")
    path.write_text("\n".join(lines) + "\n")


def test_three_imports_into_one_history_at_once_all_keep_everything(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    runs_each, imports = 1200, 3
    journals = [tmp_path / f"j{k}.csv" for k in range(imports)]
    for k, journal in enumerate(journals):
        _journal(journal, 1300 * k, runs_each)
    cmd = [sys.executable, "-m", "stridewise", "import", "--db", str(db), "--json"]
    procs = [subprocess.Popen([*cmd, str(j)], stdout=subprocess.DEVNULL) for j in journals]
    codes = [p.wait(60) for p in procs]
    assert codes == [0] * imports
    with Store(db) as store:
        kept = len(store.load())
    print(f"cli: {kept} of {imports * runs_each} runs kept")
    assert kept == imports * runs_each
