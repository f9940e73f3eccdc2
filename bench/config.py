#!/usr/bin/env python3
"""Configuration throughput: how long loading, validating and planning take as a mesh grows.

What a sidecar reload costs on the config side: read + validate every document (YAML decode, the
WasmPlugin CRD schema and CEL rules, webhook checks), then build one workload's ChainPlan.
Generated meshes: N WasmPlugins (half in the workload's namespace, half in the root namespace,
mixed phases, priorities, selectors and match rules), 10 ServiceEntries, one WorkloadEntry.

Usage: ``python bench/config.py [--sizes 10,100,1000] [--repeat 5]``; prints a table (best of
``--repeat`` runs, wall time on one core).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from wasmplugin.config import build_plan, load_text

PHASES = ["AUTHN", "AUTHZ", "STATS", "UNSPECIFIED_PHASE"]


def mesh_yaml(plugins: int) -> str:
    docs: list[dict[str, object]] = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "WorkloadEntry",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {
                "address": "127.0.0.1",
                "labels": {"app": "app", "version": "v1"},
                "ports": {"http": 8080},
            },
        }
    ]
    for i in range(10):
        docs.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "ServiceEntry",
                "metadata": {"name": f"svc-{i}", "namespace": "default"},
                "spec": {
                    "hosts": [f"svc-{i}.example"],
                    "ports": [{"number": 9000 + i, "name": "http", "protocol": "HTTP"}],
                    "resolution": "DNS",
                },
            }
        )
    for i in range(plugins):
        spec: dict[str, object] = {
            "url": f"oci://registry.example/plugin-{i}:v1",
            "phase": PHASES[i % 4],
            "pluginConfig": {"index": i, "headers": [{"name": f"x-{i}", "value": "v"}]},
        }
        if i % 3:
            spec["priority"] = (i * 7) % 50 - 25
        if i % 5 == 0:
            spec["selector"] = {"matchLabels": {"app": "app"}}
        if i % 7 == 0:
            spec["match"] = [{"mode": "CLIENT", "ports": [{"number": 9000 + i % 10}]}]
        docs.append(
            {
                "apiVersion": "extensions.istio.io/v1alpha1",
                "kind": "WasmPlugin",
                "metadata": {"name": f"plugin-{i}", "namespace": "default" if i % 2 else "istio-system"},
                "spec": spec,
            }
        )
    return yaml.safe_dump_all(docs)


def best(repeat: int, fn: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{'plugins':>8} {'docs':>6} {'load+validate':>14} {'per doc':>9} {'build_plan':>11}"
        f" {'chains':>7} {'entries':>8}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        text = mesh_yaml(size)
        result = load_text(text, "bench.yaml")
        assert result.ok, [str(e) for e in result.errors[:3]]
        workload = result.mesh.workload("default", "app")
        assert workload is not None
        load_s = best(args.repeat, lambda text=text: load_text(text, "bench.yaml"))
        plan_s = best(args.repeat, lambda mesh=result.mesh, w=workload: build_plan(mesh, w))
        plan = build_plan(result.mesh, workload)
        entries = sum(len(c.entries) for c in plan.chains)
        print(
            f"{size:>8} {result.documents:>6} {load_s * 1000:>11.1f} ms "
            f"{load_s / result.documents * 1e6:>6.0f} us {plan_s * 1000:>8.2f} ms"
            f" {len(plan.chains):>7} {entries:>8}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
