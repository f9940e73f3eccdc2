"""Tests for __NAME__, on wasmplugin's pytest harness (the `wasm_plugin` and `wasm_chain` fixtures
come with wasmplugin: `pip install wasmplugin`). Build plugin.wasm first: ./build.sh

    pytest tests/
"""

from pathlib import Path

import pytest

from wasmplugin.errors import PluginStartError
from wasmplugin.testing import ChainFactory, PluginFactory, PluginTarget

PROJECT = Path(__file__).resolve().parent.parent
PLUGIN = PROJECT / "plugin.wasm"


@pytest.fixture
def plugin(wasm_plugin: PluginFactory) -> PluginTarget:
    return wasm_plugin(PLUGIN, config={"greeting": "hello"})


def test_the_greeting_reaches_the_upstream_and_the_client(plugin: PluginTarget) -> None:
    resp = plugin.request("GET", "/hello")

    assert resp.status == 200
    assert resp.upstream_request is not None
    assert resp.upstream_request.headers["x-greeting"] == "hello"
    assert resp.headers["x-greeting"] == "hello"
    assert "__NAME__: GET /hello" in plugin.logs


def test_the_greeting_comes_from_the_configuration(wasm_plugin: PluginFactory) -> None:
    plugin = wasm_plugin(PLUGIN, config={"greeting": "bonjour"})

    resp = plugin.request("GET", "/")

    assert resp.headers["x-greeting"] == "bonjour"


def test_the_deny_path_is_answered_403_by_the_plugin(plugin: PluginTarget) -> None:
    resp = plugin.request("GET", "/forbidden?why=test")

    assert resp.status == 403
    assert resp.local_reply is not None
    assert resp.upstream_request is None  # the upstream was never asked
    assert resp.text == "forbidden\n"


def test_a_bad_configuration_stops_the_plugin_from_starting(wasm_plugin: PluginFactory) -> None:
    with pytest.raises(PluginStartError, match="invalid configuration"):
        wasm_plugin(PLUGIN, config={"greeting": 42})


def test_the_wasmplugin_resource_gives_the_same_behaviour(wasm_chain: ChainFactory) -> None:
    # The chain the sidecar would build from wasmplugin.yaml (same selection, order, config).
    chain = wasm_chain(PROJECT / "wasmplugin.yaml")

    assert chain.request("GET", "/hello").headers["x-greeting"] == "hello"
    assert chain.request("GET", "/forbidden").status == 403
