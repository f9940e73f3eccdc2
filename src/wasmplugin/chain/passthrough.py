"""``PassthroughStream``: a stream through a chain with no plugins.

``FilterChain.new_stream`` returns one for a plugin-less chain. It behaves exactly as an
``HttpStream`` with no filters (inputs become the same events; local replies, resets and the
attributes a transport reads work the same) without the per-direction iteration state, so it costs
a fraction of one: about a microsecond per request. A transport that sees ``chain.passthrough``
may still skip the chain altogether.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from wasmplugin.abi.headers import HeaderMap
from wasmplugin.abi.pairs import Pair
from wasmplugin.chain.api import (
    ResetStream,
    SendRequestData,
    SendRequestHeaders,
    SendRequestTrailers,
    SendResponseData,
    SendResponseHeaders,
    SendResponseTrailers,
    StreamInfo,
)
from wasmplugin.chain.local_reply import (
    DETAILS_VIA_UPSTREAM,
    LocalReply,
    build_local_reply,
    normalize_details,
)
from wasmplugin.chain.stream import HttpStream

if TYPE_CHECKING:
    from wasmplugin.chain.chain import FilterChain


class PassthroughStream(HttpStream):
    """An ``HttpStream`` for a chain without plugins (see the module docstring)."""

    __slots__ = (
        "_rq_aborted",
        "_rq_done",
        "_rq_started",
        "_rs_aborted",
        "_rs_done",
        "_rs_local",
        "_rs_started",
    )

    def __init__(
        self, chain: FilterChain, info: StreamInfo, wakeup: Callable[[], None] | None = None
    ) -> None:
        # HttpStream.__init__ is not called: none of its iteration state exists here.
        self.chain = chain
        self.info = info
        self._wakeup = wakeup
        self._events = []
        self.req_headers = None
        self.req_trailers = None
        self.resp_headers = None
        self.resp_trailers = None
        self.request_body_bytes = 0
        self.response_body_bytes = 0
        self.details = ""
        self.local_reply_sent = None
        self.error = None
        self.filter_state = None
        self.start_mono_ns = 0
        self.completed_ns = 0
        self._completed = False
        self._reset = False
        self._rq_started = False
        self._rq_done = False
        self._rq_aborted = False
        # Response headers leave at once: "started" is also "emitted".
        self._rs_started = False
        self._rs_done = False
        self._rs_aborted = False
        self._rs_local = False

    # -- inputs ------------------------------------------------------------------------------------
    def request_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        if self._completed or self._reset:
            return
        if self._rq_started:
            raise RuntimeError("request headers already received")
        self._rq_started = True
        self._rq_done = end_stream
        self.req_headers = headers
        self._events.append(SendRequestHeaders(headers, end_stream))

    def request_data(self, data: bytes, end_stream: bool) -> None:
        if self._completed or self._reset or self._rq_aborted or self._rq_done or not self._rq_started:
            return
        self.request_body_bytes += len(data)
        self._rq_done = end_stream
        if data or end_stream:
            self._events.append(SendRequestData(data, end_stream))

    def request_trailers(self, trailers: HeaderMap) -> None:
        if self._completed or self._reset or self._rq_aborted or self._rq_done or not self._rq_started:
            return
        self.req_trailers = trailers
        self._rq_done = True
        self._events.append(SendRequestTrailers(trailers))

    def response_headers(self, headers: HeaderMap, end_stream: bool) -> None:
        if self._completed or self._reset or self._rs_started:
            return
        self._rs_started = True
        self._rs_done = end_stream
        self.resp_headers = headers
        if not self.details:
            self.details = DETAILS_VIA_UPSTREAM
        self._events.append(SendResponseHeaders(headers, end_stream))

    def response_data(self, data: bytes, end_stream: bool) -> None:
        if (
            self._completed
            or self._reset
            or self._rs_aborted
            or self._rs_done
            or self._rs_local
            or not self._rs_started
        ):
            return
        self.response_body_bytes += len(data)
        self._rs_done = end_stream
        if data or end_stream:
            self._events.append(SendResponseData(data, end_stream))

    def response_trailers(self, trailers: HeaderMap) -> None:
        if (
            self._completed
            or self._reset
            or self._rs_aborted
            or self._rs_done
            or self._rs_local
            or not self._rs_started
        ):
            return
        self.resp_trailers = trailers
        self._rs_done = True
        self._events.append(SendResponseTrailers(trailers))

    def local_reply(
        self,
        status: int,
        body: bytes = b"",
        *,
        details: str,
        headers: tuple[Pair, ...] = (),
        grpc_status: int | None = None,
    ) -> None:
        self._local_reply(LocalReply(status, body, normalize_details(details), headers, grpc_status))

    def reset(self, details: str = "downstream_remote_disconnect") -> None:
        if self._completed or self._reset:
            return
        self._reset = True
        if not self.details:
            self.details = details
        self._rq_aborted = self._rs_aborted = True

    def complete(self) -> None:
        self._completed = True
        self._rq_aborted = self._rs_aborted = True

    # -- state the transport may look at ------------------------------------------------------------
    @property
    def request_complete(self) -> bool:
        return self._rq_done or self._rq_aborted

    @property
    def response_complete(self) -> bool:
        return self._rs_done or self._reset

    # -- local replies and resets ---------------------------------------------------------------------
    def _local_reply(self, reply: LocalReply) -> None:
        if self._completed or self._reset or self.local_reply_sent is not None:
            return  # the first local reply of a stream wins
        self.local_reply_sent = reply
        self.details = reply.details
        self._rq_aborted = True
        if self._rs_started:  # the response left already: all that is left is a reset
            self._do_reset(reply.details)
            return
        headers, body = build_local_reply(reply, grpc=self.grpc)
        self._rs_started = self._rs_local = True
        self._rs_done = not body
        self.resp_headers = headers
        self._events.append(SendResponseHeaders(headers, not body, True))
        if body:
            self._rs_done = True
            self._events.append(SendResponseData(body, True))

    def _do_reset(self, details: str) -> None:
        if self._reset or self._completed:
            return
        self._reset = True
        if not self.details or self.details == DETAILS_VIA_UPSTREAM:
            self.details = details
        self._rq_aborted = self._rs_aborted = True
        self._events.append(ResetStream(details))
