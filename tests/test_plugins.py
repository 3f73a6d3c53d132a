"""The plugin host: in-process plugins, failures isolated, blocking, real entry-point discovery."""

from __future__ import annotations

import os
import subprocess
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
    listed = {p.name: p for p in host.plugins()}
    assert listed["tinyfmt"].status == "blocked" and listed["tinyfmt"].hooks == ()
    assert listed["tinyfmt"].distribution == "sw-tiny-plugin"  # known, never imported
    assert "sw_tiny_plugin" not in sys.modules
    assert "tinyfmt" not in {a.name for a in host.adapters()}
    assert not [e for e in host.errors if e.plugin in ("tinyfmt", "broken")]
    assert host.pm.is_blocked("tinyfmt")  # pluggy's own blocking


# ---------------------------------------------------------------------------------------------
# One import for authors; hooks only through pluggy; pluggy's own blocking
# ---------------------------------------------------------------------------------------------


def test_an_author_imports_everything_from_stridewise_plugins() -> None:
    import stridewise.plugins as api
    from stridewise.engine import errors, events
    from stridewise.importer import Note, read_hints

    assert api.Run is events.Run and api.load_event is events.load_event
    assert api.InputError is errors.InputError and api.Note is Note
    assert api.read_hints is read_hints
    for name in api.__all__:
        assert getattr(api, name) is not None, name


def test_importing_stridewise_plugins_loads_no_event_schemas() -> None:
    code = "import sys, stridewise.plugins; print('marshmallow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class _Wrapper:
    """A plugin that wraps every adapter registration (what call tracing tools do)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl(wrapper=True)
    def stridewise_register_adapters(self, register: Any) -> Iterator[None]:
        self.seen.append("before")
        try:
            result = yield
        except Exception as exc:
            self.seen.append(f"raised {exc}")
            raise
        self.seen.append("after")
        return result


def test_hook_wrappers_and_call_monitoring_see_every_hook_call() -> None:
    host = PluginHost(entry_points=False)
    wrapper = _Wrapper()
    host.register(wrapper, name="tracer")
    host.register(GoodPlugin(), name="good")
    host.register(RaisingPlugin(), name="raising")
    calls: list[tuple[str, set[str]]] = []
    host.pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: calls.append((name, {i.plugin_name for i in impls})),
        lambda outcome, name, impls, kwargs: None,
    )
    assert [a.name for a in host.adapters()] == ["tiny"]
    # one call per implementing plugin, each through pluggy, with the wrapper in it
    assert calls == [
        ("stridewise_register_adapters", {"tracer", "good"}),
        ("stridewise_register_adapters", {"tracer", "raising"}),
    ]
    assert wrapper.seen == ["before", "after", "before", "raised boom"]
    assert any(e.plugin == "raising" for e in host.errors)  # still isolated by name


def test_blocking_a_loaded_plugin_unregisters_it_and_lists_it_as_blocked() -> None:
    host = PluginHost(entry_points=False)
    host.register(GoodPlugin(), name="good")
    assert [a.name for a in host.adapters()] == ["tiny"]
    host.block("good")
    assert host.adapters() == []
    assert not host.register(GoodPlugin(), name="good")
    assert [(p.name, p.status) for p in host.plugins()] == [("good", "blocked")]


def test_stridewise_plugins_shows_whole_hook_names_and_blocked_plugins_on_a_narrow_terminal(
    test_distribution: Path,
) -> None:
    env = {
        **os.environ,
        "COLUMNS": "60",
        BLOCK_ENV: "tinyfmt",
        "PYTHONPATH": os.pathsep.join([str(test_distribution), *sys.path]),
    }
    out = subprocess.run(
        [sys.executable, "-m", "stridewise", "plugins"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "stridewise_register_adapters" in out.stdout
    assert "stridewise_ruleset_sources" in out.stdout
    row = next(line for line in out.stdout.splitlines() if "tinyfmt" in line)
    assert "blocked" in row
    assert "missing dependency xyz" in " ".join(out.stderr.split())


def test_an_unhashable_plugin_object_is_refused_and_the_others_keep_working() -> None:
    import types

    host = PluginHost(entry_points=False)
    host.register(GoodPlugin(), name="good")
    bad = types.SimpleNamespace(
        stridewise_register_adapters=GoodPlugin.stridewise_register_adapters
    )
    assert not host.register(bad, name="namespace")
    assert [a.name for a in host.adapters()] == ["tiny"]
    assert any(e.plugin == "namespace" and "not hashable" in e.error for e in host.errors)
