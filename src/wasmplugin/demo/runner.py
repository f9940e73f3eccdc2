"""``wasmplugin demo`` put together: services, run directory, sidecar child, scenario, output.

Order of events: read and validate ``examples/demo`` → generate keys → start the local services →
write the run copy of the mesh → start ``wasmplugin serve`` on it → send the cases one by one →
print the table, the chain (``wasmplugin proxy-config wasm``) and the plugin metrics → with
``--once`` stop here, otherwise print curl commands and serve until Ctrl-C. Whatever happens,
:meth:`Demo.close` stops the sidecar and the services and removes a temporary run directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from wasmplugin.demo import httpclient
from wasmplugin.demo.mesh import DemoMesh, DemoSource, find_repo_dir
from wasmplugin.demo.report import render
from wasmplugin.demo.scenario import Case, Exchange, Outcome, PluginCounters, demo_cases
from wasmplugin.demo.services import DemoServices
from wasmplugin.demo.sidecar import SidecarChild, SidecarPorts
from wasmplugin.demo.tokens import TokenIssuer
from wasmplugin.errors import DemoError

EXIT_OK = 0
EXIT_CASE_FAILED = 1
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class DemoOptions:
    examples: Path | None = None
    plugins: Path | None = None
    #: Kept after the demo when given; a temporary directory otherwise.
    run_dir: Path | None = None
    host: str = "127.0.0.1"
    inbound_port: int = 0
    outbound_port: int = 0
    admin_port: int = 0
    once: bool = False
    #: Time allowed for the sidecar to fetch, compile and start the five modules.
    start_timeout_s: float = 600.0
    request_timeout_s: float = 30.0
    log_level: str = "info"
    #: Lifetime of the token printed with the curl commands.
    curl_token_lifetime_s: int = 24 * 3600


@dataclass
class Demo:
    options: DemoOptions
    out: TextIO = field(default_factory=lambda: sys.stdout)
    services: DemoServices | None = None
    sidecar: SidecarChild | None = None
    issuer: TokenIssuer | None = None
    mesh: DemoMesh | None = None
    ports: SidecarPorts | None = None
    run_dir: Path | None = None
    temporary_run_dir: bool = False
    #: Keep the run directory (a case failed, or the user gave it).
    keep_run_dir: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    #: Plugin names in chain order (inbound), as the sidecar loaded them.
    chain: list[str] = field(default_factory=list)

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    # -- setup -------------------------------------------------------------------------------------
    async def start(self) -> None:
        o = self.options
        examples = find_repo_dir("examples/demo", o.examples)
        plugins = find_repo_dir("plugins", o.plugins)
        source = DemoSource.load(examples, plugins)
        facts = source.facts
        self.say(f"wasmplugin demo: the blog's mesh from {examples}")
        self.issuer = TokenIssuer.generate(facts.issuer, facts.audience)
        self.services = DemoServices(
            self.issuer,
            plugins,
            frozenset(m.module for m in source.modules),
            host=o.host,
            jwks_path=facts.jwks_path,
        )
        await self.services.start()
        s = self.services
        self.say(f"  api-gateway  {s.app.url}  the workload (echoes what it receives)")
        self.say(f"  jwks         {s.jwks.url}{facts.jwks_path}  RS256 + ES256 keys of {facts.issuer}")
        self.say(f"  policy       {s.policy.url}  rule table for rbac-enforcer")
        self.say(
            f"  modules      {s.module_server.url}  plugins/<name>/plugin.wasm, sha256-pinned in the YAML"
        )
        if o.run_dir is not None:
            self.run_dir = o.run_dir.resolve()
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.keep_run_dir = True
        else:
            self.run_dir = Path(tempfile.mkdtemp(prefix="wasmplugin-demo-"))
            self.temporary_run_dir = True
        ports = {
            "api-gateway": s.app.port,
            "jwks": s.jwks.port,
            "policy": s.policy.port,
            "modules": s.module_server.port,
        }
        self.mesh = source.write(self.run_dir, ports, o.host)
        self.sidecar = SidecarChild(
            self.mesh.directory,
            self.mesh.workload,
            log_path=self.run_dir / "sidecar.log",
            cache_dir=self.run_dir / "cache",
            host=o.host,
            inbound_port=o.inbound_port,
            outbound_port=o.outbound_port,
            admin_port=o.admin_port,
            log_level=o.log_level,
        )
        self.say()
        self.say(f"Starting the sidecar of {self.mesh.workload} on {self.mesh.directory}")
        self.say(f"  $ wasmplugin {shlex.join(self.sidecar.args)}")
        started = time.monotonic()
        pid = await self.sidecar.spawn()
        count = len(self.mesh.modules)
        self.say(f"  pid {pid}: fetching and compiling {count} modules (the Go ones take a while)")
        self.ports = await self.sidecar.wait_ready(o.start_timeout_s)
        p = self.ports
        self.say(
            f"  ready in {time.monotonic() - started:.1f}s: inbound {p.host}:{p.inbound}  "
            f"outbound {p.host}:{p.outbound}  admin {p.host}:{p.admin}  (log: {self.sidecar.log_path})"
        )
        served = sum(s.modules.served.values())
        self.say(f"  modules fetched over http:// and verified against their sha256: {served}")
        self.chain = await self._chain_order()

    async def _admin_get(self, path: str) -> str:
        assert self.ports is not None
        reply = await httpclient.request(
            self.ports.host, self.ports.admin, "GET", path, timeout_s=self.options.request_timeout_s
        )
        if reply.status != 200:
            raise DemoError(f"admin {path}: HTTP {reply.status}: {reply.text.strip()[:200]}")
        return reply.text

    async def _chain_order(self) -> list[str]:
        """The inbound chain as the running sidecar reports it (admin /config_dump); plugins it
        could not load are reported (they answer 403 under FAIL_CLOSE)."""
        from wasmplugin.config.plan import PlanFormatError, plan_from_config_dump

        text = await self._admin_get("/config_dump")
        try:
            dump = json.loads(text)
            plan = plan_from_config_dump(dump)
        except (ValueError, PlanFormatError) as exc:
            raise DemoError(f"admin /config_dump: {exc}") from None
        if not plan.inbound:
            raise DemoError(f"the sidecar has no inbound chain for {plan.workload.ref}")
        for record in loaded_plugins(dump):
            if record.get("direction") == "inbound" and record.get("state") != "ready":
                self.say(f"  warning: {record.get('name')} is not loaded: {record.get('error')}")
        return [e.plugin_name for e in plan.inbound[0].http]

    # -- the scenario --------------------------------------------------------------------------------
    def token_for(self, case: Case) -> str | None:
        assert self.issuer is not None
        spec = case.token
        if spec is None:
            return None
        from wasmplugin.demo.scenario import USERS

        now = int(time.time())
        return self.issuer.mint(
            spec.user,
            USERS.get(spec.user, ()),
            alg=spec.alg,
            audience=spec.audience,
            issued_at=now - 7200 if spec.expired else now,
            lifetime_s=3600,
        )

    async def counters(self) -> PluginCounters:
        return PluginCounters.parse(await self._admin_get("/stats"))

    async def run_case(self, case: Case) -> Outcome:
        assert self.ports is not None
        token = self.token_for(case)
        headers = [("authorization", f"Bearer {token}")] if token else []
        body = b'{"demo":true}' if case.method in ("POST", "PUT") else b""
        if body:
            headers.append(("content-type", "application/json"))
        exchanges: list[Exchange] = []
        before = await self.counters()
        for _ in range(case.burst):
            reply = await httpclient.request(
                self.ports.host,
                self.ports.inbound,
                case.method,
                case.path,
                headers,
                body,
                timeout_s=self.options.request_timeout_s,
            )
            after = await self.counters()
            exchanges.append(Exchange(reply.status, reply.headers, reply.body, after.minus(before)))
            before = after
            if case.burst > 1 and reply.status != 200:
                break
        return Outcome(case, tuple(exchanges))

    async def run_scenario(self) -> list[Outcome]:
        assert self.mesh is not None
        cases = demo_cases(self.mesh.facts)
        self.say()
        self.say(f"Sending {len(cases)} cases to the inbound listener (SERVER mode):")
        self.say()
        for case in cases:
            self.outcomes.append(await self.run_case(case))
        self.say(render(self.outcomes, self.chain))
        return self.outcomes

    # -- what else to look at --------------------------------------------------------------------------
    async def show_chain(self) -> None:
        """``wasmplugin proxy-config wasm`` against the running sidecar, as a user would run it."""
        assert self.ports is not None
        args = ["proxy-config", "wasm", "--admin", self.ports.admin_address, "--direction", "inbound"]
        self.say()
        self.say("The chain, as the sidecar loaded it:")
        self.say(f"$ wasmplugin {shlex.join(args)}")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wasmplugin", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(proc.communicate(), self.options.request_timeout_s)
        self.say(output.decode("utf-8", "replace").rstrip())

    async def show_metrics(self) -> None:
        assert self.ports is not None and self.mesh is not None
        admin = self.ports.admin_address
        prom = await self._admin_get("/stats/prometheus")
        lines = [line for line in prom.splitlines() if line.startswith("custom_api_requests_total")]
        self.say()
        self.say(f"Metrics at http://{admin}/stats/prometheus, custom-metrics' request counter:")
        self.say(f"$ curl -s http://{admin}/stats/prometheus | grep ^custom_api_requests_total")
        for line in lines or ["(none)"]:
            self.say(f"  {line}")
        self.say(
            "  also there: custom_api_request_duration_seconds_bucket{method,status,le}, the sidecar's "
            "envoy_wasm_filter_* per-plugin counters; /stats has the Envoy text form"
        )

    def show_curl(self) -> None:
        assert self.ports is not None and self.issuer is not None and self.mesh is not None
        from wasmplugin.demo.scenario import USERS

        p = self.ports
        base = f"http://{p.host}:{p.inbound}"
        token = self.issuer.mint("alice", USERS["alice"], lifetime_s=self.options.curl_token_lifetime_s)
        rule = self.mesh.facts.burst_rule
        hours = self.options.curl_token_lifetime_s // 3600
        self.say()
        self.say(f"The mesh keeps serving. Try it (alice's RS256 token, valid {hours}h):")
        self.say(f"  export TOKEN={token}")
        self.say(f"  curl -i {base}/health")
        self.say(f"  curl -i {base}/api/v1/orders                                  # 401")
        self.say(
            f'  curl -i -H "Authorization: Bearer $TOKEN" {base}/api/v1/orders  # 200, see the echoed headers'
        )
        self.say(f'  curl -i -X DELETE -H "Authorization: Bearer $TOKEN" {base}/api/v1/orders/1   # 403')
        self.say(
            f'  curl -i -X POST -H "Authorization: Bearer $TOKEN" {base}/api/v1/upload     '
            f"# {rule.limit} per {rule.window_s}s (the burst used them up)"
        )
        self.say(f"  curl -s http://{p.admin_address}/stats/prometheus | grep custom_api")
        self.say(f"  curl -s -X POST 'http://{p.admin_address}/logging?wasm=debug'     # plugin debug logs")
        self.say(f"  wasmplugin proxy-config wasm --admin {p.admin_address}")
        assert self.sidecar is not None
        self.say(
            f"Sidecar log: {self.sidecar.log_path}   Mesh: {self.mesh.directory} (edits are hot-reloaded)"
        )
        self.say("Press Ctrl-C to stop.")

    # -- teardown ---------------------------------------------------------------------------------------
    async def close(self) -> None:
        if self.sidecar is not None:
            await self.sidecar.stop()
        if self.services is not None:
            await self.services.close()
        if self.run_dir is not None and self.temporary_run_dir and not self.keep_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        elif self.run_dir is not None:
            self.say(f"Run directory kept: {self.run_dir}")

    def kill_now(self) -> None:
        """A second Ctrl-C while closing: do not wait for the sidecar to drain."""
        if self.sidecar is not None and self.sidecar.process is not None and self.sidecar.running:
            with contextlib.suppress(ProcessLookupError):
                self.sidecar.process.kill()


def loaded_plugins(dump: object) -> list[dict[str, object]]:
    """The sidecar's per-plugin load records (``configs[].plugins`` of wasmplugin's section)."""
    configs = dump.get("configs") if isinstance(dump, dict) else None
    for section in configs if isinstance(configs, list) else []:
        plugins = section.get("plugins") if isinstance(section, dict) else None
        if isinstance(plugins, list):
            return [p for p in plugins if isinstance(p, dict)]
    return []


async def run_demo(options: DemoOptions, out: TextIO | None = None) -> int:
    demo = Demo(options, out or sys.stdout)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stop = asyncio.Event()
    phase = {"name": "starting"}

    def on_signal() -> None:
        if phase["name"] == "serving":
            stop.set()
        elif phase["name"] == "closing":
            demo.kill_now()
        else:
            task.cancel()

    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
    try:
        await demo.start()
        outcomes = await demo.run_scenario()
        failed = not all(o.ok for o in outcomes)
        await demo.show_chain()
        await demo.show_metrics()
        if failed:
            demo.keep_run_dir = True
        if options.once:
            return EXIT_CASE_FAILED if failed else EXIT_OK
        demo.show_curl()
        phase["name"] = "serving"
        assert demo.sidecar is not None and demo.sidecar.process is not None
        exited = asyncio.ensure_future(demo.sidecar.process.wait())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({exited, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if exited.done():
            exited.result()
            demo.keep_run_dir = True
            raise DemoError(
                f"the sidecar exited (code {demo.sidecar.process.returncode}): {demo.sidecar.last_error()}"
            )
        exited.cancel()
        demo.say()
        demo.say("Stopping.")
        return EXIT_CASE_FAILED if failed else EXIT_OK
    except asyncio.CancelledError:
        demo.say()
        demo.say("Interrupted; stopping.")
        return EXIT_INTERRUPTED
    finally:
        phase["name"] = "closing"
        await demo.close()
        for sig in installed:
            loop.remove_signal_handler(sig)


def main(
    options: DemoOptions,
    out: TextIO | None = None,
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> int:
    """Run the demo on a fresh event loop (uvloop when available)."""
    if loop_factory is None:
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:  # pragma: no cover - uvloop is a dependency
            loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(run_demo(options, out))
