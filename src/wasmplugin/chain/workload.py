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


#: What one fetch gave, by everything the fetch depends on: the module's bytes or the error.
FetchMemo = dict[tuple[object, ...], bytes | WasmPluginError]


def plan_items(
    entries: tuple[PlanEntry, ...],
    fetcher: ModuleFetcher,
    *,
    base_dir: Path | None = None,
    memo: FetchMemo | None = None,
) -> list[PluginToLoad]:
    """Fetch each plan entry; a fetch failure becomes a ``PluginToLoad`` without bytes (the chain
    then stands in deny-all / allow-all per failStrategy, as istio-agent does). With ``memo``
    (one dict for all chains of a configuration), a plugin in several chains (inbound and
    outbound) is fetched once."""
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
        pull_secret = (secret.dockerconfigjson.reveal() or b"") if secret is not None else None
        secret_name = secret.name if secret is not None else None
        fetch_key = (
            e.url, e.sha256, e.image_pull_policy, pull_secret, secret_name, e.ref, e.resource_version
        )
        got = memo.get(fetch_key) if memo is not None else None
        if got is None:
            try:
                fetched = fetcher.get(
                    e.url,
                    sha256=e.sha256 or None,
                    pull_policy=e.image_pull_policy,
                    pull_secret=pull_secret,
                    pull_secret_name=secret_name,
                    resource_name=e.ref,
                    resource_version=e.resource_version,
                    base_dir=base_dir,
                )
                got = fetched.read_bytes()
            except WasmPluginError as err:
                got = err
            if memo is not None:
                memo[fetch_key] = got
        if isinstance(got, WasmPluginError):
            items.append(PluginToLoad(settings, None, strategy, got, source=e.url))
        else:
            items.append(PluginToLoad(settings, got, strategy, source=e.url))
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
