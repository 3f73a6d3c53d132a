"""Built-in rule packs (YAML data) and the plugin that registers them.

The packs ship through the same ``stridewise_ruleset_sources`` hook and entry-point group a
third-party rule-pack package would use.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

from stridewise.plugins import hookimpl


@hookimpl
def stridewise_ruleset_sources() -> list[Traversable]:
    """Every ``*.yaml`` pack in this package."""
    return [files(__package__)]
