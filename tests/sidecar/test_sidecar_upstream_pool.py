"""The upstream pool reports every connect failure to its request: none may leave it waiting."""

from __future__ import annotations

import asyncio
import socket

from wasmplugin.limits import DEFAULT_LIMITS
from wasmplugin.sidecar.stats import ClusterStats
from wasmplugin.sidecar.upstream import UpstreamConnection, UpstreamPool


def _connect(host: str, port: int) -> tuple[list[str], list[UpstreamConnection], ClusterStats]:
    errors: list[str] = []
    ready: list[UpstreamConnection] = []
    stats = ClusterStats("outbound|80||test")

    async def main() -> None:
        pool = UpstreamPool(asyncio.get_running_loop(), DEFAULT_LIMITS)
        try:
            await pool.connect(("test", host, port), stats, ready.append, errors.append)
        finally:
            pool.close()
            for conn in ready:
                if conn.transport is not None:
                    conn.transport.close()

    asyncio.run(main())
    return errors, ready, stats


def test_a_host_name_that_cannot_be_encoded_fails_the_request() -> None:
    # getaddrinfo raises UnicodeError (not OSError) for a DNS label over 63 characters.
    errors, ready, stats = _connect("x" * 70 + ".example", 80)
    assert errors == ["connection_failure"]
    assert ready == []
    assert stats.cx_connect_fail == 1


def test_a_refused_connection_fails_the_request() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: the connect is refused
        errors, ready, stats = _connect("127.0.0.1", port)
    assert ready == []
    assert errors == ["connection_failure"]
    assert stats.cx_connect_fail == 1


def test_a_listening_upstream_gets_a_connection() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        errors, ready, stats = _connect("127.0.0.1", s.getsockname()[1])
    assert errors == []
    assert len(ready) == 1
    assert stats.cx_connect_fail == 0
