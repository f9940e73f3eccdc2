"""A mesh for sidecar-level plugin tests: the demo's services + ``wasmplugin serve`` on 127.0.0.1.

The demo's own pieces run on an asyncio loop in a background thread (the key server, the policy
service, the echo app, the ``serve`` child process); tests talk to it through a small synchronous
API. Every port is ephemeral. Waiting is on events: the sidecar's ``ready`` line, a log line
(``watch``), an HTTP answer — never on a sleep.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from wasmplugin.demo import httpclient
from wasmplugin.demo.httpclient import Reply
from wasmplugin.demo.scenario import USERS
from wasmplugin.demo.services import DemoServices
from wasmplugin.demo.sidecar import SidecarChild, SidecarPorts
from wasmplugin.demo.tokens import TokenIssuer

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"
ISSUER = "https://auth.example.com"
AUDIENCE = "api.example.com"
T = TypeVar("T")

MESH = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: api-gateway, namespace: default}}
spec:
  address: 127.0.0.1
  ports: {{http: {app}}}
  labels: {{app: api-gateway}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: auth-example-com, namespace: default}}
spec:
  hosts: [auth.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {jwks}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: policy-service, namespace: default}}
spec:
  hosts: [policy-service.default.svc]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 8080, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {policy}}}}}]
"""


def wasm_plugin(name: str, phase: str, config: str, *, priority: int | None = 10, extra: str = "") -> str:
    """A WasmPlugin document for ``plugins/<name>/plugin.wasm`` (file:// absolute URL)."""
    body = "\n".join("    " + line for line in config.strip("\n").splitlines())
    prio = f"  priority: {priority}\n" if priority is not None else ""
    return (
        "---\napiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
        f"metadata: {{name: {name}, namespace: istio-system}}\n"
        "spec:\n  selector: {matchLabels: {app: api-gateway}}\n"
        f"  url: file://{PLUGINS / name / 'plugin.wasm'}\n  phase: {phase}\n{prio}{extra}"
        f"  pluginConfig:\n{body}\n"
    )


def closed_port() -> int:
    """A port nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts connections (in the kernel backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield int(s.getsockname()[1])
    finally:
        s.close()


class DemoStack:
    """``with DemoStack(tmp, [docs...]) as stack:`` — services, mesh directory, sidecar."""

    def __init__(
        self,
        directory: Path,
        plugins: Sequence[str],
        *,
        port_overrides: Mapping[str, int] | None = None,
        start_timeout_s: float = 600.0,
    ) -> None:
        self.directory = directory
        self.mesh_dir = directory / "mesh"
        self.plugins = list(plugins)
        self.port_overrides = dict(port_overrides or {})
        self.start_timeout_s = start_timeout_s
        self.issuer = TokenIssuer.generate(ISSUER, AUDIENCE)
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="demo-stack", daemon=True)
        self.services: DemoServices | None = None
        self.sidecar: SidecarChild | None = None
        self.ports: SidecarPorts | None = None

    # -- running coroutines on the stack's loop ------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> DemoStack:
        self._thread.start()
        try:
            self.run(self._start(), self.start_timeout_s + 30)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.run(self._stop(), 60)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        self.loop.close()

    async def _start(self) -> None:
        modules = frozenset(p.name for p in PLUGINS.iterdir() if (p / "plugin.wasm").is_file())
        self.services = DemoServices(self.issuer, PLUGINS, modules)
        await self.services.start()
        self.mesh_dir.mkdir(parents=True, exist_ok=True)
        ports = {
            "app": self.services.app.port,
            "jwks": self.services.jwks.port,
            "policy": self.services.policy.port,
            **self.port_overrides,
        }
        (self.mesh_dir / "mesh.yaml").write_text(MESH.format(**ports))
        self.write_plugins(self.plugins)
        self.sidecar = SidecarChild(
            self.mesh_dir,
            "default/api-gateway",
            log_path=self.directory / "sidecar.log",
            cache_dir=self.directory / "cache",
            extra_args=("--reload-interval", "0.1"),
        )
        self.ports = await self.sidecar.start(self.start_timeout_s)

    async def _stop(self) -> None:
        if self.sidecar is not None:
            await self.sidecar.stop()
        if self.services is not None:
            await self.services.close()

    # -- the mesh ----------------------------------------------------------------------------------
    def write_plugins(self, docs: Sequence[str]) -> None:
        """Replace the WasmPlugin documents (the sidecar reloads them)."""
        (self.mesh_dir / "plugins.yaml").write_text("".join(docs))

    def watch(self, pattern: str) -> concurrent.futures.Future[str]:
        """A future for the next sidecar output line matching ``pattern`` (create it first, then act)."""

        async def make() -> asyncio.Future[str]:
            assert self.sidecar is not None
            return self.sidecar.wait_for_line(pattern)

        fut = self.run(make())
        out: concurrent.futures.Future[str] = concurrent.futures.Future()

        def copy(f: asyncio.Future[str]) -> None:
            if f.cancelled():
                out.cancel()
            elif f.exception() is not None:
                out.set_exception(f.exception())  # type: ignore[arg-type]
            else:
                out.set_result(f.result())

        self.loop.call_soon_threadsafe(fut.add_done_callback, copy)
        return out

    def reload(self, docs: Sequence[str], timeout: float = 120.0) -> str:
        """Write ``docs`` and wait for the sidecar's verdict line (applied or rejected)."""
        verdict = self.watch(r"reload (applied|rejected)")
        self.write_plugins(docs)
        return verdict.result(timeout)

    def log_text(self) -> str:
        assert self.sidecar is not None
        return "\n".join(self.sidecar.tail)

    # -- traffic ----------------------------------------------------------------------------------
    def token(self, user: str = "alice", **kw: Any) -> str:
        return self.issuer.mint(user, USERS.get(user, ()), **kw)

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        timeout: float = 30.0,
    ) -> Reply:
        assert self.ports is not None
        h = list(headers)
        if token is not None:
            h.append(("authorization", f"Bearer {token}"))
        return self.run(
            httpclient.request("127.0.0.1", self.ports.inbound, method, path, h, body, timeout_s=timeout),
            timeout + 5,
        )

    def admin(self, path: str) -> Reply:
        assert self.ports is not None
        return self.run(httpclient.request("127.0.0.1", self.ports.admin, "GET", path))

    def stop_service(self, name: str) -> None:
        assert self.services is not None
        self.run(self.services.by_name()[name].close())
