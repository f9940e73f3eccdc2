"""istiod's admission webhook for WasmPlugin (``pkg/config/validation`` ``ValidateWasmPlugin``).

The API server applies the CRD schema first, then the webhook. Most webhook checks repeat the
schema's; only the ones that can fail on a schema-valid spec are here:

* ``targetRef``/``targetRefs`` kind must be core ``Service``, ``networking.istio.io``
  ``ServiceEntry``, or ``gateway.networking.k8s.io`` ``Gateway``/``GatewayClass``;
* ``priority`` must fit the proto's int32 (the schema's ``format: int32`` is not enforced by the
  API server, but istiod cannot decode a larger number);
* ``url`` through ``strictParseURL`` (``ParseRequestURI`` and ``url.Parse``, retried with
  ``http://``);
* a warning, not an error, for a ``selector`` without labels.
"""

from __future__ import annotations

from typing import Any

from wasmplugin.config import gourl
from wasmplugin.config.resources import INT32_MAX, INT32_MIN
from wasmplugin.config.schema import Problem
from wasmplugin.config.wasmplugin_schema import URL_SCHEMES

__all__ = ["ALLOWED_TARGET_REFS", "check_webhook", "strict_parse_url"]

#: (canonical group, kind) pairs ``validatePolicyTargetReference`` accepts.
ALLOWED_TARGET_REFS = (
    ("core", "Service"),
    ("networking.istio.io", "ServiceEntry"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
)


def strict_parse_url(value: str) -> str | None:
    """istiod's ``validateWasmPluginURL``: None if fine, else the reason."""
    if value == "":
        return "url field needs to be set"
    candidate = value
    try:
        parsed = gourl.parse_request_uri(candidate)
    except gourl.URLError as first:
        candidate = "http://" + value
        try:
            parsed = gourl.parse_request_uri(candidate)
        except gourl.URLError:
            return f"failed to parse url: {first}"
    try:
        gourl.parse(candidate)
    except gourl.URLError as exc:
        return f"failed to strict parse url: {exc}"
    if parsed.scheme not in URL_SCHEMES:
        return f"url contains unsupported scheme: {parsed.scheme}"
    return None


def _target_ref_problems(ref: Any, path: str) -> list[Problem]:
    if not isinstance(ref, dict):
        return []
    group, kind = ref.get("group") or "", ref.get("kind")
    if not isinstance(group, str) or not isinstance(kind, str):
        return []
    if ((group or "core"), kind) in ALLOWED_TARGET_REFS:
        return []
    allowed = " ".join(f"{g}/{k}" for g, k in ALLOWED_TARGET_REFS)
    return [Problem(path, f"targetRef must be to one of [{allowed}] but was {group}/{kind}", kind="webhook")]


def check_webhook(spec: dict[str, Any]) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of the webhook for a spec that passed the schema's type checks."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    ref = spec.get("targetRef")
    if ref is not None:
        errors.extend(_target_ref_problems(ref, "spec.targetRef"))
    refs = spec.get("targetRefs")
    if isinstance(refs, list):
        for i, item in enumerate(refs):
            errors.extend(_target_ref_problems(item, f"spec.targetRefs[{i}]"))
    priority = spec.get("priority")
    if (
        isinstance(priority, int | float)
        and not isinstance(priority, bool)
        and not INT32_MIN <= priority <= INT32_MAX
    ):
        errors.append(
            Problem(
                "spec.priority",
                f"{priority!r} is out of the int32 range [{INT32_MIN}, {INT32_MAX}]; istiod cannot decode it",
                kind="webhook",
            )
        )
    url = spec.get("url")
    if isinstance(url, str) and (reason := strict_parse_url(url)) is not None:
        errors.append(Problem("spec.url", reason, kind="webhook"))
    selector = spec.get("selector")
    if isinstance(selector, dict) and not selector.get("matchLabels"):
        warnings.append(
            Problem(
                "spec.selector",
                "workload selector specified without labels (it selects every workload in the namespace)",
                kind="webhook",
            )
        )
    return errors, warnings
