"""Adapter precedence: user order > most specific > built-in before plugin > registration.

A third-party adapter that claims every file used to win over the built-in FIT and GPX
adapters when its distribution was found first on the path; now it is asked after them.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stridewise.cli import cli
from stridewise.importer import import_paths
from stridewise.plugins import (
    CATCH_ALL,
    ORDER_ENV,
    VARIANT,
    PluginHost,
    Skipped,
    hookimpl,
)

DATA = Path(__file__).parent / "data"
FIT = DATA / "fit" / "fitparse__garmin-fenix-5-run.fit"
GPX = DATA / "gpx" / "gap__Berlin_0.9km.gpx"

GREEDY = """
from stridewise.plugins import Skipped, hookimpl


class Greedy:
    name = "greedy"
    description = "claims every file (a careless third-party adapter)"

    def recognise(self, path):
        return path.is_file()

    def read(self, path):
        yield Skipped(str(path), "greedy read it")


@hookimpl
def stridewise_register_adapters(register):
    register(Greedy())
"""


@pytest.fixture(params=["before", "after"])
def greedy_first_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """An installed distribution, found before (or after) stridewise's own entry points."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sw_greedy.py").write_text(textwrap.dedent(GREEDY))
    info = site / "sw_greedy-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sw-greedy\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[stridewise]\ngreedy = sw_greedy\n")
    if request.param == "before":
        monkeypatch.syspath_prepend(str(site))
    else:
        monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    yield site
    sys.modules.pop("sw_greedy", None)


def _read_by(host: PluginHost, path: Path) -> str:
    result = import_paths([path], host)
    if any("greedy read it" in s.reason for s in result.skipped):
        return "greedy"
    return ",".join(sorted(result.activities_by_source)) or "nothing"


def test_a_plugin_that_claims_every_file_does_not_take_fit_and_gpx_files_from_the_builtins(
    greedy_first_on_path: Path,
) -> None:
    host = PluginHost()
    names = [a.name for a in host.adapters()]
    assert names.index("greedy") > names.index("fit")
    assert names.index("greedy") > names.index("gpx")
    assert _read_by(host, FIT) != "greedy"
    assert _read_by(host, GPX) != "greedy"
    other = greedy_first_on_path / "notes.txt"
    other.write_text("a file no built-in adapter reads\n")
    assert _read_by(host, other) == "greedy"  # what the built-ins leave, it still gets


def test_the_user_can_put_an_adapter_first(
    greedy_first_on_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ORDER_ENV, "greedy")
    host = PluginHost()
    assert host.adapters()[0].name == "greedy"
    assert host.adapter_ranks()[0].reason == f"named in {ORDER_ENV}"
    assert _read_by(host, FIT) == "greedy"


def test_an_unknown_name_in_the_user_order_is_reported() -> None:
    host = PluginHost(adapter_order=["polar_flow", "fit"])
    assert host.adapters()[0].name == "fit"
    problem = next(e for e in host.errors if e.plugin == ORDER_ENV)
    assert "'polar_flow'" in problem.error and "fit" in problem.error


class _Named:
    def __init__(self, name: str, specificity: Any = None) -> None:
        self.name = name
        self.description = f"{name} files"
        if specificity is not None:
            self.specificity = specificity

    def recognise(self, path: Path) -> bool:
        return True

    def read(self, path: Path) -> Iterator[Any]:
        yield Skipped(str(path), self.name)


class _Registers:
    def __init__(self, *adapters: _Named) -> None:
        self.adapters = adapters

    @hookimpl
    def stridewise_register_adapters(self, register: Any) -> None:
        for adapter in self.adapters:
            register(adapter)


def test_a_variant_goes_before_the_builtin_format_and_a_catch_all_after_every_plugin() -> None:
    host = PluginHost()
    host.register(
        _Registers(
            _Named("anything", CATCH_ALL), _Named("coros_fit", VARIANT), _Named("polar_hrm")
        ),
        name="third",
    )
    names = [a.name for a in host.adapters()]
    assert names[0] == "coros_fit"
    assert names[-1] == "anything"
    assert names.index("polar_hrm") > names.index("fit")  # equal specificity: built-ins first
    reasons = {r.name: r.reason for r in host.adapter_ranks()}
    assert reasons == {**reasons, "coros_fit": "variant, plugin", "fit": "format, built-in"}
    assert reasons["anything"] == "catch-all, plugin"


def test_a_specificity_that_is_not_a_whole_number_is_reported_and_treated_as_format() -> None:
    host = PluginHost(entry_points=False)
    host.register(_Registers(_Named("odd", "very")), name="odd-plugin")
    assert [r.specificity for r in host.adapter_ranks()] == [0]
    assert any("specificity must be a whole number" in e.error for e in host.errors)


def test_stridewise_plugins_shows_the_order_and_why(greedy_first_on_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    order = {row["name"]: row for row in doc["adapter_order"]}
    assert order["greedy"]["position"] > order["fit"]["position"]
    assert order["greedy"]["reason"] == "format, plugin"
    assert doc["adapters"] == [row["name"] for row in doc["adapter_order"]]
    text = CliRunner().invoke(cli, ["plugins"]).stdout
    assert "greedy (format, plugin; plugin greedy)" in " ".join(text.split())
