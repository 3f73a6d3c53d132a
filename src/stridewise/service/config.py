"""The service's settings: a TOML file, then environment variables, then command-line options.

A file (``stridewise serve --config service.toml``) holds a ``[service]`` table::

    [service]
    host = "127.0.0.1"          # loopback by default: put a TLS proxy in front for the network
    port = 8700
    store = "sqlite:////var/lib/stridewise/service.sqlite3"  # or postgresql://user@host/db
    workers = 2                 # evaluation worker processes per clinic profile (per process)
    processes = 1               # HTTP server processes (each with its own evaluation workers)
    evaluation_timeout_s = 30   # one evaluation longer than this kills its worker
    max_request_bytes = 1048576 # larger bodies: 413
    max_batch_events = 1000     # more events in one POST: 422
    max_timeline_days = 3660    # longer timelines: 422
    decision_log = ""           # optional JSON-lines file: CDS feedback is appended there too

Every key can be set by an environment variable named ``STRIDEWISE_SERVICE_`` + the key in
capitals (``STRIDEWISE_SERVICE_PORT=9000``); the environment wins over the file, and an option
given on the command line wins over both.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stridewise.engine.errors import InputError

ENV_PREFIX = "STRIDEWISE_SERVICE_"
CONFIG_ENV = "STRIDEWISE_SERVICE_CONFIG"


def default_store_url() -> str:
    """``sqlite:///`` + ``service.sqlite3`` in the platform's user data folder."""
    import platformdirs

    return "sqlite:///" + str(Path(platformdirs.user_data_dir("stridewise")) / "service.sqlite3")


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Everything ``stridewise serve`` needs (see the module docstring for the file format)."""

    host: str = "127.0.0.1"
    port: int = 8700
    store: str = ""
    workers: int = 2
    processes: int = 1
    evaluation_timeout_s: float = 30.0
    max_request_bytes: int = 1_048_576
    max_batch_events: int = 1000
    max_timeline_days: int = 3660
    decision_log: str = ""

    @property
    def store_url(self) -> str:
        return self.store or default_store_url()

    def replace(self, **changes: Any) -> ServiceConfig:
        """A copy with ``changes`` applied (``None`` values are ignored), checked again."""
        given = {k: v for k, v in changes.items() if v is not None}
        return _checked(dataclasses.replace(self, **given), "the command line")


_FIELDS = {f.name: f for f in dataclasses.fields(ServiceConfig)}
_LIMITS: dict[str, tuple[float, float]] = {
    "port": (0, 65535),
    "workers": (1, 64),
    "processes": (1, 64),
    "evaluation_timeout_s": (0.1, 3600),
    "max_request_bytes": (1024, 1 << 30),
    "max_batch_events": (1, 1_000_000),
    "max_timeline_days": (1, 36_600),
}


def _convert(name: str, value: Any, where: str) -> Any:
    kind = type(getattr(ServiceConfig(), name))
    try:
        if kind is int and not isinstance(value, bool):
            out: Any = int(value)
        elif kind is float and not isinstance(value, bool):
            out = float(value)
        elif kind is str and isinstance(value, str):
            out = value
        else:
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(
            f"{name} = {value!r} is not a {kind.__name__}", file=where, field=name
        ) from None
    return out


def _checked(config: ServiceConfig, where: str) -> ServiceConfig:
    for name, (lo, hi) in _LIMITS.items():
        value = getattr(config, name)
        if not lo <= value <= hi:
            raise InputError(
                f"{name} = {value!r} is out of range ({lo:g} to {hi:g})", file=where, field=name
            )
    return config


def as_environment(config: ServiceConfig) -> dict[str, str]:
    """``config`` as ``STRIDEWISE_SERVICE_*`` variables (what server processes start from)."""
    return {ENV_PREFIX + name.upper(): str(getattr(config, name)) for name in _FIELDS}


def load_config(
    path: Path | str | None = None, *, environ: Mapping[str, str] | None = None
) -> ServiceConfig:
    """Settings from ``path`` (or ``$STRIDEWISE_SERVICE_CONFIG``), then the environment."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    if path is not None:
        where = str(path)
        try:
            doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(
                "no such settings file: write it first (a [service] table, e.g. "
                'store = "sqlite:///service.sqlite3"; see docs/service.md, "Start it"), '
                "or, without a settings file, give the store with --store",
                file=where,
            ) from None
        except OSError as exc:
            raise InputError(
                f"cannot read the service configuration: {exc.strerror}", file=where
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"not valid TOML: {exc}", file=where) from None
        table = doc.get("service", {})
        if not isinstance(table, dict) or set(doc) - {"service"}:
            raise InputError("expected one [service] table", file=where)
        for name, value in table.items():
            if name not in _FIELDS:
                raise InputError(
                    f"unknown setting {name!r} (known: {', '.join(_FIELDS)})",
                    file=where,
                    field=name,
                )
            values[name] = _convert(name, value, where)
    for name in _FIELDS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _convert(name, raw, f"${ENV_PREFIX}{name.upper()}")
    return _checked(ServiceConfig(**values), str(path) if path else "the environment")
