"""One WasmPlugin document → a validated, frozen :class:`~.resources.WasmPlugin`.

The pipeline is admission as a cluster runs it: metadata checks, the blog forms rewritten
(:mod:`.blogforms`), the CRD schema with its CEL rules (:mod:`.wasmplugin_schema`), then
istiod's webhook (:mod:`.webhook`). A document with any error yields no resource.
"""

from __future__ import annotations

from typing import Any

from wasmplugin.config import gojson, gourl
from wasmplugin.config.blogforms import apply_blog_forms
from wasmplugin.config.collect import start_document
from wasmplugin.config.diagnostics import Diagnostic, Location
from wasmplugin.config.frozen import FrozenDict, freeze
from wasmplugin.config.resources import (
    EnvValueSource,
    EnvVarSpec,
    FailStrategy,
    Phase,
    PluginType,
    PullPolicy,
    TargetRef,
    TrafficSelector,
    WasmPlugin,
    WasmPluginSpec,
    WorkloadMode,
)
from wasmplugin.config.schema import check
from wasmplugin.config.wasmplugin_schema import SPEC
from wasmplugin.config.webhook import check_webhook

__all__ = ["TOP_LEVEL_FIELDS", "normalize_url", "parse_wasmplugin"]

TOP_LEVEL_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})


def normalize_url(url: str) -> tuple[str | None, str | None]:
    """istiod's handling of ``url``: (normalised url, None) or (None, reason it is dropped)."""
    try:
        parsed = gourl.parse(url)
    except gourl.URLError as exc:
        return None, f"Go url.Parse fails ({exc}); istiod drops the plugin with a log warning"
    if parsed.scheme == "":
        parsed = parsed.with_scheme("oci")
    return parsed.string(), None


def _present(value: dict[str, Any], key: str) -> Any:
    """A field's value, with ``null`` meaning absent (the API server prunes such nulls)."""
    return value.get(key)


def _build_spec(spec: dict[str, Any], env_refs: dict[int, Any]) -> WasmPluginSpec:
    url: str = spec["url"]
    normalized, _ = normalize_url(url)
    selector_raw = _present(spec, "selector")
    selector: FrozenDict[str, str] | None = None
    if isinstance(selector_raw, dict):
        labels = _present(selector_raw, "matchLabels") or {}
        selector = FrozenDict({k: v for k, v in labels.items() if v is not None})
    refs: list[TargetRef] = []
    ref_items = _present(spec, "targetRefs") or []
    if not ref_items and _present(spec, "targetRef") is not None:
        ref_items = [spec["targetRef"]]
    for item in ref_items:
        refs.append(
            TargetRef(
                kind=item["kind"],
                name=item["name"],
                group=_present(item, "group") or "",
                namespace=_present(item, "namespace") or "",
            )
        )
    match: list[TrafficSelector] = []
    for item in _present(spec, "match") or []:
        mode = _present(item, "mode")
        ports = tuple(int(p["number"]) for p in (_present(item, "ports") or []))
        match.append(TrafficSelector(WorkloadMode(mode) if mode else None, ports))
    env: list[EnvVarSpec] = []
    vm = _present(spec, "vmConfig") or {}
    for i, item in enumerate(_present(vm, "env") or []):
        value_from = _present(item, "valueFrom")
        env.append(
            EnvVarSpec(
                name=item["name"],
                value=_present(item, "value"),
                value_from=EnvValueSource(value_from) if value_from else None,
                ref=env_refs.get(i),
            )
        )
    config_raw = _present(spec, "pluginConfig")
    plugin_config = freeze(config_raw) if isinstance(config_raw, dict) else None
    priority = _present(spec, "priority")
    return WasmPluginSpec(
        url=url,
        sha256=_present(spec, "sha256") or "",
        image_pull_policy=_enum_or_none(PullPolicy, _present(spec, "imagePullPolicy")),
        image_pull_secret=_present(spec, "imagePullSecret"),
        plugin_config=plugin_config,
        plugin_name=_present(spec, "pluginName"),
        phase=_enum_or_none(Phase, _present(spec, "phase")),
        priority=int(priority) if priority is not None else None,
        fail_strategy=_enum_or_none(FailStrategy, _present(spec, "failStrategy")),
        type=_enum_or_none(PluginType, _present(spec, "type")),
        selector=selector,
        target_refs=tuple(refs),
        env=tuple(env),
        match=tuple(match),
        verification_key=_present(spec, "verificationKey"),
        normalized_url=normalized,
        configuration=gojson.marshal(config_raw) if config_raw else b"",
    )


def _enum_or_none(enum: Any, value: Any) -> Any:
    return enum(value) if value is not None else None


def parse_wasmplugin(
    body: dict[str, Any], location: Location, *, strict: bool = False
) -> tuple[WasmPlugin | None, list[Diagnostic]]:
    """Validate one WasmPlugin document; the resource is None when there is any error."""
    out, meta = start_document("WasmPlugin", body, location, strict)
    out.unknown_fields(body, TOP_LEVEL_FIELDS)
    spec = body.get("spec")
    if spec is None:
        out.error("spec", "required field is missing", "schema")
        return None, out.diagnostics
    namespace = meta.namespace if meta is not None else "default"
    blog = apply_blog_forms(spec, namespace)
    for path, reason, extension in blog.found:
        out.warning(path, reason, "extension", extension)
    out.problems(blog.problems, "extension")
    schema_problems = check(SPEC, blog.spec, "spec")
    out.problems(schema_problems, "schema")
    if not out.has_errors and isinstance(blog.spec, dict):
        webhook_errors, webhook_warnings = check_webhook(blog.spec)
        out.problems(webhook_errors, "webhook")
        for problem in webhook_warnings:
            out.warning(problem.path, problem.reason, "webhook")
    if out.has_errors or meta is None or not isinstance(blog.spec, dict):
        return None, out.diagnostics
    plugin_spec = _build_spec(blog.spec, blog.env_refs)
    if plugin_spec.normalized_url is None:
        _, why = normalize_url(plugin_spec.url)
        out.warning("spec.url", why or "cannot be parsed", "webhook")
    if plugin_spec.verification_key is not None:
        out.warning("spec.verificationKey", "not implemented by Istio; ignored", "webhook")
    plugin = WasmPlugin(
        meta=meta,
        spec=plugin_spec,
        location=location,
        raw=freeze(body),
        warnings=tuple(d for d in out.diagnostics if not d.is_error),
    )
    return plugin, out.diagnostics
