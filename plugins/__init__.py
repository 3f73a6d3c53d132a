"""Everything a stridewise plugin author imports, from one place.

::

    from stridewise.plugins import Adapter, InputError, Skipped, hookimpl, load_event

The hooks (:mod:`.hookspecs`), the adapter contract and its precedence constants, the host
that loads plugins (:mod:`.host`), the event types an adapter yields, :func:`load_event` to
validate them, the errors to raise, :class:`Note` and the import hints (:func:`read_hints`).
Each name is documented with a runnable example in ``docs/plugin-api.md``.

The event types and helpers are imported on first use, so importing this module (which every
``stridewise`` command does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stridewise.engine.errors import EventValidationError, InputError

from .hookspecs import (
    CATCH_ALL,
    FORMAT,
    VARIANT,
    Adapter,
    HookSpecs,
    Skipped,
    hookimpl,
    specificity_word,
)
from .host import (
    BLOCK_ENV,
    ORDER_ENV,
    TIMEOUT_ENV,
    AdapterRank,
    PluginError,
    PluginHost,
    PluginInfo,
    default_host,
    plugins_in_process,
)

if TYPE_CHECKING:
    from stridewise.adapters.common import head_of
    from stridewise.engine.events import (
        CROSS_SPORTS,
        RUN_SPORTS,
        CrossTraining,
        Event,
        Injury,
        NutritionLog,
        PainReport,
        PriorInjury,
        Profile,
        Run,
        Shoe,
        dump_event,
        load_event,
        stable_id,
    )
    from stridewise.importer import Note, ReadHints, read_hints

#: Names imported on first use, and the module each comes from.
_LAZY = {
    "Event": "stridewise.engine.events",
    "Run": "stridewise.engine.events",
    "CrossTraining": "stridewise.engine.events",
    "PainReport": "stridewise.engine.events",
    "Shoe": "stridewise.engine.events",
    "NutritionLog": "stridewise.engine.events",
    "Injury": "stridewise.engine.events",
    "Profile": "stridewise.engine.events",
    "PriorInjury": "stridewise.engine.events",
    "load_event": "stridewise.engine.events",
    "dump_event": "stridewise.engine.events",
    "stable_id": "stridewise.engine.events",
    "RUN_SPORTS": "stridewise.engine.events",
    "CROSS_SPORTS": "stridewise.engine.events",
    "Note": "stridewise.importer",
    "ReadHints": "stridewise.importer",
    "read_hints": "stridewise.importer",
    "head_of": "stridewise.adapters.common",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stridewise.plugins' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "BLOCK_ENV",
    "CATCH_ALL",
    "CROSS_SPORTS",
    "FORMAT",
    "ORDER_ENV",
    "RUN_SPORTS",
    "TIMEOUT_ENV",
    "VARIANT",
    "Adapter",
    "AdapterRank",
    "CrossTraining",
    "Event",
    "EventValidationError",
    "HookSpecs",
    "Injury",
    "InputError",
    "Note",
    "NutritionLog",
    "PainReport",
    "PluginError",
    "PluginHost",
    "PluginInfo",
    "PriorInjury",
    "Profile",
    "ReadHints",
    "Run",
    "Shoe",
    "Skipped",
    "default_host",
    "dump_event",
    "head_of",
    "hookimpl",
    "load_event",
    "plugins_in_process",
    "read_hints",
    "specificity_word",
    "stable_id",
]
