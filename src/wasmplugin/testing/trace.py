"""``HostCallTrace``: every host call a plugin made and every callback the host made into it, in order.

The harness installs it as ``HostServices.tracer`` (VMs are then linked with tracing shims). Each
event records the plugin, the effective context id, the function, its integer arguments and — for
host calls — the status returned; ``format()`` prints it the way Envoy's trace logs read::

    -> proxy_on_request_headers(2, 5, 1)
       proxy_get_header_map_value(0, 1024, 5, 1040, 1044) -> OK   [ctx 2]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from wasmplugin.abi.enums import WasmResult

#: Guest allocator exports the host calls to return data (left out of listings unless asked for).
ALLOCATORS = ("malloc", "proxy_on_memory_allocate")


@dataclass(frozen=True, slots=True)
class TraceEvent:
    #: "host" (plugin → host call) or "guest" (host → plugin callback, incl. the allocator).
    kind: str
    plugin: str
    name: str
    args: tuple[int, ...]
    #: The value returned to the plugin (host calls); 0 for guest calls and void host calls.
    result: int = 0
    #: Effective context id during a host call (-1 when unknown); for guest calls the first argument.
    context_id: int = -1
    #: Virtual seconds since the harness started.
    at: float = 0.0

    @property
    def status(self) -> str:
        """The result as a proxy-wasm status name for ``proxy_*`` host calls, else the number."""
        if self.kind == "host" and self.name.startswith("proxy_"):
            try:
                return WasmResult(self.result).name
            except ValueError:
                pass
        return str(self.result)

    def __str__(self) -> str:
        args = ", ".join(str(a) for a in self.args)
        if self.kind == "guest":
            return f"-> {self.name}({args})"
        return f"   {self.name}({args}) -> {self.status}   [ctx {self.context_id}]"


class HostCallTrace:
    """Recorder (``HostCallTracer``) and query object in one. Recording can be paused."""

    def __init__(self, now_s: Callable[[], float] = lambda: 0.0) -> None:
        self._events: list[TraceEvent] = []
        self._now_s = now_s
        self.recording = True

    # -- HostCallTracer protocol -------------------------------------------------------------------
    def host_call(self, plugin: str, context_id: int, name: str, args: tuple[int, ...], result: int) -> None:
        if self.recording:
            self._events.append(TraceEvent("host", plugin, name, args, result, context_id, self._now_s()))

    def guest_call(self, plugin: str, name: str, args: tuple[int, ...]) -> None:
        if self.recording:
            ctx = args[0] if args and name.startswith("proxy_on_") else -1
            self._events.append(TraceEvent("guest", plugin, name, args, 0, ctx, self._now_s()))

    # -- Sequence ------------------------------------------------------------------------------------
    @overload
    def __getitem__(self, i: int) -> TraceEvent: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[TraceEvent]: ...
    def __getitem__(self, i: int | slice) -> TraceEvent | Sequence[TraceEvent]:
        return self._events[i]

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self._events)

    def __contains__(self, name: object) -> bool:
        """``"proxy_http_call" in trace``: that function was called (either direction)."""
        if isinstance(name, TraceEvent):
            return name in self._events
        return any(e.name == name for e in self._events)

    # -- queries ---------------------------------------------------------------------------------------
    def mark(self) -> int:
        return len(self._events)

    def since(self, mark: int, until: int | None = None) -> HostCallTrace:
        view = HostCallTrace(self._now_s)
        view._events = self._events[mark:until]
        view.recording = False
        return view

    def host_calls(self, name: str | None = None, *, plugin: str | None = None) -> list[TraceEvent]:
        return [
            e
            for e in self._events
            if e.kind == "host"
            and (name is None or e.name == name)
            and (plugin is None or e.plugin == plugin)
        ]

    def callbacks(
        self, name: str | None = None, *, plugin: str | None = None, allocator: bool = False
    ) -> list[TraceEvent]:
        """Host → plugin calls (``proxy_on_*``, start functions; the allocator only if asked)."""
        return [
            e
            for e in self._events
            if e.kind == "guest"
            and (name is None or e.name == name)
            and (plugin is None or e.plugin == plugin)
            and (allocator or name is not None or e.name not in ALLOCATORS)
        ]

    def names(self, kind: str | None = None) -> list[str]:
        return [e.name for e in self._events if kind is None or e.kind == kind]

    def count(self, name: str) -> int:
        return sum(1 for e in self._events if e.name == name)

    def failed(self) -> list[TraceEvent]:
        """Host calls that returned something other than OK (proxy_* calls only)."""
        return [e for e in self._events if e.kind == "host" and e.name.startswith("proxy_") and e.result != 0]

    def clear(self) -> None:
        self._events.clear()

    def format(self, *, plugin: str | None = None, allocator: bool = False) -> str:
        """One line per event; allocator calls (malloc, proxy_on_memory_allocate) left out unless asked."""
        lines = []
        for e in self._events:
            if plugin is not None and e.plugin != plugin:
                continue
            if not allocator and e.kind == "guest" and e.name in ALLOCATORS:
                continue
            lines.append(f"[{e.plugin}] {e}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<trace: {len(self._events)} event(s)>"
