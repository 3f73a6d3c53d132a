"""``stridewise serve`` and ``stridewise clinic add|revoke`` (see docs/service.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A TOML file with a [service] table (default: $STRIDEWISE_SERVICE_CONFIG, if set).",
)
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8700).")
@click.option("--store", default=None, help="sqlite:///FILE or postgresql://... (the store).")
@click.option(
    "--workers", type=int, default=None, help="Evaluation worker processes per clinic profile."
)
@click.option("--processes", type=int, default=None, help="HTTP server processes (default 1).")
def serve(
    config_path: Path | None,
    host: str | None,
    port: int | None,
    store: str | None,
    workers: int | None,
    processes: int | None,
) -> None:
    """Run the HTTP service (REST API and CDS Hooks) until stopped.

    Stop it with Ctrl-C or SIGTERM: requests in flight finish first (up to 10 s).
    """
    import os

    import uvicorn

    from .app import create_app
    from .config import as_environment, load_config

    config = load_config(config_path).replace(
        host=host, port=port, store=store, workers=workers, processes=processes
    )
    from stridewise.storage import open_store

    # A store that cannot be opened (a bad URL, PostgreSQL down) is one clear error line here,
    # not a traceback from inside the server's start-up.
    open_store(config.store_url).close()
    _check_port_free(config.host, config.port)
    click.echo(
        f"stridewise service on http://{config.host}:{config.port} "
        f"(store {_redacted(config.store_url)}, {config.processes} process(es), "
        f"{config.workers} evaluation worker(s) per profile in each)",
        err=True,
    )
    options: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }
    if config.processes == 1:
        uvicorn.run(create_app(config), **options)
        return
    # Each server process builds its app from the environment: hand it these settings.
    os.environ.update(as_environment(config))
    uvicorn.run(
        "stridewise.service.app:app_from_environment",
        factory=True,
        workers=config.processes,
        **options,
    )


def _check_port_free(host: str, port: int) -> None:
    """Raise one clear error naming ``host:port`` when the server could not listen there.

    Bound and released the way uvicorn binds (``SO_REUSEADDR``), before the banner: a busy
    port is an error line, not a banner followed by the server's own failure.
    """
    import errno
    import socket

    from stridewise.engine.errors import StridewiseError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            reason = (
                "the address is already in use (another program, or another stridewise "
                "service, listens there); stop it or choose another --port"
            )
        elif isinstance(exc, socket.gaierror):
            reason = f"no such host ({exc.strerror or exc}); check --host"
        else:
            reason = f"{exc.strerror or exc}; check --host and --port"
        raise StridewiseError(f"cannot listen on {where}: {reason}") from None


def _redacted(url: str) -> str:
    """The store URL as configured, less a password (``user:secret@`` or ``password=``).

    Only the password is taken out: the rest is the text written in the configuration
    (``sqlite:////abs/path`` keeps its four slashes).
    """
    import re

    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        user, _, host = authority.rpartition("@")
        authority = f"{user.partition(':')[0]}@{host}"
    tail = re.sub(r"(?i)([?&])password=[^&#]*&?", r"\1", tail)
    tail = re.sub(r"[?&]$", "", tail)
    return f"{scheme}{sep}{authority}{slash}{tail}"


@click.group()
def clinic() -> None:
    """Add clinics to the service (each gets an API key) and revoke keys."""


@clinic.command("add")
@click.argument("clinic_id")
@click.option(
    "--profile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The clinic's profile (YAML; see `stridewise rulesets profile`). Default: every "
    "installed pack with its default parameters.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The service's settings (its store is the one written to).",
)
@click.option("--store", default=None, help="sqlite:///FILE or postgresql://... (the store).")
def add(clinic_id: str, profile: Path | None, config_path: Path | None, store: str | None) -> None:
    """Add CLINIC_ID and print its new API key, once.

    The store keeps only the key's hash: write the key down now. A profile is checked against
    the installed packs before it is accepted. Adding a clinic again gives it one more key and
    sets its profile to the one given now (none: the installed packs), for all its keys.
    """
    from stridewise.storage import open_store

    from .auth import hash_key, new_key
    from .config import load_config

    config = load_config(config_path)
    if store:
        config = config.replace(store=store)
    path = None
    if profile is not None:
        from stridewise import plugin_packs
        from stridewise.engine.packs import load_profile

        loaded = load_profile(profile)
        resolved = loaded.resolve(plugin_packs()[0])
        if resolved.errors:
            raise resolved.errors[0]
        path = str(profile.resolve())
    key = new_key()
    with open_store(config.store_url) as opened:
        opened.add_clinic(clinic_id, hash_key(key), {"path": path})
    click.echo(key)
    click.echo(
        f"clinic {clinic_id!r} added ({'profile ' + path if path else 'installed packs'}); "
        "this key is shown once: the service keeps only its hash",
        err=True,
    )


@clinic.command("revoke")
@click.argument("key")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The service's settings (its store is the one written to).",
)
@click.option("--store", default=None, help="sqlite:///FILE or postgresql://... (the store).")
def revoke(key: str, config_path: Path | None, store: str | None) -> None:
    """Revoke an API key (requests with it get 401 from now on)."""
    from stridewise.storage import open_store

    from .auth import hash_key
    from .config import load_config

    config = load_config(config_path)
    if store:
        config = config.replace(store=store)
    with open_store(config.store_url) as opened:
        known = opened.revoke_key(hash_key(key))
    if not known:
        raise click.ClickException("no such key in this store")
    click.echo("revoked", err=True)
