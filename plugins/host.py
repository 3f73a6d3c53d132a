"""The plugin host: discovers plugins via entry points and calls them, one failure at a time.

A plugin that fails to import, or whose hook raises, is recorded in :attr:`PluginHost.errors`
by name with its error; the other plugins keep working. ``STRIDEWISE_BLOCK_PLUGINS`` (comma
separated names) keeps named plugins from loading at all.

Importing a plugin and calling its hooks each run in a worker thread with a time budget
(``STRIDEWISE_PLUGIN_TIMEOUT`` seconds, default 5): a plugin that loops forever while it is
imported or while it registers is reported as failed ("did not finish within ...") and the
command goes on without it. The stuck thread is then interrupted (an exception raised in it,
which ends a loop in Python code; one stuck inside a C call keeps running as a daemon thread
until the process ends), and a plugin that timed out is not loaded again in the same process.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata as md
import os
import threading
from collections.abc import Callable, Iterable
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import pluggy

from .hookspecs import PROJECT, Adapter, HookSpecs

BLOCK_ENV = "STRIDEWISE_BLOCK_PLUGINS"
TIMEOUT_ENV = "STRIDEWISE_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT = 5.0

#: Entry points ("name=value") that did not finish importing or answering a hook in time, with
#: the error and stage reported: a second host in the same process does not wait for them again.
_STUCK: dict[str, tuple[str, str]] = {}


class PluginTimeout(Exception):
    """A plugin's import or hook did not return within the time budget."""


def plugin_timeout() -> float:
    """Seconds a plugin may take to import or to answer one hook (``STRIDEWISE_PLUGIN_TIMEOUT``)."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if 0 < value < float("inf") else DEFAULT_TIMEOUT


def call_with_deadline(fn: Callable[[], Any], timeout: float) -> Any:
    """Return ``fn()`` run in a daemon thread; raise :class:`PluginTimeout` past ``timeout``.

    What ``fn`` raises is raised here, in the caller's thread.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=run, name="stridewise-plugin", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        _interrupt(worker)
        raise PluginTimeout(f"did not finish within {timeout:g} s ({TIMEOUT_ENV})")
    if "error" in box:
        raise box["error"]
    return box.get("value")


@dataclasses.dataclass(frozen=True, slots=True)
class PluginError:
    """A plugin that could not be loaded or whose hook raised."""

    plugin: str
    stage: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} failed ({self.stage}): {self.error}"


@dataclasses.dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    version: str | None
    distribution: str | None
    hooks: tuple[str, ...]


def _interrupt(worker: threading.Thread) -> None:
    """Raise :class:`PluginTimeout` inside ``worker`` (CPython; best effort)."""
    import ctypes

    if worker.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(worker.ident), ctypes.py_object(PluginTimeout)
        )
    worker.join(0.05)


