"""What the host and chain benchmarks run, in one place: inputs, subjects, operations, timing.

``bench/host_calls.py`` and ``bench/chain.py`` time these cases in CPU time; ``bench/instructions.py``
counts their instructions under callgrind. A case is ``(prepare, run)``: ``prepare(n)`` builds the
inputs of ``n`` operations (header maps, stream hosts: a transport builds them whether or not there
is a plugin, so they stay out of the measure) and ``run(n)`` performs the ``n`` operations on them.
"""

from __future__ import annotations

import functools
import gc
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime
import yaml

from wasmplugin.abi.enums import LogLevel
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.chain import FilterChain, PluginRuntime
from wasmplugin.chain.api import SendRequestHeaders, SendResponseData, SendResponseHeaders, StreamInfo
from wasmplugin.chain.build import PluginToLoad, build_chain
from wasmplugin.host.api import LogSink
from wasmplugin.host.contexts import StreamContext
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.runtime import WasmRuntime, default_cache_dir
from wasmplugin.host.scheduling import VirtualScheduler
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.simplehost import SimpleStreamHost, make_services
from wasmplugin.host.vm import PluginVM
from wasmplugin.limits import DEFAULT_LIMITS

ROOT = Path(__file__).resolve().parents[1]
HEADER_MODIFIER = ROOT / "plugins" / "header-modifier" / "plugin.wasm"
LOOP_WAT = ROOT / "bench" / "wat" / "hostcall_loop.wat"
#: The blog's header-modifier configuration (two request headers, one response header, logging on),
#: read from the blog's own WasmPlugin so that the benchmarks run what the blog runs.
BLOG_WASMPLUGIN = ROOT / "examples" / "blog" / "10-wasmplugin-header-modifier.yaml"
CONFIG = json.dumps(yaml.safe_load(BLOG_WASMPLUGIN.read_text())["spec"]["pluginConfig"]).encode()
REQ = [
    (b":authority", b"example.com"),
    (b":path", b"/api/items"),
    (b":method", b"GET"),
    (b":scheme", b"http"),
    (b"user-agent", b"wrk"),
    (b"x-forwarded-proto", b"http"),
    (b"x-request-id", b"9b1f7e4a-4c52-4b8e-9a77-0c6f0e1d2a33"),
]
RESP = [(b":status", b"200"), (b"content-length", b"5"), (b"content-type", b"text/plain")]

Run = Callable[[int], None]
Case = tuple[Callable[[int], None], Run]


def nothing(n: int) -> None:
    """``prepare`` of a case whose operations need no inputs of their own."""


def runtime_for_bench(callback_deadline_ms: int | None = None) -> WasmRuntime:
    """A runtime with an on-disk compile cache, which keeps Cranelift out of the (slow) valgrind
    runs after the first; a longer deadline for cases that loop in one guest call."""
    limits = DEFAULT_LIMITS
    if callback_deadline_ms is not None:
        limits = limits.with_overrides(callback_deadline_ms=callback_deadline_ms)
    return WasmRuntime(limits, cache_dir=default_cache_dir().parent / "bench-compiled")


class CountingSink:
    """A log sink that keeps nothing: the cost of a log line is the host's, not an output's."""

    def __init__(self) -> None:
        self.count = 0

    def log(self, plugin: str, level: LogLevel, message: str) -> None:
        self.count += 1

    def level(self, plugin: str) -> LogLevel:
        return LogLevel.INFO


# ------------------------------------------------------------------------------------------------
# timing
# ------------------------------------------------------------------------------------------------
@dataclass
class Timing:
    """µs per operation of each timed run, in CPU time of this thread and in wall time."""

    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.cpu)

    @property
    def median(self) -> float:
        return statistics.median(self.cpu)


