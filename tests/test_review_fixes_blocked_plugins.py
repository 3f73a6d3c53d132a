"""Review item 3: a name in STRIDEWISE_BLOCK_PLUGINS that matches no plugin is an error, not a
plugin listed as blocked (as STRIDEWISE_ADAPTER_ORDER reports an adapter name it does not know)."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from stridewise.cli import cli
from stridewise.plugins import BLOCK_ENV, PluginHost, hookimpl
from stridewise.plugins.host import plugins_in_process


def run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_a_misspelled_plugin_name_to_block_is_reported_and_not_listed_as_blocked() -> None:
    code, out, err = run("plugins", env={BLOCK_ENV: "myclinc,fit"})
    assert code == 0
    said = " ".join(err.split())
    assert "no plugin named 'myclinc'" in said and BLOCK_ENV in said
    assert "fit" in said  # the known names are listed, to spot the typo
    assert "myclinc" not in out  # not shown as a blocked plugin
    fit = next(line for line in out.splitlines() if line.strip().startswith("fit "))
    assert "blocked" in fit  # the real name in the same list is still blocked


def test_plugins_json_names_the_unknown_blocked_plugin_as_an_error() -> None:
    code, out, _ = run("plugins", "--json", env={BLOCK_ENV: "myclinc"})
    assert code == 0
    doc = json.loads(out)
    assert doc["blocked"] == []
    assert "myclinc" not in {p["name"] for p in doc["plugins"]}
    (error,) = [e for e in doc["errors"] if e["name"] == BLOCK_ENV]
    assert "no plugin named 'myclinc'" in error["error"]


def test_a_report_warns_about_a_blocked_name_that_is_no_plugin(monkeypatch: Any) -> None:
    monkeypatch.setenv(BLOCK_ENV, "builtin_ruleset")  # one letter short of the real name
    host = PluginHost()
    assert [e.plugin for e in host.errors] == [BLOCK_ENV]
    assert "no plugin named 'builtin_ruleset'" in host.errors[0].error
    assert host.ruleset_sources()  # the packs the user meant to block still load: say so


class _Clinic:
    @hookimpl
    def stridewise_ruleset_sources(self) -> list[Any]:
        return []


def test_blocking_a_plugin_that_is_there_is_no_error(monkeypatch: Any) -> None:
    monkeypatch.setenv(BLOCK_ENV, "myclinic, journal")
    with plugins_in_process(("myclinic", _Clinic())):
        host = PluginHost()
    assert host.errors == []
    assert host.blocked == {"myclinic", "journal"}
    assert {p.name: p.status for p in host.plugins()}["myclinic"] == "blocked"
