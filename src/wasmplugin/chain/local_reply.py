"""Locally generated replies, built the way Envoy's ``sendLocalReply`` builds them.

Every reply the chain makes itself — a plugin's ``proxy_send_local_response``, failStrategy's 503
``wasm_fail_stream`` and 403 ``RBAC: access denied``, the 413/500 of a body buffer overflow, a
transport's upstream failure — goes through :func:`build_local_reply` and the one entry point
``HttpStream.local_reply``. For a gRPC request Envoy answers with a trailers-only gRPC response
(``:status 200``, ``grpc-status``, ``grpc-message``) instead of the HTTP status
(``source/common/http/utility.cc`` ``prepareLocalReply``, ``Grpc::Utility::httpToGrpcStatus``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from wasmplugin.abi.headers import HeaderMap
from wasmplugin.abi.pairs import Pair

#: Response code details Envoy uses for the replies the chain generates.
DETAILS_WASM_FAIL_STREAM = "wasm_fail_stream"
DETAILS_WASM_CLOSE_STREAM = "wasm_close_stream"
DETAILS_RBAC_DENIED = "rbac_access_denied_matched_policy[none]"
DETAILS_REQUEST_TOO_LARGE = "request_payload_too_large"
DETAILS_RESPONSE_TOO_LARGE = "response_payload_too_large"
DETAILS_VIA_UPSTREAM = "via_upstream"

RBAC_DENIED_BODY = b"RBAC: access denied"

#: gRPC status codes used here (google.rpc.Code).
GRPC_UNKNOWN = 2
GRPC_PERMISSION_DENIED = 7
GRPC_UNIMPLEMENTED = 12
GRPC_INTERNAL = 13
GRPC_UNAVAILABLE = 14
GRPC_UNAUTHENTICATED = 16
GRPC_MAX = 16

#: gRPC percent-encodes grpc-message except printable ASCII other than "%".
_GRPC_MESSAGE_SAFE = " !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~"


@dataclass(frozen=True, slots=True)
class LocalReply:
    """A reply as its originator asked for it (before response callbacks touch it)."""

    status: int
    body: bytes
    details: str
    headers: tuple[Pair, ...] = ()
    #: 0..16, or ``None`` for "derive from the HTTP status" (SDKs pass -1).
    grpc_status: int | None = None


def http_to_grpc_status(status: int) -> int:
    """Envoy's ``Grpc::Utility::httpToGrpcStatus``."""
    if status == 400:
        return GRPC_INTERNAL
    if status == 401:
        return GRPC_UNAUTHENTICATED
    if status == 403:
        return GRPC_PERMISSION_DENIED
    if status == 404:
        return GRPC_UNIMPLEMENTED
    if status in (429, 502, 503, 504):
        return GRPC_UNAVAILABLE
    return GRPC_UNKNOWN


def normalize_details(details: str) -> str:
    """Envoy replaces whitespace in response code details with ``_``."""
    return "_".join(details.split(" ")) if " " in details else details


def build_local_reply(reply: LocalReply, *, grpc: bool) -> tuple[HeaderMap, bytes]:
    """Headers and body the client receives for ``reply`` (``grpc``: the request was gRPC)."""
    headers = HeaderMap()
    if grpc:
        code = reply.grpc_status if reply.grpc_status is not None else http_to_grpc_status(reply.status)
        headers.add(b":status", b"200")
        headers.add(b"content-type", b"application/grpc")
        headers.add(b"grpc-status", str(code).encode())
        if reply.body:
            headers.add(b"grpc-message", quote(reply.body, safe=_GRPC_MESSAGE_SAFE).encode())
        for name, value in reply.headers:
            headers.add(name, value)
        return headers, b""
    headers.add(b":status", str(reply.status).encode())
    for name, value in reply.headers:
        headers.add(name, value)
    # Envoy sets the length, and text/plain unless the originator chose a content-type.
    headers.replace(b"content-length", str(len(reply.body)).encode())
    if reply.body and b"content-type" not in headers:
        headers.add(b"content-type", b"text/plain")
    return headers, reply.body
