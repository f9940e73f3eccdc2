"""The demo's local services: what the mesh's resources point at.

* ``api-gateway`` — the workload (WorkloadEntry ``default/api-gateway``): echoes what it received
  as JSON, so the demo can show the headers plugins added on the way in;
* ``jwks`` — ``auth.example.com``'s key server: ``GET /.well-known/jwks.json``;
* ``policy`` — ``policy-service.default.svc``: rbac-enforcer's questions, :mod:`.policy`'s answers;
* ``modules`` — serves ``plugins/<name>/plugin.wasm`` at ``/<name>/plugin.wasm`` for the
  WasmPlugins' ``http://`` URLs (the sidecar fetches and verifies them).

:class:`DemoServices` starts and closes them together.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wasmplugin.demo.httpserver import HttpService, Request, Response
from wasmplugin.demo.policy import DEMO_RULES, Decision, Question, Rule, decide
from wasmplugin.demo.tokens import TokenIssuer
from wasmplugin.errors import DemoError

JWKS_PATH = "/.well-known/jwks.json"
#: Module names the module server may serve: a plugins/ sub-directory name.
_MODULE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")


def echo_app(request: Request) -> Response:
    """The api-gateway: answers 200 with what reached it (method, target, headers, body size)."""
    return Response.json(
        200,
        {
            "service": "api-gateway",
            "method": request.method,
            "path": request.target,
            "headers": [[k.lower(), v] for k, v in request.headers],
            "body_bytes": len(request.body),
        },
        pretty=True,
    )


def jwks_handler(issuer: TokenIssuer) -> Response:
    return Response.json(200, issuer.jwks(), (("cache-control", "max-age=300"),))


@dataclass
class PolicyLog:
    """The last decisions, newest last (for the demo's output and tests)."""

    entries: collections.deque[tuple[Question, Decision]] = field(
        default_factory=lambda: collections.deque(maxlen=256)
    )


def policy_handler(request: Request, rules: tuple[Rule, ...], log: PolicyLog) -> Response:
    if request.method == "GET" and request.path == "/":
        return Response.json(200, {"rules": [r.describe() for r in rules]})
    if request.method != "POST":
        return Response.json(405, {"error": "POST a question"}, (("allow", "GET, POST"),))
    try:
        question = Question.from_json(json.loads(request.body or b"null"))
    except (ValueError, UnicodeDecodeError) as exc:
        return Response.json(400, {"error": f"bad question: {exc}"})
    decision = decide(question, rules)
    log.entries.append((question, decision))
    return Response.json(200, decision.to_json())


class ModuleFiles:
    """``/<name>/plugin.wasm`` → ``<plugins_dir>/<name>/plugin.wasm`` for the listed names only."""

    def __init__(self, plugins_dir: Path, names: frozenset[str]) -> None:
        self.plugins_dir = plugins_dir
        self.names = names
        #: Downloads served, by name (what the sidecar's fetcher asked for).
        self.served: collections.Counter[str] = collections.Counter()

    def handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if request.method not in ("GET", "HEAD") or len(parts) != 2 or parts[1] != "plugin.wasm":
            return Response(404, b"not found\n", (("content-type", "text/plain"),))
        name = parts[0]
        if name not in self.names or not _MODULE_NAME.match(name):
            return Response(404, b"no such module\n", (("content-type", "text/plain"),))
        try:
            data = (self.plugins_dir / name / "plugin.wasm").read_bytes()
        except OSError as exc:
            return Response(404, f"{exc.strerror}\n".encode(), (("content-type", "text/plain"),))
        self.served[name] += 1
        return Response(200, data, (("content-type", "application/wasm"),))


class DemoServices:
    """The four services, started on 127.0.0.1 (ephemeral ports unless given)."""

    def __init__(
        self,
        issuer: TokenIssuer,
        plugins_dir: Path,
        module_names: frozenset[str],
        *,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        rules: tuple[Rule, ...] = DEMO_RULES,
        jwks_path: str = JWKS_PATH,
    ) -> None:
        ports = ports or {}
        self.issuer = issuer
        self.rules = rules
        self.policy_log = PolicyLog()
        self.modules = ModuleFiles(plugins_dir, module_names)
        self.app = HttpService("api-gateway", echo_app, host, ports.get("api-gateway", 0))
        self.jwks = HttpService(
            "jwks",
            lambda r: jwks_handler(issuer) if r.path == jwks_path else Response(404, b"not found\n"),
            host,
            ports.get("jwks", 0),
        )
        self.policy = HttpService(
            "policy", lambda r: policy_handler(r, self.rules, self.policy_log), host, ports.get("policy", 0)
        )
        self.module_server = HttpService("modules", self.modules.handle, host, ports.get("modules", 0))

    @property
    def all(self) -> tuple[HttpService, ...]:
        return (self.app, self.jwks, self.policy, self.module_server)

    def by_name(self) -> dict[str, HttpService]:
        return {s.name: s for s in self.all}

    async def start(self) -> None:
        for service in self.all:
            try:
                await service.start()
            except OSError as exc:
                await self.close()
                where = f"{service.host}:{service.port}"
                raise DemoError(
                    f"cannot start the {service.name} service on {where}: {exc.strerror or exc}"
                ) from None

    async def close(self) -> None:
        for service in self.all:
            await service.close()
