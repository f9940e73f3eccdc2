"""From ``examples/demo`` to the run directory the sidecar serves.

The example files are the mesh as a user reads it: fixed placeholder ports. At start the demo
validates them with the config layer, then writes a copy into its run directory where

* the resource annotated ``demo.wasmplugin.io/service: NAME`` (the WorkloadEntry, the
  ServiceEntries) points at the local service NAME: address 127.0.0.1 and the port it got;
* a WasmPlugin ``url`` of the form ``http://127.0.0.1:PORT/<module>/plugin.wasm`` points at the
  demo's module server, which serves ``plugins/<module>/plugin.wasm``. Its pinned ``sha256`` is
  checked against that file first, so a rebuilt module gives one clear line instead of 403s.

It also reads what the scenario needs from the same files (issuer, audience, JWKS path, the
rate limit of the burst path), so the scenario follows the YAML.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from wasmplugin.errors import DemoError

ANNOTATION = "demo.wasmplugin.io/service"
#: The host module URLs must use to be served by the demo's module server.
MODULE_HOST = "127.0.0.1"
YAML_SUFFIXES = (".yaml", ".yml")
#: The request path the scenario's burst uses.
BURST_PATH = "/api/v1/upload"
#: The local services a resource may stand for (annotation values); ``modules`` is implicit.
SERVICES = ("api-gateway", "jwks", "policy")


@dataclass(frozen=True)
class DemoModule:
    plugin: str  # namespace/name of the WasmPlugin
    module: str  # plugins/<module>/plugin.wasm
    url: str  # as rewritten into the run directory
    sha256: str  # pinned in the YAML ("" when not pinned)


@dataclass(frozen=True)
class RateRule:
    path: str  # prefix, or "*" for the default rule
    limit: int
    window_s: int


@dataclass(frozen=True)
class DemoFacts:
    """What the scenario reads from the YAML."""

    issuer: str
    audience: str
    jwks_path: str
    allowed_paths: tuple[str, ...]
    burst_rule: RateRule
    rate_limit_status: int


@dataclass(frozen=True)
class DemoMesh:
    source: Path
    directory: Path
    workload: str  # namespace/name
    modules: tuple[DemoModule, ...]
    facts: DemoFacts


@dataclass
class _Doc:
    file: Path
    index: int
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.meta.get('namespace') or 'default'}/{self.meta.get('name', '')}"

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.body.get("spec")
        if not isinstance(spec, dict):
            spec = self.body["spec"] = {}
        return spec

    @property
    def service(self) -> str | None:
        annotations = self.meta.get("annotations") or {}
        value = annotations.get(ANNOTATION) if isinstance(annotations, dict) else None
        return str(value) if value is not None else None

    def error(self, field: str, reason: str) -> DemoError:
        return DemoError(f"{self.file}#{self.index + 1}: {self.ref}: {field}: {reason}")


def find_repo_dir(relative: str, explicit: Path | None, cwd: Path | None = None) -> Path:
    """``explicit``, else ``./relative`` when it exists, else ``relative`` in the source tree this
    package was installed from (an editable install, as ``make install`` makes)."""
    if explicit is not None:
        if not explicit.is_dir():
            raise DemoError(f"{explicit}: no such directory")
        return explicit.resolve()
    candidates = [(cwd or Path.cwd()) / relative, Path(__file__).resolve().parents[3] / relative]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    raise DemoError(
        f"cannot find {relative}/ (looked in {', '.join(str(c.parent) for c in candidates)}); "
        "run the demo from the repository root or pass its location"
    )


def _read(source: Path) -> list[_Doc]:
    files = sorted(p for p in source.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file())
    if not files:
        raise DemoError(f"{source}: no YAML files")
    docs: list[_Doc] = []
    for path in files:
        try:
            loaded = list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError) as exc:
            raise DemoError(f"{path}: cannot read: {exc}") from None
        docs.extend(_Doc(path, i, d) for i, d in enumerate(loaded) if isinstance(d, dict))
    return docs


def _point_workload(doc: _Doc, host: str, port: int) -> None:
    spec = doc.spec
    ports = spec.get("ports") or {}
    if not isinstance(ports, dict) or not ports:
        raise doc.error("spec.ports", "the demo needs a port to replace (e.g. ports: {http: 8080})")
    name = "http" if "http" in ports else next(iter(ports))
    spec["address"] = host
    spec["ports"] = {**ports, name: port}


def _point_service(doc: _Doc, host: str, port: int) -> None:
    spec = doc.spec
    names = [str(p.get("name")) for p in spec.get("ports") or [] if isinstance(p, dict)]
    endpoints = spec.get("endpoints") or []
    if not names or not endpoints:
        raise doc.error("spec.endpoints", "the demo needs ports and an endpoint to point at its service")
    for e in endpoints:
        e["address"] = host
        e["ports"] = dict.fromkeys(names, port)


def _module_of(doc: _Doc) -> str | None:
    """The plugins/ module a WasmPlugin's url names on the module server, if it does."""
    parts = urlsplit(str(doc.spec.get("url") or ""))
    segments = parts.path.strip("/").split("/")
    if (
        parts.scheme != "http"
        or parts.hostname != MODULE_HOST
        or len(segments) != 2
        or segments[1] != "plugin.wasm"
    ):
        return None
    return segments[0]


