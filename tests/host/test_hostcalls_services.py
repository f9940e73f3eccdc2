"""Properties, stream control, http_call, shared data and queues, metrics, foreign functions."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import pytest

from wasmplugin.abi.enums import WasmResult
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.abi.pairs import decode_pairs, encode_pairs
from wasmplugin.abi.values import Uint
from wasmplugin.host.api import HostServices, HttpCallResponse, NodeInfo
from wasmplugin.host.metrics import MetricsRegistry
from wasmplugin.host.module import CompiledModule
from wasmplugin.host.scheduling import VirtualScheduler
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.simplehost import ScriptedUpstreams, SimpleStreamHost, make_services
from wasmplugin.host.vm import PluginVM

from .conftest import Guest

OK, NOT_FOUND, BAD_ARGUMENT, SERIALIZATION_FAILURE, PARSE_FAILURE = 0, 1, 2, 3, 4
IMA, EMPTY, CAS_MISMATCH, UNIMPLEMENTED = 6, 7, 8, 12

NODE = NodeInfo(
    id="sidecar~10.0.0.1~app-1.default~default.svc.cluster.local",
    cluster="app.default",
    metadata={"NAMESPACE": "default", "LABELS": {"app": "web", "version": "v1"}, "REPLICAS": 3},
)


@pytest.fixture
def upstreams(scheduler: VirtualScheduler) -> ScriptedUpstreams:
    return ScriptedUpstreams(
        scheduler,
        {
            "auth": HttpCallResponse(
                headers=((b":status", b"200"), (b"x-user", b"alice")),
                body=b"granted",
                trailers=((b"grpc-status", b"0"),),
            ),
            "broken": None,
        },
    )


@pytest.fixture
def services(scheduler: VirtualScheduler, upstreams: ScriptedUpstreams) -> HostServices:
    return make_services(scheduler=scheduler, clock=scheduler.clock, http=upstreams, node=NODE)


@pytest.fixture
def module(compile_wat: Callable[..., CompiledModule]) -> CompiledModule:
    return compile_wat("hostcalls_v021", plugin="ns.svc")


@pytest.fixture
def vm(make_vm: Callable[..., PluginVM], module: CompiledModule) -> PluginVM:
    return make_vm(module, settings=PluginSettings(name="ns.svc", root_id="my-root", vm_id="vm1"))


@pytest.fixture
def host() -> SimpleStreamHost:
    return SimpleStreamHost(
        request_headers=HeaderMap([(":path", "/p")]),
        properties={
            ("request", "path"): "/p?q=1",
            ("request", "headers"): {"x-a": "1", "x-b": "2"},
            ("response", "code"): 200,
            ("connection", "id"): Uint(7),
            ("connection", "mtls"): False,
            ("source", "addresses"): ["10.0.0.1", "10.0.0.2"],
        },
    )


@pytest.fixture
def g(vm: PluginVM, host: SimpleStreamHost) -> Guest:
    return Guest(vm, vm.create_stream(host).context_id)


def prop(g: Guest, *path: str, context_id: int | None = None) -> tuple[int, bytes]:
    p, n = g.put("\0".join(path))
    pp, sp = g.slots()
    status = g.call("proxy_get_property", p, n, pp, sp, context_id=context_id)
    return status, g.returned(pp, sp) if status == OK else b""


# -- properties -------------------------------------------------------------------------------------
def test_plugin_properties(g: Guest) -> None:
    assert prop(g, "plugin_name") == (OK, b"ns.svc")
    assert prop(g, "plugin_root_id") == (OK, b"my-root")
    assert prop(g, "plugin_vm_id") == (OK, b"vm1")


def test_plugin_properties_also_on_the_root(vm: PluginVM, g: Guest) -> None:
    assert prop(g, "plugin_root_id", context_id=vm.root_context_id) == (OK, b"my-root")


def test_node_properties(g: Guest) -> None:
    assert prop(g, "xds", "node", "id") == (OK, NODE.id.encode())
    assert prop(g, "node", "id") == (OK, NODE.id.encode())  # legacy top-level name
    assert prop(g, "xds", "node", "metadata", "NAMESPACE") == (OK, b"default")
    assert prop(g, "xds", "node", "metadata", "REPLICAS") == (OK, struct.pack("<q", 3))
    status, labels = prop(g, "xds", "node", "metadata", "LABELS")
    assert status == OK and decode_pairs(labels) == [(b"app", b"web"), (b"version", b"v1")]
    assert prop(g, "xds", "node", "metadata", "LABELS", "app") == (OK, b"web")
    status, node = prop(g, "xds", "node")
    # protobuf: field 1 (id) is a length-delimited string at the start
    assert status == OK and node[0] == 0x0A and node[2 : 2 + node[1]] == NODE.id.encode()
    assert NODE.cluster.encode() in node and b"NAMESPACE" in node


def test_stream_properties_and_encodings(g: Guest) -> None:
    assert prop(g, "request", "path") == (OK, b"/p?q=1")
    assert prop(g, "response", "code") == (OK, struct.pack("<q", 200))
    assert prop(g, "connection", "id") == (OK, struct.pack("<Q", 7))
    assert prop(g, "connection", "mtls") == (OK, b"\x00")
    status, headers = prop(g, "request", "headers")
    assert status == OK and decode_pairs(headers) == [(b"x-a", b"1"), (b"x-b", b"2")]
    assert prop(g, "request", "headers", "x-b") == (OK, b"2")  # host indexes into the map
    status, addrs = prop(g, "source", "addresses")
    assert status == OK and decode_pairs(addrs) == [(b"10.0.0.1", b""), (b"10.0.0.2", b"")]
    assert prop(g, "source", "addresses", "1") == (OK, b"10.0.0.2")
    assert prop(g, "request", "nope")[0] == NOT_FOUND
    assert prop(g, "request", "headers", "x-zzz")[0] == NOT_FOUND


def test_trailing_nul_in_path_is_ignored(g: Guest) -> None:
    p, n = g.put(b"plugin_name\0")
    pp, sp = g.slots()
    assert g.call("proxy_get_property", p, n, pp, sp) == OK and g.returned(pp, sp) == b"ns.svc"


def test_request_properties_are_absent_on_the_root(vm: PluginVM, g: Guest) -> None:
    assert prop(g, "request", "path", context_id=vm.root_context_id)[0] == NOT_FOUND


def test_set_property_round_trip(vm: PluginVM, g: Guest, host: SimpleStreamHost) -> None:
    p, n = g.put(b"my\0key")
    v, vn = g.put(b"value")
    assert g.call("proxy_set_property", p, n, v, vn) == OK
    assert host.properties[("my", "key")] == b"value"
    assert prop(g, "my", "key") == (OK, b"value")
    assert g.call("proxy_set_property", p, n, v, vn, context_id=vm.root_context_id) == NOT_FOUND
    assert g.call("proxy_set_property", p, n, 0x7FFF0000, 4) == IMA


def test_unencodable_property_is_serialization_failure(g: Guest, host: SimpleStreamHost) -> None:
    host.properties[("weird",)] = object()  # type: ignore[assignment]
    assert prop(g, "weird")[0] == SERIALIZATION_FAILURE


def test_stream_answers_are_asked_again_on_every_call(g: Guest, host: SimpleStreamHost) -> None:
    """The host keeps the parse of a path, never a stream's answer."""
    assert prop(g, "response", "code") == (OK, struct.pack("<q", 200))
    host.properties[("response", "code")] = 503
    assert prop(g, "response", "code") == (OK, struct.pack("<q", 503))
    del host.properties[("response", "code")]
    assert prop(g, "response", "code")[0] == NOT_FOUND
    host.properties[("response", "code")] = b"x"
    assert prop(g, "response", "code") == (OK, b"x")


