"""Stream-scoped properties (``StreamHost.stream_property``): Envoy's attribute vocabulary.

Values come from the stream's header maps, counters and :class:`~wasmplugin.chain.api.StreamInfo`,
typed as Envoy types them (``attributes.rst``; reference §10.2): ints for codes, ports and sizes,
``Uint`` for ``connection.id``, ``Timestamp``/``Duration`` for times, maps for headers (repeated
values comma-joined). Root-scoped names (``plugin_*``, ``xds.node``) are the host's. A value set
with ``proxy_set_property`` lives in the stream's filter state under ``wasm.<path>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from wasmplugin.abi.headers import HeaderMap
from wasmplugin.abi.values import Duration, PropertyValue, Timestamp, Uint
from wasmplugin.chain.api import Direction

if TYPE_CHECKING:
    from wasmplugin.chain.stream import HttpStream

#: Envoy's core.v3.TrafficDirection values (xds.listener_direction).
_DIRECTION = {Direction.INBOUND: 1, Direction.OUTBOUND: 2}


def _headers_map(headers: HeaderMap | None) -> dict[str, PropertyValue] | None:
    if headers is None:
        return None
    out: dict[str, bytes] = {}
    for k, v in headers:
        name = k.decode("latin-1")
        prev = out.get(name)
        out[name] = v if prev is None else prev + b"," + v
    return dict(out)


def _header(headers: HeaderMap | None, name: str) -> bytes | None:
    if headers is None:
        return None
    values = headers.get_all(name.lower())
    return b",".join(values) if values else None


def _request(s: HttpStream, key: str, rest: tuple[str, ...]) -> PropertyValue | None:
    h = s.req_headers
    if h is None or (rest and (key != "headers" or len(rest) > 1)):
        return None
    if key == "headers":
        if rest:
            return _header(h, rest[0])
        return _headers_map(h)
    if key == "path":
        return h.get(b":path")
    if key == "url_path":
        p = h.get(b":path")
        return None if p is None else p.split(b"?", 1)[0]
    if key == "query":
        p = h.get(b":path")
        return None if p is None else (p.split(b"?", 1)[1] if b"?" in p else b"")
    if key == "host":
        return h.get(b":authority")
    if key == "scheme":
        return h.get(b":scheme")
    if key == "method":
        return h.get(b":method")
    if key == "referer":
        return h.get(b"referer")
    if key == "useragent":
        return h.get(b"user-agent")
    if key == "id":
        return h.get(b"x-request-id")
    if key == "protocol":
        return s.info.protocol
    if key == "headers_bytes":
        return h.byte_size()
    if key == "time":
        if s.info.request_start_ns:
            return Timestamp(s.info.request_start_ns)
        clock = s.chain.clock
        return Timestamp(clock.now_ns() - (clock.monotonic_ns() - s.start_mono_ns))
    if key == "duration":
        if not s.completed_ns:
            return None
        return Duration(s.completed_ns - s.start_mono_ns)
    if key == "size":
        cl = h.get(b"content-length")
        if cl is not None and cl.isdigit():
            return int(cl)
        return s.request_body_bytes
    if key == "total_size":
        return h.byte_size() + s.request_body_bytes + (s.req_trailers.byte_size() if s.req_trailers else 0)
    return None


def _response(s: HttpStream, key: str, rest: tuple[str, ...]) -> PropertyValue | None:
    h = s.resp_headers
    if rest and (key not in ("headers", "trailers") or len(rest) > 1):
        return None
    if key == "code_details":
        return s.details or None
    if key == "flags":
        return 0
    if h is None:
        return None
    if key == "code":
        st = h.get(b":status")
        return int(st) if st is not None and st.isdigit() else None
    if key == "headers":
        if rest:
            return _header(h, rest[0])
        return _headers_map(h)
    if key == "trailers":
        if rest:
            return _header(s.resp_trailers, rest[0])
        return _headers_map(s.resp_trailers) or {}
    if key == "grpc_status":
        for m in (s.resp_trailers, h):
            if m is not None:
                v = m.get(b"grpc-status")
                if v is not None and v.isdigit():
                    return int(v)
        return None
    if key == "headers_bytes":
        return h.byte_size()
    if key == "size":
        return s.response_body_bytes
    if key == "total_size":
        return h.byte_size() + s.response_body_bytes + (s.resp_trailers.byte_size() if s.resp_trailers else 0)
    return None


def _address(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _root(s: HttpStream, head: str, rest: tuple[str, ...]) -> PropertyValue | None:
    info = s.info
    if head == "request":
        return _request(s, rest[0], rest[1:]) if rest else None
    if head == "response":
        return _response(s, rest[0], rest[1:]) if rest else None
    if head == "source":
        if not rest:
            return {"address": _address(info.source_address, info.source_port), "port": info.source_port}
        if rest[0] == "address":
            return _address(info.source_address, info.source_port)
        if rest[0] == "port":
            return info.source_port
        return None
    if head == "destination":
        if not rest:
            return {
                "address": _address(info.destination_address, info.destination_port),
                "port": info.destination_port,
            }
        if rest[0] == "address":
            return _address(info.destination_address, info.destination_port)
        if rest[0] == "port":
            return info.destination_port
        return None
    if head == "connection":
        if not rest:
            return None
        key = rest[0]
        if key == "id":
            return Uint(info.connection_id)
        if key == "mtls":
            return bool(info.extra.get("mtls", False))
        if key == "requested_server_name":
            return str(info.extra.get("requested_server_name", ""))
        value = info.extra.get("connection." + key)
        return value if isinstance(value, (str, bytes, int, bool)) else None
    if head == "connection_id":
        return Uint(info.connection_id)
    if head == "upstream":
        if not rest or info.upstream_address is None:
            return None
        if rest[0] == "address":
            return _address(info.upstream_address, info.upstream_port or 0)
        if rest[0] == "port":
            return info.upstream_port
        return None
    if head == "xds":
        return _xds(s, rest[0]) if rest else None
    if head in ("cluster_name", "route_name", "listener_direction"):  # removed from Envoy in PR #36619
        return _xds(s, head)
    if head == "metadata":
        md = info.extra.get("metadata")
        return md if isinstance(md, dict) else {}
    if head == "filter_state":
        fs = s.filter_state or {}
        if rest:
            return fs.get(rest[0])
        return dict(fs)
    return None


def _xds(s: HttpStream, key: str) -> PropertyValue | None:
    info = s.info
    if key == "cluster_name":
        return info.cluster_name
    if key == "route_name":
        return info.route_name
    if key == "listener_direction":
        return _DIRECTION[info.direction]
    return None


def _index(value: PropertyValue | None, rest: tuple[str, ...]) -> PropertyValue | None:
    for seg in rest:
        if isinstance(value, dict):
            value = value.get(seg)
        elif isinstance(value, list) and seg.isdigit() and int(seg) < len(value):
            value = value[int(seg)]
        else:
            return None
    return value


#: Attributes the resolver indexes itself (the rest of the path is consumed above).
_SELF_INDEXED = frozenset({"request", "response", "source", "destination", "connection", "upstream", "xds"})


def resolve_property(s: HttpStream, path: tuple[str, ...]) -> PropertyValue | None:
    """Value of a stream-scoped property, or ``None`` if this stream does not know it."""
    if not path:
        return None
    head = path[0]
    rest = path[1:]
    if head in _SELF_INDEXED:
        return _root(s, head, rest)
    value = _root(s, head, rest if head == "filter_state" else ())
    if value is None:
        fs = s.filter_state
        if fs is not None:
            value = fs.get("wasm." + head)
            if value is None and rest:
                value = fs.get("wasm." + "\0".join(path))
                rest = ()
    if head == "filter_state":
        return value
    return _index(value, rest)


# --- direct getters --------------------------------------------------------------------------------
# The paths plugins ask for on every request (``request.method``, ``response.code``, ...) map to one
# getter each: ``ActiveFilter.stream_property`` answers them with a dict lookup and one call instead
# of ``resolve_property`` → ``_root`` → ``_request`` and a chain of string compares. Each getter
# returns exactly what ``resolve_property`` returns for its path (``tests/chain`` compares them).

Getter = Callable[["HttpStream"], "PropertyValue | None"]


def _req_field(name: bytes) -> Getter:
    """A request header by its lower-case name: ``HeaderMap.get`` without the name's conversion."""

    def get(s: HttpStream) -> PropertyValue | None:
        h = s.req_headers
        if h is not None:
            for k, v in h._entries:
                if k == name:
                    return v
        return None

    return get