def _check_module(doc: _Doc, module: str, plugins_dir: Path) -> DemoModule:
    path = plugins_dir / module / "plugin.wasm"
    try:
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise doc.error("spec.url", f"the demo serves {path}, which cannot be read: {exc.strerror}") from None
    pinned = str(doc.spec.get("sha256") or "").removeprefix("sha256:")
    if pinned and pinned != actual:
        raise doc.error(
            "spec.sha256",
            f"pins {pinned} but {path} has sha256 {actual} (was the module rebuilt? update spec.sha256)",
        )
    ns = doc.meta.get("namespace") or "default"
    return DemoModule(f"{ns}/{doc.meta.get('name', '')}", module, str(doc.spec.get("url")), pinned)


def _config_of(docs: list[_Doc], module: str) -> tuple[_Doc, dict[str, Any]]:
    for d in docs:
        if d.kind == "WasmPlugin" and _module_of(d) == module:
            cfg = d.spec.get("pluginConfig") or {}
            return d, cfg if isinstance(cfg, dict) else {}
    raise DemoError(
        f"the demo mesh has no WasmPlugin with url http://{MODULE_HOST}:PORT/{module}/plugin.wasm"
    )


def _facts(docs: list[_Doc]) -> DemoFacts:
    jwt_doc, jwt = _config_of(docs, "jwt-validator")
    issuer = jwt.get("issuer", jwt.get("jwt_issuer"))
    audience = jwt.get("audience", jwt.get("jwt_audience"))
    if not isinstance(issuer, str) or not issuer:
        raise jwt_doc.error("spec.pluginConfig.issuer", "the demo mints tokens for this issuer: set it")
    if isinstance(audience, list):
        audience = audience[0] if audience else None
    if not isinstance(audience, str) or not audience:
        raise jwt_doc.error("spec.pluginConfig.audience", "the demo mints tokens for this audience: set it")
    jwks_uri = str(jwt.get("jwks_uri") or issuer.rstrip("/") + "/.well-known/jwks.json")
    allowed = tuple(str(p) for p in jwt.get("allowed_paths") or [])
    _, rl = _config_of(docs, "rate-limiter")
    default_window = int(rl.get("default_window_seconds", 60))
    rule = RateRule("*", int(rl.get("default_limit", 0)), default_window)
    best = -1
    for entry in rl.get("path_limits") or []:
        prefix = str(entry.get("path", ""))
        if BURST_PATH.startswith(prefix) and len(prefix) > best:
            best = len(prefix)
            rule = RateRule(prefix, int(entry["limit"]), int(entry.get("window_seconds", default_window)))
    response = rl.get("rate_limit_response") or {}
    return DemoFacts(
        issuer=issuer,
        audience=audience,
        jwks_path=urlsplit(jwks_uri).path or "/",
        allowed_paths=allowed,
        burst_rule=rule,
        rate_limit_status=int(response.get("status_code", 429)),
    )