def test_a_cached_path_still_depends_on_the_context(vm: PluginVM, g: Guest) -> None:
    assert prop(g, "request", "path") == (OK, b"/p?q=1")
    assert prop(g, "request", "path", context_id=vm.root_context_id)[0] == NOT_FOUND
    assert prop(g, "request", "path") == (OK, b"/p?q=1")
    assert prop(g, "request", "headers", "x-a") == (OK, b"1")  # a prefix, indexed by the host ...
    assert prop(g, "request", "headers", "x-a") == (OK, b"1")  # ... from the cache too


def test_property_cache_is_bounded(
    make_vm: Callable[..., PluginVM], module: CompiledModule, services: HostServices, host: SimpleStreamHost
) -> None:
    limited = make_services(limits=services.limits.with_overrides(property_cache_entries=4), node=NODE)
    vm = make_vm(module, services_=limited)
    g = Guest(vm, vm.create_stream(host).context_id)
    for i in range(10):
        host.properties[("k", str(i))] = f"v{i}"
        assert prop(g, "k", str(i)) == (OK, f"v{i}".encode())
        assert vm.properties.cached_paths <= 4
    assert prop(g, "plugin_name") == (OK, vm.settings.name.encode())
    assert prop(g, "k", "3") == (OK, b"v3")


