"""A structural-schema checker that behaves like the Kubernetes API server on a CRD.

Schemas are written in Python (:class:`Schema`), mirroring a CRD's ``openAPIV3Schema`` field for
field; ``x-kubernetes-validations`` CEL rules are :class:`Rule` objects whose ``check`` implements
the CEL expression (its source is kept for documentation and for the test that compares these
schemas with the real CRD). What the API server does, in order, for each node:

1. a ``null`` for a non-nullable property or map value is *pruned* (treated as absent) before
   validation (``PruneNonNullableNullsWithoutDefaults``); a ``null`` array item is a type error;
2. type: ``integer`` accepts integral numbers, ``number`` any number, booleans are not numbers;
3. ``enum``, string lengths (in characters), ``pattern`` (Go RE2: unanchored search, ``$`` only at
   the very end), ``minimum``/``maximum``, ``maxItems``, ``maxProperties``, ``required``;
4. unknown fields are errors (``kubectl``'s default ``--validate=strict`` field validation),
   except under ``x-kubernetes-preserve-unknown-fields``;
5. ``x-kubernetes-list-type: map``: items must be unique by their key fields;
6. CEL rules, evaluated only on nodes whose own type is right.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Problem", "Rule", "Schema", "check", "describe_value"]

JSONType = str  # "object" | "array" | "string" | "integer" | "number" | "boolean"


@dataclass(frozen=True, slots=True)
class Rule:
    """An ``x-kubernetes-validations`` entry: CEL source, message, and its Python implementation."""

    cel: str
    message: str
    check: Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Schema:
    type: JSONType | None = None
    properties: Mapping[str, Schema] = field(default_factory=dict)
    #: ``additionalProperties`` schema: the object is a map whose values follow it.
    additional: Schema | None = None
    items: Schema | None = None
    required: tuple[str, ...] = ()
    enum: tuple[str, ...] = ()
    #: The CRD's pattern text, exactly as written there.
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_items: int | None = None
    max_properties: int | None = None
    nullable: bool = False
    preserve_unknown: bool = False
    list_map_keys: tuple[str, ...] = ()
    format: str | None = None
    rules: tuple[Rule, ...] = ()
    #: Appended to type/pattern/enum errors to tell the user what a good value looks like.
    hint: str | None = None

    def compiled_pattern(self) -> re.Pattern[str] | None:
        if self.pattern is None:
            return None
        return _compile_go_regexp(self.pattern)


def _compile_go_regexp(pattern: str) -> re.Pattern[str]:
    """RE2 ``$`` (no multi-line flag) matches only at the end of the text; Python's also matches
    before a final newline. The CRD patterns use ``$`` only as an anchor. (``re`` caches compiled
    patterns itself.)"""
    return re.compile(pattern.replace("$", r"\Z"))


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    reason: str
    #: "schema" for OpenAPI/structural checks, "cel" for x-kubernetes-validations.
    kind: str = "schema"


def describe_value(value: Any, limit: int = 60) -> str:
    """A short, quoted rendering of a value for error messages (long strings are cut)."""
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 3] + "..."
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def type_name(value: Any, *, list_name: str = "array", dict_name: str = "object") -> str:
    """The JSON-schema type of a parsed YAML value, for "expected X, got Y" messages (a caller may
    call lists and dicts by its own words, e.g. "list" and "mapping")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return list_name
    if isinstance(value, dict):
        return dict_name
    return type(value).__name__


def _type_ok(expected: JSONType, value: Any) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if expected == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if expected == "number":
        return isinstance(value, int | float)
    return True


def _with_hint(reason: str, schema: Schema) -> str:
    return f"{reason} ({schema.hint})" if schema.hint else reason


