"""A real OCI registry for tests: Debian's ``docker-registry`` (CNCF distribution 2.8) on 127.0.0.1.

* :class:`TestCA` — a CA and a server certificate for 127.0.0.1 / ::1 / localhost, made with
  ``cryptography``;
* :class:`Registry` — ``docker-registry serve CONFIG`` on an ephemeral port (``addr: 127.0.0.1:0``;
  the port is read from its "listening on" log line), plain HTTP or TLS, optional htpasswd (bcrypt)
  or token auth; ready when ``GET /v2/`` answers; stopped by its process id;
* :class:`TokenServer` — a docker token endpoint (HTTPS) issuing RS256 JWTs the registry trusts,
  for the Bearer flow; records who asked for what;
* :class:`RecordingProxy` — an HTTP forwarder in front of a registry that records every request,
  so tests can prove which requests a pull made (e.g. "no blob download");
* :func:`make_wasm` — a valid Wasm module of a chosen size (a custom section pads it).

No sleeps: startup waits on the log line and the readiness request, each with a timeout.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import http.client
import http.server
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

#: The user of the htpasswd and token registries (tests/conftest.py fixtures).
REGISTRY_USER = "alice"
REGISTRY_PASSWORD = "wonderland-s3cret"
TOKEN_REFRESH_TOKEN = "refresh-token-for-alice"
#: Environment variables that change how modules are fetched; tests start without them.
FETCH_ENV_VARS = (
    "WASM_INSECURE_REGISTRIES",
    "WASMPLUGIN_CA_FILE",
    "WASMPLUGIN_CACHE_DIR",
    "WASM_HTTP_REQUEST_TIMEOUT",
    "WASM_HTTP_REQUEST_MAX_RETRIES",
    "WASM_MODULE_EXPIRY",
    "WASM_PURGE_INTERVAL",
    "ISTIO_WASM_MAX_BINARY_SIZE_BYTES",
    "WASMPLUGIN_PROGRESS_DELAY_S",
)

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
HTPASSWD_BIN = shutil.which("htpasswd") or "/usr/bin/htpasswd"
START_TIMEOUT_S = 20.0


# --- certificates --------------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class TestCA:
    """A throwaway CA plus a 127.0.0.1/localhost server certificate, as PEM files in ``directory``."""

    __test__ = False  # not a pytest test class

    directory: Path
    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, directory: Path, *, common_name: str = "wasmplugin test CA") -> TestCA:
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        san = x509.SubjectAlternativeName(
            [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("127.0.0.1"))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(san, critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        ca_file, cert_file, key_file = (
            directory / "ca.pem",
            directory / "server.pem",
            directory / "server-key.pem",
        )
        ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cls(directory, ca_file, cert_file, key_file)

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    """bcrypt entries (distribution accepts bcrypt only), made by apache2-utils' htpasswd."""
    lines = []
    for user, password in users.items():
        out = subprocess.run(
            [HTPASSWD_BIN, "-nbB", "-C", "4", user, password], check=True, capture_output=True, text=True
        ).stdout.strip()
        lines.append(out)
    path.write_text("\n".join(lines) + "\n")


