"""Start-up of the command line: ``stridewise --help``, ``--version`` and ``import stridewise``.

Each is run in a fresh process (``python -m stridewise ...``, the console script does the same
import) ``--runs`` times; the script prints the median and the minimum wall time, and Python's
own start-up for reference. Target (issue 12): ``stridewise --help`` < 0.3 s.

    python benchmarks/bench_startup.py [--runs 15]

To see where the time goes: ``python -X importtime -m stridewise --help 2>&1 | sort -t'|' -k2 -n``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python itself": [sys.executable, "-c", "pass"],
    "import stridewise": [sys.executable, "-c", "import stridewise"],
    "stridewise --version": [sys.executable, "-m", "stridewise", "--version"],
    "stridewise --help": [sys.executable, "-m", "stridewise", "--help"],
}


def wall_times(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per case")
    args = parser.parse_args()
    subprocess.run(CASES["stridewise --help"], check=True, capture_output=True)  # warm the disk
    print(f"cold start, {args.runs} fresh processes each (wall time)")
    for label, cmd in CASES.items():
        times = wall_times(cmd, args.runs)
        median, best = statistics.median(times), min(times)
        print(f"   {label + ':':24} median {median:.3f} s, min {best:.3f} s")


if __name__ == "__main__":
    main()
