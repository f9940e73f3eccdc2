"""The parsed, frozen resources: WasmPlugin, WorkloadEntry, ServiceEntry, Secret, ConfigMap, and
the mesh config.

Fields hold what was written (``None`` when absent), as Istio stores a spec verbatim; every
default is applied at use, by the ``effective_*`` accessors here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from wasmplugin.config.diagnostics import Diagnostic, Location
from wasmplugin.config.frozen import EMPTY, FrozenDict
from wasmplugin.config.meta import ObjectMeta
from wasmplugin.config.redact import Redacted

__all__ = [
    "PHASE_ORDER",
    "ConfigMap",
    "EnvRef",
    "EnvValueSource",
    "EnvVarSpec",
    "FailStrategy",
    "MeshConfig",
    "Phase",
    "PluginType",
    "PriorityOrder",
    "PullPolicy",
    "Secret",
    "ServiceEndpoint",
    "ServiceEntry",
    "ServicePort",
    "TargetRef",
    "TrafficSelector",
    "WasmPlugin",
    "WasmPluginSpec",
    "WorkloadEntry",
    "WorkloadMode",
]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


class Phase(StrEnum):
    UNSPECIFIED_PHASE = "UNSPECIFIED_PHASE"
    AUTHN = "AUTHN"
    AUTHZ = "AUTHZ"
    STATS = "STATS"


#: Order of the Wasm groups in a filter chain (istiod's listener builders, reference §4.2).
PHASE_ORDER = (Phase.AUTHN, Phase.AUTHZ, Phase.STATS, Phase.UNSPECIFIED_PHASE)


class PullPolicy(StrEnum):
    UNSPECIFIED_POLICY = "UNSPECIFIED_POLICY"
    IfNotPresent = "IfNotPresent"
    Always = "Always"


class FailStrategy(StrEnum):
    FAIL_CLOSE = "FAIL_CLOSE"
    FAIL_OPEN = "FAIL_OPEN"
    FAIL_RELOAD = "FAIL_RELOAD"


class PluginType(StrEnum):
    UNSPECIFIED_PLUGIN_TYPE = "UNSPECIFIED_PLUGIN_TYPE"
    HTTP = "HTTP"
    NETWORK = "NETWORK"


class EnvValueSource(StrEnum):
    INLINE = "INLINE"
    HOST = "HOST"


class WorkloadMode(StrEnum):
    UNDEFINED = "UNDEFINED"
    CLIENT = "CLIENT"
    SERVER = "SERVER"
    CLIENT_AND_SERVER = "CLIENT_AND_SERVER"


class PriorityOrder(StrEnum):
    """How ``priority`` orders plugins inside a phase."""

    #: Istio: higher runs first.
    DESCENDING = "descending"
    #: The blog's reading ("lower runs first"); a mesh-config extension.
    ASCENDING = "ascending"


class _Resource:
    """What every resource kind has: ``meta``, and from it a namespace, a name and the label
    (``WasmPlugin ns/name``) that error messages use."""

    __slots__ = ()
    meta: ObjectMeta
    kind: ClassVar[str]

    @property
    def namespace(self) -> str:
        return self.meta.namespace

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def label(self) -> str:
        return f"{self.kind} {self.meta.namespace}/{self.meta.name}"


# --- WasmPlugin ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetRef:
    kind: str
    name: str
    group: str = ""
    namespace: str = ""

    @property
    def canonical_group(self) -> str:
        return self.group or "core"


@dataclass(frozen=True, slots=True)
class TrafficSelector:
    mode: WorkloadMode | None
    ports: tuple[int, ...] = ()

    @property
    def effective_mode(self) -> WorkloadMode:
        return self.mode or WorkloadMode.CLIENT_AND_SERVER


@dataclass(frozen=True, slots=True)
class EnvRef:
    """A blog-form ``valueFrom`` object (Kubernetes EnvVarSource): ``fieldRef``,
    ``secretKeyRef`` or ``configMapKeyRef``."""

    kind: str
    name: str = ""
    key: str = ""
    field_path: str = ""
    optional: bool = False

    def describe(self, namespace: str) -> str:
        if self.kind == "fieldRef":
            return f"fieldRef {self.field_path}"
        what = "Secret" if self.kind == "secretKeyRef" else "ConfigMap"
        return f"{self.kind} {what} {namespace}/{self.name} key {self.key!r}"


@dataclass(frozen=True, slots=True)
class EnvVarSpec:
    name: str
    value: str | None = None
    value_from: EnvValueSource | None = None
    #: Set for the blog's object form of ``valueFrom`` (an extension).
    ref: EnvRef | None = None

    @property
    def effective_source(self) -> EnvValueSource:
        return self.value_from or EnvValueSource.INLINE


@dataclass(frozen=True, slots=True)
class WasmPluginSpec:
    url: str
    #: Lowercase hex digest ("" when absent); a blog ``sha256:`` prefix is already removed.
    sha256: str = ""
    image_pull_policy: PullPolicy | None = None
    image_pull_secret: str | None = None
    plugin_config: FrozenDict[str, Any] | None = None
    plugin_name: str | None = None
    phase: Phase | None = None
    priority: int | None = None
    fail_strategy: FailStrategy | None = None
    type: PluginType | None = None
    #: ``selector.matchLabels``; None when there is no ``selector``.
    selector: FrozenDict[str, str] | None = None
    #: ``targetRefs``, or the deprecated ``targetRef`` merged in when ``targetRefs`` is empty.
    target_refs: tuple[TargetRef, ...] = ()
    env: tuple[EnvVarSpec, ...] = ()
    match: tuple[TrafficSelector, ...] = ()
    verification_key: str | None = None
    #: istiod's url: Go ``url.Parse``, empty scheme → ``oci``, re-serialised. None when istiod
    #: would drop the plugin (``url.Parse`` fails).
    normalized_url: str | None = None
    #: The plugin's configuration bytes as istiod sends them (compact JSON; empty when
    #: ``pluginConfig`` is absent or has no fields). See :mod:`wasmplugin.config.gojson`.
    configuration: bytes = b""

    @property
    def effective_phase(self) -> Phase:
        return self.phase or Phase.UNSPECIFIED_PHASE

    @property
    def effective_pull_policy(self) -> PullPolicy:
        return self.image_pull_policy or PullPolicy.UNSPECIFIED_POLICY

    @property
    def effective_fail_strategy(self) -> FailStrategy:
        return self.fail_strategy or FailStrategy.FAIL_CLOSE

    @property
    def effective_type(self) -> PluginType:
        """UNSPECIFIED_PLUGIN_TYPE (or absent) is HTTP."""
        return PluginType.NETWORK if self.type is PluginType.NETWORK else PluginType.HTTP

    @property
    def sort_priority(self) -> int:
        """Priority for ordering: unset sorts as MinInt32 (istiod's code, not the proto's 0)."""
        return INT32_MIN if self.priority is None else self.priority


@dataclass(frozen=True, slots=True)
class WasmPlugin(_Resource):
    meta: ObjectMeta
    spec: WasmPluginSpec
    location: Location
    #: The document as written (for ``get -o yaml``), deeply frozen.
    raw: FrozenDict[str, Any]
    #: Warnings about this plugin found at load time (extensions, webhook warnings, references).
    warnings: tuple[Diagnostic, ...] = ()

    kind = "WasmPlugin"

    @property
    def ecds_name(self) -> str:
        """Istio ≤ 1.29's ECDS resource name (reference §5.1)."""
        return f"extensions.istio.io/wasmplugin/{self.meta.namespace}.{self.meta.name}"


