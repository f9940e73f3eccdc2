"""WorkloadEntry and ServiceEntry (``networking.istio.io``): the local workloads and what they call.

Validated with the fields of Istio's API and the checks of its CRDs and webhook that matter
here (port numbers and names, labels, hosts, endpoint/selector exclusivity); wasmplugin also
requires a WorkloadEntry ``address`` (the sidecar forwards inbound traffic to it).
"""

from __future__ import annotations

import re
from typing import Any

from wasmplugin.config.collect import Collector, start_document
from wasmplugin.config.diagnostics import Diagnostic, Location
from wasmplugin.config.frozen import FrozenDict, freeze
from wasmplugin.config.meta import check_labels, dns1123_label_problem
from wasmplugin.config.resources import ServiceEndpoint, ServiceEntry, ServicePort, WorkloadEntry
from wasmplugin.config.schema import Problem, Rule, Schema, check, describe_value

__all__ = ["PROTOCOLS", "parse_service_entry", "parse_workload_entry"]

#: Istio's port protocols (``pkg/config/protocol``), upper-cased.
PROTOCOLS = (
    "HTTP",
    "HTTPS",
    "HTTP2",
    "HTTP_PROXY",
    "GRPC",
    "GRPC-WEB",
    "TCP",
    "TLS",
    "UDP",
    "MONGO",
    "REDIS",
    "MYSQL",
)

_TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_PORT_NUMBER = Schema(type="integer", minimum=1, maximum=65535)
_STRING_MAP = Schema(type="object", additional=Schema(type="string"))
_PORT_MAP = Schema(type="object", additional=_PORT_NUMBER)

_WORKLOAD_FIELDS: dict[str, Schema] = {
    "address": Schema(type="string", max_length=256),
    "ports": _PORT_MAP,
    "labels": Schema(type="object", additional=Schema(type="string"), max_properties=256),
    "network": Schema(type="string", max_length=2048),
    "locality": Schema(type="string", max_length=2048),
    "weight": Schema(type="integer", minimum=0, maximum=4294967295),
    "serviceAccount": Schema(type="string", max_length=253),
}

WORKLOAD_ENTRY_SPEC = Schema(
    type="object",
    properties=_WORKLOAD_FIELDS,
    rules=(
        Rule(
            '(has(self.address) ? self.address : "").startsWith("unix://") ? !has(self.ports) : true',
            "UDS may not include ports",
            lambda s: not str(s.get("address") or "").startswith("unix://") or "ports" not in s,
        ),
    ),
)

SERVICE_ENTRY_SPEC = Schema(
    type="object",
    required=("hosts",),
    properties={
        "hosts": Schema(type="array", items=Schema(type="string", min_length=1), max_items=256),
        "addresses": Schema(type="array", items=Schema(type="string", max_length=64), max_items=256),
        "ports": Schema(
            type="array",
            max_items=256,
            list_map_keys=("name",),
            items=Schema(
                type="object",
                required=("number", "name"),
                properties={
                    "number": _PORT_NUMBER,
                    "protocol": Schema(type="string", max_length=256),
                    "name": Schema(type="string", max_length=256),
                    "targetPort": Schema(type="integer", minimum=1, maximum=65535),
                },
            ),
        ),
        "location": Schema(type="string", enum=("MESH_EXTERNAL", "MESH_INTERNAL")),
        "resolution": Schema(type="string", enum=("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN")),
        "endpoints": Schema(
            type="array",
            max_items=4096,
            items=Schema(type="object", properties=_WORKLOAD_FIELDS),
        ),
        "workloadSelector": Schema(
            type="object", properties={"labels": Schema(type="object", additional=Schema(type="string"))}
        ),
        "exportTo": Schema(type="array", items=Schema(type="string")),
        "subjectAltNames": Schema(type="array", items=Schema(type="string")),
    },
)

_HOST = re.compile(
    r"(\*|\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?\Z"
)


def port_protocol(name: str, protocol: str | None) -> str:
    """A port's protocol: ``protocol`` if set, else Istio's name convention (``http-web`` →
    HTTP), else "" (unknown: Istio sniffs it)."""
    if protocol:
        return protocol.upper()
    upper = name.upper()
    if upper == "GRPC-WEB" or upper.startswith("GRPC-WEB-"):
        return "GRPC-WEB"
    prefix = upper.split("-", 1)[0]
    return prefix if prefix in PROTOCOLS else ""


