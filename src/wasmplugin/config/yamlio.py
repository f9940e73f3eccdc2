"""Reading configuration files: paths → documents as Kubernetes would decode them.

``kubectl`` turns YAML into JSON with go-yaml v2 rules (YAML 1.1 flavoured) before anything else
sees it, and the API server decodes that JSON. Python's YAML loader differs on many scalars, so
this module resolves plain scalars the go-yaml v2 way:

* booleans: ``y Y yes Yes YES on On ON true True TRUE`` (and the matching false words);
* nulls: empty, ``~``, ``null``, ``Null``, ``NULL``;
* integers: Go ``ParseInt(s, 0, 64)`` after removing ``_`` (``0x1F``, ``0o17``, ``017``, ``0b101``),
  then unsigned 64-bit; anything else that looks like a float (``1e3``, ``1.5``, ``08``) is a float;
* timestamps stay strings; there is no sexagesimal (``1:30`` is a string);
* ``.inf`` / ``.nan`` cannot be converted to JSON: an error, as with kubectl;
* numbers then take their JSON round trip: an integral float within int64 becomes an integer, an
  integer outside int64 a float.

Duplicate keys are an error (kubectl's strict decoding). Non-string keys become strings
(``1`` → ``"1"``, ``true`` → ``"true"``). Errors carry the file and line.

Lines that start with ``kubectl `` (with ``\\`` continuations) are taken out before parsing; see
:mod:`wasmplugin.config.kubectl_command`.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from wasmplugin.config import kubectl_command
from wasmplugin.config.diagnostics import Diagnostic, Location, error
from wasmplugin.limits import DEFAULT_LIMITS, Limits

__all__ = ["RawDocument", "read_paths", "read_text"]

#: File name suffixes read from a directory (kubectl's set).
SUFFIXES = (".yaml", ".yml", ".json")

_TRUE = frozenset({"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
_FALSE = frozenset({"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_NAN = frozenset({".nan", ".NaN", ".NAN"})
_POS_INF = frozenset({".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})
_NEG_INF = frozenset({"-.inf", "-.Inf", "-.INF"})
_MAP_HINT = frozenset("yYnNtTfFoO~")
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?\Z")
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}

_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_TAG_STR = "tag:yaml.org,2002:str"
_TAG_MERGE = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True)
class RawDocument:
    """One decoded document: plain dicts, lists and scalars, as the API server would see it."""

    location: Location
    body: Any
    #: Set when the document was derived from something that is not YAML (a kubectl command).
    derived_from: str | None = None


# --- go-yaml v2 scalar resolution ------------------------------------------------------------


def _go_parse_int(text: str, *, signed: bool) -> int | None:
    """Go ``strconv.ParseInt(text, 0, 64)`` / ``ParseUint``; None on error."""
    s = text
    negative = False
    if signed and s[:1] in ("+", "-"):
        negative = s[0] == "-"
        s = s[1:]
    base = 10
    if len(s) > 1 and s[0] == "0":
        prefix = s[1].lower()
        if prefix == "x":
            base, s = 16, s[2:]
        elif prefix == "o":
            base, s = 8, s[2:]
        elif prefix == "b":
            base, s = 2, s[2:]
        else:
            base, s = 8, s[1:]
    if not s or any(c not in _DIGITS[base] for c in s):
        return None
    value = -int(s, base) if negative else int(s, base)
    if signed:
        return value if _INT64_MIN <= value <= _INT64_MAX else None
    return value if value <= _UINT64_MAX else None


def _go_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isinf(value) else value  # Go: ErrRange → not a float


def resolve_plain(text: str) -> tuple[str, Any]:
    """go-yaml v2's resolution of a plain scalar: (tag, value)."""
    if text == "<<":
        return _TAG_MERGE, text
    first = text[:1]
    hint = first == "" or first in _MAP_HINT or first in "+-.0123456789"
    if not hint:
        return _TAG_STR, text
    if text in _NULL:
        return _TAG_NULL, None
    if text in _TRUE:
        return _TAG_BOOL, True
    if text in _FALSE:
        return _TAG_BOOL, False
    if text in _NAN:
        return _TAG_FLOAT, math.nan
    if text in _POS_INF:
        return _TAG_FLOAT, math.inf
    if text in _NEG_INF:
        return _TAG_FLOAT, -math.inf
    if first == ".":
        if _DOT_FLOAT.match(text):
            value = _go_float(text)
            if value is not None:
                return _TAG_FLOAT, value
        return _TAG_STR, text
    if first in "+-0123456789":
        plain = text.replace("_", "")
        if plain:
            number = _go_parse_int(plain, signed=True)
            if number is None:
                number = _go_parse_int(plain, signed=False)
            if number is not None:
                return _TAG_INT, number
            if _YAML_STYLE_FLOAT.match(plain):
                value = _go_float(plain)
                if value is not None:
                    return _TAG_FLOAT, value
    return _TAG_STR, text


