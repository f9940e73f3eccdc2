"""What a test drives: one plugin (``PluginTarget``) or a chain from WasmPlugin YAML (``ChainTarget``).

Both are a :class:`~wasmplugin.chain.chain.FilterChain` built by ``chain/build.py`` — the code the
sidecar and ``wasmplugin run`` use — plus the harness's fakes around it. ``request()`` sends one
request and returns the :class:`~wasmplugin.testing.exchange.Response` once it is complete (virtual
time moves as far as the request needs); ``start_request()`` hands back the stream to drive it step
by step.
"""

from __future__ import annotations

import json as jsonlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wasmplugin.chain.api import StreamInfo
from wasmplugin.testing.exchange import Backend, BodyInput, InFlight, Reply, Response, chunks_of
from wasmplugin.testing.faults import FaultPlan, InjectableVM
from wasmplugin.testing.headers import HeadersInput, to_pairs
from wasmplugin.testing.leak import (
    DEFAULT_REQUESTS,
    DEFAULT_ROUNDS,
    DEFAULT_TOLERANCE_BYTES,
    DEFAULT_WARMUP,
    LeakReport,
    measure,
)

if TYPE_CHECKING:
    from wasmplugin.chain.chain import FilterChain
    from wasmplugin.chain.runtime import PluginRuntime, PluginStats
    from wasmplugin.errors import PluginRuntimeError, WasmPluginError
    from wasmplugin.host.metrics import MetricsRegistry
    from wasmplugin.host.vm import PluginVM
    from wasmplugin.testing.clock import TestClock
    from wasmplugin.testing.harness import Harness
    from wasmplugin.testing.logs import LogView
    from wasmplugin.testing.metrics import MetricsView
    from wasmplugin.testing.trace import HostCallTrace
    from wasmplugin.testing.upstreams import FakeUpstream, FakeUpstreams
    from wasmplugin.testing.yamlchain import ChainSelection

_PSEUDO = (b":authority", b":path", b":method", b":scheme")


class PluginHandle:
    """One plugin in a target: its VM, state, logs, and the switch to make it fail."""

    def __init__(self, harness: Harness, runtime: PluginRuntime, plan: FaultPlan) -> None:
        self._harness = harness
        self.runtime = runtime
        self.faults = plan

    @property
    def name(self) -> str:
        """Envoy's plugin name (the tag on its log lines): ``<namespace>.<name>`` for a WasmPlugin."""
        return self.runtime.name

    @property
    def vm(self) -> PluginVM | None:
        """The VM new requests use (``None`` when failed or never loaded)."""
        vm = self.runtime.vm
        if isinstance(vm, InjectableVM):
            return vm.vm
        return vm  # type: ignore[return-value]

    @property
    def memory_size(self) -> int:
        """Current linear memory of the plugin's VM, in bytes (0 without a VM)."""
        vm = self.vm
        return vm.memory_size() if vm is not None else 0

    @property
    def failure(self) -> PluginRuntimeError | None:
        return self.runtime.failure

    @property
    def load_error(self) -> WasmPluginError | None:
        return self.runtime.load_error

    @property
    def state(self) -> str:
        """``ready``, ``failed`` (after a runtime failure) or ``load_failed``."""
        return self.runtime.state.value

    @property
    def stats(self) -> PluginStats:
        return self.runtime.stats

    @property
    def logs(self) -> LogView:
        return self._harness.logs.of(self.name)

    def force_trap(self, on: str = "request_headers", *, kind: str = "trap", times: int = 1) -> None:
        """Make the plugin fail the next ``times`` times it is called in ``on`` (``request_headers``,
        ``request_body``, ``response_headers``, ``response_body``, ``log`` ...), as if it trapped —
        or, with ``kind="deadline"`` / ``"memory"``, ran past its deadline or memory cap."""
        self.faults.arm(on, kind, times)

    def __repr__(self) -> str:
        return f"<plugin {self.name} {self.state}>"