def _req_key(key: str) -> Getter:
    def get(s: HttpStream) -> PropertyValue | None:
        return _request(s, key, ()) if s.req_headers is not None else None

    return get


def _resp_code(s: HttpStream) -> PropertyValue | None:
    h = s.resp_headers
    if h is None:
        return None
    for k, st in h._entries:
        if k == b":status":
            return int(st) if st.isdigit() else None
    return None


def _resp_key(key: str) -> Getter:
    def get(s: HttpStream) -> PropertyValue | None:
        return _response(s, key, ())

    return get


def _req_duration(s: HttpStream) -> PropertyValue | None:
    if s.req_headers is None or not s.completed_ns:
        return None
    return Duration(s.completed_ns - s.start_mono_ns)


def _root_key(head: str, key: str) -> Getter:
    rest = (key,)

    def get(s: HttpStream) -> PropertyValue | None:
        return _root(s, head, rest)

    return get


def _xds_key(key: str) -> Getter:
    def get(s: HttpStream) -> PropertyValue | None:
        return _xds(s, key)

    return get


GETTERS: dict[tuple[str, ...], Getter] = {
    ("request", "path"): _req_field(b":path"),
    ("request", "host"): _req_field(b":authority"),
    ("request", "scheme"): _req_field(b":scheme"),
    ("request", "method"): _req_field(b":method"),
    ("request", "referer"): _req_field(b"referer"),
    ("request", "useragent"): _req_field(b"user-agent"),
    ("request", "id"): _req_field(b"x-request-id"),
    ("request", "duration"): _req_duration,
    ("response", "code"): _resp_code,
    **{
        ("request", key): _req_key(key)
        for key in ("url_path", "query", "protocol", "headers_bytes", "time", "size", "total_size", "headers")
    },
    **{
        ("response", key): _resp_key(key)
        for key in (
            "code_details",
            "flags",
            "headers",
            "trailers",
            "grpc_status",
            "headers_bytes",
            "size",
            "total_size",
        )
    },
    **{
        (head, key): _root_key(head, key)
        for head, keys in (
            ("source", ("address", "port")),
            ("destination", ("address", "port")),
            ("connection", ("id", "mtls", "requested_server_name")),
            ("upstream", ("address", "port")),
        )
        for key in keys
    },
    **{("xds", key): _xds_key(key) for key in ("cluster_name", "route_name", "listener_direction")},
}
