"""The plugin contract: every hook a stridewise plugin can implement.

A plugin is any module or object with functions decorated by :data:`hookimpl`, advertised in
the ``stridewise`` entry-point group::

    [project.entry-points.stridewise]
    my_watch = "my_package.stridewise_plugin"

The built-in adapters and rule packs are registered through these same hooks and that same
entry-point group, so anything they do a third-party plugin can do too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pluggy

if TYPE_CHECKING:
    import click

    from stridewise.engine.events import Event
    from stridewise.importer import Note

PROJECT = "stridewise"
hookspec = pluggy.HookspecMarker(PROJECT)
#: Decorate a plugin's hook implementations with this.
hookimpl = pluggy.HookimplMarker(PROJECT)

#: ``Adapter.specificity`` values. Adapters are asked about a file most specific first; at
#: equal specificity the built-in adapters go before the plugins' ones (``docs/adapters.md``).
#: An adapter that reads any file of a broad kind (any CSV, any JSON, any text file).
CATCH_ALL = -10
#: An adapter that reads one documented format and recognises it by content (the default).
FORMAT = 0
#: An adapter that reads a narrower variant of a format another adapter also reads (one watch
#: maker's FIT files with extra fields): asked before the general adapter.
VARIANT = 10

_SPECIFICITY_WORDS = {CATCH_ALL: "catch-all", FORMAT: "format", VARIANT: "variant"}


def specificity_word(value: int) -> str:
    """``"catch-all"``, ``"format"``, ``"variant"`` or the number (``stridewise plugins``)."""
    return _SPECIFICITY_WORDS.get(value, f"specificity {value}")


@dataclasses.dataclass(frozen=True, slots=True)
class Skipped:
    """Something an adapter could not import: which file (and row), and why in plain words."""

    file: str
    reason: str
    row: int | str | None = None

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}, row {self.row}"
        return f"{where}: {self.reason}"


@runtime_checkable
class Adapter(Protocol):
    """Turns one kind of outside data (a file, a folder or an archive) into events.

    ``name`` is short and unique (``"fit"``, ``"strava"``); ``description`` is one line for
    ``stridewise plugins``. An optional ``specificity`` attribute (:data:`CATCH_ALL`,
    :data:`FORMAT` (the default) or :data:`VARIANT`) places the adapter in the order adapters
    are asked about a file.
    """

    name: str
    description: str

    def recognise(self, path: Path) -> bool:
        """Return True if this adapter reads ``path``. Decide by content, not by name alone.

        Called for files and for folders, for every input, before any adapter reads it: it
        must be cheap (read the first few kilobytes at most, e.g. with
        :func:`stridewise.plugins.head_of`) and must not raise for unreadable input (return
        False instead).
        """
        ...

    def read(self, path: Path) -> Iterator[Event | Skipped | Note]:
        """Yield the events found in ``path``, a :class:`Skipped` for each part left out, and
        a :class:`~stridewise.plugins.Note` after an event when it decided something for the
        user (a sport guessed from the speeds).

        Raise :class:`stridewise.engine.errors.InputError` (naming the file and the problem)
        when the whole input is unusable; events already yielded are kept.
        """
        ...


class HookSpecs:
    """Namespace for the hook specifications (pluggy reads them off this class)."""

    @hookspec
    def stridewise_register_adapters(self, register: Callable[[Adapter], None]) -> None:
        """Register input adapters by calling ``register(adapter)`` once per adapter.

        An adapter registered under a name already taken is reported as a plugin error and
        the first one stays.
        """

    @hookspec
    def stridewise_ruleset_sources(self) -> Iterable[Path | Traversable]:
        """Return rule-pack files (``*.yaml``) or folders of them shipped by this plugin.

        Use ``importlib.resources.files(__package__)`` so packs are found in wheels and zips.
        """
        return ()

    @hookspec
    def stridewise_register_commands(self, cli: click.Group) -> None:
        """Add subcommands to the ``stridewise`` command line (``@cli.command()``)."""
