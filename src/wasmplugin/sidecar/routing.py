"""Where a request goes: clusters (Istio's names) and the route table of one sidecar.

The table is plain data so tests can build one by hand; :mod:`wasmplugin.sidecar.mesh` builds it
from a WorkloadEntry and ServiceEntries. Cluster names follow Istio:
``inbound|PORT||`` for the local workload and ``outbound|PORT||HOST`` for a service.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str
    port: int

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass(eq=False)
class Cluster:
    """One upstream cluster. ``port`` is the service port (what CLIENT-mode ``match`` compares)."""

    name: str
    host: str
    port: int
    endpoints: tuple[Endpoint, ...]
    #: Extra names http_call may use for this cluster (ServiceEntry host, ``host:port``).
    aliases: tuple[str, ...] = ()
    _next: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self.pool_keys = tuple((self.name, e.address, e.port) for e in self.endpoints)

    def pick(self) -> Endpoint:
        """Round-robin over the endpoints (Envoy's default load balancer)."""
        eps = self.endpoints
        i = self._next
        self._next = i + 1 if i + 1 < len(eps) else 0
        return eps[i]

    def pick_key(self) -> tuple[str, str, int]:
        """The upstream pool key of the next endpoint (round-robin)."""
        keys = self.pool_keys
        if len(keys) == 1:
            return keys[0]
        i = self._next
        self._next = i + 1 if i + 1 < len(keys) else 0
        return keys[i]


def inbound_cluster_name(port: int) -> str:
    return f"inbound|{port}||"


def outbound_cluster_name(port: int, host: str) -> str:
    return f"outbound|{port}||{host}"


def split_authority(authority: bytes, default_port: int = 80) -> tuple[str, int]:
    """``host[:port]`` (also ``[v6]:port``) → (lower-case host, port)."""
    text = authority.decode("latin-1").strip().lower()
    if text.startswith("["):
        end = text.find("]")
        host = text[1:end] if end > 0 else text
        rest = text[end + 1 :] if end > 0 else ""
        if rest.startswith(":") and rest[1:].isdigit():
            return host, int(rest[1:])
        return host, default_port
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return text, default_port


def _host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*"):
        return host.endswith(pattern[1:])
    return pattern == host


@dataclass
class RouteTable:
    """The sidecar's listeners' view of the world.

    ``inbound`` is the local workload's cluster (the inbound listener's only route). ``outbound``
    maps (host, service port) to a cluster; hosts may be ``*.suffix`` wildcards as in ServiceEntry.
    """

    inbound: Cluster | None = None
    outbound: list[Cluster] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._exact: dict[tuple[str, int], Cluster] = {}
        self._wild: list[Cluster] = []
        self._by_name: dict[str, Cluster] = {}
        for c in self.outbound:
            if c.host.startswith("*"):
                self._wild.append(c)
            else:
                self._exact.setdefault((c.host, c.port), c)
        # Longest wildcard suffix first, as Envoy picks the most specific virtual host.
        self._wild.sort(key=lambda c: -len(c.host))
        for c in self.clusters():
            self._by_name.setdefault(c.name, c)
        for c in self.clusters():
            for alias in c.aliases:
                self._by_name.setdefault(alias, c)

    def clusters(self) -> list[Cluster]:
        return ([self.inbound] if self.inbound else []) + list(self.outbound)

    def route_outbound(self, authority: bytes | None) -> Cluster | None:
        """Pick the outbound cluster for a request's ``Host`` (port 80 when absent)."""
        if not authority:
            return None
        host, port = split_authority(authority)
        c = self._exact.get((host, port))
        if c is not None:
            return c
        for w in self._wild:
            if w.port == port and _host_matches(w.host, host):
                return w
        return None

    def cluster(self, name: str) -> Cluster | None:
        """http_call's upstream: an Istio cluster name, a ServiceEntry host or ``host:port``."""
        c = self._by_name.get(name)
        if c is not None:
            return c
        if "|" not in name:
            host, port = split_authority(name.encode("latin-1"), default_port=0)
            if port:
                return self._exact.get((host, port))
            candidates = [c for c in self.outbound if c.host == host]
            if len(candidates) >= 1:
                return candidates[0]
        return None
