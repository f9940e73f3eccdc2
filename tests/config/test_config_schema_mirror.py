"""wasmplugin's WasmPlugin schema (Python) mirrors the real CRD field for field."""

from __future__ import annotations

from typing import Any

from crd_reference import load_crd_schema

from wasmplugin.config.schema import Schema
from wasmplugin.config.wasmplugin_schema import SPEC


def _compare(ours: Schema, crd: dict[str, Any], path: str, problems: list[str]) -> None:
    def same(name: str, mine: Any, theirs: Any) -> None:
        if mine != theirs:
            problems.append(f"{path}: {name}: ours {mine!r}, CRD {theirs!r}")

    same("type", ours.type, crd.get("type"))
    same("enum", list(ours.enum) or None, crd.get("enum"))
    same("pattern", ours.pattern, crd.get("pattern"))
    same("minLength", ours.min_length, crd.get("minLength"))
    same("maxLength", ours.max_length, crd.get("maxLength"))
    same("minimum", ours.minimum, crd.get("minimum"))
    same("maximum", ours.maximum, crd.get("maximum"))
    same("maxItems", ours.max_items, crd.get("maxItems"))
    same("maxProperties", ours.max_properties, crd.get("maxProperties"))
    same("format", ours.format, crd.get("format"))
    same("nullable", ours.nullable, bool(crd.get("nullable", False)))
    same(
        "preserve-unknown",
        ours.preserve_unknown,
        bool(crd.get("x-kubernetes-preserve-unknown-fields", False)),
    )
    same("list-map-keys", list(ours.list_map_keys) or None, crd.get("x-kubernetes-list-map-keys"))
    same("required", sorted(ours.required), sorted(crd.get("required", [])))
    same(
        "rules",
        [(r.cel, r.message) for r in ours.rules],
        [(v["rule"], v["message"]) for v in crd.get("x-kubernetes-validations", [])],
    )
    same("properties", sorted(ours.properties), sorted(crd.get("properties", {})))
    for name, child in ours.properties.items():
        if name in crd.get("properties", {}):
            _compare(child, crd["properties"][name], f"{path}.{name}", problems)
    extra = crd.get("additionalProperties")
    same("additionalProperties", ours.additional is not None, isinstance(extra, dict))
    if ours.additional is not None and isinstance(extra, dict):
        _compare(ours.additional, extra, f"{path}[*]", problems)
    same("items", ours.items is not None, isinstance(crd.get("items"), dict))
    if ours.items is not None and isinstance(crd.get("items"), dict):
        _compare(ours.items, crd["items"], f"{path}[]", problems)


def test_spec_schema_mirrors_the_crd() -> None:
    crd_spec = load_crd_schema()["properties"]["spec"]
    problems: list[str] = []
    _compare(SPEC, crd_spec, "spec", problems)
    assert not problems, "\n".join(problems)


def test_mirror_check_notices_a_difference() -> None:
    crd_spec = load_crd_schema()["properties"]["spec"]
    altered = dict(
        crd_spec, properties=dict(crd_spec["properties"], pluginName={"type": "string", "maxLength": 255})
    )
    problems: list[str] = []
    _compare(SPEC, altered, "spec", problems)
    assert problems
