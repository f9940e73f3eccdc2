"""``FilterChain``: the ordered plugins of one listener direction/port, and the streams through them.

Built once per configuration (``chain/build.py`` from a ``ChainPlan``, or directly by ``wasmplugin
run`` and tests); every request gets an :class:`~wasmplugin.chain.stream.HttpStream`. A chain with
no plugins is ``passthrough``: a transport may skip the chain entirely for it (the fast path);
streams through it still work and only forward.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wasmplugin.chain.api import StreamInfo
from wasmplugin.chain.passthrough import PassthroughStream
from wasmplugin.chain.runtime import PluginRuntime
from wasmplugin.chain.stream import HttpStream
from wasmplugin.host.api import Clock, Scheduler
from wasmplugin.limits import DEFAULT_LIMITS, Limits


@dataclass(frozen=True, slots=True)
class ChainOptions:
    #: Envoy ``allow_on_headers_stop_iteration`` (PR #40213): a headers Pause holds only the
    #: headers and lets body callbacks run, instead of StopAllIterationAndWatermark.
    allow_on_headers_stop_iteration: bool = False


DEFAULT_OPTIONS = ChainOptions()


class _SystemClock:
    """Used when a chain is built without a host clock (zero-plugin chains)."""

    now_ns = staticmethod(time.time_ns)
    monotonic_ns = staticmethod(time.monotonic_ns)


class FilterChain:
    """Ordered plugin runtimes (request order). Owns them: :meth:`close` closes their VMs."""

    def __init__(
        self,
        plugins: Sequence[PluginRuntime] = (),
        *,
        scheduler: Scheduler | None = None,
        clock: Clock | None = None,
        limits: Limits = DEFAULT_LIMITS,
        options: ChainOptions = DEFAULT_OPTIONS,
        name: str = "",
    ) -> None:
        self.plugins: tuple[PluginRuntime, ...] = tuple(plugins)
        if self.plugins and scheduler is None:
            raise ValueError("a chain with plugins needs a scheduler")
        self.scheduler = scheduler
        self.clock: Clock = clock if clock is not None else _SystemClock()
        self.limits = limits
        self.options = options
        self.name = name
        #: True when the chain has no plugins: the transport may bypass it altogether.
        self.passthrough = not self.plugins
        self._stream_class: type[HttpStream] = PassthroughStream if self.passthrough else HttpStream
        self._default_info = StreamInfo()

    def new_stream(
        self, info: StreamInfo | None = None, wakeup: Callable[[], None] | None = None
    ) -> HttpStream:
        """Start a stream. ``wakeup`` is called (from the scheduler, never re-entrantly) when
        events appear outside an input call, e.g. a plugin resumed from on_http_call_response.
        A chain without plugins gives a ``PassthroughStream``, an ``HttpStream`` that only forwards."""
        return self._stream_class(self, info if info is not None else self._default_info, wakeup)

    def scheduler_call_soon(self, fn: Callable[[], None]) -> None:
        assert self.scheduler is not None
        self.scheduler.call_soon(fn)

    def start(self) -> None:
        """Start every plugin's first VM (``PluginRuntime.start``); see ``chain/build.py``."""
        for rt in self.plugins:
            rt.start()

    def close(self) -> None:
        for rt in self.plugins:
            rt.close()

    def __enter__(self) -> FilterChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FilterChain({[rt.name for rt in self.plugins]!r})"