class _GoResolver(BaseResolver):
    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and implicit[0]:
            return resolve_plain(value)[0]
        return str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]


class _GoConstructor(SafeConstructor):
    def construct_go_scalar(self, node: ScalarNode) -> Any:
        text = self.construct_scalar(node)
        tag, value = resolve_plain(text)
        if tag != node.tag:
            if node.tag == _TAG_FLOAT and tag == _TAG_INT:
                value = float(value)
            else:
                raise ConstructorError(None, None, f"cannot decode {text!r} as {node.tag}", node.start_mark)
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise ConstructorError(
                None, None, f"{text} cannot be represented in JSON (kubectl rejects it)", node.start_mark
            )
        return value

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, f"expected a mapping, found {node.id}", node.start_mark)
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == _TAG_MERGE:
                continue
            key = _json_key(self.construct_object(key_node, deep=True), key_node)
            if key in seen:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _json_key(self.construct_object(key_node, deep=True), key_node)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


for _tag in (_TAG_NULL, _TAG_BOOL, _TAG_INT, _TAG_FLOAT):
    _GoConstructor.add_constructor(_tag, _GoConstructor.construct_go_scalar)  # type: ignore[type-var]


def _json_key(key: Any, node: Node) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return str(int(key)) if key.is_integer() and abs(key) < 1e21 else repr(key)
    raise ConstructorError(None, None, f"unsupported mapping key {key!r}", node.start_mark)


class _PyLoader(Reader, Scanner, Parser, Composer, _GoConstructor, _GoResolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _GoConstructor.__init__(self)
        _GoResolver.__init__(self)


#: libyaml's parser when PyYAML was built with it (go-yaml v2 is a port of libyaml; ~4x faster).
_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)

