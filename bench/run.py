#!/usr/bin/env python3
"""Sidecar throughput: wrk against 127.0.0.1, side by side in one run.

Targets, each measured with the same wrk settings:

* ``direct``      wrk → upstream (nginx ``return 200``, the cheap upstream every proxy forwards to)
* ``nginx``       wrk → nginx reverse proxy (keep-alive upstream pool) → upstream
* ``sidecar``     wrk → ``wasmplugin serve`` inbound listener, no plugin → upstream
* ``header-mod``  the same with the blog's header-modifier (STATS phase)
* ``4-phases``    the same with one plugin in each phase (AUTHN, AUTHZ, STATS, UNSPECIFIED_PHASE;
                  four header-modifier instances, each adding its own request and response header)

Pinning (``taskset``): the proxy under test runs alone on core 1; wrk and the upstream share core 0,
so proxies are compared per core. Besides requests/s the table shows the proxy's CPU time per
request (user + system time from /proc over the requests wrk completed), which is much less
sensitive than requests/s to other jobs on a shared machine: they take CPU away from the proxy
(fewer requests/s) without changing what one request costs it.

Made for a noisy machine: every target is started first, then measured in interleaved rounds (the
order rotates from round to round), and the table shows medians, with the spread of the CPU
column across rounds; each round's figures are printed as they come. The load average before and
after goes into the table's header line. Everything runs on 127.0.0.1 and stops by itself.

Usage: ``python bench/run.py [--duration 5] [--rounds 3] [--connections 50] [--only ...]
[--no-write]``; ``make bench`` runs it and rewrites the "Sidecar throughput" section of
docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER_MODIFIER = ROOT / "plugins" / "header-modifier" / "plugin.wasm"
DOC = ROOT / "docs" / "performance.md"
BEGIN = "<!-- sidecar-bench:begin -->"
END = "<!-- sidecar-bench:end -->"
PROXY_CORE = "1"
LOAD_CORE = "0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def pinned(core: str, argv: list[str]) -> list[str]:
    return (["taskset", "-c", core] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []) + argv


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:  # pragma: no cover - not Linux
        return "?"


def nginx_bin() -> str:
    for cand in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if cand and Path(cand).exists():
            return cand
    sys.exit("nginx not found: run `make system-deps` (scripts/ensure-system-deps.sh installs nginx-light)")


NGINX_COMMON = """worker_processes 1; daemon off; master_process off;
pid {dir}/{name}.pid; error_log {dir}/{name}.err warn;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
{body}
}}
"""


def nginx_upstream_conf(d: Path, port: int) -> Path:
    body = f'  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok\\n"; }} }}'
    p = d / "upstream.conf"
    p.write_text(NGINX_COMMON.format(dir=d, name="upstream", body=body))
    return p


def nginx_proxy_conf(d: Path, port: int, upstream: int) -> Path:
    body = (
        f"  upstream app {{ server 127.0.0.1:{upstream}; keepalive 256; keepalive_requests 10000000; }}\n"
        f"  server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://app; "
        f'proxy_http_version 1.1; proxy_set_header Connection ""; }} }}'
    )
    p = d / "proxy.conf"
    p.write_text(NGINX_COMMON.format(dir=d, name="proxy", body=body))
    return p


MESH = """apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: app, namespace: bench}}
spec:
  address: 127.0.0.1
  labels: {{app: app}}
  ports: {{http: {port}}}
"""

PLUGIN = """---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {{name: {name}, namespace: bench}}
spec:
  selector: {{matchLabels: {{app: app}}}}
  url: file://{wasm}
  phase: {phase}
  match: [{{mode: SERVER}}]
  pluginConfig:
    request_headers: [{{name: x-{name}, value: "1"}}]
    response_headers: [{{name: x-{name}-resp, value: "1"}}]
    enable_logging: false
    log_level: warn
"""


#: The sidecar targets' plugins, (name, phase) each: shared by bench/proxy_path.py and
#: bench/profile_sidecar.py so every benchmark measures the same meshes.
PLUGIN_SETS: dict[str, list[tuple[str, str]]] = {
    "none": [],
    "header-mod": [("header-modifier", "STATS")],
    "4-phases": [
        ("p-authn", "AUTHN"),
        ("p-authz", "AUTHZ"),
        ("p-stats", "STATS"),
        ("p-unspecified", "UNSPECIFIED_PHASE"),
    ],
}


def sidecar_dir(d: Path, upstream: int, plugins: list[tuple[str, str]]) -> Path:
    out = d / ("mesh-" + ("-".join(n for n, _ in plugins) or "none"))
    out.mkdir()
    text = MESH.format(port=upstream)
    for name, phase in plugins:
        text += PLUGIN.format(name=name, phase=phase, wasm=HEADER_MODIFIER)
    (out / "mesh.yaml").write_text(text)
    return out


@dataclass
class Sample:
    """One wrk run against one target."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    #: Proxy CPU µs per request (user + system) and its user part; None without a proxy process.
    cpu_us: float | None
    user_us: float | None