def _ports_problems(ports: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []
    for name in ports:
        if (problem := dns1123_label_problem(name)) is not None:
            problems.append(Problem(f"{path}[{describe_value(name)}]", f"invalid port name: {problem}"))
    return problems


def _common(kind: str, body: dict[str, Any], location: Location, strict: bool) -> tuple[Collector, Any, Any]:
    out, meta = start_document(kind, body, location, strict)
    out.unknown_fields(body, _TOP_LEVEL)
    return out, meta, body.get("spec")


def parse_workload_entry(
    body: dict[str, Any], location: Location, *, strict: bool = False
) -> tuple[WorkloadEntry | None, list[Diagnostic]]:
    out, meta, spec = _common("WorkloadEntry", body, location, strict)
    if spec is None:
        out.error("spec", "required field is missing (spec.address at least)", "schema")
        return None, out.diagnostics
    out.problems(check(WORKLOAD_ENTRY_SPEC, spec, "spec"), "schema")
    if out.has_errors or meta is None:
        return None, out.diagnostics
    address = spec.get("address")
    if not address:
        out.error(
            "spec.address", "required: the sidecar forwards the workload's inbound traffic to it", "schema"
        )
    ports = {k: int(v) for k, v in (spec.get("ports") or {}).items() if v is not None}
    out.problems(_ports_problems(ports, "spec.ports"), "schema")
    labels, label_problems = check_labels(spec.get("labels"), "spec.labels")
    out.problems(label_problems, "schema")
    if out.has_errors:
        return None, out.diagnostics
    if not labels and meta.labels:
        out.warning(
            "spec.labels",
            "empty: WasmPlugin selectors match spec.labels, not metadata.labels",
            "reference",
        )
    workload = WorkloadEntry(
        meta=meta,
        address=address,
        location=location,
        raw=freeze(body),
        ports=FrozenDict(ports),
        labels=labels,
        service_account=spec.get("serviceAccount") or "",
        network=spec.get("network") or "",
        locality=spec.get("locality") or "",
        weight=spec.get("weight"),
    )
    return workload, out.diagnostics


def _endpoint(raw: dict[str, Any]) -> ServiceEndpoint:
    return ServiceEndpoint(
        address=raw.get("address") or "",
        ports=FrozenDict({k: int(v) for k, v in (raw.get("ports") or {}).items() if v is not None}),
        labels=FrozenDict({k: v for k, v in (raw.get("labels") or {}).items() if v is not None}),
        network=raw.get("network") or "",
        locality=raw.get("locality") or "",
        weight=raw.get("weight"),
    )


def parse_service_entry(
    body: dict[str, Any], location: Location, *, strict: bool = False
) -> tuple[ServiceEntry | None, list[Diagnostic]]:
    out, meta, spec = _common("ServiceEntry", body, location, strict)
    if spec is None:
        out.error("spec", "required field is missing (spec.hosts at least)", "schema")
        return None, out.diagnostics
    out.problems(check(SERVICE_ENTRY_SPEC, spec, "spec"), "schema")
    if out.has_errors or meta is None:
        return None, out.diagnostics
    hosts = [h for h in spec.get("hosts") or [] if h is not None]
    if not hosts:
        out.error("spec.hosts", "at least one host is required", "schema")
    for i, host in enumerate(hosts):
        if host != "*" and not _HOST.match(host):
            out.error(
                f"spec.hosts[{i}]",
                f"invalid host {describe_value(host)}: must be a DNS name, optionally "
                "with a leading wildcard (*.example.com)",
                "schema",
            )
    ports: list[ServicePort] = []
    numbers: set[int] = set()
    for i, raw in enumerate(spec.get("ports") or []):
        name, number = raw["name"], int(raw["number"])
        if (problem := dns1123_label_problem(name)) is not None:
            out.error(
                f"spec.ports[{i}].name", f"invalid port name {describe_value(name)}: {problem}", "schema"
            )
        if number in numbers:
            out.error(f"spec.ports[{i}].number", f"port number {number} is used twice", "schema")
        numbers.add(number)
        protocol = raw.get("protocol")
        if protocol and protocol.upper() not in PROTOCOLS:
            out.error(
                f"spec.ports[{i}].protocol",
                f"unsupported protocol {describe_value(protocol)}; supported: {', '.join(PROTOCOLS)}",
                "schema",
            )
        target = raw.get("targetPort")
        ports.append(
            ServicePort(number, name, port_protocol(name, protocol), int(target) if target else None)
        )
    endpoints = [e for e in spec.get("endpoints") or [] if e is not None]
    selector = spec.get("workloadSelector")
    if endpoints and selector is not None:
        out.error("spec", "only one of endpoints or workloadSelector can be set", "schema")
    resolution = spec.get("resolution") or "NONE"
    if resolution == "NONE" and endpoints:
        out.error("spec.endpoints", "no endpoints should be provided for resolution type NONE", "schema")
    if resolution == "STATIC" and not endpoints and selector is None:
        out.warning(
            "spec.endpoints",
            "resolution STATIC without endpoints or workloadSelector: nothing to call",
            "reference",
        )
    for i, endpoint in enumerate(endpoints):
        out.problems(_ports_problems(endpoint.get("ports") or {}, f"spec.endpoints[{i}].ports"), "schema")
        _, label_problems = check_labels(endpoint.get("labels"), f"spec.endpoints[{i}].labels")
        out.problems(label_problems, "schema")
    selector_labels: FrozenDict[str, str] | None = None
    if selector is not None:
        selector_labels, label_problems = check_labels(selector.get("labels"), "spec.workloadSelector.labels")
        out.problems(label_problems, "schema")
    if out.has_errors:
        return None, out.diagnostics
    service = ServiceEntry(
        meta=meta,
        hosts=tuple(hosts),
        location=location,
        raw=freeze(body),
        addresses=tuple(a for a in spec.get("addresses") or [] if a is not None),
        ports=tuple(ports),
        mesh_location=spec.get("location") or "MESH_EXTERNAL",
        resolution=resolution,
        endpoints=tuple(_endpoint(e) for e in endpoints),
        workload_selector=selector_labels,
        export_to=tuple(e for e in spec.get("exportTo") or [] if e is not None),
    )
    return service, out.diagnostics
