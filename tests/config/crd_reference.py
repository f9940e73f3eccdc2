"""The reference verdict for a WasmPlugin spec: Istio's real CRD, evaluated with independent tools.

* the CRD's ``openAPIV3Schema`` with ``jsonschema`` (Draft 7 keywords are what the CRD uses), with
  the API server's structural-schema behaviour added where jsonschema has none: ``nullable``,
  pruning of non-nullable nulls, unknown fields rejected (kubectl's strict field validation),
  ``x-kubernetes-list-type: map`` uniqueness, and RE2 pattern semantics (``$`` only at the end);
* every ``x-kubernetes-validations`` rule with ``cel-python``, with Kubernetes' ``isURL`` /
  ``url().getScheme()`` answered by Go's ``net/url`` (:class:`go_reference.GoURL`).

The CRD file is ``shared/reference/istio-wasmplugin-crd.yaml`` beside the repository (found by
``support.shared_material``; override with ``WASMPLUGIN_CRD``).
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml
from celpy import celtypes
from go_reference import GoURL

from support.shared_material import shared_file


def crd_path() -> Path:
    env = os.environ.get("WASMPLUGIN_CRD")
    return Path(env) if env else shared_file("reference/istio-wasmplugin-crd.yaml")


def load_crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(crd_path().read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _kube_to_jsonschema(schema: Any) -> Any:
    """nullable → null allowed; objects with properties reject unknown fields (strict)."""
    if isinstance(schema, list):
        return [_kube_to_jsonschema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _kube_to_jsonschema(v) for k, v in schema.items()}
    if out.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _go_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    if isinstance(instance, str) and not re.search(pattern.replace("$", r"\Z"), instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _go_pattern})


def _prune(value: Any, schema: dict[str, Any]) -> Any:
    """The API server's PruneNonNullableNullsWithoutDefaults."""
    if isinstance(value, dict) and isinstance(schema, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            child = props.get(key, extra if isinstance(extra, dict) else None)
            if item is None and child is not None and not child.get("nullable"):
                continue
            out[key] = _prune(item, child) if child is not None else item
        return out
    if isinstance(value, list) and isinstance(schema, dict) and isinstance(schema.get("items"), dict):
        return [_prune(v, schema["items"]) for v in value]
    return value


def _path(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            text += f".{part}" if text else part
        else:
            text += '["' + part.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return text


def _type_ok(schema: dict[str, Any], value: Any) -> bool:
    expected = schema.get("type")
    return not expected or _Validator(schema).is_type(value, expected)


class CrdReference:
    def __init__(self, go_url: GoURL) -> None:
        self.root = load_crd_schema()
        self.validator = _Validator(_kube_to_jsonschema(self.root))
        self.go_url = go_url
        self.env = celpy.Environment()
        self.programs: dict[str, Any] = {}

    # --- CEL with Kubernetes' URL library answered by Go --------------------------------------

    def _functions(self) -> dict[str, Any]:
        def is_url(value: Any) -> Any:
            return celtypes.BoolType(self.go_url.answer(str(value))["requestURI"]["ok"])

        def url(value: Any) -> Any:
            answer = self.go_url.answer(str(value))["requestURI"]
            if not answer["ok"]:
                raise ValueError("URL parse error during conversion from string")
            return celtypes.MapType({celtypes.StringType("scheme"): celtypes.StringType(answer["scheme"])})

        def get_scheme(value: Any) -> Any:
            return value[celtypes.StringType("scheme")]

        return {"isURL": is_url, "url": url, "getScheme": get_scheme}

    def _rule(self, rule: str, value: Any) -> bool:
        program = self.programs.get(rule)
        if program is None:
            program = self.env.program(self.env.compile(rule), functions=self._functions())
            self.programs[rule] = program
        try:
            result = program.evaluate({"self": celpy.json_to_cel(value)})
        except Exception:
            return False
        return isinstance(result, celtypes.BoolType) and bool(result)

    # --- the walk --------------------------------------------------------------------------------

    def _walk(self, schema: dict[str, Any], value: Any, parts: list[Any], out: set[str]) -> None:
        if value is None or not _type_ok(schema, value):
            return
        for rule in schema.get("x-kubernetes-validations", []):
            if not self._rule(rule["rule"], value):
                out.add(_path(parts))
        keys = schema.get("x-kubernetes-list-map-keys")
        if isinstance(value, list):
            seen = set()
            for i, item in enumerate(value):
                if keys and isinstance(item, dict):
                    key = tuple(repr(item.get(k)) for k in keys)
                    if key in seen:
                        out.add(_path([*parts, i]))
                    seen.add(key)
                if isinstance(schema.get("items"), dict):
                    self._walk(schema["items"], item, [*parts, i], out)
        if isinstance(value, dict):
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                child = props.get(key, extra if isinstance(extra, dict) else None)
                if child is not None:
                    self._walk(child, item, [*parts, key], out)

    def problems(self, spec: Any) -> set[str]:
        """Field paths (``spec.x[0].y``) where the CRD rejects ``spec``; empty = accepted."""
        document = _prune({"spec": copy.deepcopy(spec)}, self.root)
        found: set[str] = set()
        for error in self.validator.iter_errors(document):
            parts = list(error.absolute_path)
            if error.validator == "required":
                missing = [r for r in error.validator_value if r not in error.instance]
                found.update(_path([*parts, m]) for m in missing)
            elif error.validator == "additionalProperties":
                known = set(error.schema.get("properties", {}))
                found.update(_path([*parts, k]) for k in error.instance if k not in known)
            else:
                found.add(_path(parts))
        self._walk(self.root, document, [], found)
        return found