def test_registered_provider_replaces_a_cached_answer(vm: PluginVM, g: Guest) -> None:
    assert prop(g, "plugin_name") == (OK, b"ns.svc")
    vm.properties.register("plugin_name", lambda path, stream: ("renamed", 1))
    assert prop(g, "plugin_name") == (OK, b"renamed")


# -- stream control ---------------------------------------------------------------------------------
def test_send_local_response_reaches_the_stream(g: Guest, host: SimpleStreamHost) -> None:
    details, dn = g.put("denied by policy")
    body, bn = g.put("go away")
    hdrs, hn = g.put(encode_pairs([(b"X-Reason", b"policy")]))
    assert g.call("proxy_send_local_response", 403, details, dn, body, bn, hdrs, hn, -1 & 0xFFFFFFFF) == OK
    (reply,) = host.local_replies
    assert (reply.status, reply.details, reply.body, reply.headers, reply.grpc_status) == (
        403,
        "denied_by_policy",
        b"go away",
        [(b"x-reason", b"policy")],
        -1,
    )
    # Envoy: a second local reply from the same context is refused
    assert g.call("proxy_send_local_response", 500, details, dn, body, bn, hdrs, hn, 0) == BAD_ARGUMENT
    assert len(host.local_replies) == 1


def test_send_local_response_on_root_is_accepted(vm: PluginVM, g: Guest) -> None:
    assert g.call("proxy_send_local_response", 200, 0, 0, 0, 0, 0, 0, 0, context_id=vm.root_context_id) == OK


@pytest.mark.parametrize(
    ("stream_type", "status", "continued"),
    [(0, OK, [0]), (1, OK, [1]), (2, OK, [2]), (3, UNIMPLEMENTED, []), (4, BAD_ARGUMENT, [])],
)
def test_continue_stream(
    g: Guest, host: SimpleStreamHost, stream_type: int, status: int, continued: list[int]
) -> None:
    assert g.call("proxy_continue_stream", stream_type) == status
    assert host.continued == continued


def test_close_stream(vm: PluginVM, g: Guest, host: SimpleStreamHost) -> None:
    assert g.call("proxy_close_stream", 0) == OK
    assert g.call("proxy_close_stream", 4) == BAD_ARGUMENT
    assert g.call("proxy_close_stream", 1, context_id=vm.root_context_id) == OK
    assert host.closed == [0]


