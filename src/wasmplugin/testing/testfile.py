"""Declarative plugin tests (``wasmplugin test FILE.yaml``): the file format, parsed once into frozen
objects. The schema is documented in docs/testing-plugins.md ("Declarative tests").

Every problem is a :class:`~wasmplugin.errors.ConfigError` naming the file and the field
(``cases[2].expect.status: expected an integer, got string``); unknown keys are errors too, because
in a test file a typo silently drops a check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from wasmplugin.config.schema import type_name
from wasmplugin.errors import ConfigError

API_VERSION = "testing.wasmplugin.io/v1alpha1"
KIND = "PluginTest"
FAIL_STRATEGIES = ("FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD")
LOAD_FAILURES = ("fetch_failure", "checksum_mismatch", "invalid_module")
LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "critical")
CALLBACKS = (
    "request_headers",
    "request_body",
    "request_trailers",
    "response_headers",
    "response_body",
    "response_trailers",
    "log",
    "done",
)

_MISSING = object()


def _type_name(value: Any) -> str:
    return type_name(value, list_name="list", dict_name="mapping")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Node:
    """A mapping in the file with its path, for typed reads that name the field on error."""

    def __init__(self, data: Mapping[str, Any], path: str, file: str) -> None:
        self.data = data
        self.path = path
        self.file = file
        self._used: set[str] = set()

    def error(self, reason: str, key: str | None = None) -> ConfigError:
        where = f"{self.path}.{key}" if self.path and key else (key or self.path or None)
        return ConfigError(reason, file=self.file, field=where)

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self._used.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.error("required field is missing", key)
        return default

    def has(self, key: str) -> bool:
        self._used.add(key)
        return key in self.data

    def _typed(self, key: str, default: Any, accepts: Callable[[Any], bool], expected: str) -> Any:
        """The value at ``key`` (or ``default`` when absent and one is given), refused with
        "expected <expected>, got <type>" unless ``accepts`` it. Callers tell a defaulted value by
        ``v is default``."""
        v = self.raw(key, default)
        if v is default and default is not _MISSING:
            return v
        if not accepts(v):
            raise self.error(f"expected {expected}, got {_type_name(v)}", key)
        return v

    def text(self, key: str, default: Any = _MISSING) -> Any:
        return self._typed(key, default, lambda v: isinstance(v, str), "a string")

    def integer(self, key: str, default: Any = _MISSING, *, minimum: int | None = None) -> Any:
        v = self._typed(key, default, _is_int, "an integer")
        if v is not default and minimum is not None and v < minimum:
            raise self.error(f"must be at least {minimum}, got {v}", key)
        return v

    def number(self, key: str, default: Any = _MISSING) -> Any:
        v = self._typed(key, default, lambda v: _is_int(v) or isinstance(v, float), "a number")
        if v is default:
            return v
        if v < 0:
            raise self.error(f"cannot be negative, got {v}", key)
        return float(v)

    def flag(self, key: str, default: Any = _MISSING) -> Any:
        return self._typed(key, default, lambda v: isinstance(v, bool), "true or false")

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> Any:
        v = self.text(key, default)
        if v is default and default is not _MISSING:
            return v
        if v not in choices:
            raise self.error(f"{v!r} is not one of {', '.join(choices)}", key)
        return v

    def node(self, key: str, default: Any = _MISSING) -> Any:
        v = self.raw(key, default)
        return v if v is default and default is not _MISSING else self.child(v, key)

    def sequence(self, key: str, default: Any = _MISSING) -> Any:
        return self._typed(key, default, lambda v: isinstance(v, list), "a list")

    def child(self, value: Any, key: str) -> Node:
        """``value`` (found at ``key`` / ``key[i]``) as a Node, or an error naming it."""
        if not isinstance(value, dict):
            raise ConfigError(
                f"expected a mapping, got {_type_name(value)}",
                file=self.file,
                field=f"{self.path}.{key}" if self.path else key,
            )
        return Node(value, f"{self.path}.{key}" if self.path else key, self.file)

    def done(self) -> None:
        """Refuse keys nobody read (typos)."""
        unknown = [k for k in self.data if k not in self._used]
        if unknown:
            known = ", ".join(sorted(self._used)) or "none"
            where = f"{self.path}.{unknown[0]}" if self.path else str(unknown[0])
            raise ConfigError(f"unknown field (known here: {known})", file=self.file, field=where)


# --- the model -------------------------------------------------------------------------------------


class _JsonPayload:
    """``has_json``: a ``json:`` key was given (its value may be null, so absence is ``_MISSING``)."""

    __slots__ = ()
    json: Any

    @property
    def has_json(self) -> bool:
        return self.json is not _MISSING


@dataclass(frozen=True)
class HeaderExpectation:
    name: str
    #: None: must be absent; a str: the first value; a tuple: every value, in order.
    value: str | tuple[str, ...] | None


@dataclass(frozen=True)
class BodyExpectation(_JsonPayload):
    exact: str | None = None
    contains: tuple[str, ...] = ()
    matches: str | None = None
    json: Any = _MISSING


@dataclass(frozen=True)
class LogExpectation:
    contains: str | None = None
    matches: str | None = None
    level: str | None = None
    plugin: str | None = None
    absent: bool = False


@dataclass(frozen=True)
class CallExpectation:
    upstream: str | None = None
    method: str | None = None
    path: str | None = None
    authority: str | None = None
    headers: tuple[HeaderExpectation, ...] = ()
    body: BodyExpectation = field(default_factory=BodyExpectation)


@dataclass(frozen=True)
class UpstreamExpectation:
    called: bool | None = None
    method: str | None = None
    path: str | None = None
    authority: str | None = None
    headers: tuple[HeaderExpectation, ...] = ()
    body: BodyExpectation = field(default_factory=BodyExpectation)
    trailers: tuple[HeaderExpectation, ...] = ()


@dataclass(frozen=True)
class Expect:
    status: int | None = None
    headers: tuple[HeaderExpectation, ...] = ()
    body: BodyExpectation = field(default_factory=BodyExpectation)
    trailers: tuple[HeaderExpectation, ...] = ()
    local_reply: bool | None = None
    details: str | None = None
    reset: bool | None = None
    #: True/False: a plugin error happened / did not; a str: the error message contains it.
    error: bool | str | None = None
    upstream: UpstreamExpectation | None = None
    logs: tuple[LogExpectation, ...] = ()
    metrics: tuple[tuple[str, Any], ...] = ()
    http_call_count: int | None = None
    http_calls: tuple[CallExpectation, ...] | None = None
    #: Plugin name ("" = every plugin of the target) → ready, failed or load_failed.
    plugin_state: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TrapSpec:
    """Force a failure in ``on`` (a stream callback) for the case's first request. The file says
    ``callback:`` — YAML reads a bare ``on`` key as the boolean true."""

    on: str
    kind: str = "trap"
    #: In a chain: the plugin (name); default the first.
    plugin: str | None = None


@dataclass(frozen=True)
class Answer(_JsonPayload):
    """A fake upstream's answer (``kind``: respond, reset, refuse, hang)."""

    kind: str = "respond"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    json: Any = _MISSING
    trailers: tuple[tuple[str, str], ...] | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class ReplySpec(_JsonPayload):
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: tuple[bytes, ...] | None = None
    json: Any = _MISSING
    trailers: tuple[tuple[str, str], ...] | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class RequestSpec(_JsonPayload):
    method: str = "GET"
    path: str = "/"
    authority: str | None = None
    scheme: str = "http"
    headers: tuple[tuple[str, str], ...] = ()
    body: tuple[bytes, ...] | None = None
    json: Any = _MISSING
    trailers: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Case:
    name: str
    request: RequestSpec
    expect: Expect
    response: ReplySpec | None = None
    advance: float = 0.0
    repeat: int = 1
    upstreams: tuple[tuple[str, tuple[Answer, ...]], ...] = ()
    trap: TrapSpec | None = None


