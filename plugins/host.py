"""The plugin host: discovers plugins via entry points and calls them, one failure at a time.

A plugin that fails to import, or whose hook raises, is recorded in :attr:`PluginHost.errors`
by name with its error; the other plugins keep working. Every hook is called through pluggy
(``pm.subset_hook_caller``, one plugin at a time), so hook wrappers and call monitoring see
each call. ``STRIDEWISE_BLOCK_PLUGINS`` (comma separated names) blocks plugins with pluggy's
``set_blocked``: never imported, listed as blocked.

Adapters are asked about a file in a documented order (``docs/plugins.md``): the names in
``STRIDEWISE_ADAPTER_ORDER`` first, then the most specific (``specificity``), then built-in
before plugin, then registration order.

Importing a plugin and calling its hooks each run in a worker thread with a time budget
(``STRIDEWISE_PLUGIN_TIMEOUT`` seconds, default 5): a plugin that loops forever while it is
imported or while it registers is reported as failed ("did not finish within ...") and the
command goes on without it. The stuck thread is then interrupted (an exception raised in it,
which ends a loop in Python code; one stuck inside a C call keeps running as a daemon thread
until the process ends), and a plugin that timed out is not loaded again in the same process.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import importlib.metadata as md
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import pluggy

from .hookspecs import FORMAT, PROJECT, Adapter, HookSpecs, specificity_word

BLOCK_ENV = "STRIDEWISE_BLOCK_PLUGINS"
ORDER_ENV = "STRIDEWISE_ADAPTER_ORDER"
_BUILTIN_MODULES = ("stridewise.adapters", "stridewise.rulesets")
TIMEOUT_ENV = "STRIDEWISE_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT = 5.0

#: Entry points ("name=value") that did not finish importing or answering a hook in time, with
#: the error and stage reported: a second host in the same process does not wait for them again.
_STUCK: dict[str, tuple[str, str]] = {}


#: Plugins every host loading entry points also registers, in this context (tests: see
#: :func:`plugins_in_process`).
_IN_PROCESS: contextvars.ContextVar[tuple[tuple[str, object], ...]] = contextvars.ContextVar(
    "stridewise_plugins_in_process", default=()
)


@contextlib.contextmanager
def plugins_in_process(*plugins: tuple[str, object]) -> Iterator[None]:
    """Within the block, every host that loads the installed plugins also registers these
    ``(name, plugin)`` pairs, after them, as if they were installed.

    How a test runs ``stridewise`` commands (in this process) with a plugin that is not
    installed; ``stridewise.testing``'s ``stridewise_cli`` fixture uses it. Worker processes
    (``import --workers``) do not see them.
    """
    token = _IN_PROCESS.set(_IN_PROCESS.get() + tuple(plugins))
    try:
        yield
    finally:
        _IN_PROCESS.reset(token)


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
    """One plugin as ``stridewise plugins`` shows it.

    ``status`` is ``"loaded"`` or ``"blocked"`` (named in ``STRIDEWISE_BLOCK_PLUGINS`` or
    ``PluginHost(blocked=...)``: known, never imported, no hooks). ``builtin`` is True for the
    plugins that ship with stridewise.
    """

    name: str
    version: str | None
    distribution: str | None
    hooks: tuple[str, ...]
    status: str = "loaded"
    builtin: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class AdapterRank:
    """Where one adapter stands in the order adapters are asked about a file, and why."""

    position: int
    name: str
    plugin: str
    builtin: bool
    specificity: int
    overridden: bool
    description: str

    @property
    def reason(self) -> str:
        """The rule that placed it, in words (``stridewise plugins`` shows this)."""
        if self.overridden:
            return f"named in {ORDER_ENV}"
        origin = "built-in" if self.builtin else "plugin"
        return f"{specificity_word(self.specificity)}, {origin}"


def _interrupt(worker: threading.Thread) -> None:
    """Raise :class:`PluginTimeout` inside ``worker`` (CPython; best effort)."""
    import ctypes

    if worker.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(worker.ident), ctypes.py_object(PluginTimeout)
        )
    worker.join(0.05)


class PluginHost:
    """Owns a pluggy manager for one embedding app (no global state).

    Every hook is called through pluggy (``pm.hook`` and ``pm.subset_hook_caller``), one plugin
    at a time so that a failing plugin is reported by name while the others keep working;
    hook wrappers (``@hookimpl(wrapper=True)``) and ``pm.add_hookcall_monitoring`` see every
    call. Blocking uses pluggy's own ``pm.set_blocked``.
    """

    def __init__(
        self,
        *,
        entry_points: bool = True,
        blocked: Iterable[str] | None = None,
        adapter_order: Iterable[str] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(HookSpecs)
        self.errors: list[PluginError] = []
        #: Names in ``STRIDEWISE_BLOCK_PLUGINS`` that are not a plugin's (reported in
        #: :attr:`errors` once the installed plugins are known; never listed as blocked).
        self._env_blocked: tuple[str, ...] = tuple(_names(os.environ.get(BLOCK_ENV, "")))
        self._unknown_blocked: set[str] = set()
        for name in list(self._env_blocked) + list(blocked or ()):
            self.pm.set_blocked(name)
        #: Adapter names the user put first, in this order (``STRIDEWISE_ADAPTER_ORDER``).
        self.adapter_order: tuple[str, ...] = tuple(
            adapter_order if adapter_order is not None else _names(os.environ.get(ORDER_ENV, ""))
        )
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self._ranks: list[AdapterRank] | None = None
        self._adapters: list[Adapter] | None = None
        self.timeout = plugin_timeout()
        self._entry_points: dict[str, str] = {}  # plugin name -> "name=value" of its entry point
        if entry_points:
            self.load_entry_points()

    @property
    def blocked(self) -> set[str]:
        """Names of the blocked plugins (pluggy's ``pm.is_blocked``), less the names in
        ``STRIDEWISE_BLOCK_PLUGINS`` that match no plugin (those are errors)."""
        return {
            name
            for name, _ in self.pm.list_name_plugin()
            if self.pm.is_blocked(name) and name not in self._unknown_blocked
        }

    def block(self, name: str) -> None:
        """Block a plugin by name: unregister it if loaded, and never load it in this host."""
        self.pm.set_blocked(name)
        self._forget_adapters()

    # -- loading -------------------------------------------------------------------------------

    def load_entry_points(self, *, third_party_only: bool = False) -> None:
        """Import and register every plugin advertised in the ``stridewise`` entry-point group.

        Each import has :attr:`timeout` seconds. ``third_party_only`` skips the plugins that
        ship with stridewise itself (they add no commands; ``--help`` uses this). A blocked
        plugin is not imported; its distribution is noted so ``plugins()`` can list it.
        """
        entry_points = md.entry_points(group=PROJECT)
        for ep in entry_points:
            dist = ep.dist
            if self.pm.is_blocked(ep.name):
                self._dists.setdefault(
                    ep.name, (dist.name if dist else None, dist.version if dist else None)
                )
                continue
            if self.pm.has_plugin(ep.name):
                continue
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
            if self.pm.is_registered(plugin):  # registered in-process already (tests)
                continue
            if self.register(
                plugin,
                name=ep.name,
                distribution=dist.name if dist else None,
                version=dist.version if dist else None,
            ):
                self._entry_points[ep.name] = key
        for name, plugin in _IN_PROCESS.get():
            if not self.pm.has_plugin(name) and not self.pm.is_registered(plugin):
                self.register(plugin, name=name)
        if not third_party_only:
            known = {ep.name for ep in entry_points} | {name for name, _ in _IN_PROCESS.get()}
            self._check_blocked_names(known)

    def _check_blocked_names(self, known: set[str]) -> None:
        """Report each name in ``STRIDEWISE_BLOCK_PLUGINS`` that is no plugin's (a typo would
        otherwise block nothing and leave the plugin meant loaded, silently)."""
        known |= set(self._dists) | {n for n, p in self.pm.list_name_plugin() if p is not None}
        unknown = [
            n
            for n in dict.fromkeys(self._env_blocked)
            if n not in known and n not in self._unknown_blocked
        ]
        if not unknown:
            return
        self._unknown_blocked.update(unknown)
        names = ", ".join(map(repr, unknown))
        self.errors.append(
            PluginError(
                BLOCK_ENV,
                "blocked plugins",
                f"no plugin named {names}; nothing was blocked for it "
                f"(known: {', '.join(sorted(known))})",
            )
        )

    def register(
        self,
        plugin: object,
        *,
        name: str,
        distribution: str | None = None,
        version: str | None = None,
    ) -> bool:
        """Register an in-process plugin (tests and embedding apps use this directly).

        Returns False when the plugin is blocked or pluggy refuses it (recorded in
        :attr:`errors`).
        """
        if self.pm.is_blocked(name):
            self._dists.setdefault(name, (distribution, version))
            return False
        try:
            hash(plugin)
        except TypeError:  # pluggy keeps plugins in sets when it calls one plugin's hook
            self.errors.append(
                PluginError(
                    name,
                    "register",
                    f"a {type(plugin).__name__} cannot be a plugin (it is not hashable); "
                    "register a module, a class or an instance of a hashable class",
                )
            )
            return False
        try:
            registered = self.pm.register(plugin, name=name)
        except Exception as exc:
            self.errors.append(PluginError(name, "register", _describe(exc)))
            return False
        if registered is None:
            return False
        self._dists[name] = (distribution, version)
        self._forget_adapters()
        return True

    def _forget_adapters(self) -> None:
        self._adapters = None
        self._ranks = None

    # -- calling hooks ---------------------------------------------------------------------------

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call one hook on every plugin separately, through pluggy; a raising plugin is
        recorded in :attr:`errors` and skipped. Returns (plugin name, its result) pairs in
        registration order."""
        results: list[tuple[str, Any]] = []
        for plugin_name in self._implementers(hook_name):
            try:
                value = self.call_one(plugin_name, hook_name, **kwargs)
            except Exception as exc:
                self.errors.append(PluginError(plugin_name, hook_name, _describe(exc)))
                continue
            results.append((plugin_name, value))
        return results

    def _implementers(self, hook_name: str) -> list[str]:
        """Plugins with a (non-wrapper) implementation of ``hook_name``, in registration order."""
        caller = getattr(self.pm.hook, hook_name)
        return [
            impl.plugin_name
            for impl in caller.get_hookimpls()  # pluggy keeps them in registration order
            if not (impl.hookwrapper or impl.wrapper)
        ]

    def call_one(self, plugin_name: str, hook_name: str, **kwargs: Any) -> Any:
        """Call ``hook_name`` on one plugin only, through pluggy, within the time budget.

        The call goes through ``pm.subset_hook_caller`` with every other implementation left
        out (hook wrappers stay in). Returns that plugin's result (None if it returned none).
        A plugin past the time budget is unregistered and :class:`PluginTimeout` raised.
        """
        others = [
            self.pm.get_plugin(name)
            for name in self._implementers(hook_name)
            if name != plugin_name
        ]
        caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
        try:
            results = call_with_deadline(lambda: caller(**kwargs), self.timeout)
        except PluginTimeout as exc:
            if self.pm.has_plugin(plugin_name):  # do not wait for it again
                self.pm.unregister(name=plugin_name)
                self._forget_adapters()
            if plugin_name in self._entry_points:
                _STUCK[self._entry_points[plugin_name]] = (hook_name, _describe(exc))
            raise
        return results[0] if results else None

    def adapters(self) -> list[Adapter]:
        """All registered adapters, unique by name, in the order they are asked about a file.

        The order (see :meth:`adapter_ranks`): adapters the user named in
        ``STRIDEWISE_ADAPTER_ORDER`` first, in that order; then the most specific first
        (``specificity``, default :data:`FORMAT`); at equal specificity the built-in adapters
        before the plugins' ones; then registration order.
        """
        if self._adapters is None:
            self._rank()
        assert self._adapters is not None
        return self._adapters

    def adapter_ranks(self) -> list[AdapterRank]:
        """Every adapter with its position in the order and the rule that put it there."""
        if self._ranks is None:
            self._rank()
        assert self._ranks is not None
        return self._ranks

    def _rank(self) -> None:
        found: list[tuple[Adapter, str, bool, int]] = []
        names: set[str] = set()
        for plugin_name, registered in self._registrars():
            builtin = self.is_builtin(plugin_name)
            for adapter in registered:
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
                    found.append((adapter, plugin_name, builtin, self._specificity(adapter)))
        wanted = {name: i for i, name in enumerate(dict.fromkeys(self.adapter_order))}
        unknown = [n for n in wanted if n not in names]
        if unknown:
            self.errors.append(
                PluginError(
                    ORDER_ENV,
                    "adapter order",
                    f"no adapter named {', '.join(map(repr, unknown))} "
                    f"(known: {', '.join(sorted(names))})",
                )
            )
        order = sorted(
            range(len(found)),
            key=lambda i: (
                wanted.get(found[i][0].name, len(wanted)),
                -found[i][3],
                not found[i][2],
                i,
            ),
        )
        ranks = []
        for position, i in enumerate(order, start=1):
            adapter, plugin_name, builtin, spec = found[i]
            ranks.append(
                AdapterRank(
                    position,
                    adapter.name,
                    plugin_name,
                    builtin,
                    spec,
                    adapter.name in wanted,
                    str(getattr(adapter, "description", "")),
                )
            )
        self._adapters = [found[i][0] for i in order]
        self._ranks = ranks

    def _specificity(self, adapter: Adapter) -> int:
        value = getattr(adapter, "specificity", FORMAT)
        if isinstance(value, bool) or not isinstance(value, int):
            self.errors.append(
                PluginError(
                    adapter.name,
                    "adapter",
                    f"specificity must be a whole number (CATCH_ALL, FORMAT or VARIANT), "
                    f"got {value!r}; using FORMAT",
                )
            )
            return FORMAT
        return value

    def is_builtin(self, plugin_name: str) -> bool:
        """True for a plugin that ships with stridewise (by distribution, else by module)."""
        dist, _ = self._dists.get(plugin_name, (None, None))
        if dist is not None:
            return dist == PROJECT
        plugin = self.pm.get_plugin(plugin_name)
        module = getattr(plugin, "__name__", None) or type(plugin).__module__
        return isinstance(module, str) and module.startswith(_BUILTIN_MODULES)

    def _registrars(self) -> list[tuple[str, list[Any]]]:
        out: list[tuple[str, list[Any]]] = []
        for plugin_name in self._implementers("stridewise_register_adapters"):
            bucket: list[Any] = []
            try:
                self.call_one(plugin_name, "stridewise_register_adapters", register=bucket.append)
            except Exception as exc:
                self.errors.append(
                    PluginError(plugin_name, "stridewise_register_adapters", _describe(exc))
                )
                continue
            out.append((plugin_name, bucket))
        return out

    def ruleset_sources(self) -> list[tuple[str, Path | Traversable]]:
        """(plugin name, file or folder) for every rule pack source the plugins provide."""
        out: list[tuple[str, Path | Traversable]] = []
        for plugin_name, sources in self.call_each("stridewise_ruleset_sources"):
            try:
                for src in sources or ():
                    out.append((plugin_name, src))
            except Exception as exc:  # a generator that raises while it is read
                self.errors.append(
                    PluginError(plugin_name, "stridewise_ruleset_sources", _describe(exc))
                )
        return out

    def register_commands(self, cli: Any) -> None:
        self.call_each("stridewise_register_commands", cli=cli)

    def plugins(self) -> list[PluginInfo]:
        """Name, version, hooks and status of every registered or blocked plugin, by name."""
        infos = []
        for name, plugin in sorted(self.pm.list_name_plugin()):
            dist, version = self._dists.get(name, (None, None))
            if plugin is None:
                if self.pm.is_blocked(name) and name not in self._unknown_blocked:
                    infos.append(PluginInfo(name, version, dist, (), "blocked", dist == PROJECT))
                continue
            hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or ()))
            infos.append(PluginInfo(name, version, dist, hooks, "loaded", self.is_builtin(name)))
        return infos


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def default_host() -> PluginHost:
    """A host with every installed plugin loaded (what the CLI uses)."""
    return PluginHost(entry_points=True)