def prune_nulls(schema: Schema, value: dict[str, Any]) -> dict[str, Any]:
    """Drop non-nullable ``null`` properties / map values, as the API server does."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            child = schema.properties.get(key, schema.additional)
            if child is not None and not child.nullable:
                continue
        out[key] = item
    return out


def check(schema: Schema, value: Any, path: str) -> list[Problem]:
    """All problems of ``value`` against ``schema``; ``path`` names the value (``spec``)."""
    problems: list[Problem] = []
    _check(schema, value, path, problems)
    return problems


def _child(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{describe_value(key)}]"


def _check(schema: Schema, value: Any, path: str, out: list[Problem]) -> None:
    if value is None:
        if schema.nullable:
            return
        if schema.type is not None:
            out.append(Problem(path, _with_hint(f"must be of type {schema.type}, got null", schema)))
        return
    if schema.type is not None and not _type_ok(schema.type, value):
        out.append(
            Problem(
                path,
                _with_hint(
                    f"must be of type {schema.type}, got {type_name(value)} {describe_value(value)}", schema
                ),
            )
        )
        return
    if schema.enum and value not in schema.enum:
        supported = ", ".join(schema.enum)
        out.append(
            Problem(
                path, _with_hint(f"unsupported value {describe_value(value)}; supported: {supported}", schema)
            )
        )
    if isinstance(value, str):
        _check_string(schema, value, path, out)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if schema.minimum is not None and value < schema.minimum:
            out.append(Problem(path, f"must be greater than or equal to {schema.minimum}, got {value!r}"))
        if schema.maximum is not None and value > schema.maximum:
            out.append(Problem(path, f"must be less than or equal to {schema.maximum}, got {value!r}"))
    elif isinstance(value, list):
        _check_array(schema, value, path, out)
    elif isinstance(value, dict):
        _check_object(schema, value, path, out)
        value = prune_nulls(schema, value)
    for rule in schema.rules:
        try:
            ok = rule.check(value)
        except Exception:  # a CEL evaluation error rejects the value, as in Kubernetes
            ok = False
        if not ok:
            out.append(Problem(path, rule.message, kind="cel"))


def _check_string(schema: Schema, value: str, path: str, out: list[Problem]) -> None:
    if schema.min_length is not None and len(value) < schema.min_length:
        if schema.min_length == 1 and not value:
            out.append(Problem(path, "must not be empty"))
        else:
            out.append(Problem(path, f"must be at least {schema.min_length} characters long"))
    if schema.max_length is not None and len(value) > schema.max_length:
        out.append(Problem(path, f"must be at most {schema.max_length} characters long, got {len(value)}"))
    pattern = schema.compiled_pattern()
    if pattern is not None and not pattern.search(value):
        out.append(
            Problem(
                path,
                _with_hint(f"invalid value {describe_value(value)}: must match {schema.pattern}", schema),
            )
        )


def _check_array(schema: Schema, value: list[Any], path: str, out: list[Problem]) -> None:
    if schema.max_items is not None and len(value) > schema.max_items:
        out.append(Problem(path, f"must have at most {schema.max_items} items, got {len(value)}"))
    if schema.items is not None:
        for i, item in enumerate(value):
            _check(schema.items, item, f"{path}[{i}]", out)
    if schema.list_map_keys:
        seen: dict[tuple[Any, ...], int] = {}
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            key = tuple(_hashable(item.get(k)) for k in schema.list_map_keys)
            if key in seen:
                shown = ", ".join(f"{k}={describe_value(item.get(k))}" for k in schema.list_map_keys)
                out.append(Problem(f"{path}[{i}]", f"duplicate entry ({shown} is also item {seen[key]})"))
            else:
                seen[key] = i


def _hashable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return repr(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _check_object(schema: Schema, value: dict[str, Any], path: str, out: list[Problem]) -> None:
    present = prune_nulls(schema, value)
    if schema.max_properties is not None and len(present) > schema.max_properties:
        out.append(Problem(path, f"must have at most {schema.max_properties} entries, got {len(present)}"))
    for name in schema.required:
        if name not in present:
            out.append(Problem(_child(path, name), "required field is missing"))
    for key, item in present.items():
        child = schema.properties.get(key)
        if child is None:
            child = schema.additional
        if child is None:
            if not schema.preserve_unknown and (schema.properties or schema.type == "object"):
                out.append(Problem(_child(path, key), "unknown field"))
            continue
        _check(child, item, _child(path, key), out)
