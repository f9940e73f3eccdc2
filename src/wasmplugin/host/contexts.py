"""Contexts: the root (plugin) context and per-stream contexts of one VM.

Ids come from one counter per VM starting at 1, shared by roots and streams (Envoy: with one
plugin the root is 1 and the first stream 2). Host calls act on the VM's *effective* context,
which every host→VM call resets to the callback's own context and ``proxy_set_effective_context``
may redirect until the callback returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

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

    # The methods below are the request path: each fills the export's preallocated argument
    # slots (slot k = word 4k) and enters the guest once.

    # -- request path ------------------------------------------------------------------------
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> int:
        vm = self.vm
        f = vm._f_request_headers
        if f is None:
            return 0
        raw = f.raw
        raw[0] = self.context_id
        raw[4] = num_headers
        raw[8] = 1 if end_of_stream else 0  # not passed to 0.1.0 modules (their nargs is 2)
        return vm._invoke(f, self)

    def on_request_body(self, body_size: int, end_of_stream: bool) -> int:
        vm = self.vm
        f = vm._f_request_body
        if f is None:
            return 0
        raw = f.raw
        raw[0] = self.context_id
        raw[4] = body_size
        raw[8] = 1 if end_of_stream else 0
        return vm._invoke(f, self)

    def on_request_trailers(self, num_trailers: int) -> int:
        vm = self.vm
        f = vm._f_request_trailers
        if f is None:
            return 0
        raw = f.raw
        raw[0] = self.context_id
        raw[4] = num_trailers
        return vm._invoke(f, self)

    # -- response path ------------------------------------------------------------------------
    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> int:
        vm = self.vm
        f = vm._f_response_headers
        if f is None:
            return 0
        raw = f.raw
        raw[0] = self.context_id
        raw[4] = num_headers
        raw[8] = 1 if end_of_stream else 0
        return vm._invoke(f, self)

    def on_response_body(self, body_size: int, end_of_stream: bool) -> int:
        vm = self.vm
        f = vm._f_response_body
        if f is None:
            return 0
        raw = f.raw
        raw[0] = self.context_id
        raw[4] = body_size
        raw[8] = 1 if end_of_stream else 0
        return vm._invoke(f, self)

    def on_response_trailers(self, num_trailers: int) -> int:
        vm = self.vm
        f = vm._f_response_trailers
        if f is None:
            return 0
        raw = f.raw
        raw[0] = self.context_id
        raw[4] = num_trailers
        return vm._invoke(f, self)

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
