"""Start-up: `--help` lists every command without importing them, `--version` loads no plugin,
and a plugin that loops forever while it is imported or registers cannot hang a command.

The plugins here are real third-party distributions (a dist-info with entry_points.txt) on the
path of a fresh `python -m stridewise` process, so a plugin left looping ends with its process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import click
import pytest

from stridewise.cli import _LAZY_COMMANDS, cli
from stridewise.plugins import PluginHost, hookimpl
from stridewise.plugins.host import TIMEOUT_ENV

BUILTIN_COMMANDS = {
    "clinic",
    "db",
    "demo",
    "events",
    "explain",
    "import",
    "log",
    "new",
    "plugins",
    "report",
    "rulesets",
    "schema",
    "serve",
    "spark-job",
}
JOURNAL = Path(__file__).parent / "data" / "journals" / "return_to_run_night_pain.yaml"


def _distribution(site: Path, name: str, modules: dict[str, str]) -> None:
    """Write modules and a dist-info advertising each of them as a stridewise plugin."""
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    dist = site / f"{name}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    eps = "".join(f"{module} = {module}\n" for module in modules)
    (dist / "entry_points.txt").write_text(f"[stridewise]\n{eps}")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """Third-party plugins: one adds a command, one loops at import, one loops registering."""
    site = tmp_path / "site"
    site.mkdir()
    marker = tmp_path / "imported.txt"
    _distribution(
        site,
        "sw_startup_plugins",
        {
            "sw_hello_plugin": f"""
                from pathlib import Path
                import click
                from stridewise.plugins import hookimpl

                Path({str(marker)!r}).write_text("imported")

                @hookimpl
                def stridewise_register_commands(cli):
                    @cli.command("hello")
                    def hello():
                        '''Say hello from a third-party plugin.'''
                        click.echo("hello from the plugin")
                """,
            "sw_looping_import": """
                while True:
                    pass
                """,
            "sw_looping_hook": """
                from stridewise.plugins import hookimpl

                @hookimpl
                def stridewise_register_adapters(register):
                    while True:
                        pass
                """,
        },
    )
    return site


def _run(
    site: Path, *args: str, timeout_s: str = "0.5", wait: float = 20
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "STRIDEWISE_PLUGIN_TIMEOUT": timeout_s,
        "STRIDEWISE_DB": str(site.parent / "history.sqlite"),
        "STRIDEWISE_JOURNAL": str(site.parent / "journal.yaml"),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "stridewise", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=wait,
        check=False,
    )


def _commands(help_text: str) -> set[str]:
    section = help_text.split("Commands:", 1)[1]
    return {line.split()[0] for line in section.splitlines() if line.startswith("  ")}


@pytest.mark.slow
def test_help_lists_every_builtin_command_and_the_ones_plugins_add(site: Path) -> None:
    result = _run(site, "--help")
    assert result.returncode == 0, result.stderr
    assert _commands(result.stdout) == BUILTIN_COMMANDS | {"hello"}
    assert "Say hello from a third-party plugin." in result.stdout
    # the plugin that loops at import is named, and --help still answered
    assert "sw_looping_import" in result.stderr and "did not finish" in result.stderr
    hello = _run(site, "hello")
    assert hello.returncode == 0 and "hello from the plugin" in hello.stdout


def test_version_loads_no_plugin_even_one_that_loops_at_import(site: Path) -> None:
    result = _run(site, "--version", timeout_s="60", wait=4.5)  # a plugin import would hang
    assert result.returncode == 0 and "stridewise, version" in result.stdout
    assert not (site.parent / "imported.txt").exists()
    assert result.stderr == ""


@pytest.mark.slow
def test_a_plugin_looping_at_import_or_registration_is_named_as_failed(site: Path) -> None:
    result = _run(site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    failed = {(e["name"], e["stage"]) for e in found["errors"]}
    assert ("sw_looping_import", "import") in failed
    assert ("sw_looping_hook", "stridewise_register_adapters") in failed
    assert all("did not finish within 0.5 s" in e["error"] for e in found["errors"])
    assert {"journal", "fit", "strava"} <= set(found["adapters"])  # the others still load
    assert "sw_hello_plugin" in {p["name"] for p in found["plugins"]}


@pytest.mark.slow
def test_a_report_still_comes_out_with_a_looping_plugin_installed(site: Path) -> None:
    result = _run(site, "report", str(JOURNAL), "--json", "--as-of", "2026-03-02")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cards"]
    assert "sw_looping_import" in result.stderr  # said, not hidden


def test_the_help_lines_of_commands_not_imported_yet_match_the_commands() -> None:
    formatter = click.HelpFormatter(width=200)
    with click.Context(cli) as ctx:
        for name, (_, _, line) in _LAZY_COMMANDS.items():
            command = cli.get_command(ctx, name)
            assert command is not None
            assert command.get_short_help_str(190) == line, name
        cli.format_commands(ctx, formatter)
    assert _commands("Commands:\n" + formatter.getvalue().split(":", 1)[1]) >= BUILTIN_COMMANDS


class _LoopingHook:
    @hookimpl
    def stridewise_register_adapters(self, register: Any) -> None:
        while True:
            pass


def test_a_hook_that_loops_is_stopped_and_the_plugin_set_aside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, "0.3")
    before = threading.active_count()
    host = PluginHost()
    host.register(_LoopingHook(), name="looping")
    adapters = {a.name for a in host.adapters()}
    assert {"journal", "fit"} <= adapters
    assert [(e.plugin, e.stage) for e in host.errors] == [
        ("looping", "stridewise_register_adapters")
    ]
    assert "looping" not in {p.name for p in host.plugins()}  # not asked again
    assert threading.active_count() == before  # the loop was interrupted, not left spinning


def test_the_plugins_shipped_with_stridewise_add_no_commands() -> None:
    """`--help` skips importing them for that reason; a built-in command plugin must say so."""
    host = PluginHost()
    own = [p for p in host.plugins() if p.distribution == "stridewise"]
    assert {"journal", "fit", "builtin_rulesets"} <= {p.name for p in own}
    assert not [p.name for p in own if "stridewise_register_commands" in p.hooks]
