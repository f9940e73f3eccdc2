"""``wasmplugin run``: one request (and its response) through one plugin, in process, no network.

The plugin author's ``curl``: the same chain core as the sidecar, on virtual time, with canned
http_call answers (``--upstream``). See ``docs/cli.md`` ("run").
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmplugin.errors import UsageError

EXIT_OK = 0
EXIT_PLUGIN_FAILED = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="push one request through one plugin (or a workload's chain), no network",
        description=(
            "Run one request and its response through a proxy-wasm plugin in process, as the sidecar "
            "would, and show what the upstream and the client receive, the plugin's logs and its "
            "http_calls. Exit 0 when the request was processed (local replies included), 2 when a "
            "plugin could not load or failed while running."
        ),
    )
    src = p.add_argument_group("plugin")
    src.add_argument("--plugin", metavar="P.wasm", help="the plugin module")
    src.add_argument("--config", metavar="JSON|@file", help="plugin configuration, passed byte for byte")
    src.add_argument("--vm-config", metavar="TEXT|@file", help="VM configuration bytes (buffer 6)")
    src.add_argument("--root-id", default="", metavar="ID", help="root id (WasmPlugin pluginName)")
    src.add_argument("--name", metavar="NAME", help="plugin name in logs (default: from the file name)")
    src.add_argument("--env", action="append", default=[], metavar="K=V", help="VM environment variable")
    src.add_argument(
        "--fail-strategy",
        default="FAIL_CLOSE",
        type=str.upper,
        choices=["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"],
        help="what the client gets when the plugin fails (default FAIL_CLOSE)",
    )
    wl = p.add_argument_group("workload chain (instead of --plugin)")
    wl.add_argument("-f", "--file", dest="config_dir", metavar="DIR", help="directory of resources")
    wl.add_argument("--workload", metavar="NS/NAME", help="the WorkloadEntry whose chain to run")
    wl.add_argument(
        "--direction", choices=["inbound", "outbound"], default="inbound", help="listener (default inbound)"
    )
    wl.add_argument("--port", type=int, default=None, help="listener port the chain is selected for")

    rq = p.add_argument_group("request")
    rq.add_argument("--request", required=True, metavar='"METHOD PATH"', help='e.g. "GET /hello"')
    rq.add_argument("-H", "--header", action="append", default=[], metavar='"name: value"',
                    help='request header; pseudo-headers too: -H ":authority: example.com"')
    rq.add_argument("--body", metavar="TEXT|@file", help="request body")
    rs = p.add_argument_group("upstream response")
    rs.add_argument("--response-status", type=int, default=200, metavar="N")
    rs.add_argument("--response-header", action="append", default=[], metavar='"name: value"')
    rs.add_argument("--response-body", default="", metavar="TEXT|@file")
    rs.add_argument("--upstream", action="append", default=[], metavar="NAME=STATUS:BODY",
                    help="canned answer to http_call for cluster NAME")
    out = p.add_argument_group("output")
    out.add_argument("-o", "--output", choices=["text", "json"], default="text")
    out.add_argument("--log-level", default="info", help="plugin log threshold (default info)")
    out.add_argument("--repeat", type=int, default=1, metavar="N", help="send the request N times")
    out.add_argument("--interval", type=float, default=0.0, metavar="S",
                     help="virtual seconds between repeated requests (e.g. to pass a FAIL_RELOAD backoff)")
    lim = p.add_argument_group("limits")
    lim.add_argument("--deadline-ms", type=int, metavar="MS", help="per-callback deadline")
    lim.add_argument("--memory-limit-mib", type=int, metavar="MIB", help="linear memory cap per VM")
    p.set_defaults(func=run_command)


# --- argument helpers ----------------------------------------------------------------------------


def read_bytes_arg(value: str | None, flag: str) -> bytes:
    """``TEXT`` or ``@file`` → bytes, byte for byte."""
    if value is None:
        return b""
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{flag} {value}: cannot read {path}: {exc.strerror}") from None
    return value.encode()


def parse_header(text: str, flag: str = "-H") -> tuple[bytes, bytes]:
    """``name: value``; a pseudo-header is split after its name (``:authority: example.com``)."""
    start = 1 if text.startswith(":") else 0
    idx = text.find(":", start)
    if idx <= start:
        raise UsageError(f'{flag} {text!r}: expected "name: value"')
    name = text[:idx].strip().lower()
    value = text[idx + 1 :].strip()
    if not name or " " in name:
        raise UsageError(f'{flag} {text!r}: bad header name {name!r}')
    return name.encode(), value.encode()


def parse_request_line(text: str) -> tuple[bytes, bytes]:
    parts = text.split()
    if len(parts) != 2 or (not parts[1].startswith(("/", "*")) and "://" not in parts[1]):
        raise UsageError(f'--request {text!r}: expected "METHOD PATH", e.g. "GET /hello"')
    return parts[0].upper().encode(), parts[1].encode()


@dataclass
class RequestSpec:
    headers: list[tuple[bytes, bytes]]
    body: bytes
    response_headers: list[tuple[bytes, bytes]]
    response_body: bytes


def build_request(args: argparse.Namespace, rng: random.Random) -> RequestSpec:
    from wasmplugin.abi.headers import HeaderMap  # noqa: F401  (cheap; keeps --help light)

    method, path = parse_request_line(args.request)
    pseudo: dict[bytes, bytes] = {b":authority": b"localhost", b":path": path, b":method": method,
                                  b":scheme": b"http"}
    regular: list[tuple[bytes, bytes]] = []
    for h in args.header:
        name, value = parse_header(h)
        if name == b"host":  # as Envoy's HTTP/1 codec: Host becomes :authority
            name = b":authority"
        if name.startswith(b":"):
            if name not in pseudo:
                raise UsageError(f"-H {h!r}: unknown pseudo-header {name.decode()}")
            pseudo[name] = value
        else:
            regular.append((name, value))
    body = read_bytes_arg(args.body, "--body")
    names = {n for n, _ in regular}
    if body and b"content-length" not in names and b"transfer-encoding" not in names:
        regular.append((b"content-length", str(len(body)).encode()))
    # Envoy's connection manager adds these before any filter runs (the sidecar does the same).
    if b"x-forwarded-proto" not in names:
        regular.append((b"x-forwarded-proto", pseudo[b":scheme"]))
    if b"x-request-id" not in names:
        regular.append((b"x-request-id", str(uuid.UUID(int=rng.getrandbits(128), version=4)).encode()))
    headers = [(b":authority", pseudo[b":authority"]), (b":path", pseudo[b":path"]),
               (b":method", pseudo[b":method"]), (b":scheme", pseudo[b":scheme"]), *regular]
    if not 100 <= args.response_status <= 599:
        raise UsageError(f"--response-status {args.response_status}: not an HTTP status (100-599)")
    response_body = read_bytes_arg(args.response_body, "--response-body")
    rh = [(b":status", str(args.response_status).encode())]
    rnames: set[bytes] = set()
    for h in args.response_header:
        name, value = parse_header(h, "--response-header")
        if name.startswith(b":"):
            raise UsageError(f"--response-header {h!r}: use --response-status for :status")
        rh.append((name, value))
        rnames.add(name)
    if b"content-length" not in rnames and b"transfer-encoding" not in rnames:
        rh.append((b"content-length", str(len(response_body)).encode()))
    return RequestSpec(headers, body, rh, response_body)


def _plugin_name(path: Path, explicit: str | None) -> str:
    if explicit:
        return explicit
    if path.stem in ("plugin", "main", "module") and path.parent.name:
        return path.parent.name
    return path.stem


# --- the command ---------------------------------------------------------------------------------


def run_command(args: argparse.Namespace) -> int:
    from wasmplugin.abi.enums import LogLevel
    from wasmplugin.abi.headers import HeaderMap
    from wasmplugin.chain.canned import CannedUpstreams, parse_upstream
    from wasmplugin.chain.exchange import push
    from wasmplugin.chain.runtime import FailStrategy
    from wasmplugin.errors import WasmPluginError
    from wasmplugin.host.api import HostServices
    from wasmplugin.host.logsink import CollectingLogSink
    from wasmplugin.host.metrics import MetricsRegistry
    from wasmplugin.host.scheduling import VirtualClock, VirtualScheduler
    from wasmplugin.host.shared import SharedData, SharedQueues
    from wasmplugin.limits import DEFAULT_LIMITS

    if args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    if args.plugin is None and args.config_dir is None:
        raise UsageError("run needs --plugin P.wasm, or -f DIR --workload NS/NAME")
    if args.plugin is not None and args.config_dir is not None:
        raise UsageError("run takes --plugin or -f DIR, not both")
    if args.config_dir is not None and not args.workload:
        raise UsageError("-f DIR needs --workload NS/NAME")
    try:
        level = LogLevel.parse(args.log_level)
    except KeyError:
        raise UsageError(
            f"--log-level {args.log_level!r}: use trace, debug, info, warn, error or critical"
        ) from None
    rng = random.Random(0)
    spec = build_request(args, rng)
    answers = dict(parse_upstream(u) for u in args.upstream)
    env: list[tuple[str, str]] = []
    for kv in args.env:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise UsageError(f"--env {kv!r}: expected K=V")
        env.append((k, v))

    overrides: dict[str, Any] = {}
    if args.deadline_ms is not None:
        overrides["callback_deadline_ms"] = args.deadline_ms
    if args.memory_limit_mib is not None:
        overrides["vm_memory_bytes"] = args.memory_limit_mib * 1024 * 1024
    limits = DEFAULT_LIMITS.with_overrides(**overrides) if overrides else DEFAULT_LIMITS

    clock = VirtualClock()
    scheduler = VirtualScheduler(clock)
    logs = CollectingLogSink(level)
    upstreams = CannedUpstreams(answers, scheduler)
    services = HostServices(
        clock=clock,
        scheduler=scheduler,
        log=logs,
        http=upstreams,
        shared_data=SharedData(),
        shared_queues=SharedQueues(),
        metrics=MetricsRegistry(),
        limits=limits,
    )
    from wasmplugin.host.runtime import WasmRuntime

    wasm_runtime = WasmRuntime(limits)
    results: list[dict[str, Any]] = []
    exit_code = EXIT_OK
    try:
        if args.plugin is not None:
            chain, load_errors = _single_plugin_chain(args, services, wasm_runtime, env, FailStrategy)
        else:
            chain, load_errors = _workload_chain(args, services, wasm_runtime)
        try:
            for i in range(args.repeat):
                if i and args.interval > 0:
                    scheduler.advance(args.interval)
                if i:
                    logs.clear()  # the first result also shows start-up logs (on_configure)
                n_calls = len(upstreams.calls)
                ex = push(chain, scheduler, HeaderMap(spec.headers), spec.body,
                          HeaderMap(spec.response_headers), spec.response_body)
                error: WasmPluginError | None = ex.stream.error
                if error is None and i == 0 and load_errors:
                    error = load_errors[0]
                if error is not None:
                    exit_code = EXIT_PLUGIN_FAILED
                results.append(_result(ex, logs, upstreams.calls[n_calls:], error))
        finally:
            chain.close()
    finally:
        wasm_runtime.close()
    if args.output == "json":
        doc: Any = results[0] if len(results) == 1 else results
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for i, r in enumerate(results):
            if len(results) > 1:
                print(f"=== request {i + 1} ===")
            _print_text(r)
    return exit_code


def _single_plugin_chain(
    args: argparse.Namespace, services: Any, wasm_runtime: Any, env: list[tuple[str, str]], fs: Any
) -> tuple[Any, list[Any]]:
    from wasmplugin.chain.build import PluginToLoad, build_chain
    from wasmplugin.errors import ModuleLoadError
    from wasmplugin.host.settings import PluginSettings

    path = Path(args.plugin)
    name = _plugin_name(path, args.name)
    settings = PluginSettings(
        name=name,
        root_id=args.root_id,
        configuration=read_bytes_arg(args.config, "--config"),
        vm_configuration=read_bytes_arg(args.vm_config, "--vm-config"),
        env=tuple(env),
    )
    strategy = fs.parse(args.fail_strategy)
    try:
        wasm: bytes | None = path.read_bytes()
        error = None
    except OSError as exc:
        wasm = None
        error = ModuleLoadError(f"cannot read {path}: {exc.strerror}", plugin=name)
    item = PluginToLoad(settings, wasm, strategy, error, source=str(path))
    built = build_chain([item], wasm_runtime=wasm_runtime, services=services, reject_start_failure=False)
    return built.chain, list(built.errors)


def _workload_chain(args: argparse.Namespace, services: Any, wasm_runtime: Any) -> tuple[Any, list[Any]]:
    try:
        from wasmplugin.chain.workload import build_workload_chain
    except ImportError:
        raise UsageError("run -f DIR --workload is not available in this build yet") from None
    return build_workload_chain(
        args.config_dir, args.workload, direction=args.direction, port=args.port,
        services=services, wasm_runtime=wasm_runtime,
    )


# --- output --------------------------------------------------------------------------------------


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _pairs(headers: Any) -> list[list[str]]:
    return [[_text(k), _text(v)] for k, v in headers]


def _result(ex: Any, logs: Any, calls: list[Any], error: Any) -> dict[str, Any]:
    from wasmplugin.chain.local_reply import build_local_reply
    from wasmplugin.host.logsink import LEVEL_NAMES

    up = ex.upstream_request
    request: dict[str, Any] | None = None
    if up is not None:
        request = {"headers": _pairs(up.headers), "body": _text(up.body)}
    if request is not None and up.trailers is not None:
        request["trailers"] = _pairs(up.trailers)
    lr = ex.stream.local_reply_sent
    local_reply = None
    if lr is not None:
        h, _body = build_local_reply(lr, grpc=ex.stream.grpc)
        local_reply = {
            "status": lr.status,
            "headers": [p for p in _pairs(h) if p[0] != ":status"],
            "body": _text(lr.body),
            "details": lr.details,
        }
    rs = ex.response
    response: dict[str, Any] | None = None
    if rs is not None:
        status = rs.headers.get(b":status")
        response = {
            "status": int(status) if status is not None and status.isdigit() else None,
            "headers": [p for p in _pairs(rs.headers) if p[0] != ":status"],
            "body": _text(rs.body),
        }
        if rs.trailers is not None:
            response["trailers"] = _pairs(rs.trailers)
    result: dict[str, Any] = {
        "request": request,
        "local_reply": local_reply,
        "response": response,
        "logs": [
            {"plugin": e.plugin, "level": LEVEL_NAMES[e.level], "message": e.message} for e in logs.entries
        ],
        "http_calls": [
            {"plugin": c.plugin, "upstream": c.cluster, "headers": _pairs(c.headers), "body": _text(c.body)}
            for c in calls
        ],
        "error": None if error is None else str(error),
    }
    if ex.reset is not None:
        result["reset"] = ex.reset
    return result


def _print_text(r: dict[str, Any]) -> None:
    out = sys.stdout.write
    rq = r["request"]
    if rq is None:
        out("upstream: not called (the request did not leave the chain)\n")
    else:
        out("upstream received:\n")
        for k, v in rq["headers"]:
            out(f"  > {k}: {v}\n")
        if rq["body"]:
            out(f"  > \n  > {rq['body']}\n")
    lr = r["local_reply"]
    if lr is not None:
        out(f"local reply: {lr['status']} details={lr['details']}\n")
    rs = r["response"]
    if rs is None:
        out(f"client received: connection reset ({r.get('reset', 'no response')})\n")
    else:
        out(f"client received: {rs['status']}\n")
        for k, v in rs["headers"]:
            out(f"  < {k}: {v}\n")
        if rs["body"]:
            out(f"  < \n  < {rs['body']}\n")
    for c in r["http_calls"]:
        method = next((v for k, v in c["headers"] if k == ":method"), "?")
        p = next((v for k, v in c["headers"] if k == ":path"), "?")
        out(f"http_call: {c['plugin']} -> {c['upstream']} {method} {p}\n")
    for e in r["logs"]:
        out(f"[{e['plugin']}] {e['level']}: {e['message']}\n")
    if r["error"]:
        out(f"error: {r['error']}\n")
