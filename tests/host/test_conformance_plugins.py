"""Conformance: every plugin in plugins/ runs through the host as its MANIFEST says, and the
plugins built with different SDKs behave the same where they share behaviour.

* every module marked ``load: ok`` compiles with its declared ABI, links every import and
  instantiates; every ``load: refused`` module is refused with a one-line error;
* header-modifier (Rust SDK) and as-headers (AssemblyScript) share one behavioural test: configured
  request/response headers are added and the request path is logged;
* go-features (Go SDK) exercises http_call, shared data, queues, properties, bodies, timers,
  metrics and memory growth through the Go SDK.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from wasmplugin.abi.enums import AbiVersion, LogLevel
from wasmplugin.errors import ModuleLoadError
from wasmplugin.host.api import HostServices, HttpCallResponse, NodeInfo
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.module import CompiledModule
from wasmplugin.host.runtime import WasmRuntime, default_cache_dir
from wasmplugin.host.scheduling import VirtualScheduler
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.simplehost import ScriptedUpstreams, make_services
from wasmplugin.host.vm import PluginVM

from .conftest import PLUGINS
from .plugin_driver import exchange

MANIFEST = PLUGINS / "MANIFEST.json"


def manifest_outputs() -> list[tuple[str, str, str | None, str]]:
    if not MANIFEST.exists():
        return []
    plugins = json.loads(MANIFEST.read_text())["plugins"]
    return [
        (name, file, out.get("abi"), out.get("load", "ok"))
        for name, spec in sorted(plugins.items())
        for file, out in sorted(spec.get("outputs", {}).items())
    ]


@pytest.fixture(scope="module")
def rt() -> Iterator[WasmRuntime]:
    runtime = WasmRuntime(cache_dir=default_cache_dir())
    yield runtime
    runtime.close()


@pytest.mark.parametrize(("plugin", "file", "abi", "load"), manifest_outputs())
def test_plugin_loads_as_declared(
    rt: WasmRuntime, services: HostServices, plugin: str, file: str, abi: str | None, load: str
) -> None:
    wasm = (PLUGINS / plugin / file).read_bytes()
    if load == "refused":
        with pytest.raises(ModuleLoadError) as err:
            rt.compile(wasm, name=f"default.{plugin}")
        assert "\n" not in str(err.value) and str(err.value).startswith(f"plugin default.{plugin}: ")
        return
    module = rt.compile(wasm, name=f"default.{plugin}")
    assert module.abi_version is AbiVersion(abi)
    assert all(i.supported for i in module.imports)
    vm = PluginVM(rt, module, PluginSettings(name=f"default.{plugin}", root_id=plugin), services)
    assert vm.memory_size() > 0
    vm.close()


# -- one behaviour, two SDKs ---------------------------------------------------------------------
@dataclass(frozen=True)
class HeaderPlugin:
    plugin: str
    root_id: str
    configuration: dict[str, object]
    log_line: str


HEADER_PLUGINS = [
    HeaderPlugin(
        "header-modifier",
        "",
        {
            "request_headers": [{"name": "x-conformance", "value": "yes"}],
            "response_headers": [{"name": "x-conformance-response", "value": "yes"}],
        },
        "Request: GET /conformance?q=1",
    ),
    HeaderPlugin(
        "as-headers",
        "as-headers",
        {
            "header_name": "x-conformance",
            "header_value": "yes",
            "response_header_name": "x-conformance-response",
            "response_header_value": "yes",
        },
        "as-headers: path=/conformance?q=1",
    ),
]


@pytest.mark.parametrize("spec", HEADER_PLUGINS, ids=lambda s: s.plugin)
def test_header_plugins_behave_alike(
    rt: WasmRuntime,
    services: HostServices,
    scheduler: VirtualScheduler,
    logs: CollectingLogSink,
    spec: HeaderPlugin,
) -> None:
    path = PLUGINS / spec.plugin / "plugin.wasm"
    module = rt.compile(path.read_bytes(), name=f"default.{spec.plugin}")
    vm = PluginVM(
        rt,
        module,
        PluginSettings(
            name=f"default.{spec.plugin}",
            root_id=spec.root_id,
            configuration=json.dumps(spec.configuration).encode(),
        ),
        services,
    )
    vm.start()
    assert vm.root_context_id == 1
    for _ in range(3):  # several streams on one VM
        ex = exchange(vm, scheduler, "/conformance?q=1")
        assert ex.reply is None
        assert ex.actions == [("request_headers", 0), ("response_headers", 0)]
        assert ex.request_headers.get("x-conformance") == b"yes"
        assert ex.response_headers.get("x-conformance-response") == b"yes"
    info = [e.message for e in logs.entries if e.level == LogLevel.INFO]
    assert info.count(spec.log_line) == 3
    assert all(e.plugin == f"default.{spec.plugin}" for e in logs.entries)
    vm.close()
    assert vm.failure is None


def test_header_modifier_refuses_bad_configuration(
    rt: WasmRuntime, services: HostServices, logs: CollectingLogSink
) -> None:
    from wasmplugin.errors import PluginStartError

    module = rt.compile((PLUGINS / "header-modifier" / "plugin.wasm").read_bytes(), name="default.hm")
    vm = PluginVM(rt, module, PluginSettings(name="default.hm", configuration=b"{not json"), services)
    with pytest.raises(PluginStartError, match=r"^plugin default\.hm: proxy_on_configure returned false$"):
        vm.start()
    assert any(
        e.level == LogLevel.ERROR and e.message.startswith("Failed to parse config") for e in logs.entries
    )


def test_as_headers_needs_its_root_id(rt: WasmRuntime, services: HostServices) -> None:
    from wasmplugin.errors import PluginTrap

    module = rt.compile((PLUGINS / "as-headers" / "plugin.wasm").read_bytes(), name="default.as")
    vm = PluginVM(rt, module, PluginSettings(name="default.as", root_id="someone-else"), services)
    with pytest.raises(PluginTrap, match=r"proxy_on_context_create: proc_exit\(255\)"):
        vm.start()


# -- Go SDK --------------------------------------------------------------------------------------
NODE = NodeInfo(id="sidecar~10.1.2.3~web-1.shop~shop.svc.cluster.local", cluster="web.shop")


@pytest.fixture(scope="module")
def go_module(rt: WasmRuntime) -> CompiledModule:
    path = PLUGINS / "go-features" / "plugin.wasm"
    return rt.compile(path.read_bytes(), name="shop.go-features")


@pytest.fixture
def upstreams(scheduler: VirtualScheduler) -> ScriptedUpstreams:
    return ScriptedUpstreams(
        scheduler,
        {
            "backend": HttpCallResponse(headers=((b":status", b"202"),), body=b"pong"),
            "down": None,
        },
        delay_s=0.01,
    )


@pytest.fixture
def go_services(scheduler: VirtualScheduler, upstreams: ScriptedUpstreams) -> HostServices:
    return make_services(scheduler=scheduler, clock=scheduler.clock, http=upstreams, node=NODE)


@pytest.fixture
def go_vm(
    rt: WasmRuntime, go_module: CompiledModule, go_services: HostServices
) -> Iterator[Callable[..., PluginVM]]:
    vms: list[PluginVM] = []

    def make(config: dict[str, object] | None = None) -> PluginVM:
        vm = PluginVM(
            rt,
            go_module,
            PluginSettings(
                name="shop.go-features",
                root_id="go-features",
                vm_id="go",
                configuration=json.dumps(config or {}).encode(),
            ),
            go_services,
        )
        vm.start()
        vms.append(vm)
        return vm

    yield make
    for vm in vms:
        vm.close()


def test_go_http_call_pauses_and_resumes(
    go_vm: Callable[..., PluginVM], scheduler: VirtualScheduler, upstreams: ScriptedUpstreams
) -> None:
    vm = go_vm({"http_call_cluster": "backend"})
    ex = exchange(vm, scheduler, "/go/http_call", headers=[("x-go-call-path", "/ping")])
    assert ex.actions[0] == ("request_headers", 1) and ex.host.continued == [0]
    assert ex.request_headers.get("x-go-call-status") == b"202"
    (call,) = upstreams.calls
    assert (b":path", b"/ping") in call.headers and (b":authority", b"backend") in call.headers
    ex = exchange(vm, scheduler, "/go/http_call/local", headers=[("x-go-cluster", "down")])
    assert ex.reply is not None and ex.reply_header("x-go-call-status") == "failed"
    ex = exchange(vm, scheduler, "/go/http_call", headers=[("x-go-cluster", "nowhere")])
    assert (
        ex.reply is not None
        and ex.reply.status == 502
        and ex.reply_header("x-go-call-error") == "bad_argument"
    )


def test_go_shared_data_across_vms(go_vm: Callable[..., PluginVM], scheduler: VirtualScheduler) -> None:
    a, b = go_vm(), go_vm()
    values = [
        exchange(vm, scheduler, "/go/shared/incr").reply_header("x-go-shared-value") for vm in (a, b, a)
    ]
    assert values == ["1", "2", "3"]
    ex = exchange(a, scheduler, "/go/shared/cas_mismatch")
    assert (ex.reply_header("x-go-first-set"), ex.reply_header("x-go-stale-set")) == ("ok", "cas_mismatch")


def test_go_queue(
    go_vm: Callable[..., PluginVM], scheduler: VirtualScheduler, go_services: HostServices
) -> None:
    logs = go_services.log
    assert isinstance(logs, CollectingLogSink)
    vm = go_vm()
    assert exchange(vm, scheduler, "/go/queue/last").reply.status == 404  # type: ignore[union-attr]
    ex = exchange(vm, scheduler, "/go/queue/enqueue", headers=[("x-go-item", "job-7")])
    assert ex.reply_header("x-go-enqueued") == "job-7"
    scheduler.run_until_idle()
    assert "go-features: dequeued job-7" in logs.messages()
    assert exchange(vm, scheduler, "/go/queue/last").reply_header("x-go-last-item") == "job-7"


def test_go_properties(go_vm: Callable[..., PluginVM], scheduler: VirtualScheduler) -> None:
    ex = exchange(go_vm(), scheduler, "/go/properties")
    assert ex.reply is not None and ex.reply_header("x-go-set-property") == "ok"
    props = json.loads(ex.reply.body)
    assert props["plugin_name"] == "shop.go-features" and props["plugin_root_id"] == "go-features"
    assert props["plugin_vm_id"] == "go"
    assert props["xds.node.id"] == NODE.id and props["node.id"] == NODE.id
    assert props["go_features.marker"] == "set-by-go-features"
    assert props["request.path"] is None  # SimpleStreamHost knows no request.* attributes


def test_go_body_buffering(go_vm: Callable[..., PluginVM], scheduler: VirtualScheduler) -> None:
    vm = go_vm()
    ex = exchange(vm, scheduler, "/go/body/echo", method="POST", body=b"hello go")
    assert ex.reply is not None and ex.reply.body == b"hello go" and ex.reply_header("x-go-body-bytes") == "8"
    ex = exchange(vm, scheduler, "/go/body/upper", method="POST", body=b"shout")
    assert ex.host.request_body is not None and ex.host.request_body.bytes() == b"SHOUT"
    ex = exchange(
        vm,
        scheduler,
        "/go/body/response",
        response_body=b"payload",
        response_headers=[("content-length", "7")],
    )
    assert ex.host.response_body is not None and ex.host.response_body.bytes() == b"payload[go-features]"


def test_go_timer_and_callout(
    go_vm: Callable[..., PluginVM],
    scheduler: VirtualScheduler,
    upstreams: ScriptedUpstreams,
    go_services: HostServices,
) -> None:
    vm = go_vm({"tick_period_ms": 100, "tick_callout_cluster": "backend", "tick_callout_path": "/tick"})
    scheduler.advance(0.35)
    assert exchange(vm, scheduler, "/go/ticks").reply_header("x-go-ticks") == "3"
    assert len(upstreams.calls) == 3 and (b":path", b"/tick") in upstreams.calls[0].headers
    ex = exchange(vm, scheduler, "/go/callout/result")
    assert (
        ex.reply is not None and ex.reply_header("x-go-callout-status") == "202" and ex.reply.body == b"pong"
    )
    snap = go_services.metrics.snapshot()
    assert snap["wasmcustom.go_features_ticks_total"] == 3
    assert snap["wasmcustom.go_features_callouts_total.result=ok"] == 3


def test_go_metrics(
    go_vm: Callable[..., PluginVM], scheduler: VirtualScheduler, go_services: HostServices
) -> None:
    vm = go_vm()
    for _ in range(2):
        exchange(vm, scheduler, "/plain")
    ex = exchange(vm, scheduler, "/go/metrics")
    assert ex.reply_header("x-go-requests-total") == "3"
    text = go_services.metrics.render_prometheus()
    assert 'go_features_requests_total{method="GET"} 3' in text
    assert "# TYPE go_features_request_body_bytes histogram" in text


def test_go_leak_shows_in_memory_size(go_vm: Callable[..., PluginVM], scheduler: VirtualScheduler) -> None:
    vm = go_vm()
    for _ in range(20):
        exchange(vm, scheduler, "/plain")
    plateau = vm.memory_size()
    for _ in range(60):
        exchange(vm, scheduler, "/go/leak")
    assert vm.memory_size() >= plateau + 2 * 1024 * 1024  # 60 × 64 KiB kept forever


def test_go_ids_and_lifecycle(go_vm: Callable[..., PluginVM], scheduler: VirtualScheduler) -> None:
    vm = go_vm()
    ex = exchange(vm, scheduler, "/plain")
    assert vm.root_context_id == 1 and ex.stream.context_id == 2
    assert struct.calcsize("<I") == 4  # keeps the struct import honest for readers of the driver


# -- the blog's rate limiter (Go): shared data with CAS across VMs, virtual time -----------------
def test_rate_limiter_shares_its_window_across_vms(
    rt: WasmRuntime, scheduler: VirtualScheduler, go_services: HostServices
) -> None:
    path = PLUGINS / "rate-limiter" / "plugin.wasm"
    module = rt.compile(path.read_bytes(), name="shop.rate-limiter")
    config = json.dumps({"default_limit": 3, "default_window_seconds": 60}).encode()
    vms = []
    for _ in range(2):  # two workers' VMs, one vm_id: one counter
        vm = PluginVM(
            rt,
            module,
            PluginSettings(name="shop.rate-limiter", vm_id="rl", configuration=config),
            go_services,
        )
        vm.start()
        vms.append(vm)
    statuses = []
    for i in range(5):
        ex = exchange(vms[i % 2], scheduler, "/api/items")
        statuses.append(ex.reply.status if ex.reply else 200)
    assert statuses == [200, 200, 200, 429, 429]
    ex = exchange(vms[0], scheduler, "/api/items")
    assert ex.reply is not None and ex.reply_header("retry-after") is not None
    scheduler.advance(60)  # the next fixed window (virtual time reaches the plugin through WASI clocks)
    assert exchange(vms[1], scheduler, "/api/items").reply is None
    for vm in vms:
        vm.close()