@dataclass
class DemoSource:
    """``examples/demo`` read and checked: what the demo must start, before any port is known."""

    directory: Path
    plugins_dir: Path
    docs: list[_Doc]
    workload: str
    modules: tuple[DemoModule, ...]
    facts: DemoFacts

    @property
    def services(self) -> frozenset[str]:
        return frozenset(s for d in self.docs if (s := d.service) is not None)

    @classmethod
    def load(cls, directory: Path, plugins_dir: Path) -> DemoSource:
        """Validate with the config layer (one-line ConfigError), then check the demo's own needs."""
        from wasmplugin.config.loader import load

        load([str(directory)]).raise_for_errors()
        docs = _read(directory)
        workload: str | None = None
        modules: list[DemoModule] = []
        for doc in docs:
            service = doc.service
            if service is not None:
                if service not in SERVICES:
                    raise doc.error(
                        f"metadata.annotations[{ANNOTATION}]",
                        f"unknown demo service {service!r} (known: {', '.join(SERVICES)})",
                    )
                if doc.kind not in ("WorkloadEntry", "ServiceEntry"):
                    raise doc.error(
                        f"metadata.annotations[{ANNOTATION}]",
                        "only a WorkloadEntry or a ServiceEntry stands for a service",
                    )
                if doc.kind == "WorkloadEntry" and service == "api-gateway":
                    workload = f"{doc.meta.get('namespace') or 'default'}/{doc.meta.get('name', '')}"
            module = _module_of(doc) if doc.kind == "WasmPlugin" else None
            if module is not None:
                modules.append(_check_module(doc, module, plugins_dir))
        if workload is None:
            raise DemoError(
                f"{directory}: no WorkloadEntry annotated {ANNOTATION}: api-gateway (the demo's workload)"
            )
        return cls(directory, plugins_dir, docs, workload, tuple(modules), _facts(docs))

    def write(self, run_dir: Path, ports: Mapping[str, int], host: str = "127.0.0.1") -> DemoMesh:
        """The run copy in ``run_dir/mesh``: services at ``host`` and ``ports[name]``, module
        URLs on the module server (``ports["modules"]``)."""
        out = run_dir / "mesh"
        out.mkdir(parents=True, exist_ok=True)
        modules: list[DemoModule] = []
        bodies: dict[Path, list[dict[str, Any]]] = {}
        for original in self.docs:
            doc = _Doc(original.file, original.index, copy.deepcopy(original.body))
            service = doc.service
            if service is not None and doc.kind == "WorkloadEntry":
                _point_workload(doc, host, ports[service])
            elif service is not None:
                _point_service(doc, host, ports[service])
            module = _module_of(doc) if doc.kind == "WasmPlugin" else None
            if module is not None:
                url = f"http://{MODULE_HOST}:{ports['modules']}/{module}/plugin.wasm"
                doc.spec["url"] = url
                pinned = next(
                    m for m in self.modules if m.module == module and m.url == original.spec.get("url")
                )
                modules.append(DemoModule(pinned.plugin, module, url, pinned.sha256))
            bodies.setdefault(doc.file, []).append(doc.body)
        for path, body in bodies.items():
            header = (
                f"# Generated by `wasmplugin demo` from {path}:\n"
                "# service addresses, ports and module URLs point at the demo's local services.\n"
            )
            (out / path.name).write_text(header + yaml.safe_dump_all(body, sort_keys=False))
        return DemoMesh(self.directory, out, self.workload, tuple(modules), self.facts)
