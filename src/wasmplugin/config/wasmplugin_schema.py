"""The WasmPlugin CRD (``extensions.istio.io/v1alpha1``) as a :class:`~.schema.Schema`.

Field for field the ``openAPIV3Schema.properties.spec`` of Istio's CRD
(``istio/api kubernetes/customresourcedefinitions.gen.yaml``), with each CEL rule implemented in
Python. ``tests/config/test_schema_mirror.py`` checks this against the real CRD (every property,
type, enum, length, pattern, list-map key and rule text), and ``test_crd_agreement.py`` checks
verdicts on a generated corpus with ``jsonschema`` + ``cel-python``.
"""

from __future__ import annotations

from typing import Any

from wasmplugin.config import gourl
from wasmplugin.config.schema import Rule, Schema

__all__ = ["SPEC", "URL_SCHEMES", "url_rule_accepts"]

#: Schemes the CRD's CEL rule and istiod's webhook accept ("" = no scheme = oci).
URL_SCHEMES = ("", "http", "https", "oci", "file")


def _request_uri_scheme(text: str) -> str | None:
    """Kubernetes CEL ``isURL(s) ? url(s).getScheme()``: None when not a URL."""
    try:
        return gourl.parse_request_uri(text).scheme
    except gourl.URLError:
        return None


def url_rule_accepts(value: str) -> bool:
    """The CRD's url rule: ``isURL(self) ? scheme in S : isURL("http://"+self) && scheme in S``."""
    scheme = _request_uri_scheme(value)
    if scheme is not None:
        return scheme in URL_SCHEMES
    scheme = _request_uri_scheme("http://" + value)
    return scheme is not None and scheme in URL_SCHEMES


def _one_selector_kind(spec: dict[str, Any]) -> bool:
    return sum(1 for k in ("selector", "targetRef", "targetRefs") if k in spec) <= 1


def _env_value_only_inline(env: dict[str, Any]) -> bool:
    value_from = env.get("valueFrom", "")
    return value_from != "HOST" or "value" not in env


_TARGET_REF = Schema(
    type="object",
    properties={
        "group": Schema(
            type="string",
            max_length=253,
            pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
        "kind": Schema(
            type="string", min_length=1, max_length=63, pattern=r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
        ),
        "name": Schema(type="string", min_length=1, max_length=253),
        "namespace": Schema(
            type="string",
            rules=(
                Rule(
                    "self.size() == 0",
                    "cross namespace referencing is not currently supported",
                    lambda v: len(v) == 0,
                ),
            ),
        ),
    },
    required=("kind", "name"),
)

_URL_RULE = Rule(
    'isURL(self) ? (url(self).getScheme() in ["", "http", "https", "oci", "file"]) : '
    '(isURL("http://" + self) &&\nurl("http://" + self).getScheme() in ["", "http", "https", "oci", "file"])',
    "url must have schema one of [http, https, file, oci]",
    url_rule_accepts,
)

SPEC = Schema(
    type="object",
    required=("url",),
    rules=(
        Rule(
            "(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0)"
            " + (has(self.targetRefs) ? 1 : 0) <= 1",
            "only one of targetRefs or selector can be set",
            _one_selector_kind,
        ),
    ),
    properties={
        "failStrategy": Schema(type="string", enum=("FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD")),
        "imagePullPolicy": Schema(type="string", enum=("UNSPECIFIED_POLICY", "IfNotPresent", "Always")),
        "imagePullSecret": Schema(type="string", min_length=1, max_length=253),
        "match": Schema(
            type="array",
            items=Schema(
                type="object",
                properties={
                    "mode": Schema(
                        type="string", enum=("UNDEFINED", "CLIENT", "SERVER", "CLIENT_AND_SERVER")
                    ),
                    "ports": Schema(
                        type="array",
                        items=Schema(
                            type="object",
                            properties={"number": Schema(type="integer", minimum=1, maximum=65535)},
                            required=("number",),
                        ),
                        list_map_keys=("number",),
                    ),
                },
            ),
        ),
        "phase": Schema(
            type="string",
            enum=("UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"),
        ),
        "pluginConfig": Schema(type="object", preserve_unknown=True),
        "pluginName": Schema(type="string", min_length=1, max_length=256),
        "priority": Schema(type="integer", format="int32", nullable=True),
        "selector": Schema(
            type="object",
            properties={
                "matchLabels": Schema(
                    type="object",
                    additional=Schema(
                        type="string",
                        max_length=63,
                        rules=(
                            Rule(
                                '!self.contains("*")',
                                "wildcard not allowed in label value match",
                                lambda v: "*" not in v,
                            ),
                        ),
                    ),
                    max_properties=4096,
                    rules=(
                        Rule(
                            'self.all(key, !key.contains("*"))',
                            "wildcard not allowed in label key match",
                            lambda m: all("*" not in k for k in m),
                        ),
                        Rule(
                            "self.all(key, key.size() != 0)",
                            "key must not be empty",
                            lambda m: all(len(k) != 0 for k in m),
                        ),
                    ),
                )
            },
        ),
        "sha256": Schema(
            type="string",
            pattern="(^$|^[a-f0-9]{64}$)",
            hint='the sha256 digest as exactly 64 lowercase hex characters, without a "sha256:" prefix, '
            "or empty",
        ),
        "targetRef": _TARGET_REF,
        "targetRefs": Schema(type="array", items=_TARGET_REF, max_items=16),
        "type": Schema(type="string", enum=("UNSPECIFIED_PLUGIN_TYPE", "HTTP", "NETWORK")),
        "url": Schema(type="string", min_length=1, rules=(_URL_RULE,)),
        "verificationKey": Schema(type="string"),
        "vmConfig": Schema(
            type="object",
            properties={
                "env": Schema(
                    type="array",
                    max_items=256,
                    list_map_keys=("name",),
                    items=Schema(
                        type="object",
                        required=("name",),
                        properties={
                            "name": Schema(type="string", min_length=1, max_length=256),
                            "value": Schema(type="string", max_length=2048),
                            "valueFrom": Schema(
                                type="string",
                                enum=("INLINE", "HOST"),
                                hint="Istio's valueFrom is INLINE or HOST",
                            ),
                        },
                        rules=(
                            Rule(
                                '(has(self.valueFrom) ? self.valueFrom : "") != "HOST" || !has(self.value)',
                                "value may only be set when valueFrom is INLINE",
                                _env_value_only_inline,
                            ),
                        ),
                    ),
                )
            },
        ),
    },
)
