"""The proxy data path through real sockets: framing, keep-alive, pipelining, limits, failures."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Iterator

import pytest
from sidecar_harness import ResponseReader, SidecarThread, connect, request, routes_to

from support.echo_upstream import EchoUpstream, pattern
from wasmplugin.limits import DEFAULT_LIMITS
from wasmplugin.sidecar.routing import Cluster, Endpoint


@pytest.fixture
def upstream() -> Iterator[EchoUpstream]:
    with EchoUpstream() as up:
        yield up


@pytest.fixture
def proxy(upstream: EchoUpstream) -> Iterator[SidecarThread]:
    out = [
        Cluster(
            "outbound|80||svc.local",
            "svc.local",
            80,
            (Endpoint("127.0.0.1", upstream.port),),
            aliases=("svc.local",),
        ),
        Cluster("outbound|8080||*.wild.local", "*.wild.local", 8080, (Endpoint("127.0.0.1", upstream.port),)),
    ]
    limits = DEFAULT_LIMITS.with_overrides(upstream_timeout_s=0.5)
    with SidecarThread(routes_to(upstream.port, outbound=out), limits) as sc:
        yield sc


def _echo(resp) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status == 200, resp.raw_head
    return json.loads(resp.body)


@pytest.mark.parametrize("method", ["GET", "DELETE", "OPTIONS", "PATCH"])
def test_methods_and_headers_pass_through(proxy: SidecarThread, method: str) -> None:
    resp = request(
        proxy.inbound,
        f"{method} /p/a?q=1 HTTP/1.1\r\nHost: app\r\nX-One: 1\r\nX-One: 2\r\n"
        f"Connection: keep-alive, x-drop\r\nKeep-Alive: timeout=5\r\n\r\n".encode(),
    )
    info = _echo(resp)
    assert info["method"] == method
    assert info["path"] == "/p/a?q=1"
    names = [k.lower() for k, _ in info["headers"]]
    assert [v for k, v in info["headers"] if k.lower() == "x-one"] == ["1", "2"]
    assert "keep-alive" not in names and "connection" not in names  # hop-by-hop removed
    assert resp.header("x-upstream") == "echo"


def test_content_length_body_large(proxy: SidecarThread) -> None:
    body = bytes(range(256)) * (5 * 4096)  # 5 MiB
    resp = request(
        proxy.inbound, b"POST /up HTTP/1.1\r\nHost: app\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    info = _echo(resp)
    assert info["body_length"] == len(body)
    assert info["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_chunked_request_with_trailers(proxy: SidecarThread) -> None:
    raw = (
        b"POST /c HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: abc\r\n\r\n"
    )
    info = _echo(request(proxy.inbound, raw))
    assert info["body"] == "hello world"
    assert ["x-sum", "abc"] in info["trailers"]


def test_chunked_response_with_trailer_and_large_body(proxy: SidecarThread) -> None:
    resp = request(proxy.inbound, b"GET /chunked/300000 HTTP/1.1\r\nHost: app\r\n\r\n")
    assert resp.status == 200
    expected = pattern(300000)
    assert resp.body == expected
    assert resp.header("transfer-encoding") == "chunked"
    assert ("x-checksum", hashlib.sha256(expected).hexdigest()) in resp.trailers


def test_close_delimited_response_becomes_chunked(proxy: SidecarThread) -> None:
    resp = request(proxy.inbound, b"GET /close/5000 HTTP/1.1\r\nHost: app\r\n\r\n")
    assert resp.status == 200 and resp.body == b"z" * 5000
    assert resp.header("transfer-encoding") == "chunked"


def test_http10_client_gets_close_delimited_body(proxy: SidecarThread) -> None:
    with connect(proxy.inbound) as s:
        s.sendall(b"GET /close/100 HTTP/1.0\r\nHost: app\r\n\r\n")
        resp = ResponseReader(s).read()
    assert resp.status == 200 and resp.body == b"z" * 100
    assert resp.header("transfer-encoding") is None


def test_keep_alive_reuses_connections(proxy: SidecarThread, upstream: EchoUpstream) -> None:
    with connect(proxy.inbound) as s:
        reader = ResponseReader(s)
        for i in range(20):
            s.sendall(b"GET /k/%d HTTP/1.1\r\nHost: app\r\n\r\n" % i)
            assert _echo(reader.read())["path"] == f"/k/{i}"
    assert upstream.requests == 20
    assert upstream.connections == 1


def test_pipelined_requests_answered_in_order(proxy: SidecarThread) -> None:
    raw = (
        b"".join(
            b"GET /delay/%d?i=%d HTTP/1.1\r\nHost: app\r\n\r\n" % (d, i) for i, d in enumerate([60, 0, 30, 0])
        )
        + b"POST /last HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\n\r\nabc"
    )
    with connect(proxy.inbound) as s:
        s.sendall(raw)
        reader = ResponseReader(s)
        paths = [_echo(reader.read())["path"] for _ in range(5)]
    assert paths == ["/delay/60?i=0", "/delay/0?i=1", "/delay/30?i=2", "/delay/0?i=3", "/last"]


def test_head_request(proxy: SidecarThread) -> None:
    with connect(proxy.inbound) as s:
        s.sendall(b"HEAD /bytes/1234 HTTP/1.1\r\nHost: app\r\n\r\n")
        reader = ResponseReader(s)
        resp = reader.read(head_request=True)
        assert resp.status == 200 and resp.header("content-length") == "1234"
        s.sendall(b"GET /after-head HTTP/1.1\r\nHost: app\r\n\r\n")
        assert _echo(reader.read())["path"] == "/after-head"


def test_expect_100_continue(proxy: SidecarThread) -> None:
    with connect(proxy.inbound) as s:
        s.sendall(b"PUT /e HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(b"data")
        info = _echo(ResponseReader(s).read())
    assert info["body"] == "data"
    assert "expect" not in [k.lower() for k, _ in info["headers"]]


def test_slow_reader_gets_every_byte(upstream: EchoUpstream) -> None:
    n = 24 * 1024 * 1024  # more than the kernel's socket buffers hold
    with SidecarThread(routes_to(upstream.port)) as sc, connect(sc.inbound) as s:
        s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: app\r\n\r\n" % n)
        reader = ResponseReader(s)
        # A slow start: small reads while the proxy must hold back (stop reading the upstream)
        # rather than buffer the whole body; then read the rest.
        for _ in range(200):
            reader.buf += s.recv(512)
        buffered = sc.call(
            lambda: max(
                c.transport.get_write_buffer_size()  # type: ignore[union-attr]
                for c in sc.sidecar.listeners["inbound"].connections
            )
        )  # type: ignore
        # Flow control: the proxy stopped reading the upstream near its buffer limit (1 MiB),
        # it did not pull the 24 MiB body into memory.
        assert buffered <= DEFAULT_LIMITS.connection_buffer_bytes + 512 * 1024
        resp = reader.read()
    assert resp.status == 200
    assert resp.body == pattern(n)


def test_upstream_down_is_503(upstream: EchoUpstream) -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with SidecarThread(routes_to(port)) as sc:
        resp = request(sc.inbound, b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    assert resp.status == 503
    assert resp.body.startswith(b"upstream connect error or disconnect/reset before headers")


def test_upstream_timeout_is_504_and_connection_usable(proxy: SidecarThread) -> None:
    with connect(proxy.inbound) as s:
        reader = ResponseReader(s)
        t0 = time.monotonic()
        s.sendall(b"GET /hang HTTP/1.1\r\nHost: app\r\n\r\n")
        resp = reader.read()
        assert resp.status == 504 and resp.body == b"upstream request timeout"
        assert time.monotonic() - t0 < 3
        s.sendall(b"GET /after HTTP/1.1\r\nHost: app\r\n\r\n")
        assert _echo(reader.read())["path"] == "/after"


def test_too_many_headers_is_431(proxy: SidecarThread) -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    resp = request(proxy.inbound, b"GET / HTTP/1.1\r\nHost: app\r\n" + many + b"\r\n")
    assert resp.status == 431


def test_header_bytes_limit_is_431(proxy: SidecarThread) -> None:
    resp = request(
        proxy.inbound, b"GET / HTTP/1.1\r\nHost: app\r\nX-Big: " + b"a" * (61 * 1024) + b"\r\n\r\n"
    )
    assert resp.status == 431


def test_malformed_request_is_400(proxy: SidecarThread) -> None:
    resp = request(proxy.inbound, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    assert resp.status == 400


def test_outbound_routes_by_host(proxy: SidecarThread) -> None:
    info = _echo(request(proxy.outbound, b"GET /o HTTP/1.1\r\nHost: svc.local\r\n\r\n"))
    assert info["path"] == "/o"
    info = _echo(request(proxy.outbound, b"GET /w HTTP/1.1\r\nHost: a.wild.local:8080\r\n\r\n"))
    assert info["path"] == "/w"
    assert request(proxy.outbound, b"GET / HTTP/1.1\r\nHost: nowhere.local\r\n\r\n").status == 404
    assert request(proxy.outbound, b"GET / HTTP/1.1\r\nHost: a.wild.local\r\n\r\n").status == 404


def test_listener_stats_count_requests(proxy: SidecarThread) -> None:
    for _ in range(3):
        request(proxy.inbound, b"GET /s HTTP/1.1\r\nHost: app\r\n\r\n")
    request(proxy.inbound, b"GET /status/503 HTTP/1.1\r\nHost: app\r\n\r\n")
    snap = proxy.call(lambda: proxy.sidecar.snapshot())  # type: ignore[union-attr]
    name = next(
        n for n in snap.counters if n.startswith("http.inbound_") and n.endswith(".downstream_rq_2xx")
    )
    assert snap.counters[name] == 3
    assert snap.counters[name.replace("2xx", "5xx")] == 1
    assert snap.counters["cluster.inbound|8080||.upstream_rq_total"] == 4


def test_half_closed_client_still_gets_its_response(proxy: SidecarThread) -> None:
    with connect(proxy.inbound) as s:
        s.sendall(b"GET /delay/50 HTTP/1.1\r\nHost: app\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        resp = ResponseReader(s).read()
        assert _echo(resp)["path"] == "/delay/50"
        assert s.recv(10) == b""  # and then the proxy closes


def test_response_hop_by_hop_fields_are_dropped(proxy: SidecarThread) -> None:
    with connect(proxy.inbound) as s:
        reader = ResponseReader(s)
        for _ in range(2):  # the head arrives in one read here; both code paths keep the rest
            s.sendall(b"GET /hop HTTP/1.1\r\nHost: app\r\n\r\n")
            resp = reader.read()
            names = [k.lower() for k, _ in resp.headers]
            assert resp.status == 200 and resp.body == b"ok"
            assert "keep-alive" not in names and "connection" not in names and "proxy-connection" not in names
            assert resp.header("x-before") == "1" and resp.header("x-after") == "2"


def test_http10_keep_alive_client(proxy: SidecarThread) -> None:
    with connect(proxy.inbound) as s:
        reader = ResponseReader(s)
        for i in range(3):
            s.sendall(b"GET /ka/%d HTTP/1.0\r\nHost: app\r\nConnection: keep-alive\r\n\r\n" % i)
            resp = reader.read()
            assert resp.header("connection") == "keep-alive"
            assert _echo(resp)["path"] == f"/ka/{i}"


def test_upgrade_is_refused_with_501(proxy: SidecarThread, upstream: EchoUpstream) -> None:
    before = upstream.requests
    resp = request(
        proxy.inbound, b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )
    assert resp.status == 501
    assert upstream.requests == before
