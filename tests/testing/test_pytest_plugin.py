"""The pytest plugin as a plugin author meets it: a separate pytest run (as in their project), the
fixtures registered by the ``wasmplugin`` entry point, isolation between tests running in
parallel, and plugin logs added to the report of a failing test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import GO_FEATURES

AUTHOR_TESTS = """
import pytest

PLUGIN = {plugin!r}

@pytest.mark.parametrize("n", range(6))
def test_each_test_has_its_own_shared_data(wasm_plugin, n):
    plugin = wasm_plugin(PLUGIN)
    # Six tests, two workers: a counter in shared data starts at 1 in every one of them.
    assert plugin.request("GET", "/go/shared/incr").headers["x-go-shared-value"] == "1"
    assert plugin.request("GET", "/go/shared/incr").headers["x-go-shared-value"] == "2"

def test_clock_and_upstreams_fixtures(wasm_plugin, wasm_clock, wasm_upstreams):
    plugin = wasm_plugin(PLUGIN, config={{"tick_period_ms": 1000, "tick_callout_cluster": "c"}})
    wasm_upstreams.upstream("c").respond(200)
    wasm_clock.advance(3)
    assert len(wasm_upstreams.calls) == 3

def test_that_fails_shows_the_plugin_logs(wasm_plugin):
    plugin = wasm_plugin(PLUGIN, config={{"http_call_cluster": "undeclared"}})
    resp = plugin.request("GET", "/go/http_call")
    assert resp.status == 200, "the call went nowhere"
"""


def run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_author.py"
    test_file.write_text(AUTHOR_TESTS.format(plugin=str(GO_FEATURES)))
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(test_file), "-p", "no:cacheprovider", "-q", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_fixtures_isolation_under_xdist_and_failure_reports(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "-n", "2")

    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "7 passed" in out and "1 failed" in out
    assert "test_that_fails_shows_the_plugin_logs" in out
    assert "wasmplugin: plugin logs" in out
    assert "[go-features] info: go-features: plugin started" in out
    assert "wasmplugin: http_calls" in out
    assert "(cluster not declared)" in out


def test_options_are_registered(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "--wasm-log-level", "info", "-k", "clock")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
