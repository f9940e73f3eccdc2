"""From a configuration directory to a :class:`ConfigState` for one workload.

Routes come from the WorkloadEntry (inbound: its address and target port) and ServiceEntries
(outbound: one cluster per host and port, Istio names). Chains come from the config layer's
``ChainPlan`` for the workload, modules from the fetcher and VMs from ``chain/build.py``; this module
only wires them and records what was loaded for ``/config_dump``.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wasmplugin.errors import ConfigError
from wasmplugin.sidecar.reload import directory_fingerprint
from wasmplugin.sidecar.routing import (
    Cluster,
    Endpoint,
    RouteTable,
    inbound_cluster_name,
    outbound_cluster_name,
)
from wasmplugin.sidecar.state import ConfigState

if TYPE_CHECKING:
    from wasmplugin.config.mesh import Mesh
    from wasmplugin.config.resources import WorkloadEntry
    from wasmplugin.sidecar.process import HostBundle, ServeConfig


def find_workload(mesh: Mesh, workload: str, source: str) -> WorkloadEntry:
    ns, sep, name = workload.partition("/")
    if not sep:
        ns, name = "default", workload
    we = mesh.workload(ns, name)
    if we is None:
        raise ConfigError(
            f"WorkloadEntry {ns}/{name} not found (--workload names a WorkloadEntry in the directory)",
            file=source,
        )
    return we


def _where(we: WorkloadEntry) -> dict[str, Any]:
    loc = getattr(we, "location", None)
    out: dict[str, Any] = {"resource": f"WorkloadEntry {we.namespace}/{we.name}"}
    if loc is not None:
        out["file"] = str(getattr(loc, "file", "")) or None
        out["document"] = getattr(loc, "document", None)
    return out


def workload_target(we: WorkloadEntry, target_port: int | None) -> tuple[str, int]:
    """(address, port) inbound traffic goes to: ``--target-port``, the port named ``http``, or
    the only port."""
    address = we.address or "127.0.0.1"
    ports = dict(we.ports)
    if target_port is not None:
        return address, target_port
    if "http" in ports:
        return address, ports["http"]
    if len(ports) == 1:
        return address, next(iter(ports.values()))
    where = _where(we)
    if not ports:
        raise ConfigError(
            "no port to forward inbound traffic to (add ports.http or use --target-port)",
            field="spec.ports",
            **where,
        )
    raise ConfigError(
        f"several ports ({', '.join(sorted(ports))}) and none named http: use --target-port",
        field="spec.ports",
        **where,
    )


def service_clusters(mesh: Mesh, we: WorkloadEntry) -> list[Cluster]:
    """One cluster per visible ServiceEntry host and port (Istio's ``outbound|PORT||HOST``)."""
    clusters: list[Cluster] = []
    seen: set[str] = set()
    for service in mesh.services_visible_from(we.namespace):
        for sp in service.ports:
            eps = tuple(Endpoint(e.address, e.port) for e in mesh.endpoints(service, sp))
            for host in service.hosts:
                host = host.lower()
                name = outbound_cluster_name(sp.number, host)
                if name in seen:
                    continue
                seen.add(name)
                clusters.append(
                    Cluster(
                        name=name,
                        host=host,
                        port=sp.number,
                        endpoints=eps,
                        aliases=(host, f"{host}:{sp.number}"),
                    )
                )
    return clusters


def build_routes(mesh: Mesh, we: WorkloadEntry, target_port: int | None) -> RouteTable:
    address, port = workload_target(we, target_port)
    inbound = Cluster(
        name=inbound_cluster_name(port),
        host=we.name,
        port=port,
        endpoints=(Endpoint(address, port),),
    )
    return RouteTable(inbound=inbound, outbound=service_clusters(mesh, we))


@dataclass
class MeshStateBuilder:
    """The sidecar's :class:`~wasmplugin.sidecar.reload.StateBuilder` for ``serve -f DIR``."""

    cfg: ServeConfig
    host: HostBundle
    node: Any = None
    #: Process-wide host pieces, made on the first build and kept across reloads (shared data
    #: and metrics survive a reload, as they do in Envoy).
    services: Any = None
    wasm_runtime: Any = None
    fetcher: Any = None
    _closers: list[Any] = field(default_factory=list)
    _last_warnings: list[str] = field(default_factory=list)
    _module_files: list[str] = field(default_factory=list)
    _built_from: str = ""

    def __post_init__(self) -> None:
        from wasmplugin.fetch.metrics import FetchMetrics

        # istio-agent's metrics exist (at zero) before any module is fetched, as in Istio.
        self.host.fetch_metrics = FetchMetrics()

    def fingerprint(self) -> str:
        """The directory's files, plus the ``file://`` modules the last configuration loaded: a
        rebuilt ``plugin.wasm`` reloads too (Envoy never notices; users expect it to)."""
        fp = directory_fingerprint(self.cfg.directory)
        if not self._module_files:
            return fp
        h = hashlib.sha256(fp.encode())
        for path in self._module_files:
            try:
                st = os.stat(path)
                h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{path}\0missing\n".encode())
        return h.hexdigest()

    def build(self, version: int) -> ConfigState:
        from wasmplugin.config.loader import load

        root = self.cfg.directory
        if not root.exists():
            raise ConfigError("no such file or directory", file=str(root))
        self._built_from = directory_fingerprint(root)
        result = load([str(root)], recursive=True, strict=self.cfg.strict)
        mesh = result.raise_for_errors()
        we = find_workload(mesh, self.cfg.workload, str(root))
        routes = build_routes(mesh, we, self.cfg.target_port)
        state = ConfigState(version=version, routes=routes, loaded_at=time.time())
        warnings = [str(w) for w in result.warnings]
        if warnings != self._last_warnings:
            for w in warnings:
                self.host.log.warn("config", w)
            self._last_warnings = warnings
        from wasmplugin.sidecar.plugins import build_chains

        build_chains(self, state, mesh, we)
        state.warnings[:0] = warnings
        self._module_files = sorted(
            {p["url"][len("file://") :] for p in state.plugins if str(p.get("url", "")).startswith("file://")}
        )
        return state

    def changed_since_build(self) -> bool:
        """True when the directory changed while the last build ran (that change still needs a
        reload, whatever the fingerprint taken after the build says)."""
        return directory_fingerprint(self.cfg.directory) != self._built_from

    def close(self) -> None:
        for c in reversed(self._closers):
            c()
        self._closers.clear()
