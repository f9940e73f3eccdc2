"""``ChainPlan``: which plugins run, in which order, for one workload — per direction and port.

This is config's output and the sidecar's input. It is frozen, carries everything needed to
fetch and configure each plugin, and has a JSON form (:meth:`ChainPlan.to_dict` /
:meth:`ChainPlan.from_dict`) that the sidecar serves in its admin ``/config_dump`` and
``proxy-config --admin`` reads back. The JSON never contains a secret: Secret-derived env values
and pull credentials are written as ``"<redacted>"`` and come back unavailable. The format is
documented in docs/configuration.md ("The plan JSON").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wasmplugin.chain.api import Direction
from wasmplugin.config.frozen import EMPTY, FrozenDict
from wasmplugin.config.redact import REDACTED, Redacted

__all__ = [
    "CONFIG_DUMP_TYPE",
    "PLAN_VERSION",
    "ChainPlan",
    "EnvVar",
    "PlanEntry",
    "PlanFormatError",
    "PortChain",
    "PullSecret",
    "WorkloadRef",
    "config_dump_section",
    "plan_from_config_dump",
]

#: ``@type`` of the plan's section in the sidecar's ``/config_dump``.
CONFIG_DUMP_TYPE = "type.googleapis.com/wasmplugin.admin.v1.ChainPlanDump"
#: Version of the JSON form; bumped on incompatible changes.
PLAN_VERSION = 1

#: Listener classes (istiod's ``ListenerClass``) a chain belongs to.
LISTENER_SIDECAR_INBOUND = "sidecar-inbound"
LISTENER_SIDECAR_OUTBOUND = "sidecar-outbound"
LISTENER_GATEWAY = "gateway"
LISTENER_WAYPOINT = "waypoint"


class PlanFormatError(ValueError):
    """A plan JSON document does not have the expected shape."""


@dataclass(frozen=True, slots=True)
class EnvVar:
    """One resolved VM environment variable."""

    name: str
    #: INLINE, HOST, or the blog extension's fieldRef / secretKeyRef / configMapKeyRef.
    source: str
    #: The value; :class:`Redacted` for Secret-derived values; None for HOST (read from the
    #: sidecar's own environment at VM start).
    value: str | Redacted | None
    #: What it was resolved from, e.g. ``metadata.name`` or ``Secret ns/name key "k"``.
    reference: str = ""

    @property
    def secret(self) -> bool:
        return isinstance(self.value, Redacted)

    def reveal(self) -> str | None:
        """The value for the VM (a Secret's value included). Never print it."""
        if isinstance(self.value, Redacted):
            return self.value.reveal_text()
        return self.value


@dataclass(frozen=True, slots=True)
class PullSecret:
    """A resolved ``imagePullSecret``: always the plugin's own namespace (Istio)."""

    #: ``kubernetes://<namespace>/<name>``.
    name: str
    #: The ``.dockerconfigjson`` bytes; empty when not resolved (the fetch then fails, as Istio's).
    dockerconfigjson: Redacted
    resolved: bool


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """One plugin as it is configured on this workload (same for every chain it is in)."""

    ecds_name: str
    namespace: str
    name: str
    #: Normalised url (no scheme → ``oci://``; Go ``url.String()``).
    url: str
    #: 64 lowercase hex, or "".
    sha256: str
    #: As written, UNSPECIFIED_POLICY when unset (istio-agent applies the ``:latest`` rule).
    image_pull_policy: str
    image_pull_secret: PullSecret | None
    phase: str
    priority: int | None
    fail_strategy: str
    #: HTTP or NETWORK (UNSPECIFIED_PLUGIN_TYPE is HTTP).
    type: str
    #: Envoy ``root_id`` (``pluginName``, "" when unset).
    root_id: str
    #: Plugin configuration bytes exactly as istiod sends them ("" when pluginConfig is empty).
    configuration: bytes
    env: tuple[EnvVar, ...]
    resource_version: str
    creation_timestamp: str | None
    warnings: tuple[str, ...] = ()

    @property
    def plugin_name(self) -> str:
        """Envoy ``PluginConfig.name`` (the name plugin logs are tagged with): ``<ns>.<name>``."""
        return f"{self.namespace}.{self.name}"

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def reveal_environment(self) -> tuple[dict[str, str], tuple[str, ...]]:
        """(key_values, host_env_keys) for the VM, as Envoy's ``environment_variables``; Secret
        values included. Never print the result."""
        values: dict[str, str] = {}
        host: list[str] = []
        for var in self.env:
            if var.source == "HOST":
                host.append(var.name)
            else:
                values[var.name] = var.reveal() or ""
        return values, tuple(host)

    # --- JSON --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        secret = self.image_pull_secret
        return {
            "ecdsName": self.ecds_name,
            "namespace": self.namespace,
            "name": self.name,
            "url": self.url,
            "sha256": self.sha256,
            "imagePullPolicy": self.image_pull_policy,
            "imagePullSecret": None
            if secret is None
            else {
                "name": secret.name,
                "resolved": secret.resolved,
                "value": REDACTED if secret.resolved else "",
            },
            "phase": self.phase,
            "priority": self.priority,
            "failStrategy": self.fail_strategy,
            "type": self.type,
            "rootId": self.root_id,
            "configuration": self.configuration.decode("utf-8"),
            "env": [
                {
                    "name": v.name,
                    "source": v.source,
                    "value": REDACTED if v.secret else v.value,
                    "redacted": v.secret,
                    "reference": v.reference,
                }
                for v in self.env
            ],
            "resourceVersion": self.resource_version,
            "creationTimestamp": self.creation_timestamp,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanEntry:
        secret = data.get("imagePullSecret")
        env = tuple(
            EnvVar(
                name=_str(v, "name"),
                source=_str(v, "source"),
                value=Redacted.unavailable() if v.get("redacted") else v.get("value"),
                reference=str(v.get("reference", "")),
            )
            for v in _list(data, "env")
        )
        priority = data.get("priority")
        return cls(
            ecds_name=_str(data, "ecdsName"),
            namespace=_str(data, "namespace"),
            name=_str(data, "name"),
            url=_str(data, "url"),
            sha256=str(data.get("sha256", "")),
            image_pull_policy=str(data.get("imagePullPolicy", "UNSPECIFIED_POLICY")),
            image_pull_secret=None
            if secret is None
            else PullSecret(_str(secret, "name"), Redacted.unavailable(), bool(secret.get("resolved"))),
            phase=_str(data, "phase"),
            priority=int(priority) if isinstance(priority, int) else None,
            fail_strategy=_str(data, "failStrategy"),
            type=_str(data, "type"),
            root_id=str(data.get("rootId", "")),
            configuration=str(data.get("configuration", "")).encode("utf-8"),
            env=env,
            resource_version=str(data.get("resourceVersion", "")),
            creation_timestamp=data.get("creationTimestamp"),
            warnings=tuple(str(w) for w in data.get("warnings", ())),
        )


@dataclass(frozen=True, slots=True)
class PortChain:
    """The ordered plugins of one listener: a direction and a port."""

    direction: Direction
    #: Inbound: the workload's target port; outbound: the service port. None on a waypoint.
    port: int | None
    #: Upper-case protocol, "" when unknown (sniffed).
    protocol: str
    listener: str
    #: Hosts of the services behind this port.
    services: tuple[str, ...]
    #: HTTP filter chain order (empty on TCP ports).
    http: tuple[PlanEntry, ...]
    #: Network filter chain order (before the HTTP connection manager on HTTP ports).
    network: tuple[PlanEntry, ...]

    @property
    def entries(self) -> tuple[PlanEntry, ...]:
        """Everything on this listener: network filters first, then HTTP filters."""
        return self.network + self.http


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    namespace: str
    name: str
    address: str
    labels: FrozenDict[str, str] = EMPTY
    service_account: str = ""

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class ChainPlan:
    workload: WorkloadRef
    root_namespace: str
    priority_order: str
    chains: tuple[PortChain, ...]
    warnings: tuple[str, ...] = ()

    def chain(self, direction: Direction, port: int | None) -> PortChain | None:
        for chain in self.chains:
            if chain.direction is direction and chain.port == port:
                return chain
        return None

    @property
    def inbound(self) -> tuple[PortChain, ...]:
        return tuple(c for c in self.chains if c.direction is Direction.INBOUND)

    @property
    def outbound(self) -> tuple[PortChain, ...]:
        return tuple(c for c in self.chains if c.direction is Direction.OUTBOUND)

    def entries(self) -> tuple[PlanEntry, ...]:
        """Every plugin on this workload, once, in first-seen order."""
        seen: dict[str, PlanEntry] = {}
        for chain in self.chains:
            for entry in chain.entries:
                seen.setdefault(entry.ecds_name, entry)
        return tuple(seen.values())

    # --- JSON --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": PLAN_VERSION,
            "workload": {
                "namespace": self.workload.namespace,
                "name": self.workload.name,
                "address": self.workload.address,
                "labels": dict(self.workload.labels),
                "serviceAccount": self.workload.service_account,
            },
            "rootNamespace": self.root_namespace,
            "priorityOrder": self.priority_order,
            "plugins": {e.ecds_name: e.to_dict() for e in self.entries()},
            "chains": [
                {
                    "direction": c.direction.value,
                    "port": c.port,
                    "protocol": c.protocol,
                    "listener": c.listener,
                    "services": list(c.services),
                    "http": [e.ecds_name for e in c.http],
                    "network": [e.ecds_name for e in c.network],
                }
                for c in self.chains
            ],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChainPlan:
        """Inverse of :meth:`to_dict`; raises :class:`PlanFormatError` on a malformed document."""
        try:
            version = data.get("version")
            if version != PLAN_VERSION:
                raise PlanFormatError(f"unsupported plan version {version!r} (expected {PLAN_VERSION})")
            plugins_raw = data.get("plugins")
            if not isinstance(plugins_raw, Mapping):
                raise PlanFormatError("plugins: must be an object")
            plugins = {name: PlanEntry.from_dict(body) for name, body in plugins_raw.items()}

            def resolve(names: Any) -> tuple[PlanEntry, ...]:
                if not isinstance(names, list):
                    raise PlanFormatError("chain entries must be lists of ECDS names")
                try:
                    return tuple(plugins[n] for n in names)
                except KeyError as exc:
                    raise PlanFormatError(f"chain names unknown plugin {exc.args[0]!r}") from None

            chains = tuple(
                PortChain(
                    direction=Direction(_str(c, "direction")),
                    port=c.get("port"),
                    protocol=str(c.get("protocol", "")),
                    listener=_str(c, "listener"),
                    services=tuple(str(s) for s in c.get("services", ())),
                    http=resolve(c.get("http", [])),
                    network=resolve(c.get("network", [])),
                )
                for c in _list(data, "chains")
            )
            workload = data.get("workload")
            if not isinstance(workload, Mapping):
                raise PlanFormatError("workload: must be an object")
            return cls(
                workload=WorkloadRef(
                    namespace=_str(workload, "namespace"),
                    name=_str(workload, "name"),
                    address=str(workload.get("address", "")),
                    labels=FrozenDict(
                        {str(k): str(v) for k, v in dict(workload.get("labels") or {}).items()}
                    ),
                    service_account=str(workload.get("serviceAccount", "")),
                ),
                root_namespace=_str(data, "rootNamespace"),
                priority_order=_str(data, "priorityOrder"),
                chains=chains,
                warnings=tuple(str(w) for w in data.get("warnings", ())),
            )
        except PlanFormatError:
            raise
        except (AttributeError, TypeError, ValueError) as exc:
            raise PlanFormatError(f"malformed plan: {exc}") from None


def _str(data: Any, key: str) -> str:
    if not isinstance(data, Mapping):
        raise PlanFormatError(f"expected an object with {key!r}")
    value = data.get(key)
    if not isinstance(value, str):
        raise PlanFormatError(f"{key}: must be a string")
    return value


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise PlanFormatError(f"{key}: must be a list")
    return value


def config_dump_section(plan: ChainPlan) -> dict[str, Any]:
    """The entry the sidecar puts in ``/config_dump``'s ``configs`` list."""
    return {"@type": CONFIG_DUMP_TYPE, "plan": plan.to_dict()}


def plan_from_config_dump(dump: Mapping[str, Any]) -> ChainPlan:
    """Find and decode the plan in an admin ``/config_dump`` document: the ``plan`` of a
    :data:`CONFIG_DUMP_TYPE` section, or a ``chain_plan`` object in any other section (the
    sidecar's own section may carry it under that key)."""
    configs = dump.get("configs") if isinstance(dump, Mapping) else None
    if not isinstance(configs, list):
        raise PlanFormatError("not a config dump: no configs list")
    for section in configs:
        if isinstance(section, Mapping) and section.get("@type") == CONFIG_DUMP_TYPE:
            plan = section.get("plan")
            if not isinstance(plan, Mapping):
                raise PlanFormatError(f"{CONFIG_DUMP_TYPE}: plan must be an object")
            return ChainPlan.from_dict(plan)
    for section in configs:
        plan = section.get("chain_plan") if isinstance(section, Mapping) else None
        if isinstance(plan, Mapping):
            return ChainPlan.from_dict(plan)
    raise PlanFormatError(f"the config dump has no {CONFIG_DUMP_TYPE} section (no chain plan)")
