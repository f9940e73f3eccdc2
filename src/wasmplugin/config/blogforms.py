"""The blog's WasmPlugin forms that Istio rejects, accepted as documented extensions.

Each is recognised in the raw spec before schema validation and rewritten to Istio's form, so
the rest of the pipeline sees only Istio's API; a diagnostic with an extension id records it
(a warning, or an error under ``--strict``):

==========================  ====================================  ============================
extension id                blog form                             Istio form / what happens
==========================  ====================================  ============================
``phase-unspecified``       ``phase: UNSPECIFIED``                ``UNSPECIFIED_PHASE``
``sha256-prefix``           ``sha256: sha256:<64 hex>``           the 64 hex digits
``env-value-from``          ``valueFrom: {fieldRef: …}``,         no Istio equivalent; resolved
                            ``{secretKeyRef: …}``,                per workload from its metadata,
                            ``{configMapKeyRef: …}``              Secrets and ConfigMaps
==========================  ====================================  ============================

The other two extensions live elsewhere: ``kubectl-command`` (:mod:`.kubectl_command`) and the
mesh option ``priorityOrder: ascending`` (:mod:`.meshconfig`).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from wasmplugin.config.meta import dns1123_subdomain_problem
from wasmplugin.config.resources import EnvRef
from wasmplugin.config.schema import Problem, describe_value

__all__ = ["FIELD_PATHS", "BlogForms", "apply_blog_forms"]

_HEX64 = re.compile(r"[a-f0-9]{64}\Z")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+\Z")
_LABEL_PATH = re.compile(r"metadata\.(labels|annotations)\['([^']*)'\]\Z")

#: ``fieldRef.fieldPath`` values resolved from a WorkloadEntry (Kubernetes' downward API names).
FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels['<KEY>']",
    "metadata.annotations['<KEY>']",
    "spec.serviceAccountName",
    "status.podIP",
    "status.podIPs",
)


@dataclass
class BlogForms:
    """Result of :func:`apply_blog_forms`."""

    #: The spec rewritten to Istio's forms (a copy; the input is untouched).
    spec: Any
    #: (path, reason, extension id) for each blog form found.
    found: list[tuple[str, str, str]] = field(default_factory=list)
    #: Malformed blog forms (always errors).
    problems: list[Problem] = field(default_factory=list)
    #: env index → the parsed valueFrom object.
    env_refs: dict[int, EnvRef] = field(default_factory=dict)


def _check_field_path(path: str) -> str | None:
    if path in FIELD_PATHS:
        return None
    match = _LABEL_PATH.match(path)
    if match and match.group(2):
        return None
    return f"unsupported fieldPath {describe_value(path)}; supported: {', '.join(FIELD_PATHS)}"


def _parse_ref(kind: str, body: Any, path: str) -> tuple[EnvRef | None, list[Problem]]:
    problems: list[Problem] = []
    if not isinstance(body, dict):
        return None, [Problem(path, f"must be an object, got {describe_value(body)}")]
    allowed = {"fieldPath", "apiVersion"} if kind == "fieldRef" else {"name", "key", "optional"}
    for key in body:
        if key not in allowed:
            problems.append(Problem(f"{path}.{key}", "unknown field"))
    if kind == "fieldRef":
        field_path = body.get("fieldPath")
        if not isinstance(field_path, str) or not field_path:
            problems.append(Problem(f"{path}.fieldPath", "required string is missing"))
            return None, problems
        api_version = body.get("apiVersion")
        if api_version not in (None, "v1"):
            problems.append(Problem(f"{path}.apiVersion", "must be v1"))
        if (problem := _check_field_path(field_path)) is not None:
            problems.append(Problem(f"{path}.fieldPath", problem))
        return (None if problems else EnvRef("fieldRef", field_path=field_path)), problems
    name, key, optional = body.get("name"), body.get("key"), body.get("optional", False)
    if not isinstance(name, str) or not name:
        problems.append(Problem(f"{path}.name", "required string is missing"))
    elif (problem := dns1123_subdomain_problem(name)) is not None:
        problems.append(Problem(f"{path}.name", f"invalid name {describe_value(name)}: {problem}"))
    if not isinstance(key, str) or not key:
        problems.append(Problem(f"{path}.key", "required string is missing"))
    elif len(key) > 253 or not _CONFIG_KEY.match(key):
        problems.append(
            Problem(f"{path}.key", f"invalid key {describe_value(key)}: letters, digits, '-', '_', '.'")
        )
    if optional is None:
        optional = False
    if not isinstance(optional, bool):
        problems.append(Problem(f"{path}.optional", f"must be a boolean, got {describe_value(optional)}"))
    if problems:
        return None, problems
    assert isinstance(name, str) and isinstance(key, str) and isinstance(optional, bool)
    return EnvRef(kind, name=name, key=key, optional=optional), problems


def _env_reason(ref: EnvRef, namespace: str) -> str:
    if ref.kind == "fieldRef":
        source = f"resolved from each selected WorkloadEntry ({ref.field_path})"
    elif ref.kind == "secretKeyRef":
        source = f"resolved from Secret {namespace}/{ref.name} key {ref.key!r}; the value is never printed"
    else:
        source = f"resolved from ConfigMap {namespace}/{ref.name} key {ref.key!r}"
    return f"valueFrom.{ref.kind} is Kubernetes' EnvVar form; Istio's valueFrom is INLINE or HOST; {source}"


def _env_forms(result: BlogForms, env: list[Any], namespace: str) -> None:
    for i, item in enumerate(env):
        if not isinstance(item, dict) or not isinstance(item.get("valueFrom"), dict):
            continue
        path = f"spec.vmConfig.env[{i}].valueFrom"
        source = item["valueFrom"]
        kinds = [k for k in ("fieldRef", "secretKeyRef", "configMapKeyRef") if k in source]
        others = [k for k in source if k not in ("fieldRef", "secretKeyRef", "configMapKeyRef")]
        got = ", ".join(sorted(source)) or "an empty object"
        del item["valueFrom"]  # Istio's schema never sees the object form
        if others or len(kinds) != 1:
            result.problems.append(
                Problem(
                    path,
                    "must be INLINE or HOST (Istio); as an extension, an object with exactly one of "
                    f"fieldRef, secretKeyRef or configMapKeyRef, got {got}",
                )
            )
            continue
        if "value" in item:
            result.problems.append(
                Problem(f"spec.vmConfig.env[{i}]", "value and valueFrom cannot both be set")
            )
            continue
        ref, problems = _parse_ref(kinds[0], source[kinds[0]], f"{path}.{kinds[0]}")
        result.problems.extend(problems)
        if ref is not None:
            result.env_refs[i] = ref
            result.found.append((path, _env_reason(ref, namespace), "env-value-from"))


def apply_blog_forms(spec: Any, namespace: str) -> BlogForms:
    """Find the blog forms in a raw spec and rewrite a copy to Istio's forms."""
    result = BlogForms(spec=copy.deepcopy(spec))
    spec = result.spec
    if not isinstance(spec, dict):
        return result
    if spec.get("phase") == "UNSPECIFIED":
        spec["phase"] = "UNSPECIFIED_PHASE"
        result.found.append(
            (
                "spec.phase",
                "UNSPECIFIED is not an Istio phase; Istio's name is UNSPECIFIED_PHASE",
                "phase-unspecified",
            )
        )
    sha = spec.get("sha256")
    if isinstance(sha, str) and sha.startswith("sha256:") and _HEX64.match(sha[7:]):
        spec["sha256"] = sha[7:]
        result.found.append(
            (
                "spec.sha256",
                'Istio takes the 64 hex digits without the "sha256:" prefix',
                "sha256-prefix",
            )
        )
    vm = spec.get("vmConfig")
    if isinstance(vm, dict) and isinstance(vm.get("env"), list):
        _env_forms(result, vm["env"], namespace)
    return result