# --- workloads and services ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkloadEntry(_Resource):
    """A local workload (the app behind one sidecar), from ``networking.istio.io`` WorkloadEntry."""

    meta: ObjectMeta
    address: str
    location: Location
    raw: FrozenDict[str, Any]
    #: ``spec.ports``: port name → the workload's port number.
    ports: FrozenDict[str, int] = EMPTY
    #: ``spec.labels``: what WasmPlugin selectors and ServiceEntry workloadSelectors match.
    labels: FrozenDict[str, str] = EMPTY
    service_account: str = ""
    network: str = ""
    locality: str = ""
    weight: int | None = None

    kind = "WorkloadEntry"

    def target_port(self, name: str | None = None) -> int:
        """The workload's port named ``name``; without a name, its only port.

        Raises :class:`~wasmplugin.errors.ConfigError` when there is no such port (or, without a
        name, when the workload declares no port or several)."""
        from wasmplugin.errors import ConfigError

        if name is not None:
            if name in self.ports:
                return self.ports[name]
            known = ", ".join(sorted(self.ports)) or "none"
            raise ConfigError(
                f"no port named {name!r} (ports: {known})", resource=self.label, field="spec.ports"
            )
        if len(self.ports) == 1:
            return next(iter(self.ports.values()))
        if not self.ports:
            raise ConfigError("declares no ports", resource=self.label, field="spec.ports")
        raise ConfigError(
            f"has {len(self.ports)} ports ({', '.join(sorted(self.ports))}); name one",
            resource=self.label,
            field="spec.ports",
        )