if _CParser is not None:

    class _CLoader(_CParser, _GoConstructor, _GoResolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _GoConstructor.__init__(self)
            _GoResolver.__init__(self)


def _new_loader(text: str) -> Any:
    return _CLoader(text) if _CParser is not None else _PyLoader(text)


# --- JSON round trip (what the API server stores) ---------------------------------------------


class _TooLarge(Exception):
    pass


class _TooDeep(Exception):
    pass


class _Unsupported(Exception):
    pass


def _to_kube_json(value: Any, budget: list[int], depth: int) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if depth < 0:
        raise _TooDeep
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else float(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise _Unsupported(f"{value} cannot be represented in JSON")
        if value.is_integer() and _INT64_MIN <= value <= _INT64_MAX:
            return int(value)
        return value
    if isinstance(value, dict):
        return {str(k): _to_kube_json(v, budget, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_kube_json(v, budget, depth - 1) for v in value]
    raise _Unsupported(f"unsupported YAML value of type {type(value).__name__}")


# --- reading -----------------------------------------------------------------------------------


def _yaml_error(file: str, document: int | None, exc: yaml.YAMLError) -> Diagnostic:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None)
    if problem is None:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    context = getattr(exc, "context", None)
    reason = f"{context}, {problem}" if context and "duplicate" not in str(problem) else str(problem)
    if mark is not None:
        return error(
            f"line {mark.line + 1} column {mark.column + 1}: YAML syntax error: {reason}",
            location=Location(file, document),
            origin="yaml",
        )
    return error(f"YAML syntax error: {reason}", location=Location(file, document), origin="yaml")


def _decode_document(file: str, index: int, value: Any, limits: Limits) -> tuple[Any, Diagnostic | None]:
    try:
        return _to_kube_json(
            value, [limits.config_document_max_nodes], limits.config_document_max_depth
        ), None
    except _TooLarge:
        return None, error(
            f"document has more than {limits.config_document_max_nodes} values once YAML aliases "
            "are expanded",
            location=Location(file, index),
            origin="yaml",
        )
    except _TooDeep:
        return None, error(
            f"document is nested more than {limits.config_document_max_depth} levels deep",
            location=Location(file, index),
            origin="yaml",
        )
    except _Unsupported as exc:
        return None, error(str(exc), location=Location(file, index), origin="yaml")
    except RecursionError:
        return None, error("document is nested too deeply", location=Location(file, index), origin="yaml")


def _read_yaml(file: str, text: str, limits: Limits) -> tuple[list[RawDocument], list[Diagnostic]]:
    docs: list[RawDocument] = []
    diags: list[Diagnostic] = []
    text, commands = kubectl_command.extract(text)
    for command in commands:
        doc, diag = kubectl_command.to_document(file, command)
        if doc is not None:
            docs.append(RawDocument(Location(file, None, command.line), doc, derived_from=command.text))
        diags.append(diag)
    index = current = 0
    loader: Any = None
    try:
        loader = _new_loader(text)
        while True:
            current = index + 1
            if not loader.check_node():
                break
            node = loader.get_node()
            index = current
            line = node.start_mark.line + 1 if node is not None else None
            raw = loader.construct_document(node) if node is not None else None
            body, problem = _decode_document(file, index, raw, limits)
            if problem is not None:
                diags.append(problem)
                continue
            if body is None:
                continue  # empty document, as kubectl skips it
            docs.append(RawDocument(Location(file, index, line), body))
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        diags.append(
            error(
                f"line {line}: unacceptable character #x{exc.character:04x} (control characters are "
                "not allowed in YAML)",
                location=Location(file),
                origin="yaml",
            )
        )
    except yaml.YAMLError as exc:
        diags.append(_yaml_error(file, current, exc))
    except RecursionError:
        diags.append(error("YAML is nested too deeply", location=Location(file, current), origin="yaml"))
    except Exception as exc:  # a PyYAML bug must not become a traceback
        diags.append(
            error(f"cannot parse YAML: {type(exc).__name__}: {exc}", location=Location(file), origin="yaml")
        )
    finally:
        if loader is not None:
            loader.dispose()
    return docs, diags


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} cannot be represented in JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _read_json(file: str, text: str, limits: Limits) -> tuple[list[RawDocument], list[Diagnostic]]:
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return [], [
            error(
                f"line {exc.lineno} column {exc.colno}: JSON syntax error: {exc.msg}",
                location=Location(file),
                origin="yaml",
            )
        ]
    except (ValueError, RecursionError) as exc:
        reason = "JSON is nested too deeply" if isinstance(exc, RecursionError) else f"JSON error: {exc}"
        return [], [error(reason, location=Location(file), origin="yaml")]
    body, problem = _decode_document(file, 1, value, limits)
    if problem is not None:
        return [], [problem]
    if body is None:
        return [], []
    return [RawDocument(Location(file, 1, 1), body)], []


def read_text(
    text: str | bytes, name: str, *, limits: Limits = DEFAULT_LIMITS
) -> tuple[list[RawDocument], list[Diagnostic]]:
    """Decode one file's content. JSON when the name ends in ``.json``, YAML otherwise."""
    if isinstance(text, bytes):
        if len(text) > limits.config_file_max_bytes:
            return [], [_too_big(name, limits)]
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return [], [
                error(
                    f"not UTF-8 text (invalid byte at offset {exc.start})",
                    location=Location(name),
                    origin="file",
                )
            ]
    elif len(text) > limits.config_file_max_bytes:
        return [], [_too_big(name, limits)]
    if name.endswith(".json"):
        return _read_json(name, text, limits)
    return _read_yaml(name, text, limits)


def _too_big(name: str, limits: Limits) -> Diagnostic:
    return error(
        f"file is larger than {limits.config_file_max_bytes} bytes", location=Location(name), origin="file"
    )


def expand_paths(paths: Iterable[str], *, recursive: bool = False) -> tuple[list[str], list[Diagnostic]]:
    """Files named by ``-f`` arguments: files as given, directories listed (sorted) for
    ``.yaml``/``.yml``/``.json`` files, recursively with ``recursive``. ``-`` is stdin."""
    files: list[str] = []
    diags: list[Diagnostic] = []
    for path in paths:
        if path == "-":
            files.append(path)
        elif os.path.isdir(path):
            found: list[str] = []
            if recursive:
                for root, dirs, names in os.walk(path):
                    dirs.sort()
                    found.extend(os.path.join(root, n) for n in names if n.endswith(SUFFIXES))
            else:
                with os.scandir(path) as entries:
                    found.extend(e.path for e in entries if e.is_file() and e.name.endswith(SUFFIXES))
            files.extend(sorted(found))
        elif os.path.exists(path):
            files.append(path)
        else:
            diags.append(error("no such file or directory", location=Location(path), origin="file"))
    return files, diags


def read_paths(
    paths: Sequence[str], *, recursive: bool = False, limits: Limits = DEFAULT_LIMITS
) -> tuple[list[RawDocument], list[Diagnostic]]:
    """Read every document from files and directories (``-`` reads stdin)."""
    files, diags = expand_paths(paths, recursive=recursive)
    docs: list[RawDocument] = []
    for file in files:
        try:
            if file == "-":
                data = sys.stdin.buffer.read(limits.config_file_max_bytes + 1)
                name = "<stdin>"
            else:
                with open(file, "rb") as fh:
                    data = fh.read(limits.config_file_max_bytes + 1)
                name = file
        except OSError as exc:
            diags.append(error(exc.strerror or str(exc), location=Location(file), origin="file"))
            continue
        more, problems = read_text(data, name, limits=limits)
        docs.extend(more)
        diags.extend(problems)
    return docs, diags
