"""A small blocking HTTP/1.1 client on ``http.client`` + ``ssl``: the one place sockets are opened.

Why not a library: the fetchers need exact control over what is sent where (credentials only to
their own host, dropped on cross-host redirects), bounded reads, one deadline across retries and a
per-host TLS policy; the standard library gives all of that with no new dependency.

Socket and TLS errors become typed :mod:`wasmplugin.errors` here; callers never see ``OSError``.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from wasmplugin.errors import FetchError, ModuleTooLarge, RegistryUnavailable, TlsVerificationFailed
from wasmplugin.fetch.progress import NULL_PROGRESS, Progress
from wasmplugin.fetch.reference import redact_url
from wasmplugin.limits import Limits

USER_AGENT = "wasmplugin"
_CHUNK = 64 * 1024


class FetchTimeout(RegistryUnavailable):
    """The overall fetch deadline passed."""


class PlainHttpServer(RegistryUnavailable):
    """A TLS handshake got something that is not TLS: the server speaks plain HTTP."""


class TransientNetworkError(RegistryUnavailable):
    """A dropped connection or a timeout: worth another attempt (refused/unresolvable is not)."""


@dataclass(frozen=True)
class TlsPolicy:
    """Which hosts are verified against which roots.

    ``insecure`` holds ``host`` or ``host:port`` entries, or ``*`` for all (``WASM_INSECURE_REGISTRIES``):
    their certificates are not verified, and the OCI client may fall back to plain HTTP for them.
    ``ca_file`` adds trusted roots on top of the system's.
    """

    insecure: frozenset[str] = frozenset()
    ca_file: str | None = None
    _contexts: dict[bool, ssl.SSLContext] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def create(cls, insecure: Iterable[str] = (), ca_file: str | None = None) -> TlsPolicy:
        hosts = frozenset(h.strip().lower() for h in insecure if h.strip())
        return cls(insecure=hosts, ca_file=ca_file)

    def is_insecure(self, hostport: str) -> bool:
        hp = hostport.lower()
        if "*" in self.insecure or hp in self.insecure:
            return True
        host = hp.rsplit(":", 1)[0] if hp.count(":") == 1 or hp.startswith("[") else hp
        return host in self.insecure

    def context(self, hostport: str) -> ssl.SSLContext:
        verify = not self.is_insecure(hostport)
        with self._lock:
            ctx = self._contexts.get(verify)
            if ctx is None:
                if verify:
                    # Loading the system roots costs ~0.1 s; done once per policy, only when needed.
                    ctx = ssl.create_default_context()
                    if self.ca_file:
                        ctx.load_verify_locations(cafile=self.ca_file)
                else:
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                self._contexts[verify] = ctx
            return ctx


class Deadline:
    """One wall-clock budget shared by every request and backoff of one fetch."""

    def __init__(self, seconds: float, *, what: str = "fetch") -> None:
        self.seconds = seconds
        self.what = what
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise FetchTimeout(f"{self.what} timed out after {self.seconds:g} s")

    def timeout(self, per_request: float) -> float:
        self.check()
        return max(0.001, min(per_request, self.remaining()))


@dataclass
class Response:
    """An HTTP response whose body has not been read yet (or has been, into ``body``)."""

    status: int
    reason: str
    headers: http.client.HTTPMessage
    url: str
    _raw: http.client.HTTPResponse
    _session: HttpSession
    _key: tuple[str, str, int]
    body: bytes | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def read(self, limit: int, *, progress: Progress = NULL_PROGRESS, what: str = "response") -> bytes:
        """Read the whole body, refusing more than ``limit`` bytes (Content-Length checked first)."""
        if self.body is not None:
            return self.body
        length = self.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            self.discard()
            raise ModuleTooLarge(
                f"{what} from {redact_url(self.url)} is {int(length)} bytes, over the {limit}-byte limit"
            )
        total = int(length) if length is not None and length.isdigit() else None
        progress.start(what, total)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                chunk = self._raw.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    self.discard()
                    raise ModuleTooLarge(f"{what} from {redact_url(self.url)} is over the {limit}-byte limit")
                chunks.append(chunk)
                progress.advance(len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            self._session.drop(self._key)
            raise _network_error(exc, self.url) from None
        finally:
            progress.finish()
        if total is not None and size != total:
            self._session.drop(self._key)
            raise TransientNetworkError(
                f"connection to {_hostport(self.url)} closed after {size} of {total} bytes"
            )
        self.body = b"".join(chunks)
        self._session.release(self._key, self._raw)
        return self.body

    def discard(self) -> None:
        """Throw the body away; the connection is reused when the body was small."""
        if self.body is not None:
            return
        length = self.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) <= _CHUNK:
            try:
                self.body = self._raw.read()
                self._session.release(self._key, self._raw)
                return
            except (OSError, http.client.HTTPException):
                pass
        self.body = b""
        self._raw.close()
        self._session.drop(self._key)


class HttpSession:
    """Keep-alive connections per (scheme, host, port), for one fetch or push (not thread-safe)."""

    def __init__(self, tls: TlsPolicy, limits: Limits, deadline: Deadline) -> None:
        self.tls = tls
        self.limits = limits
        self.deadline = deadline
        self._conns: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | Iterable[bytes] | None = None,
        content_length: int | None = None,
        authorization: str | None = None,
        follow_redirects: bool = True,
    ) -> Response:
        """Send one request (following redirects for GET/HEAD).

        ``authorization`` is sent only to the host of ``url``; a redirect to another host or port
        goes without it — credentials never leave the host they were issued for.
        """
        auth_origin = _origin(url)
        current = url
        for _ in range(self.limits.http_max_redirects + 1):
            hdrs = dict(headers or {})
            if authorization is not None and _origin(current) == auth_origin:
                hdrs["Authorization"] = authorization
            resp = self._send(method, current, hdrs, body, content_length)
            if (
                follow_redirects
                and method in ("GET", "HEAD")
                and resp.status in (301, 302, 303, 307, 308)
                and resp.header("Location")
            ):
                location = resp.header("Location") or ""
                resp.discard()
                current = urljoin(current, location)
                continue
            return resp
        raise FetchError(f"too many redirects fetching {redact_url(url)}")

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | Iterable[bytes] | None,
        content_length: int | None,
    ) -> Response:
        parts = urlsplit(url)
        scheme = parts.scheme
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        headers.setdefault("User-Agent", USER_AGENT)
        if parts.username is not None and "Authorization" not in headers:
            import base64

            token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        if body is not None and content_length is None and isinstance(body, bytes):
            content_length = len(body)
        if content_length is not None:
            headers["Content-Length"] = str(content_length)
        elif method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = "0"
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        timeout = self.deadline.timeout(self.limits.http_request_timeout_s)
        reusable = isinstance(body, bytes | None)
        for attempt in (1, 2):
            reused = key in self._conns
            conn = self._connection(key, timeout)
            try:
                conn.request(method, path, body=body, headers=headers)
                raw = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.drop(key)
                if reused and attempt == 1 and reusable:
                    continue  # the server closed an idle keep-alive connection; retry on a new one
                raise _network_error(exc, url) from None
            except (OSError, http.client.HTTPException) as exc:
                self.drop(key)
                raise _network_error(exc, url) from None
            if method == "HEAD":
                raw.read()
            return Response(
                status=raw.status,
                reason=raw.reason,
                headers=raw.headers,
                url=url,
                _raw=raw,
                _session=self,
                _key=key,
                body=b"" if method == "HEAD" else None,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self, key: tuple[str, str, int], timeout: float) -> http.client.HTTPConnection:
        conn = self._conns.get(key)
        if conn is not None:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            return conn
        scheme, host, port = key
        if scheme == "https":
            hostport = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self.tls.context(hostport)
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self._conns[key] = conn
        return conn

    def release(self, key: tuple[str, str, int], raw: http.client.HTTPResponse) -> None:
        if raw.will_close:
            self.drop(key)

    def drop(self, key: tuple[str, str, int]) -> None:
        conn = self._conns.pop(key, None)
        if conn is not None:
            conn.close()


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def _hostport(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1]


def _network_error(exc: BaseException, url: str) -> FetchError:
    """Translate a socket/TLS error into one typed, one-line error naming the host."""
    where = _hostport(url)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TlsVerificationFailed(
            f"TLS certificate of {where} is not trusted ({exc.verify_message}); "
            "pass --ca-file, or list the host in WASM_INSECURE_REGISTRIES / --insecure-registry"
        )
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or str(exc)).upper()
        if any(
            s in reason for s in ("WRONG_VERSION_NUMBER", "RECORD_LAYER", "HTTP_REQUEST", "PACKET_LENGTH")
        ):
            return PlainHttpServer(f"{where} answered plain HTTP to an HTTPS request")
        return RegistryUnavailable(f"TLS handshake with {where} failed: {exc.reason or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return RegistryUnavailable(f"cannot connect to {where}: connection refused")
    if isinstance(exc, socket.gaierror):
        return RegistryUnavailable(f"cannot resolve host of {where}: {exc.strerror or exc}")
    if isinstance(exc, TimeoutError | socket.timeout):
        return TransientNetworkError(f"{where} did not answer in time")
    if isinstance(exc, http.client.HTTPException | ConnectionError):
        return TransientNetworkError(f"connection to {where} failed: {type(exc).__name__}")
    if isinstance(exc, OSError):
        return RegistryUnavailable(f"cannot connect to {where}: {exc.strerror or exc}")
    return RegistryUnavailable(f"request to {where} failed: {exc}")


class Backoff:
    """Exponential backoff with jitter; waits end early when ``cancel`` is set."""

    def __init__(
        self,
        initial_s: float,
        multiplier: float,
        max_s: float,
        jitter: float = 0.0,
        *,
        cancel: threading.Event | None = None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        import random

        self.interval = initial_s
        self.multiplier = multiplier
        self.max_s = max_s
        self.jitter = jitter
        self.cancel = cancel or threading.Event()
        self._rand = rand or random.random

    def next_delay(self) -> float:
        base = self.interval
        self.interval = min(self.interval * self.multiplier, self.max_s)
        if self.jitter:
            base = base * (1 - self.jitter + 2 * self.jitter * self._rand())
        return base

    def wait(self, deadline: Deadline) -> None:
        """Wait the next delay, never past the deadline; raise if cancelled or out of time."""
        delay = min(self.next_delay(), max(0.0, deadline.remaining()))
        if self.cancel.wait(delay):
            raise FetchError("fetch cancelled")
        deadline.check()
