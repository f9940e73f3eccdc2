"""Helpers for chain tests: real VMs on virtual time, a call recorder, chain builders, the ``env`` fixture."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wasmplugin.abi.enums import LogLevel
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.chain import ChainOptions, FailStrategy, FilterChain
from wasmplugin.chain.build import PluginToLoad, build_chain
from wasmplugin.chain.canned import CannedAnswer, CannedUpstreams
from wasmplugin.chain.chain import DEFAULT_OPTIONS
from wasmplugin.host.api import HostServices
from wasmplugin.host.logsink import CollectingLogSink
from wasmplugin.host.metrics import MetricsRegistry
from wasmplugin.host.runtime import WasmRuntime
from wasmplugin.host.scheduling import VirtualClock, VirtualScheduler
from wasmplugin.host.settings import PluginSettings
from wasmplugin.host.shared import SharedData, SharedQueues
from wasmplugin.limits import DEFAULT_LIMITS, Limits

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"


@dataclass
class Tracer:
    """HostCallTracer recording guest calls as ``(plugin, callback, args)``."""

    calls: list[tuple[str, str, tuple[int, ...]]] = field(default_factory=list)

    def host_call(
        self, plugin: str, context_id: int, name: str, args: tuple[int, ...], result: int
    ) -> None:
        pass

    def guest_call(self, plugin: str, name: str, args: tuple[int, ...]) -> None:
        self.calls.append((plugin, name, args))

    def stream_calls(self) -> list[tuple[str, str]]:
        """(plugin, callback) for the stream callbacks, in order."""
        keep = ("proxy_on_request", "proxy_on_response", "proxy_on_log", "proxy_on_done", "proxy_on_delete")
        return [(p, n.removeprefix("proxy_on_")) for p, n, a in self.calls if n.startswith(keep) and a[0] > 1]

    def args_of(self, plugin: str, callback: str) -> list[tuple[int, ...]]:
        return [a for p, n, a in self.calls if p == plugin and n == "proxy_on_" + callback]

    def clear(self) -> None:
        self.calls.clear()


@dataclass
class Env:
    clock: VirtualClock
    scheduler: VirtualScheduler
    logs: CollectingLogSink
    upstreams: CannedUpstreams
    services: HostServices
    runtime: WasmRuntime
    tracer: Tracer
    chains: list[FilterChain] = field(default_factory=list)

    def chain(
        self,
        *plugins: bytes | tuple[str, bytes] | PluginToLoad,
        strategy: FailStrategy = FailStrategy.FAIL_CLOSE,
        options: ChainOptions = DEFAULT_OPTIONS,
        reject_start_failure: bool = True,
    ) -> FilterChain:
        items: list[PluginToLoad] = []
        for i, p in enumerate(plugins):
            if isinstance(p, PluginToLoad):
                items.append(p)
                continue
            name, wasm = p if isinstance(p, tuple) else (f"p{i}", p)
            items.append(PluginToLoad(PluginSettings(name=name), wasm, strategy))
        built = build_chain(
            items, wasm_runtime=self.runtime, services=self.services, options=options,
            reject_start_failure=reject_start_failure,
        )
        self.chains.append(built.chain)
        return built.chain


def make_env(limits: Limits = DEFAULT_LIMITS, answers: dict[str, CannedAnswer] | None = None) -> Env:
    clock = VirtualClock()
    scheduler = VirtualScheduler(clock)
    logs = CollectingLogSink(LogLevel.TRACE)
    upstreams = CannedUpstreams(answers or {"upstream": CannedAnswer(200, b"ok")}, scheduler)
    tracer = Tracer()
    services = HostServices(
        clock=clock, scheduler=scheduler, log=logs, http=upstreams, shared_data=SharedData(),
        shared_queues=SharedQueues(), metrics=MetricsRegistry(), limits=limits, tracer=tracer,
    )
    return Env(clock, scheduler, logs, upstreams, services, WasmRuntime(limits), tracer)


@pytest.fixture
def env() -> Iterator[Env]:
    e = make_env()
    yield e
    for c in e.chains:
        c.close()
    e.runtime.close()


def request(path: bytes = b"/", method: bytes = b"GET", **extra: bytes) -> HeaderMap:
    h = HeaderMap(
        [(b":authority", b"example.com"), (b":path", path), (b":method", method), (b":scheme", b"http")]
    )
    for k, v in extra.items():
        h.add(k.replace("_", "-"), v)
    return h


def response(status: int = 200, **extra: bytes) -> HeaderMap:
    h = HeaderMap([(b":status", str(status).encode())])
    for k, v in extra.items():
        h.add(k.replace("_", "-"), v)
    return h


def plugin_wasm(name: str) -> bytes:
    path = PLUGINS / name / "plugin.wasm"
    if not path.exists():
        pytest.fail(f"{path} is missing: run plugins/build.sh")
    return path.read_bytes()
