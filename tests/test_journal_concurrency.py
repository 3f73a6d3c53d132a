"""Many `stridewise log` at once on one journal: every entry said "added" is in the journal.

Each append reads the journal, adds one entry and writes it back. Without a lock, two
writers read the same old journal and the second one's write drops the first one's entry.
"""

from __future__ import annotations

import csv
import multiprocessing
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stridewise.adapters.journal import append_entry, read_journal
from stridewise.engine.events import Run

#: Slow (processes, wheels or fuzzing): `pytest -m 'not slow'` skips them in a quick loop.
pytestmark = pytest.mark.slow

PROCESSES = 8
APPENDS_PER_PROCESS = 6


def _logger(path: str, writer: int, barrier: Any) -> None:
    barrier.wait()
    for n in range(APPENDS_PER_PROCESS):
        day = 1 + (writer * APPENDS_PER_PROCESS + n) % 28
        month = 1 + (writer * APPENDS_PER_PROCESS + n) // 28
        append_entry(
            Path(path),
            "run",
            {"date": f"2026-{month:02d}-{day:02d}", "distance_km": 5 + writer + n / 10},
        )


def _entries(path: Path) -> int:
    if path.suffix == ".csv":
        return len(list(csv.DictReader(path.open())))
    return len(yaml.safe_load(path.read_text())["runs"])


@pytest.mark.parametrize("name", ["journal.yaml", "journal.csv"])
def test_eight_processes_logging_at_once_keep_every_entry(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    procs = [ctx.Process(target=_logger, args=(str(path), w, barrier)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    written = PROCESSES * APPENDS_PER_PROCESS
    kept = _entries(path)
    print(f"{name}: {kept} of {written} entries kept")
    assert kept == written
    runs = [e for e in read_journal(path) if isinstance(e, Run)]
    assert len(runs) == written


def test_six_log_run_commands_at_once_all_land_in_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.yaml"
    n = 6
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "stridewise", "log", "run"),
                *("--journal", str(path), "--date", f"2026-03-{k + 1:02d}"),
                *("--distance-km", str(5 + k)),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(n)
    ]
    outs = [p.communicate(60)[0] for p in procs]
    assert all(out.startswith("added run") for out in outs), outs
    kept = _entries(path)
    print(f"log run: {kept} of {n} entries kept")
    assert kept == n
