"""``wasmplugin serve`` end to end: readiness, admin endpoints, the blog's header-modifier, hot
reload (good and bad edits), workers. Real subprocess, real sockets, ephemeral ports."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.blog import HEADER_MODIFIER_CONFIG as BLOG_CONFIG
from support.echo_upstream import EchoUpstream
from support.serve_process import PLUGINS, WORKLOAD, ServeProcess, fetch, plugin_yaml

HEADER_MODIFIER = PLUGINS / "header-modifier" / "plugin.wasm"
QUIET = "response_headers: []\nenable_logging: false\nlog_level: info"


@pytest.fixture
def upstream() -> Iterator[EchoUpstream]:
    with EchoUpstream() as up:
        yield up


def write_mesh(d: Path, port: int, *plugins: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "mesh.yaml").write_text(WORKLOAD.format(port=port))
    (d / "plugins.yaml").write_text("".join(plugins))
    return d


def test_ready_and_admin_endpoints(tmp_path: Path, upstream: EchoUpstream) -> None:
    d = write_mesh(tmp_path / "mesh", upstream.port)
    with ServeProcess(d) as sp:
        sp.wait_ready()
        assert sp.admin("/ready") == (200, "LIVE\n")
        r = fetch(sp.url("inbound", "/hello"))
        assert r.status == 200 and r.json()["path"] == "/hello"
        r = fetch(sp.url("outbound", "/out"), headers={"Host": "echo.local"})
        assert r.status == 200 and r.json()["path"] == "/out"
        status, text = sp.admin("/stats")
        assert status == 200
        assert "cluster.inbound|" in text and "downstream_rq_2xx: 1" in text
        status, prom = sp.admin("/stats/prometheus")
        assert 'envoy_cluster_upstream_rq_total{cluster_name="outbound|80||echo.local"} 1' in prom
        status, clusters = sp.admin("/clusters")
        assert f"outbound|80||echo.local::127.0.0.1:{upstream.port}::rq_total::1" in clusters
        dump = sp.admin_json("/config_dump")
        types = [c["@type"].rsplit(".", 1)[-1] for c in dump["configs"]]
        assert types[:4] == [
            "BootstrapConfigDump",
            "ListenersConfigDump",
            "ClustersConfigDump",
            "EcdsConfigDump",
        ]
        info = sp.admin_json("/server_info")
        assert info["state"] == "LIVE" and info["config_version"] == 1
        status, levels = sp.admin("/logging?wasm=debug", "POST")
        assert status == 200 and "wasm: debug" in levels
        assert "wasm: debug" in sp.admin("/logging")[1]
        assert sp.admin("/logging?wasm=loud", "POST")[0] == 400
        assert sp.admin("/nope")[0] == 404


def test_bad_config_at_start_exits_with_one_line(tmp_path: Path) -> None:
    d = tmp_path / "mesh"
    d.mkdir()
    (d / "mesh.yaml").write_text(
        WORKLOAD.format(port=1)
        .replace("ports: {http: 1}", "ports: {http: 1, grpc: 2}")
        .replace("name: http, targetPort", "name: http2, targetPort")
    )
    sp = ServeProcess(d, "default/missing")
    assert sp.wait_exit() != 0
    err = [line for line in sp.stderr if line.strip()]
    assert len(err) == 1 and "WorkloadEntry default/missing not found" in err[0]
    assert "Traceback" not in "\n".join(sp.stderr)


def test_blog_header_modifier_through_serve(tmp_path: Path, upstream: EchoUpstream) -> None:
    d = write_mesh(
        tmp_path / "mesh",
        upstream.port,
        plugin_yaml("header-modifier", HEADER_MODIFIER, phase="STATS", priority=10, config=BLOG_CONFIG),
    )
    with ServeProcess(d) as sp:
        sp.wait_ready()
        r = fetch(sp.url("inbound", "/api"))
        assert r.status == 200
        assert r.headers["x-processed-by"] == "wasm-plugin"
        assert "x-request-duration-ms" in r.headers
        sent = dict((k.lower(), v) for k, v in r.json()["headers"])
        assert sent["x-custom-header"] == "added-by-wasm"
        assert sent["x-forwarded-proto"] == "http"
        sp.wait_log(r"wasm log default\.header-modifier: Request: GET /api")
        _status, text = sp.admin("/stats")
        assert "wasm_filter.default.header-modifier.rq_total: 1" in text
        dump = sp.admin_json("/config_dump")
        ecds = next(c for c in dump["configs"] if c["@type"].endswith("EcdsConfigDump"))
        names = [f["ecds_filter"]["name"] for f in ecds["ecds_filters"]]
        assert any(n.endswith("default.header-modifier") or "default.header-modifier" in n for n in names)
        plan = next(c for c in dump["configs"] if c["@type"].endswith("ChainPlanDump"))
        assert plan["plan"]


def test_four_phases_run_in_plan_order(tmp_path: Path, upstream: EchoUpstream) -> None:
    plugins = []
    # Written out of order on purpose; the chain orders by phase, then priority (descending).
    for name, phase, prio in [
        ("stats", "STATS", None),
        ("unspec", "UNSPECIFIED_PHASE", None),
        ("authz", "AUTHZ", None),
        ("authn-low", "AUTHN", 1),
        ("authn-high", "AUTHN", 5),
    ]:
        cfg = f"request_headers: [{{name: x-order, value: {name}}}]\n" + QUIET
        plugins.append(plugin_yaml(name, HEADER_MODIFIER, phase=phase, priority=prio, config=cfg))
    d = write_mesh(tmp_path / "mesh", upstream.port, *plugins)
    with ServeProcess(d) as sp:
        sp.wait_ready()
        r = fetch(sp.url("inbound", "/order"))
        order = [v for k, v in r.json()["headers"] if k.lower() == "x-order"]
        assert order == ["authn-high", "authn-low", "authz", "stats", "unspec"]
        dump = sp.admin_json("/config_dump")
        listeners = next(c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump"))
        inbound = listeners["dynamic_listeners"][0]["active_state"]["listener"]
        filters = inbound["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
        names = [f["name"].rsplit(".", 1)[-1].split("~")[0] for f in filters[:-1]]
        assert names == order
        # ... and what `wasmplugin proxy-config wasm --admin` shows for the running sidecar.
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "wasmplugin",
                "proxy-config",
                "wasm",
                "--admin",
                f"127.0.0.1:{sp.ports['admin']}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        rows = out.split("INBOUND", 1)[1].split("\n\n", 1)[0].splitlines()[1:]  # after the listener line
        shown = [row.split()[3].split("/")[1] for row in rows if row.strip()[:1].isdigit()]
        assert shown == order, out


def test_reload_good_and_bad_edits(tmp_path: Path, upstream: EchoUpstream) -> None:
    one = "request_headers: [{name: x-version, value: one}]\n" + QUIET
    d = write_mesh(tmp_path / "mesh", upstream.port, plugin_yaml("hm", HEADER_MODIFIER, config=one))
    with ServeProcess(d) as sp:
        sp.wait_ready()
        assert dict(fetch(sp.url("inbound", "/")).json()["headers"])["x-version"] == "one"
        # A good edit: a new chain is built and swapped in.
        (d / "plugins.yaml").write_text(plugin_yaml("hm", HEADER_MODIFIER, config=one.replace("one", "two")))
        sp.wait_log(r"reload applied: config version 2")
        assert sp.config_version() == 2
        assert dict(fetch(sp.url("inbound", "/")).json()["headers"])["x-version"] == "two"
        # A bad edit: rejected with one line naming file, resource and field; version 2 keeps serving.
        (d / "plugins.yaml").write_text(plugin_yaml("hm", HEADER_MODIFIER, phase="SOMETIMES", config=one))
        line = sp.wait_log(r"reload rejected")
        assert "plugins.yaml" in line and "WasmPlugin default/hm" in line and "phase" in line
        info = sp.admin_json("/server_info")
        assert info["config_version"] == 2 and "phase" in info["last_reload_error"]
        assert dict(fetch(sp.url("inbound", "/")).json()["headers"])["x-version"] == "two"
        own = next(
            c for c in sp.admin_json("/config_dump")["configs"] if c["@type"].endswith("SidecarConfigDump")
        )
        assert own["last_reload_error"] and own["config_version"] == 2
        # Fixing it applies again.
        (d / "plugins.yaml").write_text(
            plugin_yaml("hm", HEADER_MODIFIER, config=one.replace("one", "three"))
        )
        sp.wait_log(r"reload applied: config version 3")
        assert dict(fetch(sp.url("inbound", "/")).json()["headers"])["x-version"] == "three"
        assert sp.admin_json("/server_info")["last_reload_error"] is None


def test_workers_share_ports_and_aggregate_stats(tmp_path: Path, upstream: EchoUpstream) -> None:
    d = write_mesh(tmp_path / "mesh", upstream.port)
    with ServeProcess(d, "default/app", "--concurrency", "2") as sp:
        sp.wait_ready()
        pids = set()
        for _ in range(40):
            r = fetch(sp.url("inbound", "/w"), headers={"Connection": "close"})
            assert r.status == 200
        info = sp.admin_json("/server_info")
        assert info["command_line_options"]["concurrency"] == 2
        pids = {w["pid"] for w in info["workers"]}
        assert len(pids) == 2
        _status, text = sp.admin("/stats?filter=downstream_rq_total")
        total = sum(int(line.rsplit(":", 1)[1]) for line in text.splitlines())
        assert total == 40
        per_worker = [w["requests"] for w in info["workers"]]
        assert sum(per_worker) == 40


@pytest.mark.parametrize("workers", [1, 2])
def test_rebuilt_module_file_reloads(tmp_path: Path, upstream: EchoUpstream, workers: int) -> None:
    wasm = tmp_path / "hm.wasm"
    wasm.write_bytes(HEADER_MODIFIER.read_bytes())
    d = write_mesh(tmp_path / "mesh", upstream.port, plugin_yaml("hm", wasm, config=BLOG_CONFIG))
    with ServeProcess(d, "default/app", "--concurrency", str(workers)) as sp:
        sp.wait_ready()
        assert sp.config_version() == 1
        wasm.write_bytes(HEADER_MODIFIER.read_bytes())  # "rebuilt": same path, new mtime
        sp.wait_log(r"reload applied: config version 2")
        assert fetch(sp.url("inbound", "/")).headers["x-processed-by"] == "wasm-plugin"


def test_plugin_in_both_listeners_is_fetched_once_and_reported_once(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    # No match: the plugin is in the inbound and the outbound chain (one runtime each).
    d = write_mesh(tmp_path / "mesh", upstream.port, plugin_yaml("hm", HEADER_MODIFIER, config=QUIET))
    with ServeProcess(d) as sp:
        sp.wait_ready()
        assert fetch(sp.url("inbound", "/a")).status == 200
        assert fetch(sp.url("outbound", "/b"), headers={"Host": "echo.local"}).status == 200
        status, prom = sp.admin("/stats/prometheus")
        assert status == 200
        samples = [line.rpartition(" ")[0] for line in prom.splitlines() if line and not line.startswith("#")]
        assert len(samples) == len(set(samples)), [s for s in samples if samples.count(s) > 1]
        assert 'envoy_wasm_filter_rq_total{plugin="default.hm"} 2' in prom  # both listeners, summed
        assert 'envoy_wasm_filter_log_only{plugin="default.hm"} 0' in prom
        fetches = [
            line for line in prom.splitlines()
            if line.startswith("istio_agent_wasm_config_conversion_count") and not line.endswith(" 0")
        ]
        assert fetches and all(line.endswith(" 1") for line in fetches), fetches
        _status, text = sp.admin("/stats")
        assert text.count("wasm_filter.default.hm.rq_total:") == 1
        assert "wasm_filter.default.hm.rq_total: 2" in text


def test_log_only_counts_requests_refused_by_an_earlier_plugin(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    # "gate" (AUTHN) cannot load under FAIL_CLOSE: every request is denied before "hm" (STATS) runs.
    d = write_mesh(
        tmp_path / "mesh",
        upstream.port,
        plugin_yaml("gate", tmp_path / "missing.wasm", phase="AUTHN", mode="SERVER"),
        plugin_yaml("hm", HEADER_MODIFIER, phase="STATS", mode="SERVER", config=QUIET),
    )
    with ServeProcess(d) as sp:
        sp.wait_ready()
        assert fetch(sp.url("inbound", "/a")).status == 403
        _status, text = sp.admin("/stats")
        assert "wasm_filter.default.hm.rq_total: 0" in text
        assert "wasm_filter.default.hm.log_only: 1" in text
        _status, prom = sp.admin("/stats/prometheus")
        assert 'envoy_wasm_filter_log_only{plugin="default.hm"} 1' in prom