# -- http_call --------------------------------------------------------------------------------------
def http_call(
    g: Guest, cluster: str, headers: list[tuple[bytes, bytes]], body: bytes = b"", timeout_ms: int = 1000
) -> tuple[int, int]:
    c, cn = g.put(cluster)
    h, hn = g.put(encode_pairs(headers))
    b, bn = g.put(body)
    (token,) = g.slots(1)
    status = g.call("proxy_http_call", c, cn, h, hn, b, bn, 0, 0, timeout_ms, token)
    return status, g.u32(token)


GOOD = [(b":method", b"POST"), (b":path", b"/check"), (b":authority", b"auth.local")]


def test_http_call_delivers_response_to_the_root(
    vm: PluginVM, g: Guest, scheduler: VirtualScheduler, upstreams: ScriptedUpstreams
) -> None:
    status, token = http_call(g, "auth", GOOD, body=b"payload")
    assert (status, token) == (OK, 4)
    (sent,) = upstreams.calls
    assert sent.cluster == "auth" and sent.body == b"payload" and sent.timeout_ms == 1000
    assert (b"content-length", b"7") in sent.headers and sent.plugin == "ns.svc"
    assert vm.mem.get_u32(0x3100) == 0  # nothing delivered yet: never inside dispatch
    scheduler.run_until_idle()
    mem = vm.mem
    assert [mem.get_u32(0x3100 + 4 * i) for i in range(4)] == [4, 2, 7, 1]  # token, headers, body, trailers
    assert mem.get_u32(0x3118) == OK
    assert decode_pairs(mem.read(mem.get_u32(0x3110), mem.get_u32(0x3114))) == [
        (b":status", b"200"),
        (b"x-user", b"alice"),
    ]
    assert mem.get_u32(0x3128) == OK and mem.read(mem.get_u32(0x3120), mem.get_u32(0x3124)) == b"granted"
    assert mem.get_u32(0x3138) == OK
    assert decode_pairs(mem.read(mem.get_u32(0x3130), mem.get_u32(0x3134))) == [(b"grpc-status", b"0")]
    assert mem.get_u32(0x314C) == OK and mem.get_u32(0x3140) == 0  # get_status: no failure
    # map 6 and buffer 4 are gone once the callback returned
    pp, sp = g.slots()
    assert g.call("proxy_get_header_map_pairs", 6, pp, sp) == BAD_ARGUMENT


def test_http_call_tokens_step_by_four(g: Guest) -> None:
    tokens = [http_call(g, "auth", GOOD)[1] for _ in range(3)]
    assert tokens == [4, 8, 12]


def test_http_call_failure_is_delivered_as_reset(vm: PluginVM, g: Guest, scheduler: VirtualScheduler) -> None:
    status, token = http_call(g, "broken", GOOD)
    assert status == OK
    scheduler.run_until_idle()
    mem = vm.mem
    assert [mem.get_u32(0x3100 + 4 * i) for i in range(4)] == [token, 0, 0, 0]
    # a reset has no response: map 6 → BAD_ARGUMENT, buffer 4 → NOT_FOUND (Envoy)
    assert mem.get_u32(0x3118) == BAD_ARGUMENT and mem.get_u32(0x3128) == NOT_FOUND
    assert mem.get_u32(0x314C) == OK and mem.get_u32(0x3140) == 11
    assert mem.read(mem.get_u32(0x3144), mem.get_u32(0x3148)) == b"reset"


@pytest.mark.parametrize("missing", [b":method", b":path", b":authority"])
def test_http_call_requires_method_path_authority(
    g: Guest, upstreams: ScriptedUpstreams, missing: bytes
) -> None:
    headers = [h for h in GOOD if h[0] != missing]
    assert http_call(g, "auth", headers)[0] == BAD_ARGUMENT
    # the common mistake: :host instead of :authority
    assert not upstreams.calls


def test_http_call_to_unknown_cluster_is_bad_argument(g: Guest) -> None:
    assert http_call(g, "nowhere", GOOD)[0] == BAD_ARGUMENT


