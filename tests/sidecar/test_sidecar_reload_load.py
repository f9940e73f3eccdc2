"""Hot reload under load (issue #4 Done-when): while wrk drives the sidecar on loopback, a good edit
of a WasmPlugin is applied and a broken edit is rejected, and not one request fails."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.echo_upstream import EchoUpstream
from support.serve_process import PLUGINS, WORKLOAD, ServeProcess, fetch, plugin_yaml

HEADER_MODIFIER = PLUGINS / "header-modifier" / "plugin.wasm"
CONFIG = (
    "request_headers: [{name: x-version, value: %s}]\n"
    "response_headers: []\nenable_logging: false\nlog_level: info"
)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_reload_under_load_loses_nothing(tmp_path: Path, workers: int) -> None:
    wrk = shutil.which("wrk")
    if wrk is None:  # scripts/ensure-system-deps.sh installs it; `make test` runs that first
        pytest.fail("wrk is not installed: run `make system-deps`")
    with EchoUpstream() as upstream:
        d = tmp_path / "mesh"
        d.mkdir()
        (d / "mesh.yaml").write_text(WORKLOAD.format(port=upstream.port))
        plugin_file = d / "plugin.yaml"
        plugin_file.write_text(plugin_yaml("hm", HEADER_MODIFIER, config=CONFIG % "one"))
        with ServeProcess(d, "default/app", "--concurrency", str(workers)) as sp:
            sp.wait_ready()
            url = sp.url("inbound", "/load")
            assert fetch(url).status == 200
            load = subprocess.Popen(
                [wrk, "-t1", "-c8", "-d6s", url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            try:
                # Wait until traffic flows, then edit while it does.
                sp.wait_for(lambda: upstream.requests > 100, 30, "load to start")
                plugin_file.write_text(plugin_yaml("hm", HEADER_MODIFIER, config=CONFIG % "two"))
                sp.wait_log(r"reload applied: config version 2")
                seen_after_good = upstream.requests
                plugin_file.write_text(
                    plugin_yaml("hm", HEADER_MODIFIER, phase="NOPE", config=CONFIG % "three")
                )
                sp.wait_log(r"reload rejected")
                assert load.poll() is None, "the edits must happen while the load runs"
                sp.wait_for(lambda: upstream.requests > seen_after_good + 100, 30, "load after the edits")
            finally:
                out, _ = load.communicate(timeout=60)
            assert load.returncode == 0, out
            requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
            assert requests > 300, out
            assert "Socket errors" not in out, out
            assert "Non-2xx" not in out, out
            # Version 2 kept serving after the rejected edit.
            assert sp.config_version() == 2
            sent = {k.lower(): v for k, v in fetch(url).json()["headers"]}
            assert sent["x-version"] == "two"
            _status, text = sp.admin("/stats?filter=downstream_rq_5xx")
            assert all(line.endswith(": 0") for line in text.splitlines()), text
