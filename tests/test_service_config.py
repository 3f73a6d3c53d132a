"""The service's settings (file, environment, command line) and its API keys, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from stridewise.engine.errors import InputError
from stridewise.service.auth import hash_key, key_from_headers, new_key
from stridewise.service.config import ServiceConfig, load_config


def test_the_environment_wins_over_the_file_and_the_command_line_over_both(
    tmp_path: Path,
) -> None:
    path = tmp_path / "service.toml"
    path.write_text('[service]\nport = 9000\nworkers = 3\nstore = "sqlite:///a.db"\n')
    from_file = load_config(path, environ={})
    assert (from_file.port, from_file.workers, from_file.store) == (9000, 3, "sqlite:///a.db")
    with_env = load_config(path, environ={"STRIDEWISE_SERVICE_PORT": "9100"})
    assert (with_env.port, with_env.workers) == (9100, 3)
    assert with_env.replace(port=9200, workers=None).port == 9200
    named = load_config(None, environ={"STRIDEWISE_SERVICE_CONFIG": str(path)})
    assert named.port == 9000


def test_defaults_listen_on_loopback_only() -> None:
    config = load_config(None, environ={})
    assert config == ServiceConfig()
    assert config.host == "127.0.0.1"
    assert config.store_url.startswith("sqlite:///")


@pytest.mark.parametrize(
    ("text", "env", "words"),
    [
        ("[service]\nprot = 1\n", {}, "unknown setting 'prot'"),
        ("[service]\nworkers = 0\n", {}, "workers = 0 is out of range"),
        ("[service]\nport = 'eighty'\n", {}, "port = 'eighty' is not a int"),
        ("[service\n", {}, "not valid TOML"),
        ("[other]\nport = 1\n", {}, "expected one [service] table"),
        ("", {"STRIDEWISE_SERVICE_MAX_BATCH_EVENTS": "lots"}, "STRIDEWISE_SERVICE_MAX_BATCH"),
    ],
)
def test_a_bad_setting_is_named_with_where_it_came_from(
    tmp_path: Path, text: str, env: dict[str, str], words: str
) -> None:
    path = tmp_path / "service.toml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_config(path, environ=env)
    assert words in str(caught.value)


def test_keys_are_random_and_only_their_hash_is_kept() -> None:
    a, b = new_key(), new_key()
    assert a != b and a.startswith("sw_") and len(a) > 40
    assert hash_key(a) != a and len(hash_key(a)) == 64
    assert key_from_headers(f"Bearer {a}", None) == a
    assert key_from_headers(None, a) == a
    assert key_from_headers("Basic abc", None) is None
    assert key_from_headers(None, None) is None


def test_serve_with_a_store_it_cannot_open_says_so_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from stridewise.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--store", "sqlite:///"])
    assert result.exit_code == 2
    assert "error:" in result.stderr and "give a database file" in result.stderr
    assert "Traceback" not in result.output + result.stderr