class Target:
    """Common driving and inspection API of :class:`PluginTarget` and :class:`ChainTarget`."""

    def __init__(
        self,
        harness: Harness,
        chain: FilterChain,
        handles: list[PluginHandle],
        load_errors: list[WasmPluginError],
    ) -> None:
        self.harness = harness
        self.chain = chain
        self.plugins = handles
        #: Load failures the chain stands in for (deny-all / allow-all per failStrategy).
        self.load_errors = load_errors
        #: What the backend answers when a request reaches it (override per request with ``response=``).
        self.backend: Backend = Reply()
        self.info = StreamInfo()
        self._closed = False

    # -- shared harness pieces ----------------------------------------------------------------------
    @property
    def clock(self) -> TestClock:
        return self.harness.clock

    @property
    def logs(self) -> LogView:
        """Logs of this target's plugins (use ``harness.logs`` for everything)."""
        return self.harness.logs.of(*[h.name for h in self.plugins])

    @property
    def metrics(self) -> MetricsView:
        return self.harness.metrics

    @property
    def trace(self) -> HostCallTrace:
        return self.harness.trace

    @property
    def upstreams(self) -> FakeUpstreams:
        return self.harness.upstreams

    def upstream(self, cluster: str) -> FakeUpstream:
        """The fake answering http_calls to ``cluster``."""
        return self.harness.upstreams.upstream(cluster)

    def plugin(self, name: str) -> PluginHandle:
        """A plugin by name: ``ns.name``, ``ns/name`` or just ``name``."""
        wanted = name.replace("/", ".")
        for h in self.plugins:
            if h.name == wanted or h.name.split(".", 1)[-1] == wanted:
                return h
        raise KeyError(f"no plugin {name!r} here (have: {', '.join(h.name for h in self.plugins)})")

    # -- requests ------------------------------------------------------------------------------------
    def request(
        self,
        method: str = "GET",
        path: str = "/",
        *,
        headers: HeadersInput = None,
        body: BodyInput = None,
        json: Any = None,
        trailers: HeadersInput = None,
        authority: str | None = None,
        scheme: str = "http",
        response: Backend | None = None,
        info: StreamInfo | None = None,
        max_wait: float | None = None,
    ) -> Response:
        """Send one request and return what the client gets once the stream is over.

        ``body`` may be a list of chunks (one ``on_request_body`` each); ``trailers`` end the
        request. ``response`` is the backend's answer (a :class:`Reply`, or a function of the
        :class:`UpstreamRequest`); default ``target.backend`` (200, empty). Virtual time moves to
        each next timer while the request waits (http_call answers with a delay, ticks), up to
        ``max_wait`` seconds (default: the 300 s stream idle timeout → 408)."""
        flight = self.start_request(
            method,
            path,
            headers=headers,
            body=body,
            json=json,
            trailers=trailers,
            authority=authority,
            scheme=scheme,
            response=response,
            info=info,
            end_stream=True,
            max_wait=max_wait,
        )
        return flight.finish()

    def get(self, path: str = "/", **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str = "/", **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    def start_request(
        self,
        method: str = "GET",
        path: str = "/",
        *,
        headers: HeadersInput = None,
        body: BodyInput = None,
        json: Any = None,
        trailers: HeadersInput = None,
        authority: str | None = None,
        scheme: str = "http",
        response: Backend | None = None,
        info: StreamInfo | None = None,
        end_stream: bool = False,
        max_wait: float | None = None,
    ) -> InFlight:
        """Start a request and return its stream without waiting. The headers (and ``body`` chunks,
        ``trailers``) are sent now; ``end_stream=False`` leaves the request open for
        ``send_body()`` / ``send_trailers()``. ``finish()`` completes it."""
        self._check_open()
        if json is not None:
            if body is not None:
                raise ValueError("give body or json, not both")
            body = jsonlib.dumps(json, separators=(",", ":"))
        chunks = chunks_of(body)
        user = to_pairs(headers)
        if json is not None and not any(k == b"content-type" for k, _ in user):
            user.append((b"content-type", b"application/json"))
        declared_length = sum(len(c) for c in chunks) if end_stream else None
        wire = self._request_headers(method, path, user, authority, scheme, declared_length)
        h = self.harness
        flight = InFlight(
            self.chain,
            h.scheduler,
            response if response is not None else self.backend,
            info if info is not None else self.info,
            on_finish=h._finished,
            max_wait_s=max_wait if max_wait is not None else h.limits.downstream_idle_timeout_s,
            marks=(h.logs.mark(), h.trace.mark(), len(h.upstreams.calls)),
            views=(self.logs, h.trace, h.upstreams.calls),
        )
        h._started(flight)
        last_is_body = bool(chunks) and trailers is None
        flight.send_headers(wire, end_stream=end_stream and not chunks and trailers is None)
        for i, chunk in enumerate(chunks):
            flight.send_body(chunk, end_stream=end_stream and last_is_body and i == len(chunks) - 1)
        if trailers is not None:
            flight.send_trailers(trailers)
        return flight

    def _request_headers(
        self,
        method: str,
        path: str,
        user: list[tuple[bytes, bytes]],
        authority: str | None,
        scheme: str,
        body_length: int | None,
    ) -> list[tuple[bytes, bytes]]:
        pseudo = {
            b":authority": (authority or "localhost").encode(),
            b":path": path.encode(),
            b":method": method.upper().encode(),
            b":scheme": scheme.encode(),
        }
        regular: list[tuple[bytes, bytes]] = []
        for k, v in user:
            if k == b"host" and authority is None:  # Envoy's HTTP/1 codec: Host becomes :authority
                pseudo[b":authority"] = v
            elif k.startswith(b":"):
                if k not in pseudo:
                    raise ValueError(f"unknown request pseudo-header {k.decode()!r}")
                pseudo[k] = v
            else:
                regular.append((k, v))
        names = {k for k, _ in regular}
        if body_length and b"content-length" not in names and b"transfer-encoding" not in names:
            regular.append((b"content-length", str(body_length).encode()))
        if self.harness.envoy_headers:
            # What Envoy's connection manager adds before any filter runs (the sidecar does too).
            if b"x-forwarded-proto" not in names:
                regular.append((b"x-forwarded-proto", pseudo[b":scheme"]))
            if b"x-request-id" not in names:
                rid = uuid.UUID(int=self.harness.rng.getrandbits(128), version=4)
                regular.append((b"x-request-id", str(rid).encode()))
        return [(k, pseudo[k]) for k in _PSEUDO] + regular

    # -- leak check ----------------------------------------------------------------------------------
    def leak_check(
        self,
        method: str = "GET",
        path: str = "/",
        *,
        send: Callable[[], object] | None = None,
        plugin: str | None = None,
        warmup: int = DEFAULT_WARMUP,
        requests: int = DEFAULT_REQUESTS,
        rounds: int = DEFAULT_ROUNDS,
        tolerance_bytes: int = DEFAULT_TOLERANCE_BYTES,
        **request_kwargs: Any,
    ) -> LeakReport:
        """Send identical requests and report whether the plugin's linear memory keeps growing
        (see :mod:`wasmplugin.testing.leak`). ``send`` replaces the default request; in a chain,
        ``plugin`` picks whose memory to watch (default: the first)."""
        handle = self.plugin(plugin) if plugin is not None else self.plugins[0]
        first_vm = handle.vm
        if first_vm is None or handle.failure is not None:
            raise RuntimeError(f"plugin {handle.name} has no running VM to measure ({handle.state})")

        def default_send() -> object:
            return self.request(method, path, **request_kwargs)

        def memory() -> int:
            vm = handle.vm
            if handle.failure is not None:
                raise AssertionError(f"plugin {handle.name} failed during the leak check: {handle.failure}")
            if vm is not first_vm:
                raise AssertionError(
                    f"plugin {handle.name}'s VM was replaced during the leak check "
                    f"({handle.failure or 'no VM'})"
                )
            return vm.memory_size()

        trace = self.harness.trace
        was_recording = trace.recording
        trace.recording = False  # thousands of requests: keep the trace out of it
        try:
            return measure(
                handle.name,
                send or default_send,
                memory,
                warmup=warmup,
                requests=requests,
                rounds=rounds,
                tolerance_bytes=tolerance_bytes,
            )
        finally:
            trace.recording = was_recording

    def assert_no_leak(self, method: str = "GET", path: str = "/", **kwargs: Any) -> LeakReport:
        """:meth:`leak_check`, raising ``AssertionError`` with the report when memory keeps growing."""
        report = self.leak_check(method, path, **kwargs)
        if report.leaked:
            raise AssertionError(str(report))
        return report

    # -- host state ----------------------------------------------------------------------------------
    def shared_data(self, key: str | bytes, *, vm_id: str = "") -> bytes | None:
        """The value a plugin stored with ``proxy_set_shared_data`` (``None`` when absent)."""
        k = key.encode() if isinstance(key, str) else key
        found = self.harness.services.shared_data.get(vm_id, k)
        return found[0] if found is not None else None

    def set_shared_data(self, key: str | bytes, value: str | bytes, *, vm_id: str = "") -> None:
        k = key.encode() if isinstance(key, str) else key
        v = value.encode() if isinstance(value, str) else value
        self.harness.services.shared_data.set(vm_id, k, v, 0)

    def enqueue(self, queue: str, item: str | bytes, *, vm_id: str = "") -> None:
        """Put ``item`` on a shared queue a plugin registered, and deliver ``on_queue_ready``."""
        queues = self.harness.services.shared_queues
        token = queues.resolve(vm_id, queue)
        if token is None:
            raise KeyError(f"no shared queue {queue!r} (vm_id {vm_id!r}) was registered")
        queues.enqueue(token, item.encode() if isinstance(item, str) else item)
        self.clock.run_pending()

    @property
    def metrics_registry(self) -> MetricsRegistry:
        return self.harness.services.metrics

    # -- lifecycle -----------------------------------------------------------------------------------
    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.chain.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this plugin/chain is closed")

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PluginTarget(Target):
    """One plugin (a one-plugin chain). Also the plugin's :class:`PluginHandle`."""

    @property
    def handle(self) -> PluginHandle:
        return self.plugins[0]

    @property
    def name(self) -> str:
        return self.handle.name

    @property
    def vm(self) -> PluginVM | None:
        return self.handle.vm

    @property
    def memory_size(self) -> int:
        return self.handle.memory_size

    @property
    def failure(self) -> PluginRuntimeError | None:
        return self.handle.failure

    @property
    def load_error(self) -> WasmPluginError | None:
        return self.handle.load_error

    @property
    def state(self) -> str:
        return self.handle.state

    @property
    def stats(self) -> PluginStats:
        return self.handle.stats

    def force_trap(self, on: str = "request_headers", *, kind: str = "trap", times: int = 1) -> None:
        self.handle.force_trap(on, kind=kind, times=times)

    def __repr__(self) -> str:
        return f"<PluginTarget {self.name} {self.state}>"


class ChainTarget(Target):
    """The chain the sidecar would build for one workload's listener from WasmPlugin YAML."""

    def __init__(
        self,
        harness: Harness,
        chain: FilterChain,
        handles: list[PluginHandle],
        load_errors: list[WasmPluginError],
        selection: ChainSelection,
        bypassed: list[str],
    ) -> None:
        super().__init__(harness, chain, handles, load_errors)
        self.selection = selection
        #: Plugins left out because they failed to load under FAIL_OPEN.
        self.bypassed = bypassed

    @property
    def names(self) -> list[str]:
        """Plugin names in request order."""
        return [h.name for h in self.plugins]

    def __repr__(self) -> str:
        return f"<ChainTarget {' -> '.join(self.names)}>"
