"""What istiod sends Envoy for one plan entry over ECDS (reference §5.3), as JSON.

``proxy-config ecds -o json`` prints it. Secrets (pull credentials, Secret-derived env values)
are redacted unless ``reveal`` is set, like istiod's ``/debug/ecdsz``.
"""

from __future__ import annotations

from typing import Any

from wasmplugin.config.plan import PlanEntry
from wasmplugin.config.redact import REDACTED

__all__ = ["HTTP_WASM_TYPE", "NETWORK_WASM_TYPE", "ecds_resource", "type_url"]

HTTP_WASM_TYPE = "envoy.extensions.filters.http.wasm.v3.Wasm"
NETWORK_WASM_TYPE = "envoy.extensions.filters.network.wasm.v3.Wasm"
#: istiod's remote fetch timeout for the data source.
REMOTE_TIMEOUT = "30s"


def type_url(entry: PlanEntry) -> str:
    return "type.googleapis.com/" + (NETWORK_WASM_TYPE if entry.type == "NETWORK" else HTTP_WASM_TYPE)


def _code(entry: PlanEntry) -> dict[str, Any]:
    if entry.url.startswith("file://"):
        return {"local": {"filename": entry.url[len("file://") :]}}
    remote: dict[str, Any] = {"http_uri": {"uri": entry.url, "timeout": REMOTE_TIMEOUT, "cluster": "_"}}
    if entry.sha256:
        remote["sha256"] = entry.sha256
    return {"remote": remote}


def ecds_resource(entry: PlanEntry, *, reveal: bool = False) -> dict[str, Any]:
    """The ``TypedExtensionConfig`` istiod generates (before istio-agent rewrites the code source)."""
    key_values: dict[str, str] = {}
    host_keys: list[str] = []
    for var in entry.env:
        if var.source == "HOST":
            host_keys.append(var.name)
        elif var.secret and not reveal:
            key_values[var.name] = REDACTED
        else:
            key_values[var.name] = var.reveal() or ""
    if entry.image_pull_secret is not None:
        secret = entry.image_pull_secret
        key_values["ISTIO_META_WASM_IMAGE_PULL_SECRET"] = (
            secret.dockerconfigjson.reveal_text() if reveal else (REDACTED if secret.resolved else "")
        )
    if entry.image_pull_policy != "UNSPECIFIED_POLICY":
        key_values["ISTIO_META_WASM_IMAGE_PULL_POLICY"] = entry.image_pull_policy
    key_values["ISTIO_META_WASM_PLUGIN_RESOURCE_VERSION"] = entry.resource_version
    vm_config: dict[str, Any] = {"runtime": "envoy.wasm.runtime.v8", "code": _code(entry)}
    environment: dict[str, Any] = {"key_values": key_values}
    if host_keys:
        environment["host_env_keys"] = host_keys
    vm_config["environment_variables"] = environment
    config: dict[str, Any] = {"name": entry.plugin_name, "root_id": entry.root_id, "vm_config": vm_config}
    if entry.configuration:
        config["configuration"] = {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": entry.configuration.decode("utf-8"),
        }
    config["failure_policy"] = {"FAIL_OPEN": "FAIL_OPEN", "FAIL_RELOAD": "FAIL_RELOAD"}.get(
        entry.fail_strategy, "FAIL_CLOSED"
    )
    return {"name": entry.ecds_name, "typed_config": {"@type": type_url(entry), "config": config}}
