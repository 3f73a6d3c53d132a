"""The shell every ``stridewise`` command runs in: one console setup, one error handler, one
plugin host per command run.

- :data:`console` prints prose and cards (word-wrapped), :data:`line_console` records one per
  line and :data:`err_console` messages on stderr (soft-wrapped: a line is never cut in the
  middle of a path or a rule key); :func:`wide` is the console for tables.
- :func:`plain` and :func:`escape` make text from files, plugins and packs safe to print
  (control characters and bidi overrides removed, rich markup made literal).
- :class:`ShellGroup` / :class:`ShellCommand` run a command under :func:`guarded`: a
  :class:`StridewiseError` is one ``error:`` line (exit 2); any other exception is a short
  "internal error" note (exit 3; the traceback with ``STRIDEWISE_DEBUG=1``). The main group
  and the commands defined elsewhere (``rulesets``, ``explain``) use the same handler, so they
  behave alike on their own (tests) and inside ``stridewise``. Input a command noted as
  skipped (:func:`note_incomplete`) ends it with an ``error: incomplete`` line (exit 1).
- :func:`plugin_host` is the command run's one :class:`PluginHost` (plugins load once);
  :func:`warn_plugin_errors` warns about each plugin error once.

Imports stay light: ``stridewise --help`` and ``--version`` import this module.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import traceback
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape as _escape_markup

from stridewise.engine.errors import StridewiseError
from stridewise.plugins import PluginHost

__all__ = [
    "STYLE",
    "ShellCommand",
    "ShellGroup",
    "console",
    "date_option",
    "err_console",
    "escape",
    "guarded",
    "line_console",
    "note_incomplete",
    "parse_date",
    "plain",
    "plugin_host",
    "read_journal_option",
    "warn",
    "warn_plugin_errors",
    "wide",
]


#: ``--journal`` for the commands that read input (report, explain): the journal ``log`` writes.
read_journal_option = click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Your journal, read with the stored history when no PATHS are given (default: "
    "$STRIDEWISE_JOURNAL or the user data folder), as 'stridewise log --journal' writes it.",
)


def parse_date(value: str | None) -> dt.date | None:
    """A date a person typed: YYYY-MM-DD or 'today' (None stays None)."""
    if value is None:
        return None
    if value == "today":
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-10-31 (or 'today')") from None


def date_option(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    """The callback of a date option: :func:`parse_date`, with an error naming the option."""
    try:
        return parse_date(value)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, ctx=ctx, param=param) from None


#: How a card's indicator is shown.
STYLE = {
    "critical": "bold white on red",
    "warning": "bold black on yellow",
    "info": "bold white on blue",
}
#: Prose and cards (Markdown detail is word-wrapped at the terminal's width).
console = Console()
#: Records one per line (findings, rule keys, paths): soft-wrapped, so a line is never cut
#: and a pipe or a test sees it whole.
line_console = Console(soft_wrap=True)
#: Errors, warnings and notes on stderr, soft-wrapped.
err_console = Console(stderr=True, soft_wrap=True)

#: Control characters (C0 but tab and newline, DEL, C1) and the invisible format characters
#: that reorder or hide text (bidi overrides, zero-width marks): never echoed to a terminal.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)


def plain(value: object, *, lines: bool = False) -> str:
    """``value`` as text safe for a terminal: control characters (ANSI escapes, bidi overrides)
    removed; tabs and newlines become spaces unless ``lines`` keeps them (Markdown detail)."""
    text = _CONTROL.sub("", str(value))
    return text if lines else text.replace("\t", " ").replace("\n", " ")


def escape(value: object, *, lines: bool = False) -> str:
    """``value`` for rich: :func:`plain`, and markup in it (``[/]``, ``[bold]``) made literal."""
    return _escape_markup(plain(value, lines=lines))


def wide() -> Console:
    """The line console, or a wide one when output goes to a file or pipe (rich assumes 80
    columns there)."""
    return line_console if line_console.is_terminal else Console(width=200, soft_wrap=True)


def warn(message: object) -> None:
    """A ``warning:`` line on stderr (the text escaped)."""
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def guarded(ctx: click.Context, invoke: Callable[[click.Context], Any]) -> Any:
    """Run a command: user errors become one escaped ``error:`` line (exit 2), bugs a short
    ``internal error`` note (exit 3); click's own exits pass through."""
    try:
        value = invoke(ctx)
    except StridewiseError as exc:
        err_console.print(f"[bold red]error:[/] {escape(exc)}", highlight=False)
        sys.exit(2)
    except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
        raise
    except Exception as exc:
        if os.environ.get("STRIDEWISE_DEBUG"):
            traceback.print_exc()
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {escape(exc)}\n"
            "This is a bug in stridewise or a plugin; run with STRIDEWISE_DEBUG=1 for details.",
            highlight=False,
        )
        sys.exit(3)
    skipped = ctx.find_root().meta.pop(_INCOMPLETE_KEY, None)
    if skipped:  # the command's output was built without them: never a quiet success
        err_console.print(
            f"[bold red]error:[/] incomplete: {len(skipped)} input(s) could not be read and were "
            "left out (listed above as 'skipped'); do not read the output as complete",
            highlight=False,
        )
        sys.exit(1)
    return value


_INCOMPLETE_KEY = "stridewise.incomplete_input"


def note_incomplete(skipped: Sequence[object]) -> None:
    """Note on the command run that input was skipped: the command then ends with an
    "incomplete" error and exit code 1 after its output (a command that says so in its own
    output, as ``report`` does, does not call this)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and skipped:
        ctx.find_root().meta.setdefault(_INCOMPLETE_KEY, []).extend(skipped)


class ShellGroup(click.Group):
    """A command group whose commands run under :func:`guarded`."""

    def invoke(self, ctx: click.Context) -> Any:
        return guarded(ctx, super().invoke)


class ShellCommand(click.Command):
    """A command that runs under :func:`guarded`."""

    def invoke(self, ctx: click.Context) -> Any:
        return guarded(ctx, super().invoke)


_HOST_KEY = "stridewise.plugin_host"
#: How many of a host's errors were warned about already (each is warned about once).
_warned: weakref.WeakKeyDictionary[PluginHost, int] = weakref.WeakKeyDictionary()


def plugin_host() -> PluginHost:
    """The plugin host of the current command run (made on first use and kept on the root
    click context, so plugins load once per run). Outside a command: a new host."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return PluginHost()
    meta = ctx.find_root().meta
    host: PluginHost | None = meta.get(_HOST_KEY)
    if host is None:
        host = meta[_HOST_KEY] = PluginHost()
    return host


def warn_plugin_errors(host: PluginHost) -> None:
    """Warn about the host's plugin errors not warned about yet (each once per run)."""
    done = _warned.get(host, 0)
    for error in host.errors[done:]:
        warn(error)
    _warned[host] = len(host.errors)
