"""The WasmPlugins a running sidecar serves, as ``get`` and ``describe`` show them with ``--admin``.

A sidecar does not keep the YAML it was given: its ``/config_dump`` carries the chain plan, one
entry per plugin that selects its workload, with the values it runs (defaults applied, Secret
values redacted). Those entries are what this module turns back into resource-shaped output.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wasmplugin.config.redact import Redacted

if TYPE_CHECKING:
    from wasmplugin.config.plan import ChainPlan, EnvVar, PlanEntry


def created(entry: PlanEntry) -> datetime | None:
    """``metadata.creationTimestamp`` as a time, or None when unset or unreadable."""
    from wasmplugin.config.meta import parse_timestamp

    return parse_timestamp(entry.creation_timestamp) if entry.creation_timestamp else None


def plugin_config(entry: PlanEntry) -> Any:
    """``pluginConfig`` back from the configuration bytes (JSON, as istiod sends them); the text
    itself when it is not a JSON object; None when empty."""
    text = entry.configuration.decode("utf-8", errors="replace")
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict) else text


def as_object(entry: PlanEntry) -> dict[str, Any]:
    """The WasmPlugin as the sidecar runs it, in the resource's shape (``get -o yaml|json``):
    effective values, no selector or match (the sidecar kept only its own workload's result)."""
    metadata: dict[str, Any] = {"name": entry.name, "namespace": entry.namespace}
    if entry.creation_timestamp:
        metadata["creationTimestamp"] = entry.creation_timestamp
    if entry.resource_version:
        metadata["resourceVersion"] = entry.resource_version
    spec: dict[str, Any] = {
        "url": entry.url,
        "phase": entry.phase,
        "failStrategy": entry.fail_strategy,
        "type": entry.type,
        "imagePullPolicy": entry.image_pull_policy,
    }
    if entry.sha256:
        spec["sha256"] = entry.sha256
    if entry.priority is not None:
        spec["priority"] = entry.priority
    if entry.root_id:
        spec["pluginName"] = entry.root_id
    if entry.image_pull_secret is not None:
        spec["imagePullSecret"] = entry.image_pull_secret.name.rpartition("/")[2]
    config = plugin_config(entry)
    if config is not None:
        spec["pluginConfig"] = config
    if entry.env:
        spec["vmConfig"] = {"env": [env_var(v) for v in entry.env]}
    return {
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": metadata,
        "spec": spec,
    }


def env_var(var: EnvVar) -> dict[str, Any]:
    """One resolved env var in the resource's ``vmConfig.env`` shape (Secret values redacted)."""
    if var.source == "HOST":
        return {"name": var.name, "valueFrom": "HOST"}
    return {"name": var.name, "value": shown_value(var)}


def shown_value(var: EnvVar) -> str:
    """What output may show of an env var's value: a Secret's is redacted."""
    value = var.value
    return "<redacted>" if isinstance(value, Redacted) else (value or "")


def positions(plan: ChainPlan, ecds_name: str) -> list[str]:
    """Where ``ecds_name`` stands in each chain of ``plan``: one line per listener."""
    lines = []
    for chain in plan.chains:
        port = "-" if chain.port is None else str(chain.port)
        where = f"{chain.direction.value:<8} {port}/{chain.protocol or 'auto'}"
        position = "not on this listener (match or type)"
        for kind, entries in (("HTTP", chain.http), ("network", chain.network)):
            names = [e.ecds_name for e in entries]
            if ecds_name in names:
                position = f"#{names.index(ecds_name) + 1} of {len(names)} in the {kind} chain"
        lines.append(f"{where:<22}{position}")
    return lines
