"""The plugin host: in-process plugins, failures isolated, blocking, real entry-point discovery."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stridewise.plugins import BLOCK_ENV, PluginHost, Skipped, hookimpl


class TinyAdapter:
    name = "tiny"
    description = "test adapter"

    def recognise(self, path: Path) -> bool:
        return path.suffix == ".tiny"

    def read(self, path: Path) -> Iterator[Any]:
        yield Skipped(str(path), "nothing in it")


class GoodPlugin:
    @hookimpl
    def stridewise_register_adapters(self, register: Any) -> None:
        register(TinyAdapter())


class RaisingPlugin:
    @hookimpl
    def stridewise_register_adapters(self, register: Any) -> None:
        raise RuntimeError("boom")

    @hookimpl
    def stridewise_ruleset_sources(self) -> list[Path]:
        raise ValueError("no packs today")


def test_in_process_registration_without_entry_points() -> None:
    host = PluginHost(entry_points=False)
    host.register(GoodPlugin(), name="good")
    assert [a.name for a in host.adapters()] == ["tiny"]
    info = {p.name: p for p in host.plugins()}
    assert info["good"].hooks == ("stridewise_register_adapters",)


def test_a_raising_plugin_is_reported_and_the_rest_keep_working() -> None:
    host = PluginHost(entry_points=False)
    host.register(RaisingPlugin(), name="raising")
    host.register(GoodPlugin(), name="good")
    assert [a.name for a in host.adapters()] == ["tiny"]
    assert host.ruleset_sources() == []
    stages = {(e.plugin, e.stage) for e in host.errors}
    assert ("raising", "stridewise_register_adapters") in stages
    assert ("raising", "stridewise_ruleset_sources") in stages
    assert any("boom" in str(e) for e in host.errors)


def test_duplicate_adapter_names_keep_the_first() -> None:
    host = PluginHost(entry_points=False)
    host.register(GoodPlugin(), name="a")
    host.register(GoodPlugin(), name="b")
    assert len(host.adapters()) == 1
    assert any("taken" in e.error for e in host.errors)


def test_builtin_plugins_come_through_entry_points() -> None:
    host = PluginHost()
    names = {p.name for p in host.plugins()}
    assert {"journal", "builtin_rulesets"} <= names
    assert "journal" in {a.name for a in host.adapters()}
    assert any(plugin == "builtin_rulesets" for plugin, _ in host.ruleset_sources())
    journal = next(p for p in host.plugins() if p.name == "journal")
    assert journal.distribution == "stridewise" and journal.version


@pytest.fixture
def test_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real installed distribution (dist-info with entry_points.txt) on sys.path."""
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "sw_tiny_plugin.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path
            from stridewise.plugins import hookimpl, Skipped

            class Adapter:
                name = "tinyfmt"
                description = "tiny format from a third-party distribution"
                def recognise(self, path):
                    return path.suffix == ".tinyfmt"
                def read(self, path):
                    yield Skipped(str(path), "empty")

            @hookimpl
            def stridewise_register_adapters(register):
                register(Adapter())
            """
        )
    )
    (pkg / "sw_broken_plugin.py").write_text("raise ImportError('missing dependency xyz')\n")
    dist = pkg / "sw_tiny_plugin-1.4.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sw-tiny-plugin\nVersion: 1.4.2\n")
    (dist / "entry_points.txt").write_text(
        "[stridewise]\ntinyfmt = sw_tiny_plugin\nbroken = sw_broken_plugin\n"
    )
    monkeypatch.syspath_prepend(str(pkg))
    yield pkg
    for mod in ("sw_tiny_plugin", "sw_broken_plugin"):
        sys.modules.pop(mod, None)


def test_discovery_of_a_third_party_distribution(test_distribution: Path) -> None:
    host = PluginHost()
    plugins = {p.name: p for p in host.plugins()}
    assert plugins["tinyfmt"].distribution == "sw-tiny-plugin"
    assert plugins["tinyfmt"].version == "1.4.2"
    assert "tinyfmt" in {a.name for a in host.adapters()}
    broken = [e for e in host.errors if e.plugin == "broken"]
    assert broken and broken[0].stage == "import" and "missing dependency xyz" in broken[0].error
    assert "journal" in {a.name for a in host.adapters()}  # the others still load


def test_blocking_by_environment_variable(
    test_distribution: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BLOCK_ENV, "tinyfmt, broken")
    host = PluginHost()
    assert "tinyfmt" not in {p.name for p in host.plugins()}
    assert not [e for e in host.errors if e.plugin in ("tinyfmt", "broken")]
