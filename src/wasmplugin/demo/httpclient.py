"""A minimal HTTP/1.1 client on asyncio + httptools: one request per connection.

The demo sends its scripted requests and reads the sidecar's admin endpoint with it. One
connection per request keeps every case independent (no keep-alive state carried between cases).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import httptools

from wasmplugin.errors import DemoError


@dataclass(frozen=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _ResponseCollector:
    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.done = True


async def request(
    host: str,
    port: int,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    authority: str | None = None,
    timeout_s: float = 30.0,
) -> Reply:
    """Send one request and read the whole response. Raises :class:`DemoError` when the server
    cannot be reached, closes early or does not answer within ``timeout_s``."""
    try:
        return await asyncio.wait_for(
            _request(host, port, method, target, headers, body, authority), timeout_s
        )
    except TimeoutError:
        raise DemoError(f"{method} http://{host}:{port}{target}: no answer within {timeout_s:g}s") from None
    except OSError as exc:
        raise DemoError(f"{method} http://{host}:{port}{target}: {exc.strerror or exc}") from None


async def _request(
    host: str,
    port: int,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    authority: str | None,
) -> Reply:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        lines = [f"{method} {target} HTTP/1.1", f"host: {authority or f'{host}:{port}'}"]
        lines.extend(f"{k}: {v}" for k, v in headers)
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(body)}")
        lines.append("connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        collector = _ResponseCollector()
        parser = httptools.HttpResponseParser(collector)
        while not collector.done:
            data = await reader.read(65536)
            if not data:
                if collector.headers or collector.body:
                    parser.feed_data(b"")  # EOF-delimited body
                if not collector.done:
                    raise DemoError(
                        f"{method} http://{host}:{port}{target}: connection closed before the response ended"
                    )
                break
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as exc:
                raise DemoError(
                    f"{method} http://{host}:{port}{target}: invalid HTTP response: {exc}"
                ) from None
        return Reply(int(parser.get_status_code()), tuple(collector.headers), bytes(collector.body))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
