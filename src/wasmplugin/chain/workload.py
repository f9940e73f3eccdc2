"""A workload's whole chain for one direction/port: ``ChainPlan`` (config) + fetched modules (fetch)
→ ``FilterChain`` (chain + host). Used by ``wasmplugin run -f DIR --workload NS/NAME``; the sidecar
builds per-port chains the same way through :func:`plan_items` and ``chain.build.build_chain``.

Free of asyncio: fetching blocks (the sidecar calls this from a worker thread or at startup).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmplugin.chain.api import Direction
from wasmplugin.chain.build import PluginToLoad, build_chain
from wasmplugin.chain.chain import FilterChain
from wasmplugin.chain.runtime import FailStrategy
from wasmplugin.errors import ConfigError, UsageError, WasmPluginError
from wasmplugin.host.api import HostServices

if TYPE_CHECKING:
    from wasmplugin.config.plan import PlanEntry
    from wasmplugin.fetch.fetcher import ModuleFetcher
    from wasmplugin.host.runtime import WasmRuntime


def plan_items(
    entries: tuple[PlanEntry, ...], fetcher: ModuleFetcher, *, base_dir: Path | None = None
) -> list[PluginToLoad]:
    """Fetch each plan entry; a fetch failure becomes a ``PluginToLoad`` without bytes (the chain
    then stands in deny-all / allow-all per failStrategy, as istio-agent does)."""
    from wasmplugin.host.settings import PluginSettings

    items: list[PluginToLoad] = []
    for e in entries:
        values, host_keys = e.reveal_environment()
        env = dict(values)
        for key in host_keys:  # Envoy host_env_keys: from the proxy's own environment
            if key in os.environ:
                env[key] = os.environ[key]
        settings = PluginSettings(
            name=e.plugin_name, root_id=e.root_id, configuration=e.configuration, env=tuple(env.items())
        )
        try:
            strategy = FailStrategy.parse(e.fail_strategy or "FAIL_CLOSE")
        except KeyError:
            strategy = FailStrategy.FAIL_CLOSE
        secret = e.image_pull_secret
        try:
            fetched = fetcher.get(
                e.url,
                sha256=e.sha256 or None,
                pull_policy=e.image_pull_policy,
                pull_secret=(secret.dockerconfigjson.reveal() or b"") if secret is not None else None,
                pull_secret_name=secret.name if secret is not None else None,
                resource_name=e.ref,
                resource_version=e.resource_version,
                base_dir=base_dir,
            )
            items.append(PluginToLoad(settings, fetched.read_bytes(), strategy, source=e.url))
        except WasmPluginError as err:
            items.append(PluginToLoad(settings, None, strategy, err, source=e.url))
    return items


def build_workload_chain(
    config_dir: str,
    workload: str,
    *,
    direction: str = "inbound",
    port: int | None = None,
    services: HostServices,
    wasm_runtime: WasmRuntime,
    fetcher: ModuleFetcher | None = None,
) -> tuple[FilterChain, list[Any]]:
    """The chain ``run -f DIR --workload NS/NAME`` pushes a request through."""
    from wasmplugin.config.loader import load
    from wasmplugin.config.planner import build_plan
    from wasmplugin.fetch.fetcher import ModuleFetcher

    ns, sep, name = workload.partition("/")
    if not sep or not ns or not name:
        raise UsageError(f"--workload {workload!r}: expected NAMESPACE/NAME")
    mesh = load([config_dir], recursive=True).raise_for_errors()
    we = mesh.workload(ns, name)
    if we is None:
        raise ConfigError(f"no WorkloadEntry {ns}/{name}", file=config_dir)
    plan = build_plan(mesh, we)
    d = Direction.INBOUND if direction == "inbound" else Direction.OUTBOUND
    chains = plan.inbound if d is Direction.INBOUND else plan.outbound
    pc = None
    if port is not None:
        pc = plan.chain(d, port) or plan.chain(d, None)
    elif chains:
        pc = chains[0]
    entries = pc.http if pc is not None else ()
    own_fetcher = fetcher is None
    f = fetcher if fetcher is not None else ModuleFetcher(limits=services.limits)
    try:
        items = plan_items(entries, f, base_dir=Path(config_dir))
    finally:
        if own_fetcher:
            f.close()
    built = build_chain(
        items, wasm_runtime=wasm_runtime, services=services, reject_start_failure=False,
        name=f"{d.value}:{pc.port if pc is not None else '-'}",
    )
    return built.chain, list(built.errors)
