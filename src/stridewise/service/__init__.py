"""The stridewise HTTP service: ``stridewise serve`` (see docs/service.md).

:func:`create_app` builds the ASGI app (Starlette) from a :class:`ServiceConfig`;
:func:`load_config` reads the settings from a TOML file and the environment.
"""

from __future__ import annotations

from .app import create_app
from .config import ServiceConfig, load_config

__all__ = ["ServiceConfig", "create_app", "load_config"]