@dataclass(frozen=True)
class PluginSpec:
    wasm: Path
    name: str | None = None
    root_id: str = ""
    vm_id: str = ""
    config: Any = None
    vm_config: Any = None
    env: tuple[tuple[str, str], ...] = ()
    fail_strategy: str = "FAIL_CLOSE"
    force: str | None = None


@dataclass(frozen=True)
class ChainSpec:
    files: tuple[Path, ...]
    workload: str | None = None
    labels: tuple[tuple[str, str], ...] | None = None
    namespace: str | None = None
    direction: str = "inbound"
    port: int | None = None
    force: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TestFile:
    __test__ = False  # not a pytest test class

    path: Path
    target: PluginSpec | ChainSpec
    cases: tuple[Case, ...]
    upstreams: tuple[tuple[str, tuple[Answer, ...]], ...] = ()
    backend: ReplySpec | None = None
    log_level: str = "trace"
    #: The target must fail to load with a message containing this (then no case runs).
    expect_load_error: str | None = None


# --- parsing ---------------------------------------------------------------------------------------


def load_test_file(path: Path) -> TestFile:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"not valid YAML: {where}{problem}", file=str(path)) from None
    return parse_test_file(data, path)


def parse_test_file(data: Any, path: Path) -> TestFile:
    file = str(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping with apiVersion, kind and cases, got {_type_name(data)}", file=file
        )
    root = Node(data, "", file)
    api = root.text("apiVersion")
    if api != API_VERSION:
        raise root.error(f"{api!r}: this wasmplugin reads {API_VERSION}", "apiVersion")
    kind = root.text("kind")
    if kind != KIND:
        raise root.error(f"{kind!r}: expected {KIND}", "kind")
    base = path.parent
    has_plugin, has_chain = root.has("plugin"), root.has("chain")
    if has_plugin == has_chain:
        raise root.error("give exactly one of plugin (one module) or chain (WasmPlugin YAML)")
    target: PluginSpec | ChainSpec
    expect_load_error: str | None
    if has_plugin:
        target, expect_load_error = _plugin(root.node("plugin"), base)
    else:
        target, expect_load_error = _chain(root.node("chain"), base)
    upstreams = _upstreams(root.node("upstreams")) if root.has("upstreams") else ()
    backend = _reply(root.node("backend")) if root.has("backend") else None
    log_level = root.choice("logLevel", LOG_LEVELS, "trace")
    raw_cases = root.sequence("cases", [])
    if not raw_cases and expect_load_error is None:
        raise root.error("no cases: add at least one under cases:", "cases")
    cases = []
    names: set[str] = set()
    for i, raw in enumerate(raw_cases):
        case = _case(root.child(raw, f"cases[{i}]"))
        if case.name in names:
            raise ConfigError(f"duplicate case name {case.name!r}", file=file, field=f"cases[{i}].name")
        names.add(case.name)
        cases.append(case)
    root.done()
    return TestFile(path, target, tuple(cases), upstreams, backend, log_level, expect_load_error)