@dataclass
class Result:
    """One target over all rounds: medians, errors summed, the CPU range."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float | None
    cpu_min: float | None
    cpu_max: float | None


def parse_latency(text: str, pct: str) -> float:
    m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v


def wrk(port: int, duration: int, connections: int) -> tuple[str, float]:
    argv = pinned(
        LOAD_CORE,
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", f"http://127.0.0.1:{port}/"],
    )
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return out, float(m.group(1)) if m else 0.0


def measure_once(port: int, pid: int | None, duration: int, connections: int) -> Sample:
    u0, s0 = cpu_seconds(pid) if pid else (0.0, 0.0)
    out, rps = wrk(port, duration, connections)
    u1, s1 = cpu_seconds(pid) if pid else (0.0, 0.0)
    errors = sum(int(m.group(1)) for m in re.finditer(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    done = re.search(r"(\d+) requests in", out)
    total = int(done.group(1)) if done else rps * duration
    cpu_us = user_us = None
    if pid and total:
        cpu_us = ((u1 - u0) + (s1 - s0)) / total * 1e6
        user_us = (u1 - u0) / total * 1e6
    return Sample(rps, parse_latency(out, "50"), parse_latency(out, "99"), errors, cpu_us, user_us)


def median(xs: list[float]) -> float:
    ys = sorted(xs)
    n = len(ys)
    return ys[n // 2] if n % 2 else (ys[n // 2 - 1] + ys[n // 2]) / 2


class Proc:
    def __init__(self, argv: list[str], **kw: object) -> None:
        self.p = subprocess.Popen(argv, **kw)  # type: ignore[call-overload]

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def start_sidecar(mesh: Path, d: Path) -> tuple[Proc, int]:
    exe = [
        sys.executable,
        "-m",
        "wasmplugin",
        "serve",
        "-f",
        str(mesh),
        "--workload",
        "bench/app",
        "--inbound-port",
        "0",
        "--outbound-port",
        "0",
        "--admin-port",
        "0",
        "--log-level",
        "warning",
        "--no-watch",
    ]
    log = (d / f"{mesh.name}.log").open("w")
    proc = Proc(pinned(PROXY_CORE, exe), stdout=subprocess.PIPE, stderr=log, text=True)
    assert proc.p.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.p.stdout.readline()
        if not line:
            break
        m = re.match(r"ready inbound=[\d.]+:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    proc.stop()
    raise RuntimeError(f"sidecar did not start; see {d / (mesh.name + '.log')}")


def render(results: list[Result], args: argparse.Namespace, command: str, load: tuple[str, str]) -> str:
    nginx = next((r.rps for r in results if r.name.startswith("nginx")), 0.0)
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} ({os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}), wrk 1 thread, "
        f"{args.connections} connections; {args.rounds} interleaved rounds of {args.duration} s per target "
        "(medians shown; errors summed), after a 1 s warm-up. "
        f"Load average {load[0]} before, {load[1]} after.",
        "Upstream: nginx `return 200` (core 0, shared with wrk); each proxy pinned alone to core 1. "
        "CPU = the proxy process's user + system time per request (median, and the range over rounds).",
        "",
        "| target | requests/s | vs nginx | p50 ms | p99 ms | errors | proxy CPU µs/request | (range) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        share = f"{r.rps / nginx * 100:.0f}%" if nginx and not r.name.startswith("direct") else "—"
        cpu = f"{r.cpu_us:.0f}" if r.cpu_us is not None else "—"
        spread = "—"
        if r.cpu_min is not None and r.cpu_max is not None:
            spread = f"{r.cpu_min:.0f}–{r.cpu_max:.0f}"
        lines.append(
            f"| {r.name} | {r.rps:,.0f} | {share} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {cpu} "
            f"| {spread} |"
        )
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines) + "\n"


def write_doc(table: str) -> None:
    section = f"## Sidecar throughput\n\n{BEGIN}\n{table}{END}\n"
    text = DOC.read_text() if DOC.exists() else "# Performance\n\n"
    if BEGIN in text and END in text:
        start = text.index(BEGIN)
        end = text.index(END) + len(END)
        text = text[:start] + f"{BEGIN}\n{table}{END}" + text[end:]
    elif "## Sidecar throughput" in text:
        text = text.replace("## Sidecar throughput\n", section, 1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--duration", type=int, default=5, help="seconds of load per target and round (default 5)"
    )
    ap.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; the table shows medians (default 3)"
    )
    ap.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    ap.add_argument(
        "--only", default="", help="comma-separated subset: direct,nginx,sidecar,header-mod,4-phases"
    )
    ap.add_argument("--no-write", action="store_true", help="print only; do not update docs/performance.md")
    args = ap.parse_args()
    if args.rounds < 1 or args.duration < 1:
        sys.exit("--rounds and --duration must be at least 1")
    for tool in ("wrk",):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: run `make system-deps`")
    if not HEADER_MODIFIER.exists():
        sys.exit(f"{HEADER_MODIFIER} missing: run `make plugins`")
    only = set(filter(None, args.only.split(",")))

    def want(n: str) -> bool:
        return not only or n in only

    nginx = nginx_bin()
    load_before = load_average()
    procs: list[Proc] = []
    # (key, label, port, pid): every target is started first, then measured in interleaved rounds
    # (A B C D E, B C D E A, ...) so that changes in background load hit every target alike.
    targets: list[tuple[str, str, int, int | None]] = []
    with tempfile.TemporaryDirectory(prefix="wasmplugin-bench-") as tmp:
        d = Path(tmp)
        try:
            up_port = free_port()
            up = Proc(pinned(LOAD_CORE, [nginx, "-c", str(nginx_upstream_conf(d, up_port))]))
            procs.append(up)
            wait_port(up_port)
            if want("direct"):
                targets.append(("direct", "direct to upstream", up_port, None))
            if want("nginx"):
                px_port = free_port()
                px = Proc(pinned(PROXY_CORE, [nginx, "-c", str(nginx_proxy_conf(d, px_port, up_port))]))
                procs.append(px)
                wait_port(px_port)
                targets.append(("nginx", "nginx reverse proxy", px_port, px.p.pid))
            variants = [
                ("sidecar", "sidecar, no plugin", PLUGIN_SETS["none"]),
                ("header-mod", "sidecar, header-modifier (STATS)", PLUGIN_SETS["header-mod"]),
                ("4-phases", "sidecar, 4 plugins (one per phase)", PLUGIN_SETS["4-phases"]),
            ]
            for key, label, plugins in variants:
                if want(key):
                    proc, port = start_sidecar(sidecar_dir(d, up_port, plugins), d)
                    procs.append(proc)
                    targets.append((key, label, port, proc.p.pid))
            samples: dict[str, list[Sample]] = {k: [] for k, *_ in targets}
            for _, _, port, _ in targets:
                wrk(port, 1, args.connections)  # warm-up: connections, pools, caches
            for r in range(args.rounds):
                # Rotate the order so that no target always runs right after the same neighbour.
                shift = r % len(targets)
                for key, label, port, pid in targets[shift:] + targets[:shift]:
                    sample = measure_once(port, pid, args.duration, args.connections)
                    samples[key].append(sample)
                    cpu = ""
                    if sample.cpu_us is not None and sample.user_us is not None:
                        cpu = f", {sample.cpu_us:.0f} µs CPU/request (user {sample.user_us:.0f})"
                    rps = f"{sample.rps:,.0f} requests/s"
                    print(f"round {r + 1}/{args.rounds}: {label}: {rps}{cpu}", flush=True)
        finally:
            for p in procs:
                p.stop()
    load_after = load_average()
    results = []
    for key, label, _, _pid in targets:
        xs = samples[key]
        cpu = [x.cpu_us for x in xs if x.cpu_us is not None]
        results.append(
            Result(
                label,
                median([x.rps for x in xs]),
                median([x.p50_ms for x in xs]),
                median([x.p99_ms for x in xs]),
                sum(x.errors for x in xs),
                median(cpu) if cpu else None,
                min(cpu) if cpu else None,
                max(cpu) if cpu else None,
            )
        )
    command = "make bench  # = .venv/bin/python bench/run.py " + " ".join(sys.argv[1:])
    table = render(results, args, command.strip(), (load_before, load_after))
    print()
    print(table)
    if not args.no_write and not only:
        write_doc(table)
        print(f"updated {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
