"""Test tools for plugin authors: a pytest harness for compiled proxy-wasm plugins and chains.

Installed as a pytest plugin (fixtures ``wasm_plugin``, ``wasm_chain``, ``wasm_harness``,
``wasm_clock``, ``wasm_upstreams``); usable without pytest through :class:`Harness`. The guide is
docs/testing-plugins.md.
"""

from collections.abc import Callable

from wasmplugin.testing.exchange import InFlight, Reply, Response, UpstreamRequest
from wasmplugin.testing.harness import Harness
from wasmplugin.testing.headers import Headers
from wasmplugin.testing.leak import LeakReport
from wasmplugin.testing.target import ChainTarget, PluginHandle, PluginTarget, Target
from wasmplugin.testing.upstreams import FakeUpstream, RecordedCall, answer

#: The type of the ``wasm_plugin`` fixture (for annotations in tests).
PluginFactory = Callable[..., PluginTarget]
#: The type of the ``wasm_chain`` fixture.
ChainFactory = Callable[..., ChainTarget]

__all__ = [
    "ChainFactory",
    "ChainTarget",
    "FakeUpstream",
    "Harness",
    "Headers",
    "InFlight",
    "LeakReport",
    "PluginFactory",
    "PluginHandle",
    "PluginTarget",
    "RecordedCall",
    "Reply",
    "Response",
    "Target",
    "UpstreamRequest",
    "answer",
]
