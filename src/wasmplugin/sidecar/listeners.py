"""Listening sockets: bound here (so port 0 resolves before anything prints) and served by asyncio."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable


def bind_tcp(address: str, port: int, *, reuse_port: bool = False, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket. ``reuse_port`` lets worker processes share the port (SO_REUSEPORT),
    the kernel spreading connections across them as Envoy's workers share a listener."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((address, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


async def serve_socket(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, factory: Callable[[], asyncio.Protocol]
) -> asyncio.Server:
    server = await loop.create_server(factory, sock=sock, backlog=1024)
    await server.start_serving()
    return server
