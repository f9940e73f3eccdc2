"""``PluginSettings``: what one plugin instance is, as Envoy's PluginConfig describes it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PluginSettings:
    """Identity and configuration of one plugin running in one VM.

    ``name`` is Envoy's PluginConfig name (``<namespace>.<name>`` for a WasmPlugin): the
    ``plugin_name`` property and the tag on every log line. ``root_id`` is the WasmPlugin's
    ``pluginName`` (``plugin_root_id``); ``vm_id`` scopes shared data and queues.
    """

    name: str
    #: WasmPlugin ``pluginName`` → property ``plugin_root_id``.
    root_id: str = ""
    #: Shared data / queue scope → property ``plugin_vm_id``.
    vm_id: str = ""
    #: Plugin configuration bytes (buffer 7), byte for byte.
    configuration: bytes = b""
    #: VM configuration bytes (buffer 6).
    vm_configuration: bytes = b""
    #: WASI environ, ``KEY=VALUE`` pairs; nothing comes from the host process.
    env: tuple[tuple[str, str], ...] = ()
