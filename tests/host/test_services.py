"""The host's service objects: schedulers, log sinks, shared data/queues, metrics rendering."""

from __future__ import annotations

import asyncio
import io

import pytest

from wasmplugin.abi.enums import LogLevel, MetricType, WasmResult
from wasmplugin.host.logsink import CollectingLogSink, StreamLogSink
from wasmplugin.host.metrics import RUNTIME_CREATED, HistogramSnapshot, MetricsRegistry, StatsTagRule
from wasmplugin.host.scheduling import AsyncioScheduler, VirtualClock, VirtualScheduler
from wasmplugin.host.shared import SharedData, SharedQueues


def test_virtual_scheduler_runs_timers_in_order_at_their_time() -> None:
    sched = VirtualScheduler()
    seen: list[tuple[str, float]] = []
    sched.call_later(0.3, lambda: seen.append(("b", sched.clock.elapsed_s)))
    sched.call_later(0.1, lambda: seen.append(("a", sched.clock.elapsed_s)))
    cancelled = sched.call_later(0.2, lambda: seen.append(("x", sched.clock.elapsed_s)))
    cancelled.cancel()
    sched.call_soon(lambda: seen.append(("now", sched.clock.elapsed_s)))
    assert seen == []  # nothing runs inside the scheduling call
    sched.advance(0.25)
    assert seen == [("now", 0.0), ("a", 0.1)]
    assert sched.clock.elapsed_s == 0.25 and sched.pending_timers() == 1
    sched.advance(1)
    assert seen[-1] == ("b", 0.3)


def test_virtual_scheduler_run_until_idle_does_not_move_time() -> None:
    sched = VirtualScheduler()
    seen: list[int] = []
    sched.call_soon(lambda: sched.call_soon(lambda: seen.append(2)))
    sched.call_later(5, lambda: seen.append(5))
    sched.run_until_idle()
    assert seen == [2] and sched.clock.elapsed_s == 0
    assert sched.next_due_s() == 5


def test_virtual_scheduler_guards_against_busy_loops() -> None:
    sched = VirtualScheduler()

    def again() -> None:
        sched.call_soon(again)

    sched.call_soon(again)
    with pytest.raises(RuntimeError, match="still busy"):
        sched.run_until_idle(max_steps=100)


def test_virtual_clock() -> None:
    clock = VirtualClock(start_ns=1_000)
    assert clock.now_ns() == 1_000 and clock.monotonic_ns() > 0
    with pytest.raises(ValueError):
        VirtualScheduler(clock).advance(-1)


def test_asyncio_scheduler() -> None:
    async def main() -> list[str]:
        sched = AsyncioScheduler(asyncio.get_running_loop())
        seen: list[str] = []
        done = asyncio.Event()
        sched.call_soon(lambda: seen.append("soon"))
        sched.call_later(0.01, lambda: (seen.append("later"), done.set()))
        await asyncio.wait_for(done.wait(), 5)
        return seen

    assert asyncio.run(main()) == ["soon", "later"]


def test_log_sinks() -> None:
    sink = CollectingLogSink(LogLevel.INFO)
    sink.log("a", LogLevel.DEBUG, "dropped")
    sink.log("a", LogLevel.WARN, "kept")
    sink.set_level(LogLevel.TRACE, plugin="b")
    sink.log("b", LogLevel.DEBUG, "b debug")
    assert sink.messages() == ["kept", "b debug"] and sink.messages(plugin="a") == ["kept"]
    assert str(sink.entries[0]) == "[a] warning: kept"
    out = io.StringIO()
    stream = StreamLogSink(out, LogLevel.INFO)
    stream.log("ns.p", LogLevel.INFO, "hello")
    stream.log("ns.p", LogLevel.DEBUG, "quiet")
    assert out.getvalue() == "[ns.p] info: hello\n" and stream.level("ns.p") == LogLevel.INFO


def test_shared_data_cas_counter_skips_zero() -> None:
    data = SharedData()
    data._next_cas = 0xFFFFFFFF
    assert data.set("vm", b"k", b"1", 0) == WasmResult.OK
    assert data.get("vm", b"k") == (b"1", 0xFFFFFFFF)
    assert data.set("vm", b"k", b"2", 0xFFFFFFFF) == WasmResult.OK
    assert data.get("vm", b"k") == (b"2", 1)
    assert data.keys("vm") == [b"k"] and data.get("other", b"k") is None


def test_shared_queue_notifier_can_be_forgotten() -> None:
    queues = SharedQueues()
    seen: list[int] = []
    token = queues.register("vm", "q", seen.append)
    queues.enqueue(token, b"a")
    queues.forget_notifier(seen.append)
    queues.enqueue(token, b"b")
    assert seen == [token] and queues.size(token) == 2
    assert queues.dequeue(token) == (WasmResult.OK, b"a")


def test_prometheus_rendering_with_tags_and_histograms() -> None:
    reg = MetricsRegistry(tag_rules=[StatsTagRule("plugin", r"^myplugin\.((.+?)\.)")])
    reg.define(MetricType.COUNTER, "myplugin.auth.requests_total.result=ok").add(2)  # type: ignore[union-attr]
    hist = reg.define(MetricType.HISTOGRAM, "latency_ms.route=a")
    hist.record(3)  # type: ignore[union-attr]
    hist.record(700)  # type: ignore[union-attr]
    reg.gauge("server.live").set(1)
    reg.counter(RUNTIME_CREATED).add(1)
    text = reg.render_prometheus()
    assert 'myplugin_requests_total{plugin="auth",result="ok"} 2' in text
    assert "# TYPE latency_ms histogram" in text
    assert 'latency_ms_bucket{route="a",le="5"} 1' in text
    assert 'latency_ms_bucket{route="a",le="1000"} 2' in text
    assert 'latency_ms_bucket{route="a",le="+Inf"} 2' in text
    assert 'latency_ms_sum{route="a"} 703' in text and 'latency_ms_count{route="a"} 2' in text
    assert "envoy_server_live 1" in text
    snap = reg.snapshot()
    assert isinstance(snap["wasmcustom.latency_ms.route=a"], HistogramSnapshot)
    assert reg.value("wasmcustom.myplugin.auth.requests_total.result=ok") == 2
    assert "wasmcustom.latency_ms.route=a: count=2 sum=703" in reg.render_text()