def test_grpc_calls_have_no_cluster(g: Guest) -> None:
    assert g.call("proxy_grpc_call", *([0] * 12)) == PARSE_FAILURE
    assert g.call("proxy_grpc_stream", *([0] * 9)) == PARSE_FAILURE
    assert g.call("proxy_grpc_send", 5, 0, 0, 0) == NOT_FOUND
    assert g.call("proxy_grpc_cancel", 5) == NOT_FOUND
    assert g.call("proxy_grpc_close", 5) == NOT_FOUND


# -- shared data ------------------------------------------------------------------------------------
def get_shared(g: Guest, key: str) -> tuple[int, bytes, int]:
    k, kn = g.put(key)
    pp, sp, cas = g.slots(3)
    status = g.call("proxy_get_shared_data", k, kn, pp, sp, cas)
    return status, g.returned(pp, sp) if status == OK else b"", g.u32(cas)


def set_shared(g: Guest, key: str, value: bytes, cas: int) -> int:
    k, kn = g.put(key)
    v, vn = g.put(value)
    return g.call("proxy_set_shared_data", k, kn, v, vn, cas)


def test_shared_data_with_cas(g: Guest) -> None:
    assert get_shared(g, "k")[0] == NOT_FOUND
    assert set_shared(g, "k", b"v1", 0) == OK
    status, value, cas = get_shared(g, "k")
    assert (status, value) == (OK, b"v1") and cas != 0
    assert set_shared(g, "k", b"v2", cas + 1000) == CAS_MISMATCH
    assert set_shared(g, "k", b"v2", cas) == OK
    assert set_shared(g, "k", b"v3", cas) == CAS_MISMATCH  # stale CAS
    assert set_shared(g, "k", b"v4", 0) == OK  # unconditional
    assert get_shared(g, "k")[1] == b"v4"


def test_shared_data_is_scoped_per_vm_id(make_vm: Callable[..., PluginVM], module: CompiledModule) -> None:
    a = Guest(make_vm(module, settings=PluginSettings(name="a", vm_id="shared")))
    b = Guest(make_vm(module, settings=PluginSettings(name="b", vm_id="shared")))
    c = Guest(make_vm(module, settings=PluginSettings(name="c", vm_id="other")))
    assert set_shared(a, "k", b"from-a", 0) == OK
    assert get_shared(b, "k")[1] == b"from-a"
    assert get_shared(c, "k")[0] == NOT_FOUND


# -- shared queues ----------------------------------------------------------------------------------
def register(g: Guest, name: str, context_id: int | None = None) -> tuple[int, int]:
    n, nn = g.put(name)
    (tok,) = g.slots(1)
    return g.call("proxy_register_shared_queue", n, nn, tok, context_id=context_id), g.u32(tok)


def resolve(g: Guest, vm_id: str, name: str) -> tuple[int, int]:
    v, vn = g.put(vm_id)
    n, nn = g.put(name)
    (tok,) = g.slots(1)
    return g.call("proxy_resolve_shared_queue", v, vn, n, nn, tok), g.u32(tok)


def test_queue_register_resolve(g: Guest) -> None:
    status, token = register(g, "q")
    assert status == OK and token != 0
    assert register(g, "q") == (OK, token)  # re-open: same queue
    assert resolve(g, "", "q") == (OK, token)  # empty vm_id = own
    assert resolve(g, "vm1", "q") == (OK, token)
    assert resolve(g, "vm2", "q")[0] == NOT_FOUND
    assert resolve(g, "vm1", "nope")[0] == NOT_FOUND


