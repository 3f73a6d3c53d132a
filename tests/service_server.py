"""Start the stridewise service the way docs/service.md says, on a free loopback port.

``stridewise clinic add ID --config service.toml`` (prints the clinic's key) for each clinic,
then ``stridewise serve --config service.toml``; the server is waited for on ``/ready`` and
stopped with SIGTERM (as a process manager stops it). Also: a year of training for an athlete,
and the evaluation worker processes of a running server (to kill them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

END = dt.date(2026, 10, 31)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stridewise_command() -> list[str]:
    """The installed ``stridewise`` script of this interpreter (``python -m stridewise`` else)."""
    script = Path(sys.executable).with_name("stridewise")
    return [str(script)] if script.exists() else [sys.executable, "-m", "stridewise"]


def year_of_training(
    seed: int = 0, end: dt.date = END, *, shoe_km: float = 200
) -> list[dict[str, Any]]:
    """One year of an athlete's events: a profile, a pair of shoes, 4-5 runs a week."""
    rng = random.Random(seed)
    start = end - dt.timedelta(days=364)
    events: list[dict[str, Any]] = [
        {
            "kind": "profile",
            "id": "profile-1",
            "source": "app",
            "recorded": start.isoformat(),
            "sex": "female" if seed % 2 else "male",
            "birth_year": 1980 + seed % 20,
            "height_m": 1.7,
            "weight_kg": 60,
        },
        {
            "kind": "shoe",
            "id": "shoe-1",
            "source": "app",
            "name": "Pegasus",
            "first_used": start.isoformat(),
            "start_distance_m": shoe_km * 1000,
        },
    ]
    day = start
    n = 0
    while day <= end:
        if day.weekday() not in (0, 4) and rng.random() < 0.85:
            km = 16.0 if day.weekday() == 6 else rng.uniform(6, 11)
            n += 1
            events.append(
                {
                    "kind": "run",
                    "id": f"run-{day.isoformat()}",
                    "source": "app",
                    "start": f"{day.isoformat()}T07:00:00+01:00",
                    "distance_m": round(km * 1000),
                    "moving_time_s": round(km * 330),
                    "shoe_id": "shoe-1",
                }
            )
        day += dt.timedelta(days=1)
    return events


@dataclasses.dataclass
class Server:
    url: str
    keys: dict[str, str]
    config: Path
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, clinic: str | None = None, **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[clinic]}"} if clinic else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **options)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def worker_pids(self) -> list[int]:
        """The evaluation workers: children of the server's fork server process."""
        children = _children()
        pids = []
        for child in children.get(self.process.pid, []):
            if b"forkserver" in _cmdline(child):
                pids += children.get(child, [])
        return sorted(pids)


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def start_server(
    folder: Path,
    clinics: dict[str, Path | None],
    *,
    settings: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    """Write ``service.toml``, add the clinics, start ``stridewise serve``, wait until ready."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "store": f"sqlite:///{folder / 'service.sqlite3'}",
        "workers": 1,
        **(settings or {}),
    }
    lines = ["[service]"] + [
        f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in values.items()
    ]
    config = folder / "service.toml"
    config.write_text("\n".join(lines) + "\n")
    environ = {**os.environ, **(env or {})}
    keys = {}
    for clinic, profile in clinics.items():
        command = [*stridewise_command(), "clinic", "add", clinic, "--config", str(config)]
        if profile is not None:
            command += ["--profile", str(profile)]
        done = subprocess.run(command, capture_output=True, check=True, env=environ, timeout=120)
        keys[clinic] = done.stdout.decode().strip()
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*stridewise_command(), "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environ,
        )
    server = Server(f"http://127.0.0.1:{port}", keys, config, process, log)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"stridewise serve exited {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(server.url + "/ready", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"stridewise serve not ready after 120 s:\n{log.read_text()}")
        time.sleep(0.1)
