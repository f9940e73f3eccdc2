"""Run a real ``Sidecar`` (the proxy data path) on a uvloop loop in a background thread, and
talk to it with raw sockets. Used by the data-path tests, which build the route table by hand."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvloop

from wasmplugin.limits import DEFAULT_LIMITS, Limits
from wasmplugin.sidecar.app import Sidecar, SidecarOptions
from wasmplugin.sidecar.routing import Cluster, Endpoint, RouteTable
from wasmplugin.sidecar.state import ConfigState


def routes_to(port: int, *, outbound: list[Cluster] | None = None) -> RouteTable:
    return RouteTable(
        inbound=Cluster("inbound|8080||", "app", 8080, (Endpoint("127.0.0.1", port),)),
        outbound=outbound or [],
    )


class SidecarThread:
    def __init__(self, routes: RouteTable, limits: Limits = DEFAULT_LIMITS) -> None:
        self.routes = routes
        self.limits = limits
        self.sidecar: Sidecar | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._error: BaseException | None = None

    def __enter__(self) -> SidecarThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("sidecar did not start")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def inbound(self) -> int:
        assert self.sidecar is not None
        return self.sidecar.ports["inbound"]

    @property
    def outbound(self) -> int:
        assert self.sidecar is not None
        return self.sidecar.ports["outbound"]

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the sidecar's loop and return its result."""
        assert self.loop is not None
        done = threading.Event()
        box: list[Any] = []
        self.loop.call_soon_threadsafe(lambda: (box.append(fn()), done.set()))
        done.wait(10)
        return box[0]

    def _run(self) -> None:
        try:
            uvloop.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        opts = SidecarOptions(inbound_port=0, outbound_port=0, limits=self.limits)
        self.sidecar = Sidecar(opts, ConfigState(1, self.routes))
        try:
            await self.sidecar.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.sidecar.close()


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


class RawResponse:
    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        trailers: list[tuple[str, str]],
        raw_head: bytes,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.trailers = trailers
        self.raw_head = raw_head

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class ResponseReader:
    """Reads HTTP/1.1 responses off a socket (content-length, chunked with trailers, or EOF)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("connection closed")
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("connection closed mid-body")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read(self, head_request: bool = False) -> RawResponse:
        while True:
            status_line = self._line()
            headers: list[tuple[str, str]] = []
            raw = [status_line]
            while True:
                line = self._line()
                if not line:
                    break
                raw.append(line)
                k, _, v = line.decode("latin-1").partition(":")
                headers.append((k.strip(), v.strip()))
            status = int(status_line.split()[1])
            if not 100 <= status < 200:
                break
        lower = {k.lower(): v for k, v in headers}
        trailers: list[tuple[str, str]] = []
        if head_request or status in (204, 304):
            body = b""
        elif "content-length" in lower:
            body = self._exact(int(lower["content-length"]))
        elif "chunked" in lower.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while True:
                        line = self._line()
                        if not line:
                            break
                        k, _, v = line.decode("latin-1").partition(":")
                        trailers.append((k.strip(), v.strip()))
                    break
                parts.append(self._exact(size))
                self._line()
            body = b"".join(parts)
        else:
            while self._fill():
                pass
            body, self.buf = self.buf, b""
        return RawResponse(status, headers, body, trailers, b"\r\n".join(raw))


def request(port: int, raw: bytes, *, head_request: bool = False) -> RawResponse:
    with connect(port) as s:
        s.sendall(raw)
        return ResponseReader(s).read(head_request)