def test_queue_enqueue_notifies_the_registering_root(
    vm: PluginVM, g: Guest, scheduler: VirtualScheduler
) -> None:
    _, token = register(g, "jobs")
    v, vn = g.put("job-1")
    assert g.call("proxy_enqueue_shared_queue", token, v, vn) == OK
    assert vm.mem.get_u32(0x3008) == 0  # asynchronous
    scheduler.run_until_idle()
    mem = vm.mem
    assert mem.get_u32(0x3008) == token and mem.get_u32(0x300C) == OK
    assert mem.read(mem.get_u32(0x3000), mem.get_u32(0x3004)) == b"job-1"
    pp, sp = g.slots()
    assert g.call("proxy_dequeue_shared_queue", token, pp, sp) == EMPTY
    assert g.call("proxy_dequeue_shared_queue", 999, pp, sp) == NOT_FOUND
    assert g.call("proxy_enqueue_shared_queue", 999, v, vn) == NOT_FOUND


def test_queue_across_vms(
    make_vm: Callable[..., PluginVM], module: CompiledModule, scheduler: VirtualScheduler
) -> None:
    receiver = make_vm(module, settings=PluginSettings(name="rx", vm_id="q"))
    sender = make_vm(module, settings=PluginSettings(name="tx", vm_id="q"))
    _, token = register(Guest(receiver), "events")
    tx = Guest(sender)
    assert resolve(tx, "q", "events") == (OK, token)
    v, vn = tx.put("hello")
    assert tx.call("proxy_enqueue_shared_queue", token, v, vn) == OK
    scheduler.run_until_idle()
    mem = receiver.mem
    assert mem.read(mem.get_u32(0x3000), mem.get_u32(0x3004)) == b"hello"
    assert sender.mem.get_u32(0x3008) == 0  # the sender was not notified


# -- metrics ----------------------------------------------------------------------------------------
def define(g: Guest, kind: int, name: str) -> tuple[int, int]:
    n, nn = g.put(name)
    (mid,) = g.slots(1)
    return g.call("proxy_define_metric", kind, n, nn, mid), g.u32(mid)


def get_metric(g: Guest, metric_id: int) -> tuple[int, int]:
    (slot,) = g.slots(1)
    g.put(b"\0" * 8)
    status = g.call("proxy_get_metric", metric_id, slot)
    return status, g.u64(slot)


def test_metric_ids_follow_envoy(g: Guest) -> None:
    assert define(g, 0, "c1") == (OK, 4)
    assert define(g, 1, "g1") == (OK, 5)
    assert define(g, 2, "h1") == (OK, 6)
    assert define(g, 0, "c2") == (OK, 8)
    assert define(g, 3, "x")[0] == BAD_ARGUMENT


def test_metric_edge_cases(g: Guest, services: HostServices) -> None:
    _, c = define(g, 0, "requests_total")
    _, gauge = define(g, 1, "in_flight")
    _, h = define(g, 2, "latency_ms")
    assert g.call("proxy_increment_metric", c, 2) == OK
    assert g.call("proxy_increment_metric", c, 0) == BAD_ARGUMENT
    assert g.call("proxy_increment_metric", c, -1) == BAD_ARGUMENT
    assert g.call("proxy_record_metric", c, 3) == OK  # counter: record adds
    assert get_metric(g, c) == (OK, 5)
    assert g.call("proxy_increment_metric", gauge, 5) == OK
    assert g.call("proxy_increment_metric", gauge, -2) == OK
    assert get_metric(g, gauge) == (OK, 3)
    assert g.call("proxy_record_metric", gauge, 42) == OK  # gauge: record sets
    assert get_metric(g, gauge) == (OK, 42)
    assert g.call("proxy_increment_metric", h, 1) == BAD_ARGUMENT
    assert g.call("proxy_record_metric", h, 12) == OK
    assert get_metric(g, h)[0] == BAD_ARGUMENT
    assert g.call("proxy_increment_metric", 404, 1) == NOT_FOUND
    assert g.call("proxy_record_metric", 404, 1) == NOT_FOUND
    assert get_metric(g, 404)[0] == NOT_FOUND
    assert get_metric(g, 406)[0] == BAD_ARGUMENT  # histogram-typed id: Envoy checks the type first
    snap = services.metrics.snapshot()
    assert snap["wasmcustom.requests_total"] == 5 and snap["wasmcustom.in_flight"] == 42
    hist = snap["wasmcustom.latency_ms"]
    assert not isinstance(hist, int) and (hist.count, hist.sum) == (1, 12)


