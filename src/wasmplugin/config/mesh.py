"""The whole configuration after loading: every valid resource, indexed, plus the mesh config.

Besides lookups this answers the routing questions the sidecar asks (documented in
docs/configuration.md, "Workloads, ports and services"):

* :meth:`Mesh.inbound_ports` — the ports a workload's sidecar listens on for inbound traffic:
  for every ServiceEntry in the workload's namespace whose ``workloadSelector`` matches it, each
  service port's *target port* (the workload's port of the same name, else the service port's
  ``targetPort``, else its number); plus every ``spec.ports`` entry of the WorkloadEntry.
* :meth:`Mesh.outbound_ports` — the service ports of every ServiceEntry visible (``exportTo``)
  from the workload's namespace.
* :meth:`Mesh.service_for_host` and :meth:`Mesh.endpoints` — where a call goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from wasmplugin.config.networking import port_protocol
from wasmplugin.config.resources import (
    ConfigMap,
    MeshConfig,
    PriorityOrder,
    Secret,
    ServiceEntry,
    ServicePort,
    WasmPlugin,
    WorkloadEntry,
)
from wasmplugin.limits import DEFAULT_LIMITS, Limits

__all__ = ["HTTP_PROTOCOLS", "Endpoint", "InboundPort", "Mesh", "OutboundPort", "labels_match"]

#: Port protocols whose listeners run the HTTP filter chain ("" = unknown: sniffed, may be HTTP).
HTTP_PROTOCOLS = frozenset({"", "HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-WEB"})


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Istio's selector rule: every selector label is in ``labels`` (an empty selector matches)."""
    return all(labels.get(k) == v for k, v in selector.items())


def _merge_protocol(a: str, b: str) -> str:
    if a == b:
        return a
    if a in HTTP_PROTOCOLS and b in HTTP_PROTOCOLS:
        return "HTTP" if "" not in (a, b) else ""
    return ""  # mixed HTTP and TCP on one port: Istio sniffs


class _ListenerPort:
    __slots__ = ()
    #: Upper-case protocol, or "" when unknown (Istio sniffs it).
    protocol: str

    @property
    def is_http(self) -> bool:
        return self.protocol in HTTP_PROTOCOLS


@dataclass(frozen=True, slots=True)
class InboundPort(_ListenerPort):
    """A port the sidecar accepts inbound traffic on (= the workload's target port)."""

    port: int
    name: str
    #: Upper-case protocol, or "" when unknown (Istio sniffs it).
    protocol: str
    #: Hosts of the services that route to this port.
    services: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboundPort(_ListenerPort):
    """A service port the workload can call (outbound listeners are per service port)."""

    port: int
    protocol: str
    services: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str
    port: int
    #: ``namespace/name`` of the WorkloadEntry behind it, when there is one.
    workload: str | None = None


def _creation_order(plugin: WasmPlugin) -> tuple[object, ...]:
    """istiod's ``sortConfigByCreationTime``: oldest first, then name, then namespace."""
    return (plugin.meta.created, plugin.meta.name, plugin.meta.namespace)