class PluginHost:
    """Owns a pluggy manager for one embedding app (no global state)."""

    def __init__(self, *, entry_points: bool = True, blocked: Iterable[str] | None = None) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(HookSpecs)
        self.errors: list[PluginError] = []
        env_block = os.environ.get(BLOCK_ENV, "")
        self.blocked = {b.strip() for b in env_block.split(",") if b.strip()} | set(blocked or ())
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self._adapters: list[Adapter] | None = None
        self.timeout = plugin_timeout()
        self._entry_points: dict[str, str] = {}  # plugin name -> "name=value" of its entry point
        if entry_points:
            self.load_entry_points()

    # -- loading -------------------------------------------------------------------------------

    def load_entry_points(self, *, third_party_only: bool = False) -> None:
        """Import and register every plugin advertised in the ``stridewise`` entry-point group.

        Each import has :attr:`timeout` seconds. ``third_party_only`` skips the plugins that
        ship with stridewise itself (they add no commands; ``--help`` uses this).
        """
        for ep in md.entry_points(group=PROJECT):
            if ep.name in self.blocked or self.pm.has_plugin(ep.name):
                continue
            dist = ep.dist
            if third_party_only and dist is not None and dist.name == PROJECT:
                continue
            key = f"{ep.name}={ep.value}"
            if key in _STUCK:
                stage, error = _STUCK[key]
                self.errors.append(PluginError(ep.name, stage, error))
                continue
            try:
                plugin = call_with_deadline(ep.load, self.timeout)
            except PluginTimeout as exc:
                _STUCK[key] = ("import", _describe(exc))
                self.errors.append(PluginError(ep.name, "import", _describe(exc)))
                continue
            except Exception as exc:  # a broken plugin must not take the others down
                self.errors.append(PluginError(ep.name, "import", _describe(exc)))
                continue
            if self.register(
                plugin,
                name=ep.name,
                distribution=dist.name if dist else None,
                version=dist.version if dist else None,
            ):
                self._entry_points[ep.name] = key

    def register(
        self,
        plugin: object,
        *,
        name: str,
        distribution: str | None = None,
        version: str | None = None,
    ) -> bool:
        """Register an in-process plugin (tests and embedding apps use this directly)."""
        if name in self.blocked:
            return False
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self.errors.append(PluginError(name, "register", _describe(exc)))
            return False
        self._dists[name] = (distribution, version)
        self._adapters = None
        return True

    # -- calling hooks ---------------------------------------------------------------------------

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call one hook on every plugin separately; a raising plugin is recorded and skipped."""
        caller = getattr(self.pm.hook, hook_name)
        results: list[tuple[str, Any]] = []
        for impl in reversed(caller.get_hookimpls()):  # registration order
            args = {k: kwargs[k] for k in impl.argnames}
            try:
                value = self._call(impl.plugin_name, hook_name, impl.function, args)
            except Exception as exc:
                self.errors.append(PluginError(impl.plugin_name, hook_name, _describe(exc)))
                continue
            results.append((impl.plugin_name, value))
        return results

    def _call(
        self, plugin_name: str, hook_name: str, function: Callable[..., Any], args: dict[str, Any]
    ) -> Any:
        """One hook of one plugin, within the time budget; a plugin past it is unregistered."""
        try:
            return call_with_deadline(lambda: function(**args), self.timeout)
        except PluginTimeout as exc:
            if self.pm.has_plugin(plugin_name):  # do not wait for it again
                self.pm.unregister(name=plugin_name)
                self._adapters = None
            if plugin_name in self._entry_points:
                _STUCK[self._entry_points[plugin_name]] = (hook_name, _describe(exc))
            raise

    def adapters(self) -> list[Adapter]:
        """All registered adapters, in plugin registration order, unique by name."""
        if self._adapters is None:
            found: list[Adapter] = []
            names: set[str] = set()
            for plugin_name, register in self._registrars():
                for adapter in register:
                    if not isinstance(adapter, Adapter):
                        self.errors.append(
                            PluginError(plugin_name, "adapter", f"{adapter!r} is not an Adapter")
                        )
                    elif adapter.name in names:
                        self.errors.append(
                            PluginError(
                                plugin_name, "adapter", f"adapter name {adapter.name!r} is taken"
                            )
                        )
                    else:
                        names.add(adapter.name)
                        found.append(adapter)
            self._adapters = found
        return self._adapters

    def _registrars(self) -> list[tuple[str, list[Any]]]:
        caller = self.pm.hook.stridewise_register_adapters
        out: list[tuple[str, list[Any]]] = []
        for impl in reversed(caller.get_hookimpls()):
            bucket: list[Any] = []
            try:
                self._call(
                    impl.plugin_name,
                    "stridewise_register_adapters",
                    impl.function,
                    {"register": bucket.append},
                )
            except Exception as exc:
                self.errors.append(
                    PluginError(impl.plugin_name, "stridewise_register_adapters", _describe(exc))
                )
                continue
            out.append((impl.plugin_name, bucket))
        return out

    def ruleset_sources(self) -> list[tuple[str, Path | Traversable]]:
        """(plugin name, file or folder) for every rule pack source the plugins provide."""
        out: list[tuple[str, Path | Traversable]] = []
        for plugin_name, sources in self.call_each("stridewise_ruleset_sources"):
            for src in sources or ():
                out.append((plugin_name, src))
        return out

    def register_commands(self, cli: Any) -> None:
        self.call_each("stridewise_register_commands", cli=cli)

    def plugins(self) -> list[PluginInfo]:
        """Name, version and implemented hooks of every registered plugin."""
        infos = []
        for name, plugin in sorted(self.pm.list_name_plugin()):
            if plugin is None:
                continue
            hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or ()))
            dist, version = self._dists.get(name, (None, None))
            infos.append(PluginInfo(name, version, dist, hooks))
        return infos


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def default_host() -> PluginHost:
    """A host with every installed plugin loaded (what the CLI uses)."""
    return PluginHost(entry_points=True)
