"""Resolving a plugin's VM environment and pull secret for one workload.

* ``INLINE`` (default): the value ("" when unset); ``HOST``: the sidecar's own environment
  variable of that name, read when the VM starts (a missing one is skipped, as in Envoy).
* Blog extension ``valueFrom`` objects: ``fieldRef`` from the WorkloadEntry (``metadata.name``,
  ``metadata.namespace``, ``metadata.uid``, ``metadata.labels['k']`` = its ``spec.labels``,
  ``metadata.annotations['k']``, ``spec.serviceAccountName``, ``status.podIP(s)`` = its address);
  ``secretKeyRef`` / ``configMapKeyRef`` from the plugin's namespace. As in a Pod, a missing
  object or key is an error unless ``optional: true`` (then the variable is left out).
* ``imagePullSecret``: istiod's rules — the name may be ``foo``, ``ns/foo`` or
  ``kubernetes://ns/foo``, but the namespace is always the plugin's own; the Secret must be of
  type ``kubernetes.io/dockerconfigjson`` with key ``.dockerconfigjson``, otherwise the value is
  empty and the fetch fails (also for public images).
"""

from __future__ import annotations

import re

from wasmplugin.config.mesh import Mesh
from wasmplugin.config.plan import EnvVar, PullSecret
from wasmplugin.config.redact import Redacted
from wasmplugin.config.resources import EnvRef, EnvValueSource, EnvVarSpec, WasmPlugin, WorkloadEntry
from wasmplugin.errors import ConfigError

__all__ = [
    "DOCKER_CONFIG_KEY",
    "DOCKER_CONFIG_TYPE",
    "env_problems",
    "field_ref_value",
    "pull_secret_name",
    "resolve_env",
    "resolve_pull_secret",
]

DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"
DOCKER_CONFIG_KEY = ".dockerconfigjson"
_LABEL_PATH = re.compile(r"metadata\.(labels|annotations)\['([^']*)'\]\Z")


def pull_secret_name(plugin: WasmPlugin) -> tuple[str | None, str | None]:
    """(``kubernetes://<plugin ns>/<name>``, None), or (None, why istiod ignores the field)."""
    raw = plugin.spec.image_pull_secret
    if not raw:
        return None, None
    name = raw[len("kubernetes://") :] if raw.startswith("kubernetes://") else raw
    parts = name.split("/")
    if len(parts) > 2 or not parts[-1]:
        return None, f"imagePullSecret {raw!r} is not a valid secret resource name; istiod ignores it"
    return f"kubernetes://{plugin.namespace}/{parts[-1]}", None


def resolve_pull_secret(mesh: Mesh, plugin: WasmPlugin) -> tuple[PullSecret | None, str | None]:
    """The pull secret for a plugin and, if it does not resolve, why (the fetch will fail)."""
    name, problem = pull_secret_name(plugin)
    if name is None:
        return None, problem
    secret_name = name.rsplit("/", 1)[1]
    secret = mesh.secret(plugin.namespace, secret_name)
    if secret is None:
        return PullSecret(name, Redacted(b""), False), (
            f"Secret {plugin.namespace}/{secret_name} not found; the module fetch fails "
            "(Istio does not fall back to an anonymous pull)"
        )
    if secret.type != DOCKER_CONFIG_TYPE or DOCKER_CONFIG_KEY not in secret.data:
        return PullSecret(name, Redacted(b""), False), (
            f"Secret {plugin.namespace}/{secret_name} has type {secret.type}, not {DOCKER_CONFIG_TYPE} "
            f"with key {DOCKER_CONFIG_KEY}; the module fetch fails"
        )
    return PullSecret(name, secret.data[DOCKER_CONFIG_KEY], True), None


def field_ref_value(workload: WorkloadEntry, path: str) -> str | None:
    """A downward-API ``fieldPath`` read from a WorkloadEntry (None if unsupported)."""
    simple = {
        "metadata.name": workload.name,
        "metadata.namespace": workload.namespace,
        "metadata.uid": workload.meta.uid or "",
        "spec.serviceAccountName": workload.service_account,
        "status.podIP": workload.address,
        "status.podIPs": workload.address,
    }
    if path in simple:
        return simple[path]
    match = _LABEL_PATH.match(path)
    if match:
        source = workload.labels if match.group(1) == "labels" else workload.meta.annotations
        return source.get(match.group(2), "")
    return None


def _ref_value(
    mesh: Mesh, plugin: WasmPlugin, ref: EnvRef, var: EnvVarSpec, index: int
) -> tuple[str | Redacted | None, str, ConfigError | None]:
    """(value, what it came from, problem). A missing optional ref is (None, ..., None)."""
    ns = plugin.namespace
    reference = ref.describe(ns)
    if ref.kind == "secretKeyRef":
        secret = mesh.secret(ns, ref.name)
        if secret is not None and ref.key in secret.data:
            return secret.data[ref.key], reference, None
        missing = (
            f"Secret {ns}/{ref.name}" if secret is None else f"key {ref.key!r} in Secret {ns}/{ref.name}"
        )
    else:
        config_map = mesh.config_map(ns, ref.name)
        if config_map is not None and ref.key in config_map.data:
            return config_map.data[ref.key], reference, None
        if config_map is not None and ref.key in config_map.binary_data:
            return config_map.binary_data[ref.key].decode("utf-8", "replace"), reference, None
        missing = (
            f"ConfigMap {ns}/{ref.name}"
            if config_map is None
            else f"key {ref.key!r} in ConfigMap {ns}/{ref.name}"
        )
    if ref.optional:
        return None, reference, None
    problem = ConfigError(
        f"{missing} not found (env {var.name}); a workload cannot run this plugin until it exists "
        "(or mark the reference optional: true)",
        file=plugin.location.file,
        document=plugin.location.document,
        resource=plugin.label,
        field=f"spec.vmConfig.env[{index}].valueFrom.{ref.kind}",
    )
    return None, reference, problem


def env_problems(mesh: Mesh, plugin: WasmPlugin) -> list[ConfigError]:
    """Every Secret / ConfigMap reference of the plugin's env that does not resolve."""
    problems: list[ConfigError] = []
    for index, var in enumerate(plugin.spec.env):
        if var.ref is not None and var.ref.kind != "fieldRef":
            problem = _ref_value(mesh, plugin, var.ref, var, index)[2]
            if problem is not None:
                problems.append(problem)
    return problems


def resolve_env(mesh: Mesh, plugin: WasmPlugin, workload: WorkloadEntry | None) -> tuple[EnvVar, ...]:
    """The plugin's env for ``workload`` (None: fieldRef values are left unresolved, for
    ``describe``). Raises :class:`ConfigError` for a missing non-optional Secret/ConfigMap key."""
    resolved: list[EnvVar] = []
    for index, var in enumerate(plugin.spec.env):
        ref = var.ref
        if ref is None:
            if var.effective_source is EnvValueSource.HOST:
                resolved.append(EnvVar(var.name, "HOST", None, "sidecar environment"))
            else:
                resolved.append(EnvVar(var.name, "INLINE", var.value or ""))
            continue
        if ref.kind == "fieldRef":
            field_value = field_ref_value(workload, ref.field_path) if workload is not None else None
            resolved.append(EnvVar(var.name, "fieldRef", field_value, ref.field_path))
            continue
        value, reference, problem = _ref_value(mesh, plugin, ref, var, index)
        if problem is not None:
            raise problem
        if value is not None:
            resolved.append(EnvVar(var.name, ref.kind, value, reference))
    return tuple(resolved)
