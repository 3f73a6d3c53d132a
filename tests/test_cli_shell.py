"""One CLI shell: every command runs with one plugin host, one error handler that escapes what
it prints, and one console setup, whether it is defined in cli.py or cli_rulesets.py."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import stridewise.cli as cli_module
import stridewise.cli_rulesets as rulesets_module
import stridewise.cli_shell as shell
from stridewise.cli import cli
from stridewise.cli_rulesets import explain as explain_cmd
from stridewise.cli_rulesets import rulesets
from stridewise.plugins import PluginHost


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> list[PluginHost]:
    made: list[PluginHost] = []

    def counting(**kwargs: Any) -> PluginHost:
        host = PluginHost(**kwargs)
        made.append(host)
        return host

    monkeypatch.setattr(shell, "PluginHost", counting)
    return made


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--json"],
        ["rulesets", "list", "--json"],
        ["rulesets", "lint", "--json"],
        ["plugins", "--json"],
    ],
)
def test_a_command_run_loads_the_plugins_once(args: list[str], hosts: list[PluginHost]) -> None:
    result = CliRunner().invoke(cli, args, env={"STRIDEWISE_DB": "off.sqlite"})
    assert result.exit_code in (0, 1), result.output
    assert len(hosts) == 1


def test_explain_reads_files_and_packs_with_one_plugin_host(hosts: list[PluginHost]) -> None:
    with as_file(files("stridewise").joinpath("data/demo_athlete.yaml")) as demo:
        result = CliRunner().invoke(explain_cmd, [str(demo), "--as-of", "2026-10-31", "--json"])
    assert result.exit_code == 0, result.output
    assert len(hosts) == 1


def test_the_commands_share_one_console_setup() -> None:
    assert cli_module.console is shell.console  # prose and cards, word-wrapped
    assert rulesets_module.console is shell.line_console  # one record a line, never cut
    assert cli_module.err_console is shell.err_console is rulesets_module.err_console
    assert cli_module.STYLE is rulesets_module.STYLE
    assert rulesets_module.escape is shell.escape  # the name plugins import keeps working


def test_an_error_from_a_rulesets_command_is_one_escaped_line(tmp_path: Path) -> None:
    profile = tmp_path / "[bold]clinic\x1b[2J.yaml"
    profile.write_text("clinic: {id: x}\n", "utf-8")
    result = CliRunner().invoke(rulesets, ["profile", str(profile)])
    assert result.exit_code == 2
    (line, *_) = result.stderr.splitlines()
    assert line.startswith("error: ") and "[bold]clinic" in line and "\x1b" not in line


def test_a_bug_inside_a_rulesets_command_is_a_short_note_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom [/] \x1b[31m")

    monkeypatch.setattr(rulesets_module, "lint_packs", broken)
    result = CliRunner().invoke(rulesets, ["lint"])
    assert result.exit_code == 3
    assert "internal error: RuntimeError: boom [/]" in result.stderr
    assert "Traceback" not in result.output and "\x1b" not in result.stderr
