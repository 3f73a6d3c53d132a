"""Load test of the HTTP service: "post one new run, get cards" (issue 10).

Run from the repository root with the test extra installed (``pip install -e '.[test]'``)::

    python benchmarks/bench_service.py                       # 1,000 athletes, 1 and 2 workers
    python benchmarks/bench_service.py --quick               # 100 athletes, 300 operations
    python benchmarks/bench_service.py --workers 2 --operations 4000 --concurrency 32

What it does, bounded (a fixed number of operations, then it stops):

1. a fresh SQLite store in a temporary folder; one clinic added with ``stridewise clinic add``
   (its key); ``--athletes`` athletes with a year of daily runs each (366 events, the
   synthetic history of ``synthetic.daily_runs``), written straight into the store;
2. for each worker count: ``stridewise serve --config service.toml`` started as the docs say
   (uvicorn, one process; ``workers`` evaluation worker processes), waited for on ``/ready``,
   warmed up with 50 operations, then ``--operations`` operations from ``--concurrency``
   concurrent httpx clients in this process. One operation = ``POST /athletes/{id}/events``
   with one new run for a random athlete, then ``GET /athletes/{id}/cards?as_of=<its day>``
   (two HTTP requests, the second waits for the first);
3. printed: requests per second (HTTP requests over wall time) and operations per second,
   and p50 / p99 latency of each request kind and of the whole operation, in milliseconds.

The load generator runs on the same machine as the server (and competes with it for the CPU):
on a 2-core machine the figures are those of server + client together.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
from synthetic import DEMO_END, daily_runs  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stridewise() -> list[str]:
    script = Path(sys.executable).with_name("stridewise")
    return [str(script)] if script.exists() else [sys.executable, "-m", "stridewise"]


def seed_store(folder: Path, athletes: int) -> tuple[Path, str]:
    """A config file, a clinic's key, and ``athletes`` athletes with a year each."""
    from stridewise import load_events
    from stridewise.storage import open_store

    config = folder / "service.toml"
    store_url = f"sqlite:///{folder / 'service.sqlite3'}"
    config.write_text(f'[service]\nhost = "127.0.0.1"\nstore = "{store_url}"\n')
    key = subprocess.run(
        [*_stridewise(), "clinic", "add", "bench", "--config", str(config)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()
    year = load_events(daily_runs(years=1, end=DEMO_END, seed=1))
    started = time.perf_counter()
    with open_store(store_url) as store:
        for n in range(athletes):
            store.put_events("bench", f"athlete-{n}", year)
    print(
        f"seeded {athletes} athletes x {len(year)} events in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return config, key


def start(
    config: Path, workers: int, port: int, log: Path, processes: int = 1
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STRIDEWISE_SERVICE_WORKERS": str(workers),
        "STRIDEWISE_SERVICE_PROCESSES": str(processes),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*_stridewise(), "serve", "--config", str(config), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the server did not get ready:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def load(
    url: str, key: str, athletes: int, operations: int, concurrency: int, tag: str
) -> dict[str, list[float]]:
    """Run ``operations`` operations from ``concurrency`` clients; latencies in seconds."""
    rng = random.Random(tag)
    plan = []
    for n in range(operations):
        day = DEMO_END + dt.timedelta(days=1 + n % 30)
        run = {
            "kind": "run",
            "id": f"{tag}-{n}",
            "source": "bench",
            "start": f"{day.isoformat()}T06:30:00+00:00",
            "distance_m": round(rng.uniform(5000, 12000)),
            "moving_time_s": 3000,
            "shoe_id": "shoe0",
        }
        plan.append((f"athlete-{rng.randrange(athletes)}", day.isoformat(), run))
    queue: asyncio.Queue[tuple[str, str, dict[str, Any]]] = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)
    times: dict[str, list[float]] = {"post": [], "get": [], "operation": []}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=60
    ) as client:

        async def worker() -> None:
            while True:
                try:
                    athlete, day, run = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                posted = await client.post(f"/athletes/{athlete}/events", json={"events": [run]})
                t1 = time.perf_counter()
                got = await client.get(f"/athletes/{athlete}/cards", params={"as_of": day})
                t2 = time.perf_counter()
                if posted.status_code != 200 or got.status_code != 200:
                    raise SystemExit(f"{posted.status_code} {got.status_code}: {got.text[:300]}")
                times["post"].append(t1 - t0)
                times["get"].append(t2 - t1)
                times["operation"].append(t2 - t0)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return times


def _cpu_seconds(root: int) -> tuple[float, float]:
    """CPU time (user + system) of process ``root`` and of all its descendants, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == root:
                return True
        return False

    return cpu.get(root, 0.0), sum(c for pid, c in cpu.items() if descends(pid))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--athletes", type=int, default=1000)
    parser.add_argument("--operations", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--processes", type=int, default=1, help="HTTP server processes (default 1)"
    )
    parser.add_argument("--quick", action="store_true", help="100 athletes, 300 operations")
    args = parser.parse_args()
    if args.quick:
        args.athletes, args.operations = 100, 300
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config, key = seed_store(folder, args.athletes)
        for workers in args.workers:
            port = _free_port()
            process = start(config, workers, port, folder / f"serve-{workers}.log", args.processes)
            url = f"http://127.0.0.1:{port}"
            try:
                asyncio.run(load(url, key, args.athletes, 50, args.concurrency, f"warm{workers}"))
                server_before, workers_before = _cpu_seconds(process.pid)
                client_before = time.process_time()
                load_before = os.getloadavg()[0]
                started = time.perf_counter()
                times = asyncio.run(
                    load(
                        url,
                        key,
                        args.athletes,
                        args.operations,
                        args.concurrency,
                        f"w{workers}",
                    )
                )
                wall = time.perf_counter() - started
                client_cpu = time.process_time() - client_before
                server_after, workers_after = _cpu_seconds(process.pid)
                load_after = os.getloadavg()[0]
            finally:
                stop(process)
            ops = len(times["operation"])
            print(
                f"\n{args.processes} server process(es) x {workers} evaluation worker(s), "
                f"{ops} operations (post one new run, get cards), "
                f"{args.concurrency} concurrent clients, {args.athletes} athletes x 1 year:"
            )
            print(f"  {2 * ops / wall:7.1f} requests/s   {ops / wall:7.1f} operations/s")
            for kind in ("post", "get", "operation"):
                values = times[kind]
                print(
                    f"  {kind:9s} p50 {_pct(values, 0.50):7.1f} ms   "
                    f"p99 {_pct(values, 0.99):7.1f} ms   "
                    f"mean {statistics.fmean(values) * 1000:7.1f} ms"
                )
            server_ms = (server_after - server_before) / ops * 1000
            children_ms = (workers_after - workers_before) / ops * 1000
            client_ms = client_cpu / ops * 1000
            if args.processes == 1:
                print(
                    f"  CPU per operation: server process {server_ms:.1f} ms, evaluation "
                    f"workers {children_ms:.1f} ms, load generator {client_ms:.1f} ms"
                )
            else:  # the server processes are children of the supervisor, like the workers
                print(
                    f"  CPU per operation: server processes and evaluation workers "
                    f"{server_ms + children_ms:.1f} ms, load generator {client_ms:.1f} ms"
                )
            print(
                f"  wall {wall:.1f} s; load average {load_before:.1f} before, "
                f"{load_after:.1f} after ({os.cpu_count()} CPUs)"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
