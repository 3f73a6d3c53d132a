"""Review items 5, 6 and 16: what `stridewise serve` and `stridewise clinic add` tell a new user.

5: the banner shows the store URL as configured (``sqlite:////abs/path`` keeps its slashes).
6: docs/service.md (and the README) write the settings before the first ``clinic add``, and
   following them on a fresh folder works; a settings file that does not exist says so.
16: a busy port is one error line naming host:port, without the banner.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from stridewise.cli import cli

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from service_server import free_port, stridewise_command  # noqa: E402


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def test_serve_on_a_busy_port_is_one_error_line_naming_it_and_no_banner(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [
                *stridewise_command(),
                "serve",
                "--port",
                str(port),
                "--store",
                f"sqlite:///{tmp_path / 'service.sqlite3'}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0]
    assert "already in use" in lines[0] and "--port" in lines[0]
    assert "stridewise service on" not in out.stderr
    assert "Traceback" not in out.stderr


def test_serve_shows_the_store_url_as_configured(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'svc' / 'service.sqlite3'}"  # sqlite:////tmp/...
    (tmp_path / "svc").mkdir()
    assert store.startswith("sqlite:////")
    config = tmp_path / "service.toml"
    config.write_text(
        f'[service]\nhost = "127.0.0.1"\nport = {free_port()}\nstore = "{store}"\nworkers = 1\n',
        "utf-8",
    )
    server = subprocess.Popen(
        [*stridewise_command(), "serve", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        banner = server.stderr.readline()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    assert banner.startswith("stridewise service on http://127.0.0.1:"), banner
    assert f"(store {store}," in banner


def test_serve_banner_hides_a_database_password_only() -> None:
    from stridewise.service.cli import _redacted

    assert _redacted("postgresql://me:secret@db:5432/sw?sslmode=require&password=x") == (
        "postgresql://me@db:5432/sw?sslmode=require"
    )
    assert _redacted("sqlite:///service.sqlite3") == "sqlite:///service.sqlite3"


def _start_it() -> tuple[str, str]:
    text = (ROOT / "docs" / "service.md").read_text("utf-8")
    section = text.split("## Start it", 1)[1].split("\n## ", 1)[0]
    (toml,) = re.findall(r"```toml\n(.*?)```", section, flags=re.DOTALL)
    return section, toml


def test_the_service_docs_write_the_settings_before_the_first_clinic_add() -> None:
    section, _ = _start_it()
    assert section.index("[service]") < section.index("stridewise clinic add")
    readme = (ROOT / "README.md").read_text("utf-8")
    service = readme.split("## The HTTP service", 1)[1].split("\n## ", 1)[0]
    assert "[service]" in service
    assert service.index("service.toml") < service.index("stridewise clinic add")


def test_following_the_service_docs_on_a_fresh_folder_adds_the_clinic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, toml = _start_it()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRIDEWISE_SERVICE_CONFIG", raising=False)
    Path("service.toml").write_text(toml, "utf-8")
    code, key, err = run("clinic", "add", "riverside", "--config", "service.toml")
    assert code == 0, err
    assert len(key.strip()) >= 32 and "clinic 'riverside' added" in err
    assert (tmp_path / "service.sqlite3").exists()  # the store the settings name


def test_clinic_add_with_the_store_alone_needs_no_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRIDEWISE_SERVICE_CONFIG", raising=False)
    code, key, err = run("clinic", "add", "riverside", "--store", f"sqlite:///{tmp_path}/s.db")
    assert code == 0, err
    assert key.strip()


def test_clinic_add_with_a_settings_file_not_written_yet_says_to_write_it(
    tmp_path: Path,
) -> None:
    code, _, err = run("clinic", "add", "riverside", "--config", str(tmp_path / "service.toml"))
    assert code == 2
    assert f"{tmp_path / 'service.toml'}: no such settings file: write it first" in err
    assert "docs/service.md" in err and "--store" in err


def test_serve_checks_the_port_before_the_banner_quickly() -> None:
    # The check binds and releases at once: a free port is still free after it.
    from stridewise.service.cli import _check_port_free

    port = free_port()
    start = time.monotonic()
    _check_port_free("127.0.0.1", port)
    assert time.monotonic() - start < 1
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:
        again.bind(("127.0.0.1", port))
