"""The pytest plugin (entry point ``wasmplugin``): fixtures for testing compiled proxy-wasm plugins.

* ``wasm_plugin(path, config=..., ...)`` — load one plugin (:meth:`Harness.plugin`);
* ``wasm_chain("wasmplugins.yaml", ...)`` — the chain the sidecar builds from WasmPlugin YAML;
* ``wasm_harness`` — the test's :class:`~wasmplugin.testing.Harness` (clock, upstreams, logs,
  metrics, trace); ``wasm_clock`` and ``wasm_upstreams`` are shortcuts to two of its parts;
* ``wasm_runtime`` — the compiled-module cache shared by the tests of one worker process.

Each test gets its own harness; nothing is shared between tests but compiled code, so tests can run
in parallel (pytest-xdist). When a test fails, the plugins' logs are added to its report.
Options: ``--wasm-log-level`` (default trace), ``--wasm-no-compile-cache``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from wasmplugin.host.runtime import WasmRuntime
    from wasmplugin.testing.clock import TestClock
    from wasmplugin.testing.harness import Harness
    from wasmplugin.testing.target import ChainTarget, PluginTarget
    from wasmplugin.testing.upstreams import FakeUpstreams

_HARNESSES = pytest.StashKey[list["Harness"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wasmplugin", "proxy-wasm plugin testing (wasmplugin)")
    group.addoption(
        "--wasm-log-level",
        default="trace",
        help="threshold for collected plugin logs (and what proxy_get_log_level answers); default trace",
    )
    group.addoption(
        "--wasm-no-compile-cache",
        action="store_true",
        help="do not use the on-disk cache of compiled modules (~/.cache/wasmplugin/compiled)",
    )


@pytest.fixture(scope="session")
def wasm_runtime(pytestconfig: pytest.Config) -> Iterator[WasmRuntime]:
    """One wasmtime engine per worker process; compiled modules are reused across tests."""
    from wasmplugin.host.runtime import WasmRuntime, default_cache_dir

    cache = None if pytestconfig.getoption("--wasm-no-compile-cache") else default_cache_dir()
    runtime = WasmRuntime(cache_dir=cache)
    yield runtime
    runtime.close()


@pytest.fixture
def wasm_harness(
    request: pytest.FixtureRequest, wasm_runtime: WasmRuntime, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    """This test's harness: virtual clock, fake upstreams, logs, metrics, host-call trace."""
    from wasmplugin.testing.harness import Harness

    harness = Harness(
        runtime=wasm_runtime,
        log_level=request.config.getoption("--wasm-log-level"),
        work_dir=tmp_path_factory.mktemp("wasmplugin"),
    )
    request.node.stash.setdefault(_HARNESSES, []).append(harness)
    yield harness
    harness.close()


@pytest.fixture
def wasm_plugin(wasm_harness: Harness) -> Callable[..., PluginTarget]:
    """``wasm_plugin("plugin.wasm", config={...}, ...)`` loads one plugin; see Harness.plugin."""
    return wasm_harness.plugin


@pytest.fixture
def wasm_chain(wasm_harness: Harness) -> Callable[..., ChainTarget]:
    """``wasm_chain("wasmplugins.yaml", ...)`` builds a workload's chain; see Harness.chain."""
    return wasm_harness.chain


@pytest.fixture
def wasm_clock(wasm_harness: Harness) -> TestClock:
    return wasm_harness.clock


@pytest.fixture
def wasm_upstreams(wasm_harness: Harness) -> FakeUpstreams:
    return wasm_harness.upstreams


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for harness in item.stash.get(_HARNESSES, []):
        lines = str(harness.logs)
        if lines:
            report.sections.append(("wasmplugin: plugin logs", lines))
        if harness.upstreams.calls or harness.upstreams.refused:
            calls = [repr(c) for c in harness.upstreams.calls]
            calls += [f"{c!r} (cluster not declared)" for c in harness.upstreams.refused]
            report.sections.append(("wasmplugin: http_calls", "\n".join(calls)))
