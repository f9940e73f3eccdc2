"""Forcing failures to test failStrategy: traps (and deadline / memory failures) in any stream
callback, failed fetches and checksum mismatches — and a bad configuration as a clear load error."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.http_server import Reply as ServerReply
from support.http_server import ScriptedServer
from wasmplugin.errors import (
    ChecksumMismatch,
    InvalidModule,
    ModuleNotFound,
    PluginDeadlineExceeded,
    PluginMemoryExceeded,
    PluginStartError,
    PluginTrap,
)
from wasmplugin.testing import Harness, PluginTarget
from wasmplugin.testing.clock import TestClock

from .conftest import C_HOSTCALLS, HEADER_MODIFIER

Load = Callable[..., PluginTarget]
ADD_HEADER = {"request_headers": [{"name": "x-plugin-ran", "value": "yes"}]}


def test_a_forced_trap_fails_closed_like_a_real_one(wasm_plugin: Load) -> None:
    real = wasm_plugin(C_HOSTCALLS, name="real")
    forced = wasm_plugin(C_HOSTCALLS, name="forced")
    forced.force_trap("request_headers")

    from_real = real.request("GET", "/hostcalls/trap")
    from_forced = forced.request("GET", "/plain")

    for resp in (from_real, from_forced):
        assert (resp.status, resp.details, resp.local) == (503, "wasm_fail_stream", True)
        assert isinstance(resp.error, PluginTrap)
        assert resp.upstream_request is None
    assert "forced by the test harness" in str(from_forced.error)
    assert forced.state == real.state == "failed"
    # FAIL_CLOSE: every later request is refused at the failed plugin.
    assert forced.request("GET", "/plain").status == 503
    assert forced.stats.failures == 1


def test_fail_open_lets_traffic_through_without_the_plugin(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(HEADER_MODIFIER, config=ADD_HEADER, fail_strategy="FAIL_OPEN")
    up = plugin.request("GET", "/").upstream_request
    assert up is not None and up.headers["x-plugin-ran"] == "yes"

    plugin.force_trap("request_headers")
    during = plugin.request("GET", "/")
    after = plugin.request("GET", "/")

    for resp in (during, after):
        assert resp.status == 200
        assert resp.upstream_request is not None
        assert "x-plugin-ran" not in resp.upstream_request.headers
    assert isinstance(during.error, PluginTrap)
    assert after.error is None
    assert plugin.stats.bypassed >= 1


def test_fail_reload_starts_a_fresh_vm_after_the_backoff(wasm_plugin: Load, wasm_clock: TestClock) -> None:
    plugin = wasm_plugin(HEADER_MODIFIER, config=ADD_HEADER, fail_strategy="FAIL_RELOAD")
    first_vm = plugin.vm
    plugin.force_trap("response_headers")

    failed = plugin.request("GET", "/")
    during_backoff = plugin.request("GET", "/")
    wasm_clock.advance(1.0)  # Envoy's default backoff
    reloaded = plugin.request("GET", "/")

    assert (failed.status, failed.details) == (503, "wasm_fail_stream")
    assert failed.upstream_request is not None  # it failed on the way back
    assert during_backoff.status == 503
    assert reloaded.status == 200
    assert reloaded.upstream_request is not None
    assert reloaded.upstream_request.headers["x-plugin-ran"] == "yes"
    assert plugin.vm is not first_vm
    assert plugin.stats.reloads == 1
    assert plugin.state == "ready"


def test_deadline_and_memory_failures_can_be_forced_too(wasm_plugin: Load) -> None:
    slow = wasm_plugin(HEADER_MODIFIER, name="slow")
    slow.force_trap("request_headers", kind="deadline")
    hungry = wasm_plugin(HEADER_MODIFIER, name="hungry")
    hungry.force_trap("log", kind="memory")

    assert isinstance(slow.request("GET", "/").error, PluginDeadlineExceeded)
    hungry_resp = hungry.request("GET", "/")
    assert hungry_resp.status == 200  # on_log runs after the response went out
    assert isinstance(hungry.failure, PluginMemoryExceeded)
    assert hungry.request("GET", "/").status == 503


def test_a_real_deadline_is_reported_as_such(wasm_plugin: Load) -> None:
    plugin = wasm_plugin(C_HOSTCALLS)

    resp = plugin.request("GET", "/hostcalls/loop")

    assert resp.status == 503
    assert isinstance(resp.error, PluginDeadlineExceeded)


@pytest.mark.parametrize(
    ("strategy", "status"), [("FAIL_CLOSE", 403), ("FAIL_RELOAD", 403), ("FAIL_OPEN", 200)]
)
def test_a_failed_fetch_gets_the_istio_stand_in(wasm_plugin: Load, strategy: str, status: int) -> None:
    plugin = wasm_plugin(HEADER_MODIFIER, config=ADD_HEADER, fail_strategy=strategy, force="fetch_failure")

    resp = plugin.request("GET", "/")

    assert resp.status == status
    assert isinstance(plugin.load_error, ModuleNotFound)
    assert plugin.state == "load_failed"
    if status == 403:
        assert resp.text == "RBAC: access denied"
        assert resp.details == "rbac_access_denied_matched_policy[none]"
    else:
        assert resp.upstream_request is not None
        assert "x-plugin-ran" not in resp.upstream_request.headers


def test_a_bad_configuration_is_a_clear_load_error(wasm_plugin: Load) -> None:
    with pytest.raises(PluginStartError) as caught:
        wasm_plugin(HEADER_MODIFIER, config={"enable_logging": "yes"})

    message = str(caught.value)
    assert message.startswith("plugin header-modifier: proxy_on_configure returned false")
    assert "plugin log: Failed to parse config" in message  # why, from the plugin itself


def test_a_module_that_is_not_wasm(wasm_plugin: Load, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"not wasm at all")

    with pytest.raises(InvalidModule, match="no \\\\0asm magic"):
        wasm_plugin(junk)
    stand_in = wasm_plugin(junk, allow_load_failure=True)
    assert stand_in.request("GET", "/").status == 403


@pytest.fixture
def module_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()


def _chain_yaml(directory: Path, url: str, sha256: str) -> Path:
    directory.mkdir()
    path = directory / "plugins.yaml"
    path.write_text(
        "apiVersion: extensions.istio.io/v1alpha1\n"
        "kind: WasmPlugin\n"
        "metadata: {name: header-modifier, namespace: default}\n"
        "spec:\n"
        "  selector: {matchLabels: {app: web}}\n"
        f"  url: {url}\n"
        f"  sha256: {sha256}\n"
        "  pluginConfig:\n"
        "    request_headers: [{name: x-plugin-ran, value: 'yes'}]\n"
    )
    return path


def test_a_real_checksum_mismatch_and_a_forced_one_give_the_same_answer(
    wasm_harness: Harness, module_server: ScriptedServer, tmp_path: Path
) -> None:
    wasm = HEADER_MODIFIER.read_bytes()
    url = module_server.route("/header-modifier.wasm", ServerReply(200, wasm))
    right_yaml = _chain_yaml(tmp_path / "right", url, hashlib.sha256(wasm).hexdigest())
    wrong_yaml = _chain_yaml(tmp_path / "wrong", url, hashlib.sha256(b"something else").hexdigest())

    good = wasm_harness.chain(right_yaml)
    up = good.request("GET", "/").upstream_request
    assert up is not None and up.headers["x-plugin-ran"] == "yes"

    real = wasm_harness.chain(wrong_yaml, allow_load_failure=True)
    forced = wasm_harness.chain(right_yaml, force={"header-modifier": "checksum_mismatch"})

    assert isinstance(real.load_errors[0], ChecksumMismatch)
    assert isinstance(forced.load_errors[0], ChecksumMismatch)
    for chain in (real, forced):
        resp = chain.request("GET", "/")
        assert (resp.status, resp.text) == (403, "RBAC: access denied")
    assert module_server.count("/header-modifier.wasm") >= 2  # really fetched over HTTP