@dataclass(frozen=True)
class Mesh:
    config: MeshConfig = field(default_factory=MeshConfig)
    plugins: tuple[WasmPlugin, ...] = ()
    workloads: tuple[WorkloadEntry, ...] = ()
    services: tuple[ServiceEntry, ...] = ()
    secrets: tuple[Secret, ...] = ()
    config_maps: tuple[ConfigMap, ...] = ()
    _plugins_by_ns: dict[str, tuple[WasmPlugin, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_ns: dict[str, list[WasmPlugin]] = {}
        for plugin in sorted(self.plugins, key=_creation_order):
            by_ns.setdefault(plugin.namespace, []).append(plugin)
        object.__setattr__(self, "_plugins_by_ns", {k: tuple(v) for k, v in by_ns.items()})

    # --- mesh config ------------------------------------------------------------------------

    @property
    def root_namespace(self) -> str:
        return self.config.root_namespace

    @property
    def priority_order(self) -> PriorityOrder:
        return self.config.priority_order

    def limits(self, base: Limits = DEFAULT_LIMITS) -> Limits:
        """``base`` with the mesh config's ``limits`` overrides applied."""
        return base.with_overrides(**dict(self.config.limits)) if self.config.limits else base

    # --- lookups ------------------------------------------------------------------------------

    def plugin(self, namespace: str, name: str) -> WasmPlugin | None:
        return next((p for p in self.plugins if p.namespace == namespace and p.name == name), None)

    def plugins_in(self, namespace: str) -> tuple[WasmPlugin, ...]:
        """Plugins of one namespace in istiod's order: creation time, name, namespace."""
        return self._plugins_by_ns.get(namespace, ())

    def workload(self, namespace: str, name: str) -> WorkloadEntry | None:
        return next((w for w in self.workloads if w.namespace == namespace and w.name == name), None)

    def secret(self, namespace: str, name: str) -> Secret | None:
        return next((s for s in self.secrets if s.meta.namespace == namespace and s.meta.name == name), None)

    def config_map(self, namespace: str, name: str) -> ConfigMap | None:
        return next(
            (c for c in self.config_maps if c.meta.namespace == namespace and c.meta.name == name), None
        )

    def service(self, namespace: str, name: str) -> ServiceEntry | None:
        return next((s for s in self.services if s.namespace == namespace and s.name == name), None)

    def services_visible_from(self, namespace: str) -> tuple[ServiceEntry, ...]:
        return tuple(s for s in self.services if s.visible_from(namespace))

    def service_for_host(self, host: str, namespace: str | None = None) -> ServiceEntry | None:
        """The ServiceEntry for ``host`` (exact match first, then the longest wildcard), among
        those visible from ``namespace`` when given."""
        host = host.lower().rstrip(".")
        candidates = self.services if namespace is None else self.services_visible_from(namespace)
        for service in candidates:
            if any(h.lower() == host for h in service.hosts):
                return service
        best: tuple[int, ServiceEntry] | None = None
        for service in candidates:
            for pattern in service.hosts:
                pattern = pattern.lower()
                wildcard = pattern == "*" or (pattern.startswith("*.") and host.endswith(pattern[1:]))
                if wildcard and (best is None or len(pattern) > best[0]):
                    best = (len(pattern), service)
        return best[1] if best else None

    def services_selecting(self, workload: WorkloadEntry) -> tuple[ServiceEntry, ...]:
        """ServiceEntries in the workload's namespace whose ``workloadSelector`` matches it."""
        return tuple(
            s
            for s in self.services
            if s.namespace == workload.namespace
            and s.workload_selector is not None
            and labels_match(s.workload_selector, workload.labels)
        )

    # --- ports and endpoints -------------------------------------------------------------------

    def inbound_ports(self, workload: WorkloadEntry) -> tuple[InboundPort, ...]:
        ports: dict[int, InboundPort] = {}
        for service in self.services_selecting(workload):
            for sp in service.ports:
                target = workload.ports.get(sp.name) or sp.target_port or sp.number
                known = ports.get(target)
                if known is None:
                    ports[target] = InboundPort(target, sp.name, sp.protocol, tuple(service.hosts))
                else:
                    ports[target] = InboundPort(
                        target,
                        known.name,
                        _merge_protocol(known.protocol, sp.protocol),
                        known.services + tuple(h for h in service.hosts if h not in known.services),
                    )
        for name, number in workload.ports.items():
            if number not in ports:
                ports[number] = InboundPort(number, name, port_protocol(name, None))
        return tuple(ports[p] for p in sorted(ports))

    def outbound_ports(self, workload: WorkloadEntry) -> tuple[OutboundPort, ...]:
        ports: dict[int, OutboundPort] = {}
        for service in self.services_visible_from(workload.namespace):
            for sp in service.ports:
                known = ports.get(sp.number)
                if known is None:
                    ports[sp.number] = OutboundPort(sp.number, sp.protocol, tuple(service.hosts))
                else:
                    ports[sp.number] = OutboundPort(
                        sp.number,
                        _merge_protocol(known.protocol, sp.protocol),
                        known.services + tuple(h for h in service.hosts if h not in known.services),
                    )
        return tuple(ports[p] for p in sorted(ports))

    def endpoints(self, service: ServiceEntry, port: int | ServicePort) -> tuple[Endpoint, ...]:
        """Where calls to ``service`` on a service port go: selected WorkloadEntries, explicit
        endpoints, or (DNS resolution without endpoints) the hosts themselves. Resolution NONE
        without endpoints has none: traffic goes to the original destination."""
        sp = port if isinstance(port, ServicePort) else service.port(port)
        if sp is None:
            return ()

        def pick(named: Mapping[str, int]) -> int:
            return named.get(sp.name) or sp.target_port or sp.number

        if service.workload_selector is not None:
            return tuple(
                Endpoint(w.address, pick(w.ports), f"{w.namespace}/{w.name}")
                for w in self.workloads
                if w.namespace == service.namespace and labels_match(service.workload_selector, w.labels)
            )
        if service.endpoints:
            return tuple(Endpoint(e.address, pick(e.ports)) for e in service.endpoints)
        if service.resolution in ("DNS", "DNS_ROUND_ROBIN"):
            return tuple(Endpoint(h, sp.target_port or sp.number) for h in service.hosts if "*" not in h)
        return ()