def test_same_metric_name_is_one_stat_across_vms(
    make_vm: Callable[..., PluginVM], module: CompiledModule, services: HostServices
) -> None:
    a, b = Guest(make_vm(module)), Guest(make_vm(module))
    _, ida = define(a, 0, "shared_total")
    _, idb = define(b, 0, "shared_total")
    a.call("proxy_increment_metric", ida, 1)
    b.call("proxy_increment_metric", idb, 2)
    assert services.metrics.snapshot()["wasmcustom.shared_total"] == 3


def test_prometheus_tags_from_name_segments() -> None:
    reg = MetricsRegistry()
    from wasmplugin.abi.enums import MetricType

    reg.define(MetricType.COUNTER, "custom_api_requests_total.method=GET.status=200").add(3)  # type: ignore[union-attr]
    reg.counter("wasm.envoy.wasm.runtime.wasmtime.created").add(1)
    text = reg.render_prometheus()
    assert "# TYPE custom_api_requests_total counter" in text
    assert 'custom_api_requests_total{method="GET",status="200"} 3' in text
    assert "envoy_wasm_envoy_wasm_runtime_wasmtime_created 1" in text


# -- foreign functions ------------------------------------------------------------------------------
def foreign(g: Guest, name: str, args: bytes, discard: bool = False) -> tuple[int, bytes]:
    n, nn = g.put(name)
    a, an = g.put(args)
    pp, sp = g.slots()
    status = g.call("proxy_call_foreign_function", n, nn, a, an, 0 if discard else pp, sp)
    return status, g.returned(pp, sp) if status == OK and not discard else b""


def test_compress_and_uncompress(g: Guest) -> None:
    status, packed = foreign(g, "compress", b"abc" * 50)
    assert status == OK and zlib.decompress(packed) == b"abc" * 50
    assert foreign(g, "uncompress", packed) == (OK, b"abc" * 50)
    assert foreign(g, "uncompress", b"not zlib")[0] == SERIALIZATION_FAILURE
    assert foreign(g, "no_such_function", b"")[0] == NOT_FOUND
    assert foreign(g, "compress", b"x", discard=True) == (OK, b"")


def test_embedder_foreign_functions(
    make_vm: Callable[..., PluginVM], module: CompiledModule, scheduler: VirtualScheduler
) -> None:
    def reverse(plugin: str, data: bytes) -> tuple[WasmResult, bytes]:
        return WasmResult.OK, plugin.encode() + b":" + data[::-1]

    svc = make_services(scheduler=scheduler, clock=scheduler.clock, foreign_functions={"reverse": reverse})
    g = Guest(make_vm(module, services_=svc, settings=PluginSettings(name="ns.ff")))
    assert foreign(g, "reverse", b"abc") == (OK, b"ns.ff:cba")


def test_on_foreign_function_gets_buffer_8(vm: PluginVM, scheduler: VirtualScheduler) -> None:
    vm.deliver_foreign_function(3, b"args!")
    scheduler.run_until_idle()
    mem = vm.mem
    assert mem.get_u32(0x3400) == 3 and mem.get_u32(0x340C) == OK
    assert mem.read(mem.get_u32(0x3404), mem.get_u32(0x3408)) == b"args!"


# -- Envoy extras -----------------------------------------------------------------------------------
def test_envoy_extras(vm: PluginVM, g: Guest) -> None:
    assert g.call("pthread_equal", 3, 3) == 1 and g.call("pthread_equal", 3, 4) == 0
    assert vm.call_export("call_emscripten_notify_memory_growth", 0) is None
    assert g.call("envoy_resolve_dns", 0, 0, 0) == UNIMPLEMENTED
