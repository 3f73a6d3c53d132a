"""FIT import throughput: stridewise's ``parse_fit`` against a bare ``fitdecode.FitReader`` loop.

Usage::

    .venv/bin/python benchmarks/bench_fit_import.py [--seconds 3] [--rounds 3] [FILES...]

Without FILES it uses the readable FIT activities in ``tests/data/fit``. The file set is
repeated until one bare pass takes about ``--seconds``; each mode runs ``--rounds`` times,
interleaved, and the best round counts (the least disturbed by other processes); CPU time is
shown too, as it is steadier than wall time on a shared machine. Modes:

* bare: ``for frame in fitdecode.FitReader(data): pass`` with fitdecode's defaults;
* bare, no processor: the same with ``processor=None`` (what ``parse_fit`` decodes with);
* ours: ``parse_fit(data, name)``, one process;
* ours x2: ``parse_fit`` over a 2-process ``ProcessPoolExecutor``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gzip
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import fitdecode

from stridewise.adapters.fit import parse_fit
from stridewise.engine.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "tests" / "data" / "fit"

Batch = list[tuple[bytes, str]]


def _plain(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def bare(batch: Batch) -> int:
    """Decode every frame with fitdecode's defaults; return the frame count."""
    frames = 0
    for data, _ in batch:
        try:
            with fitdecode.FitReader(_plain(data)) as reader:
                for _frame in reader:
                    frames += 1
        except fitdecode.FitError:
            pass
    return frames


def bare_no_processor(batch: Batch) -> int:
    """Decode every frame without a data processor; return the frame count."""
    frames = 0
    for data, _ in batch:
        try:
            with fitdecode.FitReader(_plain(data), processor=None) as reader:
                for _frame in reader:
                    frames += 1
        except fitdecode.FitError:
            pass
    return frames


def ours(batch: Batch) -> int:
    """Import every file with parse_fit; return the number of events."""
    return sum(1 for data, name in batch if _parse_one((data, name)))


def _parse_one(item: tuple[bytes, str]) -> bool:
    try:
        parse_fit(*item)
    except InputError:
        return False
    return True


def ours_pool(batch: Batch, workers: int = 2) -> int:
    """parse_fit over a process pool (the pool's start-up is included in the time)."""
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(_parse_one, batch, chunksize=1))


def _load(paths: Sequence[Path]) -> Batch:
    batch = []
    for path in paths:
        data = path.read_bytes()
        if _parse_one((data, path.name)):  # benchmark what imports: activities only
            batch.append((data, path.name))
    return batch


def _measure(
    modes: dict[str, Callable[[Batch], int]], batch: Batch, rounds: int
) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds per mode; rounds are interleaved so load spikes hit all modes."""
    wall: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(rounds):
        for mode, fn in modes.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            fn(batch)
            wall[mode].append(time.perf_counter() - started)
            cpu[mode].append(time.process_time() - started_cpu)
    return {mode: (min(wall[mode]), min(cpu[mode])) for mode in modes}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--seconds", type=float, default=3.0, help="bare time per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # fitdecode warns about odd fields under its defaults

    paths = args.files or sorted(p for p in DEFAULT_DIR.glob("*.fit*") if p.is_file())
    files = _load(paths)
    if not files:
        raise SystemExit("no readable FIT activity files")
    started = time.perf_counter()
    bare(files)
    one_pass = time.perf_counter() - started
    repeat = max(1, math.ceil(args.seconds / one_pass))
    batch = files * repeat
    n_files = len(batch)
    megabytes = sum(len(_plain(data)) for data, _ in batch) / 1e6
    print(
        f"{len(files)} files x {repeat} = {n_files} files, {megabytes:.1f} MB decoded per "
        f"round; best of {args.rounds} rounds"
    )

    results = _measure(
        {
            "bare fitdecode loop": bare,
            "bare, processor=None": bare_no_processor,
            "ours (parse_fit)": ours,
            "ours, 2-process pool": ours_pool,
        },
        batch,
        args.rounds,
    )
    base_wall, base_cpu = results["bare fitdecode loop"]
    print(
        f"{'mode':<24}{'wall s':>8}{'files/s':>9}{'MB/s':>7}{'vs bare':>9}"
        f"{'CPU s':>8}{'vs bare':>9}"
    )
    for mode, (wall, cpu) in results.items():
        pool = "pool" in mode  # the workers' CPU time is not ours to count
        print(
            f"{mode:<24}{wall:>8.2f}{n_files / wall:>9.1f}{megabytes / wall:>7.2f}"
            f"{wall / base_wall:>8.2f}x"
            + (f"{'-':>8}{'-':>9}" if pool else f"{cpu:>8.2f}{cpu / base_cpu:>8.2f}x")
        )
    ours_wall, ours_cpu = results["ours (parse_fit)"]
    print(
        f"our overhead over the bare loop: {ours_cpu / base_cpu - 1:+.1%} CPU, "
        f"{ours_wall / base_wall - 1:+.1%} wall (negative = faster)"
    )


if __name__ == "__main__":
    main()
