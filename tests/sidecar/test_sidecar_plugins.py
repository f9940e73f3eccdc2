"""Plugins in the sidecar through real sockets (issue #4 Done-when): pause and resume, body
buffering, local reply, http_call to a real local upstream, timers, shared data between two
plugins, and each failStrategy for a load failure and a runtime trap.

The plugin is ``plugins/c-hostcalls`` (one C plugin, behaviour chosen by request path; its report
comes back as ``x-hc-*`` response headers, see plugins/README.md)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.echo_upstream import EchoUpstream
from support.serve_process import PLUGINS, WORKLOAD, ServeProcess, fetch, plugin_yaml

HOSTCALLS = PLUGINS / "c-hostcalls" / "plugin.wasm"


@pytest.fixture
def upstream() -> Iterator[EchoUpstream]:
    with EchoUpstream() as up:
        yield up


def serve(tmp_path: Path, port: int, *plugins: str, env: dict[str, str] | None = None) -> ServeProcess:
    d = tmp_path / "mesh"
    d.mkdir(exist_ok=True)
    (d / "mesh.yaml").write_text(WORKLOAD.format(port=port))
    (d / "plugins.yaml").write_text("".join(plugins))
    return ServeProcess(d, "default/app", "--access-log", env=env).wait_ready()


def poll(fn, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    """Retry ``fn`` until it returns something truthy: waiting on an observable condition."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


@pytest.fixture
def hostcalls(tmp_path: Path, upstream: EchoUpstream) -> Iterator[ServeProcess]:
    with serve(tmp_path, upstream.port, plugin_yaml("hostcalls", HOSTCALLS)) as sp:
        yield sp


def test_pause_and_resume_from_tick(hostcalls: ServeProcess) -> None:
    assert fetch(hostcalls.url("inbound", "/hostcalls/tick/start/20")).status == 200
    r = fetch(hostcalls.url("inbound", "/hostcalls/pause/tick"))
    assert r.status == 200
    sent = {k.lower(): v for k, v in r.json()["headers"]}  # the request reached the upstream...
    assert sent["x-hc-resumed-by"] == "tick"  # ...after on_tick resumed it


def test_timer_ticks(hostcalls: ServeProcess) -> None:
    assert fetch(hostcalls.url("inbound", "/hostcalls/tick/start/10")).status == 200

    def ticks() -> int:
        return int(fetch(hostcalls.url("inbound", "/hostcalls/tick/count")).headers["x-hc-tick-count"])

    assert poll(lambda: ticks() >= 5)
    fetch(hostcalls.url("inbound", "/hostcalls/tick/stop"))


def test_body_buffering_sees_whole_body(hostcalls: ServeProcess) -> None:
    body = b"0123456789" * 20000
    r = fetch(
        hostcalls.url("inbound", "/hostcalls/body/echo"),
        method="POST",
        body=body,
        headers={"Transfer-Encoding": "chunked"},
    )
    assert r.status == 200
    assert r.headers["x-hc-body-size"] == str(len(body))
    assert r.body.endswith(body)


def test_local_reply_skips_upstream(hostcalls: ServeProcess, upstream: EchoUpstream) -> None:
    before = upstream.requests
    r = fetch(hostcalls.url("inbound", "/hostcalls/local_response/418"))
    assert r.status == 418
    assert upstream.requests == before


def test_http_call_to_real_upstream(hostcalls: ServeProcess, upstream: EchoUpstream) -> None:
    r = fetch(
        hostcalls.url("inbound", "/hostcalls/http_call/outbound|80||echo.local"),
        headers={"x-hc-call-path": "/called-by-plugin"},
    )
    assert r.status == 200, r.body
    assert r.headers["x-hc-http-call"] == "0"  # OK
    assert r.headers["x-hc-call-status"] == "200"
    assert any(s["path"] == "/called-by-plugin" for s in upstream.seen)
    # By ServiceEntry host as well, and an unknown cluster is refused (BAD_ARGUMENT).
    r = fetch(
        hostcalls.url("inbound", "/hostcalls/http_call/echo.local"), headers={"x-hc-call-path": "/by-host"}
    )
    assert r.headers["x-hc-call-status"] == "200"
    r = fetch(hostcalls.url("inbound", "/hostcalls/http_call/outbound|81||nowhere"))
    assert r.headers["x-hc-http-call"] == "2"


def test_http_call_timeout_is_504(hostcalls: ServeProcess) -> None:
    r = fetch(
        hostcalls.url("inbound", "/hostcalls/http_call/echo.local"),
        headers={"x-hc-call-path": "/hang", "x-hc-timeout-ms": "200"},
    )
    assert r.status == 200
    assert r.headers["x-hc-call-status"] == "504"


