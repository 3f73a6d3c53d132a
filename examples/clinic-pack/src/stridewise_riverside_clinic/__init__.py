"""Riverside Sports Medicine's rule pack for stridewise, shipped as a Python package.

The pack is YAML package data (``packs/*.yaml``); the one hook returns its folder through
:func:`importlib.resources.files`, so it is found in a wheel, a zip or a source checkout.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources import files
from importlib.resources.abc import Traversable

from stridewise.plugins import hookimpl

__version__ = "1.0.0"


@hookimpl
def stridewise_ruleset_sources() -> Iterable[Traversable]:
    """The folder of this clinic's packs."""
    return [files(__package__).joinpath("packs")]
