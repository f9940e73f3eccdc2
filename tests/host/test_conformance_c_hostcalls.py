"""Conformance: the C plugin ``c-hostcalls`` (plugins/README.md) drives every host call, including
its error paths, from inside real guest code; each case's report must show Envoy's statuses.

Shared cases run against the three ABI builds (0.2.1, 0.2.0, 0.1.0)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from wasmplugin.abi.enums import LogLevel
from wasmplugin.errors import (
    MissingImport,
    PluginDeadlineExceeded,
    PluginMemoryExceeded,
    PluginStartError,
    PluginTrap,
    UnknownAbiVersion,
)
from wasmplugin.host.api import HostServices, HttpCallResponse
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.module import CompiledModule
from wasmplugin.host.runtime import WasmRuntime, default_cache_dir
from wasmplugin.host.scheduling import VirtualScheduler
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.simplehost import ScriptedUpstreams, make_services
from wasmplugin.host.vm import PluginVM
from wasmplugin.limits import DEFAULT_LIMITS

from .conftest import PLUGINS
from .plugin_driver import exchange

C_DIR = PLUGINS / "c-hostcalls"
VARIANTS = {"0.2.1": "plugin.wasm", "0.2.0": "plugin-abi-0.2.0.wasm", "0.1.0": "plugin-abi-0.1.0.wasm"}


@pytest.fixture(scope="module")
def rt() -> Iterator[WasmRuntime]:
    runtime = WasmRuntime(
        DEFAULT_LIMITS.with_overrides(callback_deadline_ms=300, vm_memory_bytes=64 << 20),
        cache_dir=default_cache_dir(),
    )
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def modules(rt: WasmRuntime) -> dict[str, CompiledModule]:
    return {
        abi: rt.compile((C_DIR / f).read_bytes(), name="default.c-hostcalls") for abi, f in VARIANTS.items()
    }


@pytest.fixture(params=list(VARIANTS))
def abi(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def upstreams(scheduler: VirtualScheduler) -> ScriptedUpstreams:
    return ScriptedUpstreams(
        scheduler,
        {
            "backend": HttpCallResponse(
                headers=((b":status", b"201"), (b"x-b", b"1")), body=b"called back", trailers=()
            ),
            "flaky": None,
        },
        delay_s=0.005,
    )


@pytest.fixture
def services(scheduler: VirtualScheduler, upstreams: ScriptedUpstreams) -> HostServices:
    return make_services(scheduler=scheduler, clock=scheduler.clock, http=upstreams)


@pytest.fixture
def start(
    rt: WasmRuntime, modules: dict[str, CompiledModule], services: HostServices
) -> Iterator[Callable[..., PluginVM]]:
    vms: list[PluginVM] = []

    def start_(
        abi: str = "0.2.1",
        config: dict[str, object] | None = None,
        *,
        vm_config: bytes = b"",
        env: tuple[tuple[str, str], ...] = (),
        services_: HostServices | None = None,
    ) -> PluginVM:
        vm = PluginVM(
            rt,
            modules[abi],
            PluginSettings(
                name="default.c-hostcalls",
                root_id="c-hostcalls",
                vm_id="vm-c",
                configuration=json.dumps(config or {}).encode(),
                vm_configuration=vm_config,
                env=env,
            ),
            services_ or services,
        )
        vms.append(vm)
        vm.start()
        return vm

    yield start_
    for vm in vms:
        vm.close()


def report(vm: PluginVM, scheduler: VirtualScheduler, path: str, **kw: object) -> dict[str, str]:
    ex = exchange(vm, scheduler, path, **kw)  # type: ignore[arg-type]
    assert ex.reply is not None, f"{path}: no report"
    assert ex.reply.details == "c_hostcalls_report"
    return ex.report


# -- loading -------------------------------------------------------------------------------------
def test_abi_variants_are_detected(modules: dict[str, CompiledModule]) -> None:
    assert {abi: m.abi_version.value for abi, m in modules.items()} == {a: a for a in VARIANTS}


def test_module_without_marker_is_refused(rt: WasmRuntime) -> None:
    with pytest.raises(UnknownAbiVersion, match="missing or unknown Proxy-Wasm ABI version"):
        rt.compile((C_DIR / "plugin-no-abi.wasm").read_bytes(), name="default.c")


def test_module_with_unknown_import_is_refused(rt: WasmRuntime) -> None:
    with pytest.raises(MissingImport, match=r"env\.proxy_c_hostcalls_unknown_function"):
        rt.compile((C_DIR / "plugin-unknown-import.wasm").read_bytes(), name="default.c")


# -- shared cases, every ABI ---------------------------------------------------------------------
def test_log(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str, logs: CollectingLogSink
) -> None:
    r = report(start(abi), scheduler, "/hostcalls/log")
    assert r == {
        "case": "/hostcalls/log",
        "log-trace": "0",
        "log-debug": "0",
        "log-info": "0",
        "log-warn": "0",
        "log-error": "0",
        "log-critical": "0",
        "log-bad-level": "2",
        "log-bad-memory": "6",
        "log-empty": "0",
    }
    levels = {e.message: e.level for e in logs.entries if "log level" in e.message}
    assert levels["c-hostcalls: log level warn"] == LogLevel.WARN
    assert levels["c-hostcalls: log level critical"] == LogLevel.CRITICAL
    assert all(e.plugin == "default.c-hostcalls" for e in logs.entries)


def test_time(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    r = report(start(abi), scheduler, "/hostcalls/time")
    assert (r["get-time"], r["get-time-bad-memory"]) == ("0", "6")
    assert int(r["time-ns"]) == scheduler.clock.now_ns()


def test_log_level(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str, logs: CollectingLogSink
) -> None:
    logs.set_level(LogLevel.WARN, plugin="default.c-hostcalls")
    ex = exchange(start(abi), scheduler, "/hostcalls/log_level")
    assert ex.reply is not None
    if abi == "0.2.1":
        assert ex.report["get-log-level"] == "0" and ex.report["log-level"] == "3"
        assert ex.report["get-log-level-bad-memory"] == "6"
    else:
        assert ex.reply.status == 501


def test_abi_case(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    r = report(start(abi), scheduler, "/hostcalls/abi")
    assert r["abi"] == abi
    if abi == "0.1.0":
        assert r["clear-route-cache"] == "0"


def test_headers(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    vm = start(abi)
    r = report(vm, scheduler, "/hostcalls/headers/value/x-hc-probe", headers=[("X-HC-Probe", "found")])
    assert (r["get-value"], r["value"], r["get-value-uppercase"], r["value-uppercase"]) == (
        "0",
        "found",
        "0",
        "found",
    )
    if abi == "0.1.0":
        assert (r["get-missing"], r["missing-value-size"]) == ("0", "0")
    else:
        assert r["get-missing"] == "1"
    r = report(vm, scheduler, "/hostcalls/headers/get", headers=[("x-a", "1")])
    assert r["get-pairs"] == "0" and r["pairs-count"] == "5" and r["map-size"] == "0"
    size = sum(
        len(k) + len(v)
        for k, v in [
            (":method", "GET"),
            (":path", "/hostcalls/headers/get"),
            (":authority", "app.local"),
            (":scheme", "http"),
            ("x-a", "1"),
        ]
    )
    assert r["map-size-value"] == str(size)


def test_header_mutation_goes_upstream(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str
) -> None:
    ex = exchange(
        start(abi),
        scheduler,
        "/hostcalls/headers/mutate",
        headers=[("x-hc-replaced", "old"), ("x-hc-remove-me", "x")],
    )
    assert ex.reply is None
    h = ex.request_headers
    assert h.get_all("x-hc-added") == [b"one", b"two"] and h.get("x-hc-mixed-case") == b"yes"
    assert h.get_all("x-hc-replaced") == [b"new"] and "x-hc-remove-me" not in h
    for key in ("add", "add-again", "add-mixed-case", "replace", "remove", "remove-absent"):
        assert ex.response_headers.get(f"x-hc-{key}") == b"0", key


def test_header_errors(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    r = report(start(abi), scheduler, "/hostcalls/headers/errors")
    for key in (
        "get-bad-map-type",
        "get-pairs-bad-map-type",
        "add-bad-map-type",
        "replace-bad-map-type",
        "remove-bad-map-type",
        "size-bad-map-type",
        "set-pairs-bad-map-type",
        "get-call-response-headers-now",
    ):
        assert r[key] == "2", key
    for key in (
        "add-bad-key-memory",
        "add-bad-value-memory",
        "get-bad-ret-memory",
        "get-pairs-bad-ret-memory",
        "set-pairs-bad-memory",
        "size-bad-memory",
    ):
        assert r[key] == "6", key


def test_body_echo_and_errors(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    vm = start(abi)
    ex = exchange(vm, scheduler, "/hostcalls/body/echo", method="POST", body=b"0123456789")
    r = ex.report
    assert (
        r["get-body"],
        r["body-size"],
        r["body-status"],
        r["body-status-size"],
        r["body-status-flags"],
    ) == ("0", "10", "0", "10", "0")
    assert ex.reply is not None and ex.reply.body.endswith(b"\n\n0123456789")
    r = report(vm, scheduler, "/hostcalls/body/errors", method="POST", body=b"abc")
    assert (r["get-body-bad-memory"], r["get-body-overflow"], r["get-body-past-end"], r["past-end-size"]) == (
        "6",
        "2",
        "0",
        "0",
    )
    assert (
        r["get-body-bad-type"],
        r["get-response-body-now"],
        r["set-body-bad-memory"],
        r["set-body-bad-type"],
    ) == ("2", "0", "6", "2")
    assert (r["status-bad-memory"], r["status-bad-type"]) == ("6", "2")
    r = report(vm, scheduler, "/hostcalls/body/middle", method="POST", body=b"abcd")
    assert r["set-body-middle"] == "2"


@pytest.mark.parametrize(
    ("case", "result"), [("prepend", b"prefix:data"), ("append", b"data:suffix"), ("replace", b"replaced")]
)
def test_body_rewrites(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str, case: str, result: bytes
) -> None:
    ex = exchange(
        start(abi),
        scheduler,
        f"/hostcalls/body/{case}",
        method="POST",
        body=b"data",
        headers=[("content-length", "4")],
    )
    assert ex.host.request_body is not None and ex.host.request_body.bytes() == result
    assert "content-length" not in ex.request_headers


def test_properties(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    vm = start(abi)
    r = report(vm, scheduler, "/hostcalls/property/plugin_name")
    assert (r["get-property"], r["property-value"]) == ("0", "default.c-hostcalls")
    assert report(vm, scheduler, "/hostcalls/property/plugin_root_id")["property-value"] == "c-hostcalls"
    assert report(vm, scheduler, "/hostcalls/property/xds.node.id")["get-property"] == "0"
    assert report(vm, scheduler, "/hostcalls/property/no.such.thing")["get-property"] == "1"
    r = report(vm, scheduler, "/hostcalls/property_errors")
    assert (r["get-missing"], r["get-bad-memory"], r["set-bad-memory"]) == ("1", "6", "6")
    r = report(vm, scheduler, "/hostcalls/property_set/my.marker", headers=[("x-hc-value", "v1")])
    assert (r["set-property"], r["get-after-set"], r["value-after-set"]) == ("0", "0", "v1")


def test_root_report(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    vm = start(abi, vm_config=b'{"x": 1}')
    r = report(vm, scheduler, "/hostcalls/root/report")
    assert r["root-id"] == "1"
    assert (r["configure-get-config"], r["configure-config-size"]) == ("0", "2")
    assert r["configure-plugin_name"] == "default.c-hostcalls" and r["configure-plugin_vm_id"] == "vm-c"
    assert r["configure-property-request.path"] == "1"
    assert r["configure-get-request-body"] == "1" and r["configure-get-request-headers"] == "2"
    assert r["configure-define-metric"] == "0"
    if abi != "0.1.0":
        assert r["configure-set-plugin-config"] == "2"


def test_local_responses(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    vm = start(abi)
    ex = exchange(vm, scheduler, "/hostcalls/local_response/418")
    assert ex.reply is not None
    assert (ex.reply.status, ex.reply.details, ex.reply.body) == (
        418,
        "c-hostcalls_local_reply",
        b"local reply 418\n",
    )
    assert [(k, v) for k, v in ex.reply.headers if k.startswith(b"x-hc-")] == [
        (b"x-hc-local", b"yes"),
        (b"x-hc-multi", b"a"),
        (b"x-hc-multi", b"b"),
    ]
    assert ex.reply.grpc_status == -1
    ex = exchange(vm, scheduler, "/hostcalls/local_response/twice")
    assert len(ex.host.local_replies) == 1 and ex.host.local_replies[0].status == 403
    ex = exchange(vm, scheduler, "/hostcalls/local_response/grpc")
    assert ex.reply is not None and ex.reply.grpc_status == 14


def test_metrics(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str, services: HostServices
) -> None:
    r = report(start(abi), scheduler, "/hostcalls/metrics")
    assert r["define-counter-id"] == "8" and r["define-gauge-id"] == "5" and r["define-histogram-id"] == "6"
    expected = {
        "define-bad-type": "2",
        "define-bad-memory": "6",
        "increment-counter": "0",
        "increment-counter-zero": "2",
        "increment-counter-negative": "2",
        "record-counter": "0",
        "counter-value": "3",
        "gauge-value": "13",
        "record-histogram": "0",
        "increment-histogram": "2",
        "get-histogram": "2",
        "increment-unknown": "1",
        "record-unknown": "1",
        "get-unknown": "1",
        "get-bad-memory": "6",
    }
    assert {k: r[k] for k in expected} == expected
    snap = services.metrics.snapshot()
    assert snap["wasmcustom.c_hostcalls_counter"] == 3 and snap["wasmcustom.c_hostcalls_gauge"] == 13
    assert snap["wasmcustom.c_hostcalls_streams_total"] == 1


def test_shared_data(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    vm = start(abi)
    r = report(vm, scheduler, "/hostcalls/shared_data/cas")
    expected = {
        "set-initial": "0",
        "get-1-value": "1",
        "set-with-cas": "0",
        "set-stale-cas": "8",
        "get-2-value": "2",
        "cas-changed": "1",
        "set-unconditional": "0",
        "get-3-value": "4",
    }
    assert {k: r[k] for k in expected} == expected
    r = report(vm, scheduler, "/hostcalls/shared_data/errors")
    assert (r["get-missing"], r["get-bad-key-memory"], r["get-bad-ret-memory"]) == ("1", "6", "6")
    assert (r["set-bad-key-memory"], r["set-bad-value-memory"], r["set-cas-on-missing"]) == ("6", "6", "0")


def test_shared_data_between_vms(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str
) -> None:
    a, b = start(abi), start(abi)
    assert report(a, scheduler, "/hostcalls/shared_data/set/color/blue")["set"] == "0"
    r = report(b, scheduler, "/hostcalls/shared_data/get/color")
    assert (r["get"], r["get-value"]) == ("0", "blue")


def test_queues(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str, logs: CollectingLogSink
) -> None:
    receiver = start(abi, {"dequeue_on_ready": True})
    sender = start(abi)
    reg = report(receiver, scheduler, "/hostcalls/queue/register/jobs")
    assert reg["register"] == "0" and reg["queue-id"] != "0"
    r = report(sender, scheduler, "/hostcalls/queue/enqueue/jobs/item-1")
    assert (r["resolve"], r["queue-id"], r["enqueue"]) == ("0", reg["queue-id"], "0")
    scheduler.run_until_idle()
    assert f"c-hostcalls: on_queue_ready 1 queue={reg['queue-id']}" in logs.messages()
    assert "c-hostcalls: dequeued item-1" in logs.messages()
    r = report(sender, scheduler, "/hostcalls/queue/errors")
    expected = {
        "resolve-unknown": "1",
        "resolve-unknown-vm": "1",
        "enqueue-unknown": "1",
        "dequeue-unknown": "1",
        "register-bad-memory": "6",
        "register-empty": "0",
        "dequeue-empty": "7",
        "enqueue-bad-memory": "6",
        "dequeue-bad-ret-memory": "6",
    }
    assert {k: r[k] for k in expected} == expected


def test_effective_context_and_done(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str
) -> None:
    vm = start(abi)
    r = report(vm, scheduler, "/hostcalls/effective_context")
    assert (
        r["set-effective-self"],
        r["set-effective-unknown"],
        r["set-effective-root"],
        r["set-effective-back"],
    ) == ("0", "2", "0", "0")
    assert r["root-get-request-headers"] == "2"  # the root has no request headers (BAD_ARGUMENT)
    assert report(vm, scheduler, "/hostcalls/done")["done"] == "1"


def test_foreign_functions(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    vm = start(abi)
    r = report(vm, scheduler, "/hostcalls/foreign/compress", headers=[("x-hc-args", "aaaaaaaaaaaaaaaaaaaa")])
    assert r["foreign-call"] == "0" and r["foreign-result"].startswith("hex:78")  # zlib header
    assert (r["foreign-unknown"], r["foreign-bad-memory"]) == ("1", "6")


def test_malloc_failure(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    r = report(start(abi), scheduler, "/hostcalls/malloc_fails")
    assert (r["get-pairs"], r["get-value"], r["get-property"]) == ("6", "6", "6")


def test_wasi(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str, logs: CollectingLogSink
) -> None:
    vm = start(abi, env=(("GREETING", "hi there"),))
    assert report(vm, scheduler, "/hostcalls/wasi/env/GREETING")["env-value"] == "hi there"
    assert report(vm, scheduler, "/hostcalls/wasi/env/HOME")["env-missing"] == "1"
    r = report(vm, scheduler, "/hostcalls/wasi/random")
    assert (r["random"], r["random-too-big"], len(r["random-hex"])) == ("0", "28", 32)
    r = report(vm, scheduler, "/hostcalls/wasi/clock")
    assert (r["clock-realtime"], r["clock-monotonic"], r["clock-bad-id"]) == ("0", "0", "58")
    assert (
        int(r["realtime-ns"]) == scheduler.clock.now_ns()
        and int(r["monotonic-ns"]) == scheduler.clock.monotonic_ns()
    )
    logs.clear()
    report(vm, scheduler, "/hostcalls/wasi/stdout")
    report(vm, scheduler, "/hostcalls/wasi/stderr")
    entries = [(e.level, e.message) for e in logs.entries if "hello on" in e.message]
    assert entries == [
        (LogLevel.INFO, "c-hostcalls: hello on stdout"),
        (LogLevel.ERROR, "c-hostcalls: hello on stderr"),
    ]


def test_proc_exit_traps(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str, logs: CollectingLogSink
) -> None:
    vm = start(abi)
    with pytest.raises(PluginTrap, match=r"proxy_on_request_headers: proc_exit\(3\)"):
        exchange(vm, scheduler, "/hostcalls/wasi/proc_exit")
    assert "c-hostcalls: calling proc_exit(3)" in logs.messages()


def test_tick(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    vm = start(abi)
    assert report(vm, scheduler, "/hostcalls/tick/start/100")["set-tick-period"] == "0"
    scheduler.advance(0.35)
    assert report(vm, scheduler, "/hostcalls/tick/count")["tick-count"] == "3"
    report(vm, scheduler, "/hostcalls/tick/stop")
    scheduler.advance(1)
    assert report(vm, scheduler, "/hostcalls/tick/count")["tick-count"] == "3"


def test_pause_and_resume_from_a_tick(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str
) -> None:
    ex = exchange(start(abi), scheduler, "/hostcalls/pause/tick")
    assert ex.actions[0] == ("request_headers", 1)
    assert ex.host.continued == [0]
    assert ex.request_headers.get("x-hc-resumed-by") == b"tick"
    for key in ("wait-set-tick-period", "resume-set-effective-context", "resume-add-header", "resume"):
        assert ex.response_headers.get(f"x-hc-{key}") == b"0", key


def test_http_call(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str, upstreams: ScriptedUpstreams
) -> None:
    vm = start(abi)
    r = report(vm, scheduler, "/hostcalls/http_call/backend", headers=[("x-hc-call-path", "/check")])
    assert (r["http-call"], r["http-call-token"]) == ("0", "4")
    assert (
        r["callout-set-effective-context"],
        r["call-headers"],
        r["call-body-size"],
        r["call-trailers"],
    ) == ("0", "2", "11", "0")
    assert (r["get-call-headers"], r["call-status"], r["get-call-body"]) == ("0", "201", "0")
    (call,) = upstreams.calls
    assert call.cluster == "backend" and (b":path", b"/check") in call.headers
    # 0.1.0: the absent x-hc-timeout-ms header reads as "" (OK, empty), which the plugin parses as 0
    assert call.timeout_ms == (0 if abi == "0.1.0" else 5000)
    r = report(vm, scheduler, "/hostcalls/http_call/flaky")
    assert (r["call-headers"], r["get-status"], r["status-code"], r["status-message"]) == (
        "0",
        "0",
        "11",
        "reset",
    )
    r = report(vm, scheduler, "/hostcalls/http_call_errors/backend")
    expected = {
        "call-unknown-cluster": "2",
        "call-empty-cluster": "2",
        "call-bad-cluster-memory": "6",
        "call-bad-headers-memory": "6",
        "call-no-method": "2",
        "call-no-path": "2",
        "call-no-authority": "2",
    }
    assert {k: r[k] for k in expected} == expected


def test_http_call_post_and_twice(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str, upstreams: ScriptedUpstreams
) -> None:
    vm = start(abi)
    report(vm, scheduler, "/hostcalls/http_call_post/backend")
    (call,) = upstreams.calls
    assert call.body == b"c-hostcalls request body" and (b"content-length", b"24") in call.headers
    assert call.trailers == ((b"x-hc-trailer", b"t"),)
    r = report(vm, scheduler, "/hostcalls/http_call_twice/backend")
    assert int(r["http-call-token-2"]) == int(r["http-call-token"]) + 4


def test_grpc_errors(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    r = report(start(abi), scheduler, "/hostcalls/grpc/errors")
    assert (r["grpc-call-unknown-cluster"], r["grpc-stream-unknown-cluster"]) == ("4", "4")
    assert (r["grpc-send-unknown"], r["grpc-cancel-unknown"], r["grpc-close-unknown"]) == ("1", "1", "1")


def test_continue_errors(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    r = report(start(abi), scheduler, "/hostcalls/continue/errors")
    if abi == "0.1.0":
        assert set(r) >= {"continue-request-not-paused", "continue-response-not-paused"}
    else:
        assert (r["continue-bad-type"], r["close-bad-type"], r["continue-upstream"]) == ("2", "2", "12")


# -- misbehaviour: traps, loops, memory ----------------------------------------------------------
def test_trap_then_fresh_vm(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    vm = start(abi)
    with pytest.raises(PluginTrap) as err:
        exchange(vm, scheduler, "/hostcalls/trap")
    assert str(err.value).startswith("plugin default.c-hostcalls: proxy_on_request_headers: unreachable")
    assert "\n" not in str(err.value)
    assert report(start(abi), scheduler, "/hostcalls/abi")["abi"] == abi


@pytest.mark.parametrize("callback", ["on_request_body", "on_response_headers", "on_response_body", "on_log"])
def test_trap_in_later_callbacks(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, callback: str
) -> None:
    with pytest.raises(PluginTrap, match=f"proxy_{callback}: unreachable"):
        exchange(
            start(), scheduler, f"/hostcalls/trap/{callback}", method="POST", body=b"x", response_body=b"y"
        )


def test_endless_loop_is_stopped(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str
) -> None:
    t0 = time.monotonic()
    with pytest.raises(
        PluginDeadlineExceeded, match="proxy_on_request_headers: exceeded the 300 ms deadline"
    ):
        exchange(start(abi), scheduler, "/hostcalls/loop")
    assert time.monotonic() - t0 < 3


def test_memory_exhaustion(start: Callable[..., PluginVM], scheduler: VirtualScheduler, abi: str) -> None:
    vm = start(abi)
    assert report(vm, scheduler, "/hostcalls/oom/report")["memory-pages"] == str(64 << 20 >> 16)
    with pytest.raises(PluginMemoryExceeded, match="linear memory limit of 64 MiB exceeded"):
        exchange(start(abi), scheduler, "/hostcalls/oom")


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("fail", PluginStartError),
        ("trap", PluginTrap),
        ("loop", PluginDeadlineExceeded),
        ("oom", PluginMemoryExceeded),
    ],
)
def test_misbehaving_configure(start: Callable[..., PluginVM], mode: str, error: type[Exception]) -> None:
    with pytest.raises(error) as err:
        start("0.2.1", {"on_configure": mode})
    assert "\n" not in str(err.value) and "default.c-hostcalls" in str(err.value)


def test_misbehaving_tick_reports_failure(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler
) -> None:
    vm = start("0.2.1", {"on_tick": "trap", "tick_period_ms": 20})
    failures: list[Exception] = []
    vm.on_failure = failures.append
    scheduler.advance(0.05)
    assert len(failures) == 1 and isinstance(failures[0], PluginTrap) and "proxy_on_tick" in str(failures[0])


def test_deferred_root_done(
    start: Callable[..., PluginVM], scheduler: VirtualScheduler, logs: CollectingLogSink
) -> None:
    vm = start("0.2.1", {"defer_done": True})
    vm.close()
    assert vm.memory_size() > 0  # pending done: still alive
    scheduler.advance(0.01)
    assert "c-hostcalls: proxy_done -> 0" in logs.messages()
    assert vm.memory_size() == 0  # on_delete ran and the VM is released
