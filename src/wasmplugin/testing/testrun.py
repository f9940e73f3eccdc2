"""Running a declarative test file on the harness and checking each case's expectations.

Cases run in file order against one plugin (or chain) instance, like consecutive requests to one
sidecar: state a plugin keeps (caches, counters, shared data) carries over, and so do upstream
declarations made by a case. A case fails with one line per unmet expectation.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmplugin.errors import WasmPluginError
from wasmplugin.host.metrics import HistogramSnapshot
from wasmplugin.testing.exchange import Reply
from wasmplugin.testing.harness import Harness
from wasmplugin.testing.headers import Headers
from wasmplugin.testing.logs import parse_level
from wasmplugin.testing.testfile import (
    Answer,
    BodyExpectation,
    Case,
    ChainSpec,
    Expect,
    HeaderExpectation,
    ReplySpec,
    TestFile,
)

if TYPE_CHECKING:
    from wasmplugin.host.runtime import WasmRuntime
    from wasmplugin.testing.exchange import Response
    from wasmplugin.testing.target import Target
    from wasmplugin.testing.upstreams import RecordedCall

#: Longest excerpt of a body or value shown in a failure line.
SHOWN = 120


@dataclass
class CaseResult:
    name: str
    failures: list[str] = field(default_factory=list)
    #: An exception that stopped the case (a bug or misuse, not an unmet expectation).
    error: str | None = None
    wall_ms: float = 0.0
    virtual_s: float = 0.0
    #: The case's log lines, ``[plugin] level: message``.
    logs: list[str] = field(default_factory=list)
    status: int | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


@dataclass
class FileResult:
    path: Path
    target: str = ""
    cases: list[CaseResult] = field(default_factory=list)
    #: Why the file could not run (the plugin did not load, ...); its cases did not run.
    error: str | None = None
    #: Cases left out by the name filter.
    skipped: int = 0

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.cases)


def _show(value: str | bytes) -> str:
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    if len(text) > SHOWN:
        text = text[: SHOWN - 3] + "..."
    return repr(text)


# --- running -----------------------------------------------------------------------------------------


def run_test_file(tf: TestFile, *, runtime: WasmRuntime | None = None, only: str | None = None) -> FileResult:
    """Run every case of ``tf`` (those whose name contains ``only``, when given)."""
    result = FileResult(tf.path)
    with Harness(runtime=runtime, log_level=tf.log_level) as harness:
        try:
            target = _load(harness, tf)
        except WasmPluginError as err:
            if tf.expect_load_error is not None:
                result.target = "expected load failure"
                outcome = CaseResult("the plugin fails to load")
                if tf.expect_load_error not in str(err):
                    want, got = _show(tf.expect_load_error), _show(str(err))
                    outcome.failures.append(f"load error: expected it to contain {want}, got {got}")
                result.cases.append(outcome)
                return result
            result.error = f"could not load: {err}"
            result.target = _describe_spec(tf)
            return result
        result.target = _describe_target(tf, target)
        if tf.expect_load_error is not None:
            result.error = f"expected loading to fail with {_show(tf.expect_load_error)}, but it loaded"
            return result
        _declare(harness, tf.upstreams)
        if tf.backend is not None:
            target.backend = _reply(tf.backend)
        for case in tf.cases:
            if only is not None and only not in case.name:
                result.skipped += 1
                continue
            result.cases.append(_run_case(harness, target, case))
    return result


def _load(h: Harness, tf: TestFile) -> Target:
    spec = tf.target
    if isinstance(spec, ChainSpec):
        return h.chain(
            *spec.files,
            workload=spec.workload,
            labels=dict(spec.labels) if spec.labels is not None else None,
            namespace=spec.namespace,
            direction=spec.direction,
            port=spec.port,
            force=dict(spec.force) or None,
        )
    return h.plugin(
        spec.wasm,
        name=spec.name,
        config=spec.config,
        vm_config=spec.vm_config,
        root_id=spec.root_id,
        vm_id=spec.vm_id,
        env=dict(spec.env),
        fail_strategy=spec.fail_strategy,
        force=spec.force,
    )


def _describe_spec(tf: TestFile) -> str:
    spec = tf.target
    if isinstance(spec, ChainSpec):
        return "chain from " + ", ".join(str(f) for f in spec.files)
    return f"plugin {spec.wasm}"


def _describe_target(tf: TestFile, target: Target) -> str:
    spec = tf.target
    if isinstance(spec, ChainSpec):
        return "chain " + " -> ".join(p.name for p in target.plugins)
    vm = target.plugins[0].vm
    detail = f", ABI {vm.module.abi_version.value}, sha256 {vm.module.sha256[:12]}" if vm is not None else ""
    return f"plugin {target.plugins[0].name} ({spec.wasm.name}{detail})"


def _declare(h: Harness, upstreams: tuple[tuple[str, tuple[Answer, ...]], ...]) -> None:
    """Declare answers: a list answers call by call, its last entry every call after that."""
    for cluster, answers in upstreams:
        up = h.upstream(cluster).clear()
        for i, a in enumerate(answers):
            once = i < len(answers) - 1
            if a.kind == "reset":
                up.reset(delay=a.delay, once=once)
            elif a.kind == "refuse":
                up.refuse(delay=a.delay, once=once)
            elif a.kind == "hang":
                up.hang(once=once)
            else:
                kwargs: dict[str, Any] = {
                    "headers": list(a.headers),
                    "trailers": list(a.trailers) if a.trailers is not None else None,
                    "delay": a.delay,
                }
                if a.has_json:
                    kwargs["json"] = a.json
                else:
                    kwargs["body"] = a.body
                if once:
                    up.respond_once(a.status, **kwargs)
                else:
                    up.respond(a.status, **kwargs)


def _reply(spec: ReplySpec) -> Reply:
    return Reply(
        status=spec.status,
        headers=list(spec.headers),
        body=list(spec.body) if spec.body is not None else None,
        json=spec.json if spec.has_json else None,
        trailers=list(spec.trailers) if spec.trailers is not None else None,
        delay=spec.delay,
    )


def _run_case(h: Harness, target: Target, case: Case) -> CaseResult:
    result = CaseResult(case.name)
    started = time.perf_counter()
    start_virtual = h.clock.elapsed
    log_mark = h.logs.mark()
    calls_mark = len(h.upstreams.calls)
    try:
        if case.advance:
            h.clock.advance(case.advance)
        _declare(h, case.upstreams)
        if case.trap is not None:
            handle = target.plugin(case.trap.plugin) if case.trap.plugin else target.plugins[0]
            handle.force_trap(case.trap.on, kind=case.trap.kind)
        rq = case.request
        response = None
        for _ in range(case.repeat):
            response = target.request(
                rq.method,
                rq.path,
                headers=list(rq.headers),
                body=list(rq.body) if rq.body is not None else None,
                json=rq.json if rq.has_json else None,
                trailers=list(rq.trailers) if rq.trailers is not None else None,
                authority=rq.authority,
                scheme=rq.scheme,
                response=_reply(case.response) if case.response is not None else None,
            )
        assert response is not None
        result.status = response.status
        calls = h.upstreams.calls[calls_mark:]
        _check(result.failures, case.expect, response, target, h, log_mark, calls)
    except WasmPluginError as err:
        result.error = str(err)
    except (AssertionError, ValueError, KeyError, RuntimeError) as err:
        result.error = f"{type(err).__name__}: {err}"
    result.wall_ms = (time.perf_counter() - started) * 1000
    result.virtual_s = h.clock.elapsed - start_virtual
    result.logs = [str(e) for e in h.logs.since(log_mark, h.logs.mark())]
    return result


# --- checking ----------------------------------------------------------------------------------------


def _check(
    out: list[str],
    exp: Expect,
    resp: Response,
    target: Target,
    h: Harness,
    log_mark: int,
    calls: list[RecordedCall],
) -> None:
    why = ""
    if resp.error is not None:
        why = f" (plugin error: {resp.error})"
    elif resp.local and resp.local_reply is not None:
        why = f" (local reply, details {resp.local_reply.details})"
    if exp.status is not None and resp.status != exp.status:
        got = "a reset stream" if resp.status is None else str(resp.status)
        out.append(f"status: expected {exp.status}, got {got}{why}")
    _headers(out, "header", exp.headers, resp.headers)
    _body(out, "body", exp.body, resp.body)
    if exp.trailers:
        _headers(out, "trailer", exp.trailers, resp.trailers or Headers())
    if exp.local_reply is not None and resp.local != exp.local_reply:
        out.append(
            "localReply: expected a local reply, got the upstream's response"
            if exp.local_reply
            else f"localReply: expected the upstream's response, got a local reply{why}"
        )
    if exp.details is not None and resp.details != exp.details:
        out.append(f"details: expected {_show(exp.details)}, got {_show(resp.details)}")
    if exp.reset is not None and (resp.reset is not None) != exp.reset:
        out.append(
            "reset: expected the stream to be reset"
            if exp.reset
            else f"reset: the stream was reset ({resp.reset})"
        )
    if exp.error is True and resp.error is None:
        out.append("error: expected a plugin failure, there was none")
    elif exp.error is False and resp.error is not None:
        out.append(f"error: expected no plugin failure, got {resp.error}")
    elif isinstance(exp.error, str) and (resp.error is None or exp.error not in str(resp.error)):
        out.append(f"error: expected one containing {_show(exp.error)}, got {resp.error or 'none'}")
    if exp.upstream is not None:
        _upstream(out, exp, resp)
    _logs(out, exp, h, log_mark)
    _metrics(out, exp, h)
    _calls(out, exp, calls)
    for name, state in exp.plugin_state:
        handles = target.plugins if not name else [target.plugin(name)]
        for handle in handles:
            if handle.state != state:
                detail = f": {handle.failure}" if handle.failure is not None else ""
                out.append(f"pluginState {handle.name}: expected {state}, got {handle.state}{detail}")


def _headers(out: list[str], what: str, exps: tuple[HeaderExpectation, ...], got: Headers) -> None:
    for he in exps:
        values = got.get_all(he.name)
        if he.value is None:
            if values:
                out.append(f"{what} {he.name}: expected absent, got {_show(values[0])}")
        elif isinstance(he.value, tuple):
            if tuple(values) != he.value:
                out.append(f"{what} {he.name}: expected {list(he.value)!r}, got {values!r}")
        elif not values:
            out.append(f"{what} {he.name}: expected {_show(he.value)}, got absent")
        elif values[0] != he.value:
            out.append(f"{what} {he.name}: expected {_show(he.value)}, got {_show(values[0])}")


def _body(out: list[str], what: str, exp: BodyExpectation, body: bytes) -> None:
    text = body.decode("utf-8", errors="replace")
    if exp.exact is not None and text != exp.exact:
        out.append(f"{what}: expected {_show(exp.exact)}, got {_show(text)}")
    for part in exp.contains:
        if part not in text:
            out.append(f"{what}: expected it to contain {_show(part)}, got {_show(text)}")
    if exp.matches is not None and re.search(exp.matches, text) is None:
        out.append(f"{what}: expected a match for /{exp.matches}/, got {_show(text)}")
    if exp.has_json:
        import json

        try:
            parsed = json.loads(body)
        except ValueError:
            out.append(f"{what}: expected JSON, got {_show(text)}")
            return
        if parsed != exp.json:
            out.append(f"{what}: expected JSON {json.dumps(exp.json)}, got {_show(text)}")


def _upstream(out: list[str], exp: Expect, resp: Response) -> None:
    ue = exp.upstream
    assert ue is not None
    up = resp.upstream_request
    if ue.called is False:
        if up is not None:
            out.append(f"upstream: expected no request to reach it, got {up.method} {up.path}")
        return
    wants_more = (ue.method, ue.path, ue.authority) != (None, None, None) or ue.headers or ue.trailers
    if up is None:
        if ue.called or wants_more or ue.body != BodyExpectation():
            out.append(f"upstream: the request never reached the upstream{_why(resp)}")
        return
    for label, want, got in (
        ("method", ue.method, up.method),
        ("path", ue.path, up.path),
        ("authority", ue.authority, up.authority),
    ):
        if want is not None and want != got:
            out.append(f"upstream {label}: expected {_show(want)}, got {_show(got)}")
    _headers(out, "upstream header", ue.headers, up.headers)
    _body(out, "upstream body", ue.body, up.body)
    if ue.trailers:
        _headers(out, "upstream trailer", ue.trailers, up.trailers or Headers())


def _why(resp: Response) -> str:
    if resp.error is not None:
        return f" (plugin error: {resp.error})"
    if resp.local_reply is not None:
        return f" (local reply {resp.local_reply.status}, details {resp.local_reply.details})"
    return ""


def _logs(out: list[str], exp: Expect, h: Harness, log_mark: int) -> None:
    if not exp.logs:
        return
    entries = list(h.logs.since(log_mark, h.logs.mark()))
    for le in exp.logs:
        level = parse_level(le.level) if le.level is not None else None
        found = [
            e
            for e in entries
            if (le.contains is None or le.contains in e.message)
            and (le.matches is None or re.search(le.matches, e.message) is not None)
            and (level is None or e.level == level)
            and (le.plugin is None or e.plugin == le.plugin or e.plugin.split(".", 1)[-1] == le.plugin)
        ]
        what = _show(le.contains) if le.contains is not None else f"/{le.matches}/"
        at = f" at {le.level}" if le.level else ""
        if le.absent and found:
            out.append(f"logs: expected no line with {what}{at}, got {_show(found[0].message)}")
        elif not le.absent and not found:
            out.append(f"logs: expected a line with {what}{at}; the case logged {len(entries)} line(s)")


def _metrics(out: list[str], exp: Expect, h: Harness) -> None:
    for name, want in exp.metrics:
        try:
            got = h.metrics[name]
        except KeyError as err:
            out.append(f"metric {name}: {err.args[0]}")
            continue
        if isinstance(want, dict):
            if not isinstance(got, HistogramSnapshot):
                out.append(f"metric {name}: expected a histogram, got {got}")
                continue
            for k, v in want.items():
                if getattr(got, k) != v:
                    out.append(f"metric {name}: expected {k} {v}, got {getattr(got, k)}")
        elif got != want:
            out.append(f"metric {name}: expected {want}, got {got}")


def _calls(out: list[str], exp: Expect, calls: list[RecordedCall]) -> None:
    if exp.http_call_count is not None and len(calls) != exp.http_call_count:
        out.append(f"httpCalls: expected {exp.http_call_count}, got {len(calls)}: {calls!r}")
    if exp.http_calls is None:
        return
    if len(calls) != len(exp.http_calls):
        out.append(f"httpCalls: expected {len(exp.http_calls)} call(s), got {len(calls)}: {calls!r}")
    for i, (ce, call) in enumerate(zip(exp.http_calls, calls, strict=False)):
        for label, want, got in (
            ("upstream", ce.upstream, call.upstream),
            ("method", ce.method, call.method),
            ("path", ce.path, call.path),
            ("authority", ce.authority, call.authority),
        ):
            if want is not None and want != got:
                out.append(f"httpCalls[{i}] {label}: expected {_show(want)}, got {_show(got)}")
        _headers(out, f"httpCalls[{i}] header", ce.headers, call.headers)
        _body(out, f"httpCalls[{i}] body", ce.body, call.body)