def time_cases(cases: list[Case], n: int, repeat: int) -> list[Timing]:
    """Run each case ``repeat`` times on ``n`` operations, the cases' runs interleaved so that a
    change in the machine's load hits them alike (their differences then hold). Inputs are built
    before each timed run and, with everything else existing then, frozen out of the garbage
    collector's view (as a server freezes what it built at start-up): a run costs what it does."""
    for prepare, run in cases:
        warm = max(1, min(n // 10, 1000))
        prepare(warm)
        run(warm)
    timings = [Timing() for _ in cases]
    for _ in range(repeat):
        for (prepare, run), timing in zip(cases, timings, strict=True):
            prepare(n)
            gc.collect()
            gc.freeze()
            w, c = time.perf_counter(), time.thread_time()
            run(n)
            timing.cpu.append((time.thread_time() - c) / n * 1e6)
            timing.wall.append((time.perf_counter() - w) / n * 1e6)
            gc.unfreeze()
    return timings


# ------------------------------------------------------------------------------------------------
# the host alone: a PluginVM driven directly, with SimpleStreamHost streams
# ------------------------------------------------------------------------------------------------
def loop_vm(runtime: WasmRuntime) -> tuple[PluginVM, StreamContext, SimpleStreamHost]:
    """The host-call loop fixture (``bench/wat/hostcall_loop.wat``) with one stream."""
    module = runtime.compile(wasmtime.wat2wasm(LOOP_WAT.read_text()), name="bench.loop")
    vm = PluginVM(runtime, module, PluginSettings(name="bench.loop"), make_services(log=CountingSink()))
    vm.start()
    host = SimpleStreamHost(request_headers=HeaderMap.from_lowered([(b":path", b"/x")]))
    return vm, vm.create_stream(host), host


def wasm_call_case(stream: StreamContext) -> Case:
    """One empty wasm call: ``StreamContext.on_log`` into an export that does nothing."""
    on_log = stream.on_log

    def run(n: int) -> None:
        for _ in range(n):
            on_log()

    return nothing, run


def host_loop_case(vm: PluginVM, stream: StreamContext, host: SimpleStreamHost, export: str) -> Case:
    """``n`` host calls made by one guest loop (``export`` of the loop fixture) on ``stream``."""
    cid = stream.context_id
    request_headers = host.request_headers
    assert request_headers is not None

    def run(n: int) -> None:
        vm.call_export(export, n, context_id=cid)
        request_headers.remove(b"x-bench")  # what loop_add_header added

    return nothing, run


def header_modifier_vm(runtime: WasmRuntime, log: LogSink | None = None) -> PluginVM:
    settings = PluginSettings(name="bench.header-modifier", configuration=CONFIG)
    module = runtime.compile(HEADER_MODIFIER.read_bytes(), name="bench.header-modifier")
    vm = PluginVM(runtime, module, settings, make_services(log=log or CountingSink()))
    vm.start()
    return vm


def header_modifier_host_case(vm: PluginVM, *, response_body: bool = False) -> Case:
    """One header-modifier request driven directly on the VM: create_stream, request headers,
    response headers (with ``response_body``: and the body callback the chain makes), on_log,
    on_done, on_delete, each stream with a fresh in-memory ``SimpleStreamHost``."""
    hosts: list[SimpleStreamHost] = []

    def prepare(n: int) -> None:
        hosts[:] = [
            SimpleStreamHost(
                request_headers=HeaderMap.from_lowered(list(REQ)),
                response_headers=HeaderMap.from_lowered(list(RESP)),
            )
            for _ in range(n)
        ]

    def run(n: int) -> None:
        create = vm.create_stream
        for host in hosts[:n]:
            s = create(host)
            s.on_request_headers(len(REQ), True)
            s.on_response_headers(len(RESP), False)
            if response_body:
                s.on_response_body(5, True)
            s.on_log()
            s.on_done()
            s.on_delete()
        last = hosts[n - 1].response_headers if n else None
        if last is not None and last.get(b"x-processed-by") != b"wasm-plugin":
            raise SystemExit("the plugin did not run")

    return prepare, run


# ------------------------------------------------------------------------------------------------
# the chain: one request (headers-only GET, 200 with a 5-byte body, complete())
# ------------------------------------------------------------------------------------------------
def chain_case(chain: FilterChain | FloorChain, info: StreamInfo | None = None) -> Case:
    """One request through ``chain`` (streams with ``info``). Header maps are built beforehand."""
    maps: list[tuple[HeaderMap, HeaderMap]] = []

    def prepare(n: int) -> None:
        maps[:] = [(HeaderMap.from_lowered(list(REQ)), HeaderMap.from_lowered(list(RESP))) for _ in range(n)]

    def run(n: int) -> None:
        new_stream = chain.new_stream if info is None else functools.partial(chain.new_stream, info)
        s = None
        for req, resp in maps[:n]:
            s = new_stream()
            s.request_headers(req, True)
            s.events()
            s.response_headers(resp, False)
            s.response_data(b"hello", True)
            s.events()
            s.complete()
        if s is not None and (s.error is not None or s.local_reply_sent is not None):
            raise SystemExit(f"the request failed: {s.error or s.local_reply_sent}")

    return prepare, run


class FloorStream:
    """Stand-in for a stream: takes the same calls and makes the same three events, nothing else."""

    error = None
    local_reply_sent = None

    def __init__(self) -> None:
        self._events: list[object] = []

    def request_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        self._events.append(SendRequestHeaders(headers, end_stream))

    def response_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        self._events.append(SendResponseHeaders(headers, end_stream))

    def response_data(self, data: bytes, end_stream: bool) -> None:
        self._events.append(SendResponseData(data, end_stream))

    def events(self) -> list[object]:
        ev, self._events = self._events, []
        return ev

    def complete(self) -> None:
        pass


class FloorChain:
    def new_stream(self) -> FloorStream:
        return FloorStream()


class NoopContext:
    """Stand-in stream context (benchmark only): every callback returns Continue at once, so a
    chain row measures the chain's own bookkeeping for one plugin, without any wasm."""

    context_id = 2

    def on_request_headers(self, n: int, eos: bool) -> int:
        return 0

    on_response_headers = on_request_body = on_response_body = on_request_headers

    def on_request_trailers(self, n: int) -> int:
        return 0

    on_response_trailers = on_request_trailers

    def on_log(self) -> None:
        pass

    on_done = on_delete = on_log


class NoopVM:
    failure = None
    on_failure = None
    _ctx = NoopContext()

    def start(self) -> None:
        pass

    def create_stream(self, host: object) -> NoopContext:
        return self._ctx

    def close(self) -> None:
        pass


def noop_chain() -> FilterChain:
    rt = PluginRuntime("noop", vm_factory=NoopVM, scheduler=VirtualScheduler())
    rt.start()
    return FilterChain([rt], scheduler=VirtualScheduler())


def header_modifier_chain(runtime: WasmRuntime) -> FilterChain:
    services = make_services(log=CollectingLogSink(LogLevel.WARN))
    settings = PluginSettings(name="header-modifier", configuration=CONFIG)
    plugin = PluginToLoad(settings, HEADER_MODIFIER.read_bytes())
    return build_chain([plugin], wasm_runtime=runtime, services=services).chain


# ------------------------------------------------------------------------------------------------
# proxy_get_property, as plugins call it: from on_log, through the chain's stream
# ------------------------------------------------------------------------------------------------
#: proxy_get_property calls per stream: the loop fixture's on_log makes this many, so a run of
#: ``n`` calls (a multiple of it, or fewer) is ``n / PROPERTY_BATCH`` requests, whose own cost is
#: spread over the calls.
PROPERTY_BATCH = 500
#: Where the path is placed in the loop fixture's memory.
_PATH_AT = 1024
#: What each benchmarked property answers for REQ/RESP (the case checks it after every run).
PROPERTY_PATHS: dict[str, tuple[tuple[str, ...], bytes | None]] = {
    "plugin_root_id": (("plugin_root_id",), b"bench-root"),
    "request.method": (("request", "method"), b"GET"),
    "response.code": (("response", "code"), (200).to_bytes(8, "little")),
    "request.duration": (("request", "duration"), None),  # 8 bytes of nanoseconds
}


def property_case(runtime: WasmRuntime, name: str) -> Case:
    """``n`` proxy_get_property calls on ``name``, made by the loop fixture's on_log through a
    one-plugin chain (the plugin's ``StreamHost`` is the chain's, as for every real plugin).
    ``runtime`` needs a deadline long enough for ``PROPERTY_BATCH`` calls in one callback."""
    path, expected = PROPERTY_PATHS[name]
    settings = PluginSettings(name="bench.loop", root_id="bench-root")
    plugin = PluginToLoad(settings, wasmtime.wat2wasm(LOOP_WAT.read_text()))
    chain = build_chain([plugin], wasm_runtime=runtime, services=make_services(log=CountingSink())).chain
    vm = chain.plugins[0].vm
    assert isinstance(vm, PluginVM)
    raw = "\0".join(path).encode()
    vm.mem.write(_PATH_AT, raw)
    info = StreamInfo(source_address="10.0.0.7", source_port=40312, destination_port=8080, connection_id=9)
    prepare_requests, run_requests = chain_case(chain, info)

    def batch(n: int) -> tuple[int, int]:
        """(requests, calls per request) for ``n`` calls."""
        calls = min(n, PROPERTY_BATCH)
        if n % calls:
            raise SystemExit(f"{n} property calls: not a multiple of {PROPERTY_BATCH}")
        return n // calls, calls

    def prepare(n: int) -> None:
        prepare_requests(batch(n)[0])

    def run(n: int) -> None:
        requests, calls = batch(n)
        vm.call_export("set_log_loop", calls, _PATH_AT, len(raw))
        run_requests(requests)
        status = vm.call_export("last_status")
        mem = vm.mem
        value = mem.read(mem.get_u32(0), mem.get_u32(4))
        if status != 0 or (value != expected if expected is not None else len(value) != 8):
            raise SystemExit(f"proxy_get_property({name}) answered {status}, {value!r}")

    return prepare, run
