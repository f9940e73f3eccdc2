"""The sans-IO HTTP filter chain: plugin order, pause/resume, buffering, local replies, failStrategy.

Transports use :class:`FilterChain` and :class:`HttpStream` (inputs) and the events in
:mod:`wasmplugin.chain.api` (outputs). Importing this package does not load wasmtime.
"""

from wasmplugin.chain.chain import ChainOptions, FilterChain
from wasmplugin.chain.runtime import FailStrategy, PluginRuntime, PluginStats
from wasmplugin.chain.stream import HttpStream

__all__ = ["ChainOptions", "FailStrategy", "FilterChain", "HttpStream", "PluginRuntime", "PluginStats"]
