"""The plugin contract (:mod:`.hookspecs`) and the host that loads plugins (:mod:`.host`)."""

from .hookspecs import Adapter, HookSpecs, Skipped, hookimpl
from .host import BLOCK_ENV, PluginError, PluginHost, PluginInfo, default_host

__all__ = [
    "BLOCK_ENV",
    "Adapter",
    "HookSpecs",
    "PluginError",
    "PluginHost",
    "PluginInfo",
    "Skipped",
    "default_host",
    "hookimpl",
]
