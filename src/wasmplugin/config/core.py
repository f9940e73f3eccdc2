"""Secret and ConfigMap (core ``v1``): pull secrets and the blog's ``secretKeyRef`` /
``configMapKeyRef`` env values. Secret values are wrapped in :class:`~.redact.Redacted` as soon
as they are decoded, so no printer can show them."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from wasmplugin.config.collect import Collector, start_document
from wasmplugin.config.diagnostics import Diagnostic, Location
from wasmplugin.config.frozen import FrozenDict
from wasmplugin.config.redact import Redacted
from wasmplugin.config.resources import ConfigMap, Secret
from wasmplugin.config.schema import Schema, check, describe_value

__all__ = ["parse_config_map", "parse_secret"]

_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+\Z")
_STRING_MAP = Schema(type="object", additional=Schema(type="string"))

SECRET = Schema(
    type="object",
    properties={
        "apiVersion": Schema(type="string"),
        "kind": Schema(type="string"),
        "metadata": Schema(type="object", preserve_unknown=True),
        "type": Schema(type="string"),
        "data": _STRING_MAP,
        "stringData": _STRING_MAP,
        "immutable": Schema(type="boolean"),
    },
)

CONFIG_MAP = Schema(
    type="object",
    properties={
        "apiVersion": Schema(type="string"),
        "kind": Schema(type="string"),
        "metadata": Schema(type="object", preserve_unknown=True),
        "data": _STRING_MAP,
        "binaryData": _STRING_MAP,
        "immutable": Schema(type="boolean"),
    },
)


def _keys(out: Collector, values: dict[str, Any], path: str) -> None:
    for key in values:
        if len(key) > 253 or not _CONFIG_KEY.match(key):
            out.error(
                f"{path}[{describe_value(key)}]",
                "invalid key: must consist of letters, digits, '-', '_' or '.'",
                "schema",
            )


def _b64(out: Collector, value: str, path: str) -> bytes | None:
    try:
        return base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        out.error(path, "not valid base64 (data values are base64; use stringData for plain text)", "schema")
        return None


def parse_secret(
    body: dict[str, Any], location: Location, *, strict: bool = False
) -> tuple[Secret | None, list[Diagnostic]]:
    out, meta = start_document("Secret", body, location, strict)
    out.problems(check(SECRET, {k: v for k, v in body.items() if k != "metadata"}, ""), "schema")
    if out.has_errors or meta is None:
        return None, out.diagnostics
    data: dict[str, Redacted] = {}
    raw_data = {k: v for k, v in (body.get("data") or {}).items() if v is not None}
    _keys(out, raw_data, "data")
    for key, value in raw_data.items():
        decoded = _b64(out, value, f"data[{describe_value(key)}]")
        if decoded is not None:
            data[key] = Redacted(decoded)
    string_data = {k: v for k, v in (body.get("stringData") or {}).items() if v is not None}
    _keys(out, string_data, "stringData")
    for key, value in string_data.items():
        data[key] = Redacted(value.encode())  # stringData wins, as the API server merges it
    secret_type = body.get("type") or "Opaque"
    if secret_type == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" not in data:
        out.error("data", 'type kubernetes.io/dockerconfigjson needs the key ".dockerconfigjson"', "schema")
    if out.has_errors:
        return None, out.diagnostics
    return Secret(meta=meta, location=location, type=secret_type, data=FrozenDict(data)), out.diagnostics


def parse_config_map(
    body: dict[str, Any], location: Location, *, strict: bool = False
) -> tuple[ConfigMap | None, list[Diagnostic]]:
    out, meta = start_document("ConfigMap", body, location, strict)
    out.problems(check(CONFIG_MAP, {k: v for k, v in body.items() if k != "metadata"}, ""), "schema")
    if out.has_errors or meta is None:
        return None, out.diagnostics
    data = {k: v for k, v in (body.get("data") or {}).items() if v is not None}
    _keys(out, data, "data")
    binary: dict[str, bytes] = {}
    for key, value in (body.get("binaryData") or {}).items():
        if value is None:
            continue
        if key in data:
            out.error(f"binaryData[{describe_value(key)}]", "key is also in data", "schema")
        decoded = _b64(out, value, f"binaryData[{describe_value(key)}]")
        if decoded is not None:
            binary[key] = decoded
    _keys(out, binary, "binaryData")
    if out.has_errors:
        return None, out.diagnostics
    return ConfigMap(
        meta=meta, location=location, data=FrozenDict(data), binary_data=FrozenDict(binary)
    ), out.diagnostics