# --- the registry process ------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies (Linux PR_SET_PDEATHSIG), so
    a killed test run never leaves a registry behind."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class Registry:
    """One ``docker-registry`` process. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        workdir: Path,
        *,
        tls: TestCA | None = None,
        users: dict[str, str] | None = None,
        token: TokenServer | None = None,
        name: str = "registry",
    ) -> None:
        self.workdir = workdir
        self.tls = tls
        self.users = users or {}
        self.token = token
        self.name = name
        self.host = ""  # "127.0.0.1:PORT" once started
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{name}.log"
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / f"{self.name}-data")},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": "127.0.0.1:0", "secret": uuid.uuid4().hex},
        }
        if self.tls is not None:
            cfg["http"]["tls"] = {"certificate": str(self.tls.cert_file), "key": str(self.tls.key_file)}
        if self.users:
            htpasswd = self.workdir / f"{self.name}.htpasswd"
            write_htpasswd(htpasswd, self.users)
            cfg["auth"] = {"htpasswd": {"realm": f"{self.name}-realm", "path": str(htpasswd)}}
        elif self.token is not None:
            cfg["auth"] = {
                "token": {
                    "realm": self.token.realm,
                    "service": self.token.service,
                    "issuer": self.token.issuer,
                    "rootcertbundle": str(self.token.signer_cert_file),
                }
            }
        return cfg

    def start(self) -> Registry:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg_path = self.workdir / f"{self.name}.yml"
        cfg_path.write_text(json.dumps(self.config()))  # JSON is YAML
        self.proc = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(cfg_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        self._reader = threading.Thread(target=self._read_output, name=f"{self.name}-log", daemon=True)
        self._reader.start()
        try:
            line = self.wait_for_line("listening on ", timeout=START_TIMEOUT_S)
            m = re.search(r"listening on (127\.0\.0\.1):(\d+)", line)
            if m is None:
                raise RuntimeError(f"{self.name}: cannot read the port from {line!r}")
            self.port = int(m.group(2))
            self.host = f"127.0.0.1:{self.port}"
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # --- output ------------------------------------------------------------------------------

    def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.log_path, "ab") as log:
            for raw in self.proc.stdout:
                log.write(raw)
                log.flush()
                with self._cond:
                    self._lines.append(raw.decode(errors="replace"))
                    self._cond.notify_all()
        with self._cond:
            self._lines.append("<exited>")
            self._cond.notify_all()

    def wait_for_line(self, needle: str, *, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self._lines[seen:]:
                    if needle in line:
                        return line
                    if line == "<exited>":
                        raise RuntimeError(f"{self.name} exited:\n{''.join(self._lines[-20:])}")
                seen = len(self._lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: no {needle!r} within {timeout} s; log: {self.log_path}")
                self._cond.wait(left)

    def _wait_ready(self) -> None:
        status = self.request("GET", "/v2/", auth=False).status
        expected = 401 if (self.users or self.token) else 200
        if status != expected:
            raise RuntimeError(f"{self.name}: GET /v2/ answered {status}, expected {expected}")

    # --- helpers for tests -----------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def url(self, repo_and_tag: str) -> str:
        return f"oci://{self.host}/{repo_and_tag}"

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        auth: bool = True,
    ) -> RawResponse:
        """A request straight to the registry (no wasmplugin code): for cross-checks."""
        if self.tls is not None:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=10, context=self.tls.client_context()
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            hdrs = dict(headers or {})
            if auth and self.users and "Authorization" not in hdrs:
                user, password = next(iter(self.users.items()))
                hdrs["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return RawResponse(resp.status, dict(resp.getheaders()), resp.read())
        finally:
            conn.close()

    def raw_manifest(self, repo: str, reference: str) -> RawResponse:
        accept = ", ".join(
            [
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.oci.image.index.v1+json",
            ]
        )
        return self.request("GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": accept})


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body).hexdigest()


# --- token server (Bearer flow) -------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenRequest:
    method: str
    path: str
    user: str | None  # None = anonymous
    scopes: list[str]
    granted: bool


@dataclass
class TokenServer:
    """``/token`` endpoint: Basic-authenticated (or anonymous) GET, or refresh-token POST."""

    workdir: Path
    tls: TestCA
    users: dict[str, str]
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> user
    public_repos: set[str] = field(default_factory=set)
    service: str = "wasmplugin-test-registry"
    issuer: str = "wasmplugin-test-issuer"
    requests: list[TokenRequest] = field(default_factory=list)
    port: int = 0
    _server: http.server.ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("token signer"))
            .issuer_name(_name("token signer"))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self._cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.signer_cert_file = self.workdir / "token-signer.pem"
        self.signer_cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    @property
    def realm(self) -> str:
        return f"https://127.0.0.1:{self.port}/token"

    def start(self) -> TokenServer:
        server_ref = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                q = parse_qs(parts.query)
                user: str | None = None
                auth = self.headers.get("Authorization")
                if auth:
                    if not auth.startswith("Basic "):
                        return self._reply(401, {"details": "unsupported auth"})
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if server_ref.users.get(u) != p:
                        server_ref.requests.append(
                            TokenRequest("GET", parts.path, u, q.get("scope", []), False)
                        )
                        return self._reply(401, {"details": "invalid credentials"})
                    user = u
                self._grant("GET", parts.path, user, q.get("scope", []))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                token = (form.get("refresh_token") or [""])[0]
                user = server_ref.refresh_tokens.get(token)
                scopes = " ".join(form.get("scope", [])).split()
                if user is None:
                    server_ref.requests.append(TokenRequest("POST", self.path, None, scopes, False))
                    return self._reply(401, {"details": "invalid refresh token"})
                self._grant("POST", self.path, user, scopes, key="access_token")

            def _grant(
                self, method: str, path: str, user: str | None, scopes: list[str], key: str = "token"
            ) -> None:
                access = []
                for scope in scopes:
                    kind, _, rest = scope.partition(":")
                    name, _, actions = rest.rpartition(":")
                    wanted = actions.split(",")
                    if user is None:
                        wanted = ["pull"] if name in server_ref.public_repos and "pull" in wanted else []
                    if wanted:
                        access.append({"type": kind, "name": name, "actions": wanted})
                if user is None and not access:
                    server_ref.requests.append(TokenRequest(method, path, None, scopes, False))
                    return self._reply(401, {"details": "authentication required"})
                server_ref.requests.append(TokenRequest(method, path, user, scopes, True))
                self._reply(200, {key: server_ref.issue(user or "", access), "expires_in": 300})

            def _reply(self, status: int, obj: dict[str, Any]) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = self.tls.server_context().wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="token-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def issue(self, subject: str, access: list[dict[str, Any]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self._cert_der).decode()]}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


# --- recording proxy ----------------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    status: int
    authorization: bool


class RecordingProxy:
    """Plain-HTTP forwarder to a plain-HTTP upstream, recording each request before answering it."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.records: list[Recorded] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                with proxy._lock:
                    proxy.records.append(
                        Recorded(self.command, self.path, resp.status, "Authorization" in self.headers)
                    )
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="recording-proxy", daemon=True
        )
        self._thread.start()

    def url(self, repo_and_tag: str) -> str:
        return f"oci://{self.host}/{repo_and_tag}"

    def take(self) -> list[Recorded]:
        with self._lock:
            records, self.records = self.records, []
        return records

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- modules -------------------------------------------------------------------------------------------


def _leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def make_wasm(size: int = 64, *, seed: str = "") -> bytes:
    """A valid (empty) Wasm module of at least ``size`` bytes: header + one custom section whose
    payload is deterministic filler derived from ``seed`` (so different seeds give different bytes)."""
    header = b"\x00asm\x01\x00\x00\x00"
    name = b"wasmplugin-test"
    filler_len = max(0, size - len(header) - len(name) - 8)
    filler = bytearray()
    counter = 0
    while len(filler) < filler_len:
        filler += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    payload = _leb128(len(name)) + name + bytes(filler[:filler_len])
    return header + b"\x00" + _leb128(len(payload)) + payload


def free_port() -> int:
    """A port nothing listens on (for "registry is down" tests): bound then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_without_docker(home: Path) -> dict[str, str]:
    """An environment whose docker config is ``home/.docker`` (never the developer's own)."""
    env = dict(os.environ)
    env["DOCKER_CONFIG"] = str(home / ".docker")
    env["HOME"] = str(home)
    return env
