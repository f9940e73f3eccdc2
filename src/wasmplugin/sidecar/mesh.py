"""From a configuration directory to a :class:`ConfigState` for one workload.

Routes come from the WorkloadEntry (inbound: its address and target port) and ServiceEntries
(outbound: one cluster per host and port, Istio names). Chains come from the config layer's
``ChainPlan`` for the workload, modules from the fetcher and VMs from ``chain/build.py``; this module
only wires them and records what was loaded for ``/config_dump``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from wasmplugin.errors import ConfigError
from wasmplugin.sidecar.reload import CONFIG_SUFFIXES, directory_fingerprint
from wasmplugin.sidecar.routing import (
    Cluster,
    Endpoint,
    RouteTable,
    inbound_cluster_name,
    outbound_cluster_name,
)
from wasmplugin.sidecar.state import ConfigState

if TYPE_CHECKING:
    from wasmplugin.sidecar.process import HostBundle, ServeConfig


@dataclass(frozen=True)
class Document:
    file: str
    index: int
    kind: str
    name: str
    namespace: str
    labels: Mapping[str, str]
    spec: Mapping[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def read_documents(root: Path) -> list[Document]:
    """Every YAML/JSON document under ``root`` with a kind and a name (others are ignored)."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in CONFIG_SUFFIXES)
    out: list[Document] = []
    for path in files:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(f"{where}{problem}", file=str(path)) from None
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict) or "kind" not in doc:
                continue
            meta = doc.get("metadata") or {}
            spec = doc.get("spec") or {}
            if not isinstance(meta, dict) or not isinstance(spec, dict):
                raise ConfigError("metadata and spec must be mappings", file=str(path), document=i)
            out.append(
                Document(
                    file=str(path),
                    index=i,
                    kind=str(doc["kind"]),
                    name=str(meta.get("name", "")),
                    namespace=str(meta.get("namespace") or "default"),
                    labels=dict(meta.get("labels") or {}),
                    spec=spec,
                )
            )
    return out


def _err(doc: Document, field_: str, reason: str) -> ConfigError:
    return ConfigError(reason, file=doc.file, document=doc.index, resource=doc.ref, field=field_)


def find_workload(docs: Iterable[Document], workload: str) -> Document:
    ns, sep, name = workload.partition("/")
    if not sep:
        ns, name = "default", workload
    for d in docs:
        if d.kind == "WorkloadEntry" and d.name == name and d.namespace == ns:
            return d
    raise ConfigError(f"WorkloadEntry {ns}/{name} not found (--workload names a WorkloadEntry in the directory)")


def workload_target(doc: Document, target_port: int | None) -> tuple[str, int]:
    """(address, port) inbound traffic goes to: the port named ``http``, the only port, or
    ``--target-port``."""
    address = str(doc.spec.get("address") or "127.0.0.1")
    ports = doc.spec.get("ports") or {}
    if not isinstance(ports, dict):
        raise _err(doc, "spec.ports", "must be a map of port name to number")
    numbers = {str(k): int(v) for k, v in ports.items()}
    if target_port is not None:
        return address, target_port
    if "http" in numbers:
        return address, numbers["http"]
    if len(numbers) == 1:
        return address, next(iter(numbers.values()))
    if not numbers:
        raise _err(doc, "spec.ports", "no port to forward inbound traffic to (add ports.http or use --target-port)")
    raise _err(doc, "spec.ports", f"several ports ({', '.join(sorted(numbers))}) and none named http: use --target-port")


def service_clusters(docs: Iterable[Document]) -> list[Cluster]:
    docs = list(docs)
    workloads = [d for d in docs if d.kind == "WorkloadEntry"]
    clusters: list[Cluster] = []
    for d in docs:
        if d.kind != "ServiceEntry":
            continue
        hosts = d.spec.get("hosts") or []
        ports = d.spec.get("ports") or []
        if not isinstance(hosts, list) or not hosts:
            raise _err(d, "spec.hosts", "at least one host is required")
        if not isinstance(ports, list):
            raise _err(d, "spec.ports", "must be a list")
        endpoints = d.spec.get("endpoints") or []
        selector = (d.spec.get("workloadSelector") or {}).get("labels") or {}
        for pi, port in enumerate(ports):
            if not isinstance(port, dict) or "number" not in port:
                raise _err(d, f"spec.ports[{pi}].number", "is required")
            number = int(port["number"])
            pname = str(port.get("name", ""))
            target = int(port.get("targetPort") or number)
            for host in hosts:
                host = str(host).lower()
                eps: list[Endpoint] = []
                for e in endpoints:
                    eports = e.get("ports") or {}
                    eps.append(Endpoint(str(e.get("address")), int(eports.get(pname, target))))
                if selector:
                    for w in workloads:
                        if w.namespace == d.namespace and all(w.labels.get(k) == v for k, v in selector.items()):
                            wports = w.spec.get("ports") or {}
                            eps.append(Endpoint(str(w.spec.get("address") or "127.0.0.1"), int(wports.get(pname, target))))
                if not eps and not host.startswith("*"):
                    eps.append(Endpoint(host, target))  # resolution DNS / NONE: the host itself
                clusters.append(
                    Cluster(
                        name=outbound_cluster_name(number, host),
                        host=host,
                        port=number,
                        endpoints=tuple(eps),
                        aliases=(host, f"{host}:{number}"),
                    )
                )
    return clusters


def build_routes(docs: list[Document], workload: Document, target_port: int | None) -> RouteTable:
    address, port = workload_target(workload, target_port)
    inbound = Cluster(
        name=inbound_cluster_name(port),
        host=workload.name,
        port=port,
        endpoints=(Endpoint(address, port),),
        aliases=(),
    )
    return RouteTable(inbound=inbound, outbound=service_clusters(docs))


@dataclass
class MeshStateBuilder:
    """The sidecar's :class:`~wasmplugin.sidecar.reload.StateBuilder` for ``serve -f DIR``."""

    cfg: ServeConfig
    host: HostBundle
    node: Any = None
    _closers: list[Any] = field(default_factory=list)

    def fingerprint(self) -> str:
        return directory_fingerprint(self.cfg.directory)

    def build(self, version: int) -> ConfigState:
        root = self.cfg.directory
        if not root.exists():
            raise ConfigError("no such file or directory", file=str(root))
        docs = read_documents(root)
        workload = find_workload(docs, self.cfg.workload)
        routes = build_routes(docs, workload, self.cfg.target_port)
        state = ConfigState(version=version, routes=routes, loaded_at=time.time())
        if any(d.kind == "WasmPlugin" for d in docs):
            from wasmplugin.sidecar.plugins import build_chains

            build_chains(self, state, docs, workload)
        return state

    def close(self) -> None:
        for c in self._closers:
            c()
        self._closers.clear()