def _rel(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def _string_pairs(n: Node, key: str) -> tuple[tuple[str, str], ...]:
    """A mapping of names to a string (or number) or a list of them → ordered pairs."""
    m = n.raw(key)
    if not isinstance(m, dict):
        raise n.error(f"expected a mapping of names to values, got {_type_name(m)}", key)
    out: list[tuple[str, str]] = []
    for name, value in m.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise n.error(f"expected a string, got {_type_name(v)}", f"{key}.{name}")
            out.append((str(name), str(v)))
    return tuple(out)


def _chunks(n: Node, key: str) -> tuple[bytes, ...]:
    v = n.raw(key)
    if isinstance(v, str):
        return (v.encode(),)
    if isinstance(v, list) and all(isinstance(c, str) for c in v):
        return tuple(c.encode() for c in v)
    raise n.error(f"expected a string or a list of strings (chunks), got {_type_name(v)}", key)


def _plugin(n: Node, base: Path) -> tuple[PluginSpec, str | None]:
    spec = PluginSpec(
        wasm=_rel(base, n.text("wasm")),
        name=n.text("name", None),
        root_id=n.text("rootId", ""),
        vm_id=n.text("vmId", ""),
        config=n.raw("config", None),
        vm_config=n.raw("vmConfig", None),
        env=_string_pairs(n, "env") if n.has("env") else (),
        fail_strategy=n.choice("failStrategy", FAIL_STRATEGIES, "FAIL_CLOSE"),
        force=n.choice("force", LOAD_FAILURES, None),
    )
    expect_error = n.text("expectLoadError", None)
    n.done()
    return spec, expect_error


def _chain(n: Node, base: Path) -> tuple[ChainSpec, str | None]:
    files = n.sequence("files")
    if not files or not all(isinstance(f, str) for f in files):
        raise n.error("expected a non-empty list of file or directory names", "files")
    force = _string_pairs(n, "force") if n.has("force") else ()
    for name, kind in force:
        if kind not in LOAD_FAILURES:
            raise n.error(f"{kind!r} is not one of {', '.join(LOAD_FAILURES)}", f"force.{name}")
    spec = ChainSpec(
        files=tuple(_rel(base, f) for f in files),
        workload=n.text("workload", None),
        labels=_string_pairs(n, "labels") if n.has("labels") else None,
        namespace=n.text("namespace", None),
        direction=n.choice("direction", ("inbound", "outbound"), "inbound"),
        port=n.integer("port", None, minimum=1),
        force=force,
    )
    expect_error = n.text("expectLoadError", None)
    n.done()
    return spec, expect_error


def _answer(n: Node) -> Answer:
    for flag in ("reset", "refuse", "hang"):
        if n.has(flag):
            if n.flag(flag) is not True:
                raise n.error("only true is meaningful here", flag)
            delay = n.number("delay", 0.0)
            n.done()
            return Answer(kind=flag, delay=delay)
    answer = Answer(
        status=_status(n),
        **_message(n, lambda n, key: n.text(key).encode()),
        delay=n.number("delay", 0.0),
    )
    return _one_body(n, answer)


def _status(n: Node) -> int:
    status = n.integer("status", 200)
    if not 100 <= status <= 599:
        raise n.error(f"{status} is not an HTTP status (100-599)", "status")
    return int(status)


def _upstreams(n: Node) -> tuple[tuple[str, tuple[Answer, ...]], ...]:
    out = []
    for cluster in list(n.data):
        value = n.raw(cluster)
        if isinstance(value, list):
            if not value:
                raise n.error("an empty list of answers", cluster)
            answers = tuple(_answer(n.child(v, f"{cluster}[{i}]")) for i, v in enumerate(value))
        else:
            answers = (_answer(n.child(value, cluster)),)
        out.append((str(cluster), answers))
    return tuple(out)


def _reply(n: Node) -> ReplySpec:
    spec = ReplySpec(status=_status(n), **_message(n, _chunks), delay=n.number("delay", 0.0))
    return _one_body(n, spec)


def _request(n: Node) -> RequestSpec:
    path = n.text("path", "/")
    if not path.startswith("/") and path != "*":
        raise n.error(f"{path!r}: a path starts with /", "path")
    spec = RequestSpec(
        method=n.text("method", "GET").upper(),
        path=path,
        authority=n.text("authority", None),
        scheme=n.choice("scheme", ("http", "https"), "http"),
        **_message(n, _chunks),
    )
    return _one_body(n, spec)


_Message = TypeVar("_Message", Answer, ReplySpec, RequestSpec)


def _message(n: Node, read_body: Callable[[Node, str], Any]) -> dict[str, Any]:
    """The headers, body (read by ``read_body``), json and trailers of a request or an answer."""
    return {
        "headers": _string_pairs(n, "headers") if n.has("headers") else (),
        "body": read_body(n, "body") if n.has("body") else None,
        "json": n.raw("json") if n.has("json") else _MISSING,
        "trailers": _string_pairs(n, "trailers") if n.has("trailers") else None,
    }


def _one_body(n: Node, message: _Message) -> _Message:
    """Refuse body and json together, and unknown keys; then ``message``."""
    if message.body is not None and message.has_json:
        raise n.error("give body or json, not both")
    n.done()
    return message


def _header_expectations(n: Node, key: str) -> tuple[HeaderExpectation, ...]:
    m = n.raw(key)
    if not isinstance(m, dict):
        raise n.error(f"expected a mapping of header names to values, got {_type_name(m)}", key)
    out = []
    for name, value in m.items():
        if value is None:
            out.append(HeaderExpectation(str(name).lower(), None))
        elif isinstance(value, list):
            if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
                raise n.error("expected a list of strings", f"{key}.{name}")
            out.append(HeaderExpectation(str(name).lower(), tuple(str(v) for v in value)))
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            out.append(HeaderExpectation(str(name).lower(), str(value)))
        else:
            raise n.error(
                f"expected a string, a list of strings or null (absent), got {_type_name(value)}",
                f"{key}.{name}",
            )
    return tuple(out)


def _body_expectation(n: Node) -> BodyExpectation:
    contains: tuple[str, ...] = ()
    if n.has("bodyContains"):
        v = n.raw("bodyContains")
        if isinstance(v, str):
            contains = (v,)
        elif isinstance(v, list) and all(isinstance(s, str) for s in v):
            contains = tuple(v)
        else:
            raise n.error(f"expected a string or a list of strings, got {_type_name(v)}", "bodyContains")
    matches = n.text("bodyMatches", None)
    if matches is not None:
        import re

        try:
            re.compile(matches)
        except re.error as exc:
            raise n.error(f"not a regular expression: {exc}", "bodyMatches") from None
    return BodyExpectation(
        exact=n.text("body", None),
        contains=contains,
        matches=matches,
        json=n.raw("json") if n.has("json") else _MISSING,
    )


def _logs(n: Node, key: str) -> tuple[LogExpectation, ...]:
    out = []
    for i, item in enumerate(n.sequence(key)):
        if isinstance(item, str):
            out.append(LogExpectation(contains=item))
            continue
        m = n.child(item, f"{key}[{i}]")
        known = {"contains", "matches", "level", "plugin", "absent"}
        if len(m.data) == 1 and not known & set(m.data):
            ((k, v),) = m.data.items()
            raise m.error(f"YAML read '{k}: {v}' as a mapping: quote a log text that contains ': '")
        exp = LogExpectation(
            contains=m.text("contains", None),
            matches=m.text("matches", None),
            level=m.choice("level", LOG_LEVELS, None),
            plugin=m.text("plugin", None),
            absent=m.flag("absent", False),
        )
        if exp.contains is None and exp.matches is None:
            raise m.error("give contains or matches")
        m.done()
        out.append(exp)
    return tuple(out)


def _calls(n: Node, key: str) -> tuple[int | None, tuple[CallExpectation, ...] | None]:
    v = n.raw(key)
    if isinstance(v, int) and not isinstance(v, bool):
        return v, None
    if not isinstance(v, list):
        raise n.error(f"expected a number of calls or a list of calls, got {_type_name(v)}", key)
    calls = []
    for i, item in enumerate(v):
        m = n.child(item, f"{key}[{i}]")
        calls.append(
            CallExpectation(
                upstream=m.text("upstream", None),
                method=m.text("method", None),
                path=m.text("path", None),
                authority=m.text("authority", None),
                headers=_header_expectations(m, "headers") if m.has("headers") else (),
                body=_body_expectation(m),
            )
        )
        m.done()
    return None, tuple(calls)


def _metrics(n: Node, key: str) -> tuple[tuple[str, Any], ...]:
    m = n.node(key)
    out: list[tuple[str, Any]] = []
    for name, value in m.data.items():
        m.raw(name)
        if isinstance(value, bool):
            raise m.error("expected a number, or {count, sum} for a histogram", name)
        if isinstance(value, int):
            out.append((str(name), value))
        elif isinstance(value, dict):
            h = m.child(value, name)
            out.append((str(name), {k: h.integer(k) for k in ("count", "sum") if h.has(k)}))
            h.done()
        else:
            raise m.error(
                f"expected a number, or {{count, sum}} for a histogram, got {_type_name(value)}", name
            )
    return tuple(out)


def _upstream_expectation(n: Node) -> UpstreamExpectation:
    exp = UpstreamExpectation(
        called=n.flag("called", None),
        method=n.text("method", None),
        path=n.text("path", None),
        authority=n.text("authority", None),
        headers=_header_expectations(n, "headers") if n.has("headers") else (),
        body=_body_expectation(n),
        trailers=_header_expectations(n, "trailers") if n.has("trailers") else (),
    )
    n.done()
    return exp


def _expect(n: Node) -> Expect:
    error: bool | str | None = None
    if n.has("error"):
        v = n.raw("error")
        if not isinstance(v, (bool, str)):
            raise n.error(f"expected true, false or a text the error contains, got {_type_name(v)}", "error")
        error = v
    status = n.integer("status", None)
    if status is not None and not 100 <= status <= 599:
        raise n.error(f"{status} is not an HTTP status (100-599)", "status")
    count, calls = _calls(n, "httpCalls") if n.has("httpCalls") else (None, None)
    exp = Expect(
        status=status,
        headers=_header_expectations(n, "headers") if n.has("headers") else (),
        body=_body_expectation(n),
        trailers=_header_expectations(n, "trailers") if n.has("trailers") else (),
        local_reply=n.flag("localReply", None),
        details=n.text("details", None),
        reset=n.flag("reset", None),
        error=error,
        upstream=_upstream_expectation(n.node("upstream")) if n.has("upstream") else None,
        logs=_logs(n, "logs") if n.has("logs") else (),
        metrics=_metrics(n, "metrics") if n.has("metrics") else (),
        http_call_count=count,
        http_calls=calls,
        plugin_state=_plugin_state(n) if n.has("pluginState") else (),
    )
    n.done()
    return exp


STATES = ("ready", "failed", "load_failed")


def _plugin_state(n: Node) -> tuple[tuple[str, str], ...]:
    v = n.raw("pluginState")
    if isinstance(v, str):
        if v not in STATES:
            raise n.error(f"{v!r} is not one of {', '.join(STATES)}", "pluginState")
        return (("", v),)
    pairs = _string_pairs(n, "pluginState")
    for name, state in pairs:
        if state not in STATES:
            raise n.error(f"{state!r} is not one of {', '.join(STATES)}", f"pluginState.{name}")
    return pairs


def _trap(n: Node) -> TrapSpec:
    v = n.raw("trap")
    if isinstance(v, str):
        if v not in CALLBACKS:
            raise n.error(f"{v!r} is not one of {', '.join(CALLBACKS)}", "trap")
        return TrapSpec(v)
    m = n.child(v, "trap")
    spec = TrapSpec(
        on=m.choice("callback", CALLBACKS),
        kind=m.choice("kind", ("trap", "deadline", "memory"), "trap"),
        plugin=m.text("plugin", None),
    )
    m.done()
    return spec


def _case(n: Node) -> Case:
    name = n.text("name")
    if not name.strip():
        raise n.error("must not be empty", "name")
    case = Case(
        name=name,
        request=_request(n.node("request")) if n.has("request") else RequestSpec(),
        expect=_expect(n.node("expect")) if n.has("expect") else Expect(),
        response=_reply(n.node("response")) if n.has("response") else None,
        advance=n.number("advance", 0.0),
        repeat=n.integer("repeat", 1, minimum=1),
        upstreams=_upstreams(n.node("upstreams")) if n.has("upstreams") else (),
        trap=_trap(n) if n.has("trap") else None,
    )
    n.done()
    return case