def test_shared_data_between_two_plugins(tmp_path: Path, upstream: EchoUpstream) -> None:
    # Plugin A runs on inbound traffic only, plugin B on outbound only; both live in one process.
    with serve(
        tmp_path,
        upstream.port,
        plugin_yaml("writer", HOSTCALLS, mode="SERVER"),
        plugin_yaml("reader", HOSTCALLS, mode="CLIENT"),
    ) as sp:
        r = fetch(sp.url("inbound", "/hostcalls/shared_data/set/colour/blue"))
        assert r.headers["x-hc-set"] == "0"
        r = fetch(sp.url("outbound", "/hostcalls/shared_data/get/colour"), headers={"Host": "echo.local"})
        assert r.status == 200
        assert "blue" in r.headers.get("x-hc-value", "") + r.body.decode()


@pytest.mark.parametrize(
    ("strategy", "status"), [("FAIL_CLOSE", 403), ("FAIL_RELOAD", 403), ("FAIL_OPEN", 200)]
)
def test_load_failure_fail_strategy(
    tmp_path: Path, upstream: EchoUpstream, strategy: str, status: int
) -> None:
    with serve(
        tmp_path, upstream.port, plugin_yaml("missing", tmp_path / "no-such.wasm", fail=strategy)
    ) as sp:
        r = fetch(sp.url("inbound", "/x"))
        assert r.status == status
        if status == 403:
            assert r.body == b"RBAC: access denied"
            sp.wait_log(r'"GET /x HTTP/1.1" 403 rbac_access_denied')
        else:
            assert r.json()["path"] == "/x"
        sp.wait_log(r"plugin default\.missing not loaded")


@pytest.mark.parametrize("strategy", ["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"])
def test_runtime_trap_fail_strategy(tmp_path: Path, upstream: EchoUpstream, strategy: str) -> None:
    with serve(tmp_path, upstream.port, plugin_yaml("trappy", HOSTCALLS, fail=strategy)) as sp:
        r = fetch(sp.url("inbound", "/hostcalls/trap"))
        after = lambda: fetch(sp.url("inbound", "/plain"))  # noqa: E731
        if strategy == "FAIL_OPEN":
            assert r.status == 200 and r.json()["path"] == "/hostcalls/trap"  # plugin bypassed
            assert after().status == 200
        elif strategy == "FAIL_CLOSE":
            assert r.status == 503
            assert after().status == 503  # the VM stays failed
            sp.wait_log(r'"GET /hostcalls/trap HTTP/1.1" 503 wasm_fail_stream ')  # Envoy's details
        else:
            assert r.status == 503
            # A fresh VM after the backoff (1 s by default): new requests pass again.
            assert poll(lambda: after().status == 200, timeout=30)
        _status, text = sp.admin("/stats")
        assert "wasm_filter.default.trappy.failures: 1" in text


def test_http_call_response_over_limit_is_a_reset(hostcalls: ServeProcess) -> None:
    # 5 MiB > Limits.http_call_response_max_bytes (4 MiB): the plugin sees (token, 0, 0, 0).
    r = fetch(
        hostcalls.url("inbound", "/hostcalls/http_call/echo.local"),
        headers={"x-hc-call-path": f"/bytes/{5 * 1024 * 1024}"},
    )
    assert r.status == 200
    assert r.headers["x-hc-call-headers"] == "0"
    assert r.headers["x-hc-status-code"] == "11"
    assert r.headers["x-hc-status-message"] == "reset"


def test_body_end_comes_with_its_last_chunk(tmp_path: Path, upstream: EchoUpstream) -> None:
    # Content-length bodies: the plugin gets the last chunk with end_of_stream set and no extra
    # empty end-of-stream body callback (Envoy's codec, when a body and its end arrive together).
    d = tmp_path / "mesh"
    d.mkdir()
    (d / "mesh.yaml").write_text(WORKLOAD.format(port=upstream.port))
    (d / "plugins.yaml").write_text(plugin_yaml("hostcalls", HOSTCALLS))
    with ServeProcess(d, "default/app", "--log-level", "debug").wait_ready() as sp:
        r = fetch(sp.url("inbound", "/plain"), method="POST", body=b"x" * 1000)
        assert r.status == 200 and r.json()["body_length"] == 1000
        line = sp.wait_log(r"on_request_body \d+ size=1000 eos=1")
        ctx = re.search(r"on_request_body (\d+)", line).group(1)  # type: ignore[union-attr]
        sp.wait_log(rf"on_delete {ctx}$")  # the stream is over: all its callbacks are logged
        body_lines = [x for x in sp.stderr if f"_body {ctx} " in x]
        calls = [x[x.index("on_") :] for x in body_lines]
        assert calls[0] == f"on_request_body {ctx} size=1000 eos=1"
        assert len(calls) == 2, calls
        assert re.fullmatch(rf"on_response_body {ctx} size=[1-9]\d* eos=1", calls[1]), calls
