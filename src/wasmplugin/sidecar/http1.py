"""HTTP/1.1 wire helpers shared by the proxy, the upstream client, http_call and the admin server.

Pure functions and constants: framing (chunks, trailers), status lines, the Date header cache, and
Envoy's locally generated replies (status, body text, response-code details) in one place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

#: Connection-scoped fields a proxy must not forward (RFC 9110 §7.6.1, plus Envoy's list).
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"upgrade"}
)

#: Lengths of the hop-by-hop names (plus ``expect``): most fields skip ``lower()`` on this test.
HOP_LENGTHS = frozenset(len(n) for n in HOP_BY_HOP) | {6}

CRLF = b"\r\n"
LAST_CHUNK = b"0\r\n\r\n"
CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"

_REASONS: dict[int, bytes] = {s.value: s.phrase.encode() for s in HTTPStatus}
_STATUS_LINES: dict[int, bytes] = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, reason) for code, reason in _REASONS.items()
}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d Unknown\r\n" % status


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def encode_fields(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """``name: value\\r\\n`` lines, pseudo-headers skipped."""
    return b"".join([k + b": " + v + CRLF for k, v in pairs if not k.startswith(b":")])


def encode_trailers(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """The last chunk of a chunked body carrying ``pairs`` as trailer fields."""
    return b"0\r\n" + encode_fields(pairs) + CRLF


class DateCache:
    """``date:`` header value, formatted at most once per second (Envoy caches it the same way)."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def get(self) -> bytes:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._value = formatdate(now, usegmt=True).encode()
        return self._value


@dataclass(frozen=True, slots=True)
class LocalReply:
    """A reply the proxy generates itself, as Envoy's router/codec would: status, plain-text body and
    the response-code details Envoy records in its access log."""

    status: int
    body: bytes
    details: str


# Envoy's texts (router.cc / codec errors); details are the %RESPONSE_CODE_DETAILS% values.
NO_ROUTE = LocalReply(404, b"", "route_not_found")
UPSTREAM_CONNECT_FAILURE = LocalReply(
    503,
    b"upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    "upstream_reset_before_response_started{connection_failure}",
)
UPSTREAM_RESET = LocalReply(
    503,
    b"upstream connect error or disconnect/reset before headers. reset reason: connection termination",
    "upstream_reset_before_response_started{connection_termination}",
)
NO_HEALTHY_UPSTREAM = LocalReply(503, b"no healthy upstream", "no_healthy_upstream")
UPSTREAM_TIMEOUT = LocalReply(504, b"upstream request timeout", "upstream_response_timeout")
HEADERS_TOO_LARGE = LocalReply(431, b"Request Header Fields Too Large", "http1.headers_too_large")
BAD_REQUEST = LocalReply(400, b"Bad Request", "http1.codec_error")
NOT_IMPLEMENTED = LocalReply(501, b"Not Implemented", "http1.upgrade_not_supported")
PAYLOAD_TOO_LARGE = LocalReply(413, b"Payload Too Large", "request_payload_too_large")


def render_local_reply(
    reply: LocalReply,
    date: bytes,
    *,
    close: bool,
    head_only: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> bytes:
    """Serialize a complete local reply (``content-type: text/plain`` as Envoy sends)."""
    parts = [status_line(reply.status)]
    if reply.body:
        parts.append(b"content-type: text/plain\r\n")
    parts.append(b"content-length: %d\r\n" % len(reply.body))
    parts.append(b"date: " + date + CRLF)
    parts.append(b"server: envoy\r\n")
    if extra:
        parts.append(encode_fields(extra))
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(CRLF)
    if not head_only:
        parts.append(reply.body)
    return b"".join(parts)