@dataclass(frozen=True, slots=True)
class ServicePort:
    number: int
    name: str
    protocol: str = ""
    target_port: int | None = None


@dataclass(frozen=True, slots=True)
class ServiceEndpoint:
    address: str
    ports: FrozenDict[str, int] = EMPTY
    labels: FrozenDict[str, str] = EMPTY
    network: str = ""
    locality: str = ""
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class ServiceEntry(_Resource):
    meta: ObjectMeta
    hosts: tuple[str, ...]
    location: Location
    raw: FrozenDict[str, Any]
    addresses: tuple[str, ...] = ()
    ports: tuple[ServicePort, ...] = ()
    #: MESH_EXTERNAL (default) or MESH_INTERNAL.
    mesh_location: str = "MESH_EXTERNAL"
    #: NONE (default), STATIC, DNS or DNS_ROUND_ROBIN.
    resolution: str = "NONE"
    endpoints: tuple[ServiceEndpoint, ...] = ()
    workload_selector: FrozenDict[str, str] | None = None
    export_to: tuple[str, ...] = ()

    kind = "ServiceEntry"

    def port(self, number: int) -> ServicePort | None:
        for port in self.ports:
            if port.number == number:
                return port
        return None

    def visible_from(self, namespace: str) -> bool:
        """``exportTo``: empty or ``*`` = everywhere, ``.`` = own namespace, ``~`` = nowhere."""
        if not self.export_to:
            return True
        for target in self.export_to:
            if target == "*" or target == namespace:
                return True
            if target == "." and namespace == self.meta.namespace:
                return True
        return False


# --- Secret, ConfigMap, mesh config --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Secret(_Resource):
    meta: ObjectMeta
    location: Location
    type: str = "Opaque"
    #: ``data`` (base64-decoded) merged with ``stringData``; values never printed.
    data: FrozenDict[str, Redacted] = EMPTY

    kind = "Secret"


@dataclass(frozen=True, slots=True)
class ConfigMap(_Resource):
    meta: ObjectMeta
    location: Location
    data: FrozenDict[str, str] = EMPTY
    binary_data: FrozenDict[str, bytes] = EMPTY

    kind = "ConfigMap"


@dataclass(frozen=True, slots=True)
class MeshConfig:
    """Istio's ``rootNamespace`` plus wasmplugin's own options (see docs/configuration.md)."""

    root_namespace: str = "istio-system"
    priority_order: PriorityOrder = PriorityOrder.DESCENDING
    #: ``limits`` overrides, by :class:`~wasmplugin.limits.Limits` field name.
    limits: FrozenDict[str, int | float] = EMPTY
    location: Location | None = None
