"""Contexts: the root (plugin) context and per-stream contexts of one VM.

Ids come from one counter per VM starting at 1, shared by roots and streams (Envoy: with one
plugin the root is 1 and the first stream 2). Host calls act on the VM's *effective* context,
which every host→VM call resets to the callback's own context and ``proxy_set_effective_context``
may redirect until the callback returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from wasmplugin.host.api import StreamHost, TimerHandle

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM


class RootContext:
    """The plugin's root context (id ``root_context_id``) — or the VM context 0 during start-up.

    Owns what Envoy attaches to the root: the tick timer, http_call tokens, the queue notifier and
    the last callout status (``proxy_get_status``)."""

    __slots__ = (
        "context_id",
        "created",
        "host",
        "local_reply_sent",
        "queue_notifier",
        "root",
        "status",
        "tick_period_ms",
        "timer",
        "vm",
    )

    def __init__(self, vm: PluginVM, context_id: int) -> None:
        self.vm = vm
        self.host: StreamHost | None = None
        self.context_id = context_id
        self.root: RootContext = self
        self.created = False
        self.tick_period_ms = 0
        self.timer: TimerHandle | None = None
        self.status: tuple[int, bytes] = (0, b"")
        self.local_reply_sent = False
        #: Posts proxy_on_queue_ready(root, token); one stable callable per root (see SharedQueues).
        self.queue_notifier: Callable[[int], None] = lambda token: vm._post_queue_ready(self, token)

    def set_tick_period(self, period_ms: int) -> None:
        """Re-arm (or with 0 stop) this root's timer: first tick one period from now."""
        self.tick_period_ms = period_ms
        self.cancel_timer()
        if period_ms > 0:
            self.timer = self.vm._schedule_tick(self, period_ms)

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def __repr__(self) -> str:
        return f"RootContext({self.context_id})"


#: The request path's exports, in the order of ``PluginVM._f_stream`` (a tuple: a callback
#: reads its export by a constant index, as cheap as reading an attribute by name).
STREAM_EXPORTS = (
    "proxy_on_request_headers",
    "proxy_on_request_body",
    "proxy_on_request_trailers",
    "proxy_on_response_headers",
    "proxy_on_response_body",
    "proxy_on_response_trailers",
)
REQUEST_HEADERS, REQUEST_BODY, REQUEST_TRAILERS, RESPONSE_HEADERS, RESPONSE_BODY, RESPONSE_TRAILERS = range(6)


def _count_and_end(index: int) -> Callable[[StreamContext, int, bool], int]:
    """``on_*_headers`` / ``on_*_body``: (context id, count or size, end of stream)."""

    def callback(self: StreamContext, count: int, end_of_stream: bool) -> int:
        vm = self.vm
        f = vm._f_stream[index]
        if f is None:
            return 0
        raw = f.raw
        raw[0] = self.context_id
        raw[4] = count
        raw[8] = 1 if end_of_stream else 0  # not passed to 0.1.0 headers callbacks (nargs is 2)
        return vm._invoke(f, self)

    return _named(callback, index)


def _count(index: int) -> Callable[[StreamContext, int], int]:
    """``on_*_trailers``: (context id, count)."""

    def callback(self: StreamContext, count: int) -> int:
        vm = self.vm
        f = vm._f_stream[index]
        if f is None:
            return 0
        raw = f.raw
        raw[0] = self.context_id
        raw[4] = count
        return vm._invoke(f, self)

    return _named(callback, index)


_F = TypeVar("_F", bound=Callable[..., int])


def _named(callback: _F, index: int) -> _F:
    callback.__name__ = name = STREAM_EXPORTS[index].removeprefix("proxy_")
    callback.__qualname__ = "StreamContext." + name
    return callback


class StreamContext:
    """One HTTP stream's context. The chain calls these methods in Envoy's order:

    request headers → body* → trailers? → response headers → body* → trailers? → on_log →
    on_done → on_delete. Each returns the raw i32 the guest returned (0 when the export is
    missing) and raises a ``PluginRuntimeError`` subclass if the VM traps, exceeds its deadline or
    its memory cap.
    """

    __slots__ = ("context_id", "created", "deleted", "host", "local_reply_sent", "root", "vm")

    def __init__(self, vm: PluginVM, context_id: int, root: RootContext, host: StreamHost) -> None:
        self.vm = vm
        self.context_id = context_id
        self.root = root
        self.host: StreamHost | None = host
        self.local_reply_sent = False
        self.created = False
        self.deleted = False

    # The request path: one method per callback, each made by ``_count_and_end`` or ``_count``
    # (above) for its export: it fills the export's preallocated argument slots (slot k = word
    # 4k) and enters the guest once. Made by a factory rather than delegating to a shared helper:
    # one more Python call per callback would cost ~700 instructions.
    on_request_headers = _count_and_end(REQUEST_HEADERS)
    on_request_body = _count_and_end(REQUEST_BODY)
    on_request_trailers = _count(REQUEST_TRAILERS)
    on_response_headers = _count_and_end(RESPONSE_HEADERS)
    on_response_body = _count_and_end(RESPONSE_BODY)
    on_response_trailers = _count(RESPONSE_TRAILERS)

    # -- end of stream ------------------------------------------------------------------------
    def on_log(self) -> None:
        vm = self.vm
        f = vm._f_log
        if f is None:
            return
        f.raw[0] = self.context_id
        vm.in_log = True
        try:
            vm._invoke(f, self)
        finally:
            vm.in_log = False

    def on_done(self) -> None:
        """Stream contexts ignore on_done's return value (Envoy)."""
        vm = self.vm
        f = vm._f_done
        if f is not None:
            f.raw[0] = self.context_id
            vm._invoke(f, self)

    def on_delete(self) -> None:
        """Only for a context whose on_context_create ran; the context is then forgotten."""
        vm = self.vm
        try:
            f = vm._f_delete
            if f is not None and self.created and not self.deleted:
                f.raw[0] = self.context_id
                vm._invoke(f, self)
        finally:
            self.deleted = True
            vm.contexts.pop(self.context_id, None)

    def __repr__(self) -> str:
        return f"StreamContext({self.context_id}, plugin={self.vm.settings.name!r})"


Context = RootContext | StreamContext
