"""Module distribution timings against a local registry: ``python bench/fetch.py``.

Starts Debian's docker-registry twice on 127.0.0.1 (plain HTTP, and TLS + htpasswd Basic auth),
then for each module size measures, median of ``--n`` runs, wall time of:

* push (cold)      — ``push_module`` into a fresh repository (every blob uploaded);
* push (present)   — the same module again to another tag (blobs skipped, manifest only);
* pull (cold)      — ``ModuleFetcher.get`` with an empty cache (manifest + blob + store);
* pull (hit)       — the same URL again, IfNotPresent (no request at all);
* pull (Always)    — Always with a new resource version and an unchanged digest (manifest only).

One ``ModuleFetcher`` per registry, as in a long-running sidecar ("pull cold" empties its cache
first). A CLI run adds Python start-up (~0.3–0.6 s) and, for a TLS-verified registry, ~0.1 s to load
the system CA store once.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.registry import Registry, TestCA, make_wasm  # noqa: E402
from wasmplugin.fetch import Layout, ModuleFetcher  # noqa: E402
from wasmplugin.fetch.credentials import DockerConfig, Keychain  # noqa: E402
from wasmplugin.fetch.push import push_module  # noqa: E402
from wasmplugin.fetch.transport import TlsPolicy  # noqa: E402

SIZES = {"4 KiB": 4 * 1024, "160 KiB": 160 * 1024, "2 MiB": 2 * 1024 * 1024, "16 MiB": 16 * 1024 * 1024}
Row = tuple[str, str, float, float, float, float, float]


def median_ms(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def measure(
    reg: Registry,
    tls: TlsPolicy,
    pull_secret: bytes | None,
    ca: TestCA,
    wasm: bytes,
    layout: Layout,
    n: int,
    work: Path,
) -> tuple[float, float, float, float, float]:
    keychain = (
        Keychain(pull_secret=DockerConfig.from_bytes(pull_secret, source="bench"))
        if pull_secret
        else Keychain()
    )
    counter = iter(range(10**6))

    def push_cold() -> None:
        push_module(f"{reg.host}/bench/{uuid.uuid4().hex[:12]}:v1", wasm, layout, keychain=keychain, tls=tls)

    repo = f"bench/{uuid.uuid4().hex[:12]}"
    push_module(f"{reg.host}/{repo}:v1", wasm, layout, keychain=keychain, tls=tls)

    def push_present() -> None:
        push_module(f"{reg.host}/{repo}:t{next(counter)}", wasm, layout, keychain=keychain, tls=tls)

    url = f"oci://{reg.host}/{repo}:v1"
    insecure = [reg.host] if reg.tls is None else []
    f = ModuleFetcher(
        work / f"cache-{uuid.uuid4().hex}",
        insecure_registries=insecure,
        docker_config=None,
        ca_file=str(ca.ca_file),
    )

    def pull_cold() -> None:
        f.cache.clear()
        assert not f.get(url, pull_secret=pull_secret).cache_hit

    f.get(url, pull_secret=pull_secret, resource_version="0")

    def pull_hit() -> None:
        assert f.get(url, pull_secret=pull_secret).cache_hit

    def pull_always() -> None:
        version = str(next(counter))
        assert f.get(url, pull_secret=pull_secret, pull_policy="Always", resource_version=version).cache_hit

    return (
        median_ms(push_cold, n),
        median_ms(push_present, n),
        median_ms(pull_cold, n),
        median_ms(pull_hit, n),
        median_ms(pull_always, n),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=7, help="runs per cell (median)")
    ap.add_argument("--layout", choices=[lay.value for lay in Layout], default="oci")
    args = ap.parse_args()
    layout = Layout(args.layout)
    work = Path(tempfile.mkdtemp(prefix="wasmplugin-bench-fetch-"))
    ca = TestCA.create(work / "ca")
    user, password = "bench", "bench-password"
    rows: list[Row] = []
    with (
        Registry(work / "plain", name="plain") as plain,
        Registry(work / "auth", tls=ca, users={user: password}, name="auth") as private,
    ):
        secret = json.dumps({"auths": {private.host: {"username": user, "password": password}}}).encode()
        setups = [
            ("plain HTTP", plain, TlsPolicy.create([plain.host]), None),
            ("TLS + Basic", private, TlsPolicy.create([], str(ca.ca_file)), secret),
        ]
        for label, reg, tls, pull_secret in setups:
            for size_label, size in SIZES.items():
                wasm = make_wasm(size, seed=size_label)
                rows.append(
                    (label, size_label, *measure(reg, tls, pull_secret, ca, wasm, layout, args.n, work))
                )
    head = ("registry", "module", "push cold", "push present", "pull cold", "pull hit", "pull Always")
    print(f"layout: {layout.value}; median of {args.n} runs; milliseconds")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | " + " | ".join(f"{v:.1f}" for v in r[2:]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
