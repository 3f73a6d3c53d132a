"""stridewise: sourced recommendations that keep runners clear of bone stress injuries.

The API for apps that embed stridewise::

    import datetime as dt
    import stridewise

    engine = stridewise.build_engine(overrides={"footwear": {"replace_km": 600}})
    history = stridewise.History(stridewise.load_events([...event dicts...]))
    for card in engine.evaluate(history, dt.date(2026, 10, 31)):
        print(card.indicator, card.summary, card.source["label"])

Events come from dicts in the published schema (:func:`load_events`), or from files through
the adapters (:func:`import_paths`). Every card names its source and the facts behind it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stridewise.engine.errors import (
    EngineError,
    EventValidationError,
    IncompleteEvaluation,
    InputError,
    RulesetError,
    StridewiseError,
)

if TYPE_CHECKING:
    from stridewise.engine.cards import Card
    from stridewise.engine.events import Event, dump_event, json_schema, load_event
    from stridewise.engine.facts import History
    from stridewise.engine.isolation import IsolatedEngine, WorkerCrashed
    from stridewise.engine.rules import RulePack, load_pack, load_packs
    from stridewise.engine.runtime import Engine, Evaluation, Wording
    from stridewise.importer import ImportResult, import_paths
    from stridewise.plugins import PluginHost

#: Public names and the module each comes from. They are imported on first use, so that
#: ``import stridewise`` (and ``stridewise --help``) does not pay for numpy, marshmallow, the
#: rules core and the adapters before they are needed.
_LAZY = {
    "Card": "stridewise.engine.cards",
    "Event": "stridewise.engine.events",
    "dump_event": "stridewise.engine.events",
    "json_schema": "stridewise.engine.events",
    "load_event": "stridewise.engine.events",
    "History": "stridewise.engine.facts",
    "IsolatedEngine": "stridewise.engine.isolation",
    "WorkerCrashed": "stridewise.engine.isolation",
    "RulePack": "stridewise.engine.rules",
    "load_pack": "stridewise.engine.rules",
    "load_packs": "stridewise.engine.rules",
    "Engine": "stridewise.engine.runtime",
    "Evaluation": "stridewise.engine.runtime",
    "Wording": "stridewise.engine.runtime",
    "ImportResult": "stridewise.importer",
    "import_paths": "stridewise.importer",
    "PluginHost": "stridewise.plugins",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stridewise' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "Card",
    "Engine",
    "EngineError",
    "Evaluation",
    "Event",
    "EventValidationError",
    "History",
    "ImportResult",
    "IncompleteEvaluation",
    "InputError",
    "IsolatedEngine",
    "PluginHost",
    "RulePack",
    "RulesetError",
    "StridewiseError",
    "Wording",
    "WorkerCrashed",
    "build_engine",
    "dump_event",
    "import_paths",
    "json_schema",
    "load_event",
    "load_events",
    "load_pack",
    "load_packs",
    "plugin_packs",
]


def load_events(items: Iterable[Mapping[str, Any]]) -> list[Event]:
    """Validate event dicts (each with its ``kind``); the first bad one raises, naming its index."""
    from stridewise.engine.events import load_event

    events = []
    for n, item in enumerate(items):
        try:
            events.append(load_event(item))
        except InputError as exc:
            raise exc.located(row=n) from None
    return events


def plugin_packs(host: PluginHost | None = None) -> tuple[list[RulePack], list[RulesetError]]:
    """Every rule pack the installed plugins provide (built-in packs included)."""
    from stridewise.engine.rules import load_packs
    from stridewise.plugins import PluginHost

    host = host or PluginHost()
    return load_packs(src for _, src in host.ruleset_sources())


def build_engine(
    *,
    packs: Iterable[RulePack] | None = None,
    extra_pack_paths: Iterable[Path | str] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    disabled: Iterable[str] = (),
    wording: Mapping[str, Wording] | None = None,
    host: PluginHost | None = None,
    strict: bool = False,
) -> Engine:
    """An engine over the plugins' packs (or ``packs``), plus packs from ``extra_pack_paths``.

    A pack that fails to load is skipped (see :func:`plugin_packs` for the errors) unless
    ``strict`` is set, in which case the first error is raised.
    """
    from stridewise.engine.rules import load_packs
    from stridewise.engine.runtime import Engine

    errors: list[RulesetError] = []
    if packs is None:
        chosen, errors = plugin_packs(host)
    else:
        chosen = list(packs)
    extra, extra_errors = load_packs(Path(p) for p in extra_pack_paths)
    errors += extra_errors
    if strict and errors:
        raise errors[0]
    return Engine([*chosen, *extra], overrides=overrides, disabled=disabled, wording=wording)
