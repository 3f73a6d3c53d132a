"""What ``stridewise plugins`` shows: plugins (loaded, blocked, failed) and the adapter order.

Hook names are never cut: each is printed whole on a line of its own, whatever the width of
the terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .hookspecs import specificity_word
from .host import BLOCK_ENV, ORDER_ENV, PluginHost

if TYPE_CHECKING:
    from rich.console import Console


def plugins_json(host: PluginHost) -> dict[str, Any]:
    """The ``--json`` document: plugins, blocked names, adapters in order, errors."""
    ranks = host.adapter_ranks()  # asks the plugins first, so their errors are listed below
    return {
        "plugins": [
            {
                "name": p.name,
                "distribution": p.distribution,
                "version": p.version,
                "status": p.status,
                "builtin": p.builtin,
                "hooks": list(p.hooks),
            }
            for p in host.plugins()
        ],
        "blocked": sorted(host.blocked),
        "adapters": [r.name for r in ranks],
        "adapter_order": [
            {
                "position": r.position,
                "name": r.name,
                "plugin": r.plugin,
                "builtin": r.builtin,
                "specificity": r.specificity,
                "specificity_word": specificity_word(r.specificity),
                "reason": r.reason,
                "description": r.description,
            }
            for r in ranks
        ],
        "errors": [{"name": e.plugin, "stage": e.stage, "error": e.error} for e in host.errors],
    }


def print_plugins(host: PluginHost, console: Console, err_console: Console) -> None:
    """Print the plugins, the adapter order and the failures (text escaped, lines not cut)."""
    from stridewise.cli_shell import escape

    def say(text: str) -> None:
        console.print(text, soft_wrap=True, highlight=False)

    ranks = host.adapter_ranks()
    say("[bold]Plugins[/]")
    for p in host.plugins():
        if p.status == "blocked":
            status = "[yellow]blocked[/] (not loaded)"
        else:
            status = "built-in" if p.builtin else "loaded"
        where = " ".join(escape(x) for x in (p.distribution, p.version) if x) or "-"
        say(f"  [bold]{escape(p.name)}[/]  {status}  {where}")
        for hook in p.hooks:
            say(f"      {escape(hook)}")
    say("")
    say(
        "[bold]Adapters[/], in the order they are asked about a file (the first that "
        "recognises it reads it)"
    )
    for r in ranks:
        say(
            f"  {r.position}. [bold]{escape(r.name)}[/] ({escape(r.reason)}; plugin "
            f"{escape(r.plugin)}): {escape(r.description)}"
        )
    say("")
    say(
        f"Put adapters first with {ORDER_ENV}=name1,name2; keep plugins from loading with "
        f"{BLOCK_ENV}=name1,name2."
    )
    for e in host.errors:
        err_console.print(
            "[red]failed:[/] " + escape(f"{e.plugin} ({e.stage}): {e.error}"),
            highlight=False,
            soft_wrap=True,
        )
