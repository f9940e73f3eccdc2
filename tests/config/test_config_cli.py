"""validate, get, describe and proxy-config, run through the real command-line entry point."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from wasmplugin.cli.main import main
from wasmplugin.config import build_plan, config_dump_section, load, load_text

REPO = Path(__file__).resolve().parents[2]
BLOG = str(REPO / "examples" / "blog")
MESH = str(Path(__file__).parent / "data" / "four-phase-mesh.yaml")
SECRET = "Sup3rS3cretApiKey-do-not-print"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# --- validate ---------------------------------------------------------------------------------


def test_validate_blog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "validate", "-f", BLOG)
    assert code == 1
    lines = out.splitlines()
    errors = [line for line in lines if not line.startswith("warning:") and ": spec." in line]
    hint = (
        "must match (^$|^[a-f0-9]{64}$) (the sha256 digest as exactly 64 lowercase hex characters, "
        'without a "sha256:" prefix, or empty)'
    )
    assert errors == [
        f"{BLOG}/02-wasmplugin-complete.yaml#1: WasmPlugin default/advanced-auth-plugin: spec.sha256: "
        f'invalid value "a]b1c2d3e4f5...": {hint}',
        f"{BLOG}/07-module-verification.yaml#1: WasmPlugin istio-system/verified-plugin: spec.sha256: "
        f'invalid value "sha256:abc123def456...": {hint}',
    ]
    assert lines[-1] == "16 document(s) in 14 file(s): 2 error(s), 10 warning(s): invalid"
    for line in lines[:-1]:
        assert re.match(r"(warning: )?\S+(#\d+|:\d+): (WasmPlugin|Secret) [a-z-]+/[a-z-]+: ", line), line


def test_validate_strict_quiet_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "validate", "-f", BLOG, "--strict", "-q")
    assert code == 1 and len(out.splitlines()) == 10 and "warning:" not in out
    code, out, _ = cli(capsys, "validate", "-f", BLOG, "-o", "json")
    report = json.loads(out)
    assert code == 1 and report["valid"] is False and report["errors"] == 2 and report["warnings"] == 10
    assert {d["extension"] for d in report["diagnostics"]} == {
        None,
        "env-value-from",
        "kubectl-command",
        "phase-unspecified",
    }


def test_validate_valid_config(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "validate", "-f", MESH)
    assert code == 0
    assert out.splitlines()[-1].endswith(": valid")
    assert SECRET not in out


# --- get ----------------------------------------------------------------------------------------


def test_get_tables(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "get", "wasmplugins", "-f", MESH)
    assert code == 0
    assert out.splitlines() == [
        "NAME              AGE",
        "api-key           <unknown>",
        "header-modifier   <unknown>",
    ]
    code, out, _ = cli(capsys, "get", "wasmplugins", "-A", "-f", MESH)
    assert out.splitlines()[0].split() == ["NAMESPACE", "NAME", "AGE"]
    assert len(out.splitlines()) == 9
    row = next(line for line in out.splitlines() if "metrics-old" in line)
    assert row.split()[0] == "istio-system" and re.fullmatch(r"\d+y(\d+d)?", row.split()[2])
    code, out, _ = cli(capsys, "get", "wasmplugin", "-n", "istio-system", "-o", "wide", "-f", MESH)
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "AGE", "PHASE", "PRIORITY", "TYPE", "FAILSTRATEGY", "URL"]
    assert rows[0].split()[0] == "jwt-validator" and "AUTHN" in rows[0] and "10" in rows[0].split()


def test_get_yaml_loads_back_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "get", "wasmplugins", "-A", "-o", "yaml", "-f", MESH)
    assert code == 0
    again = load_text(out, "out.yaml")
    assert again.ok
    original = load([MESH]).mesh
    assert {(p.namespace, p.name): p.spec for p in again.mesh.plugins} == {
        (p.namespace, p.name): p.spec for p in original.plugins
    }


def test_get_json_name_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys, "get", "wasmplugin", "jwt-validator", "-n", "istio-system", "-o", "json", "-f", MESH
    )
    body = json.loads(out)
    assert code == 0 and body["kind"] == "WasmPlugin" and body["spec"]["priority"] == 10
    code, out, _ = cli(capsys, "get", "wasmplugins", "-o", "name", "-f", MESH)
    assert out.splitlines() == [
        "wasmplugin.extensions.istio.io/api-key",
        "wasmplugin.extensions.istio.io/header-modifier",
    ]
    code, _, err = cli(capsys, "get", "wasmplugin", "nope", "-f", MESH)
    assert code == 1 and 'wasmplugins.extensions.istio.io "nope" not found in namespace default' in err
    code, _, err = cli(capsys, "get", "pods", "-f", MESH)
    assert code == 2
    code, _, err = cli(capsys, "get", "wasmplugins", "-n", "empty", "-f", MESH)
    assert code == 0 and err.strip() == "No resources found in empty namespace."


def test_get_with_errors_shows_the_valid_rest(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "get", "wasmplugins", "-A", "-f", BLOG)
    assert code == 1
    assert "spec.sha256" in err and "left out" in err
    assert "jwt-validator" in out and "verified-plugin" not in out


# --- describe -------------------------------------------------------------------------------------


def test_describe(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "describe", "wasmplugin", "api-key", "-f", MESH)
    assert code == 0
    assert out.startswith("Name:         api-key\nNamespace:    default\n")
    assert "  URL:                oci://ghcr.io/myorg/api-key:v1\n" in out
    assert "  API_KEY:  <redacted> (secretKeyRef Secret default/plugin-secrets key 'api-key')" in out
    assert "  default/my-service (127.0.0.1): no selector: every workload in the namespace" in out
    assert re.search(r"inbound +8080/HTTP +#2 of 7 in the HTTP chain", out)
    assert re.search(r"outbound +9080/HTTP +not on this listener", out)
    assert "env POD_NAME=my-service (fieldRef metadata.name)" in out
    assert "Vm Config:" in out and "Secret Key Ref:" in out
    assert SECRET not in out


def test_describe_plugin_that_selects_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "describe", "wasmplugin", "jwt-validator", "-n", "istio-system", "-f", BLOG)
    assert code == 1  # the blog has two invalid documents
    assert "  <none> (no declared WorkloadEntry matches app=api-gateway, mesh-wide)" in out
    assert "  Phase:              AUTHN" in out and "  Priority:           10" in out


# --- proxy-config ---------------------------------------------------------------------------------

EXPECTED_INBOUND = [
    ("AUTHN", "10", "istio-system/jwt-validator"),
    ("AUTHN", "<unset>", "default/api-key"),
    ("AUTHZ", "5", "istio-system/rbac-enforcer"),
    ("STATS", "10", "istio-system/metrics-old"),
    ("STATS", "10", "istio-system/metrics-a"),
    ("STATS", "10", "istio-system/metrics-b"),
    ("UNSPECIFIED_PHASE", "<unset>", "default/header-modifier"),
]


def _sections(out: str) -> dict[str, list[tuple[str, str, str]]]:
    sections: dict[str, list[tuple[str, str, str]]] = {}
    current = ""
    for line in out.splitlines():
        if line.startswith(("INBOUND", "OUTBOUND")):
            current = line.split("  ")[0]
            sections[current] = []
        elif current and re.match(r"  \d+ ", line):
            cells = line.split()
            sections[current].append((cells[1], cells[2], cells[3]))
    return sections


@pytest.mark.parametrize(
    "workload",
    [["default/my-service"], ["deploy/my-service", "-n", "default"], ["my-service.default"], ["my-service"]],
)
def test_proxy_config_wasm_order(capsys: pytest.CaptureFixture[str], workload: list[str]) -> None:
    code, out, _ = cli(capsys, "proxy-config", "wasm", *workload, "-f", MESH)
    assert code == 0
    sections = _sections(out)
    assert list(sections) == ["INBOUND 8080/HTTP", "OUTBOUND 9080/HTTP"]
    assert sections["INBOUND 8080/HTTP"] == EXPECTED_INBOUND
    assert [name for _, _, name in sections["OUTBOUND 9080/HTTP"]] == [
        "istio-system/jwt-validator",
        "istio-system/rbac-enforcer",
        "istio-system/metrics-old",
        "istio-system/metrics-a",
        "istio-system/metrics-b",
        "istio-system/rate-limiter",
        "default/header-modifier",
    ]
    assert "0123456789ab..." in out and "FAIL_OPEN" in out


def test_proxy_config_wasm_filters_wide_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys,
        "pc",
        "wasm",
        "default/my-service",
        "--direction",
        "outbound",
        "--port",
        "9080",
        "-o",
        "wide",
        "-f",
        MESH,
    )
    assert code == 0 and list(_sections(out)) == ["OUTBOUND 9080/HTTP"]
    assert "0123456789abcdef" * 4 in out
    code, out, _ = cli(capsys, "pc", "wasm", "default/my-service", "-o", "json", "-f", MESH)
    mesh = load([MESH]).mesh
    workload = mesh.workload("default", "my-service")
    assert workload is not None
    assert json.loads(out) == build_plan(mesh, workload).to_dict()
    assert SECRET not in out


def test_proxy_config_unknown_workload(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "pc", "wasm", "default/nope", "-f", MESH)
    assert code == 1 and "no WorkloadEntry default/nope (workloads: default/my-service)" in err
    code, _, err = cli(capsys, "pc", "wasm", "-f", MESH)
    assert code == 2 and "WORKLOAD is required" in err


def test_proxy_config_ecds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "proxy-config", "ecds", "default/my-service", "-f", MESH)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["NAME", "TYPE"]
    assert lines[1].split() == [
        "extensions.istio.io/wasmplugin/istio-system.jwt-validator",
        "envoy.extensions.filters.http.wasm.v3.Wasm",
    ]
    assert len(lines) == 9
    code, out, _ = cli(capsys, "pc", "ec", "default/my-service", "-o", "json", "-f", MESH)
    resources = [f["ecds_filter"] for f in json.loads(out)["ecds_filters"]]
    api_key = next(r for r in resources if r["name"].endswith("default.api-key"))
    assert (
        api_key["typed_config"]["config"]["vm_config"]["environment_variables"]["key_values"]["API_KEY"]
        == "<redacted>"
    )
    assert SECRET not in out


# --- --admin against a real HTTP server ----------------------------------------------------------


class _AdminServer:
    """A small real HTTP server on 127.0.0.1 (ephemeral port) serving a config dump."""

    def __init__(self, dump: Any, status: int = 200) -> None:
        body = json.dumps(dump).encode() if not isinstance(dump, bytes) else dump

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/config_dump":
                    self.send_error(404)
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _AdminServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def dump() -> dict[str, Any]:
    mesh = load([MESH]).mesh
    workload = mesh.workload("default", "my-service")
    assert workload is not None
    plan = build_plan(mesh, workload)
    return {
        "configs": [
            {"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump"},
            config_dump_section(plan),
        ]
    }


def test_admin_renders_the_same_as_files(capsys: pytest.CaptureFixture[str], dump: dict[str, Any]) -> None:
    code, from_files, _ = cli(capsys, "pc", "wasm", "default/my-service", "-f", MESH)
    with _AdminServer(dump) as server:
        code, from_admin, _ = cli(capsys, "pc", "wasm", "--admin", server.address)
        assert code == 0 and from_admin == from_files
        code, out, _ = cli(capsys, "pc", "wasm", "default/my-service", "--admin", server.address)
        assert code == 0 and out == from_files
        code, _, err = cli(capsys, "pc", "wasm", "default/other", "--admin", server.address)
        assert code == 1 and "serves default/my-service, not default/other" in err
        code, out, _ = cli(capsys, "pc", "ecds", "--admin", server.address)
        assert code == 0 and out.splitlines()[0].split() == ["NAME", "TYPE"] and len(out.splitlines()) == 9


def test_admin_prefers_the_sidecars_ecds_dump(
    capsys: pytest.CaptureFixture[str], dump: dict[str, Any]
) -> None:
    dump["configs"].append(
        {
            "@type": "type.googleapis.com/envoy.admin.v3.EcdsConfigDump",
            "ecds_filters": [
                {
                    "ecds_filter": {
                        "name": "extensions.istio.io/wasmplugin/default.api-key",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
                        },
                    }
                }
            ],
        }
    )
    with _AdminServer(dump) as server:
        code, out, _ = cli(capsys, "pc", "ecds", "--admin", server.address)
    assert code == 0
    assert out.splitlines()[1].split() == [
        "extensions.istio.io/wasmplugin/default.api-key",
        "envoy.extensions.filters.http.rbac.v3.RBAC",
    ]


def _columns(out: str, drop: int) -> list[list[str]]:
    """Table rows split into cells, without column ``drop`` (AGE: it may tick between runs)."""
    return [[c for i, c in enumerate(line.split()) if i != drop] for line in out.splitlines()]


def test_get_from_a_sidecar_lists_what_it_serves(
    capsys: pytest.CaptureFixture[str], dump: dict[str, Any]
) -> None:
    _, from_files, _ = cli(capsys, "get", "wasmplugins", "-A", "-o", "wide", "-f", MESH)
    with _AdminServer(dump) as server:
        code, from_admin, _ = cli(capsys, "get", "wasmplugins", "-A", "-o", "wide", "--admin", server.address)
        assert code == 0 and _columns(from_admin, 2) == _columns(from_files, 2)
        code, names, _ = cli(
            capsys, "get", "wasmplugins", "-n", "istio-system", "-o", "name", "--admin", server.address
        )
        assert code == 0 and "wasmplugin.extensions.istio.io/rate-limiter" in names.splitlines()
        code, out, _ = cli(capsys, "get", "wasmplugin", "api-key", "-o", "yaml", "--admin", server.address)
        code_json, out_json, _ = cli(capsys, "get", "wasmplugins", "-o", "json", "--admin", server.address)
        code_missing, _, err = cli(capsys, "get", "wasmplugin", "nope", "--admin", server.address)
    assert code == 0 and SECRET not in out
    plugin = load_text(out, "<get -o yaml>").mesh.plugins[0]
    assert (plugin.namespace, plugin.name, plugin.spec.url) == (
        "default",
        "api-key",
        "oci://ghcr.io/myorg/api-key:v1",
    )
    assert [(v.name, v.value) for v in plugin.spec.env] == [
        ("API_KEY", "<redacted>"),
        ("POD_NAME", "my-service"),
    ]
    listed = json.loads(out_json)
    assert code_json == 0 and listed["kind"] == "List"
    assert sorted(i["metadata"]["name"] for i in listed["items"]) == ["api-key", "header-modifier"]
    header_modifier = next(i for i in listed["items"] if i["metadata"]["name"] == "header-modifier")
    assert header_modifier["spec"]["pluginConfig"] == {
        "request_headers": [{"name": "x-custom-header", "value": "added-by-wasm"}],
        "enable_logging": True,
    }
    assert code_missing == 1 and 'wasmplugins.extensions.istio.io "nope" not found' in err


def test_describe_from_a_sidecar_shows_its_chain_positions(
    capsys: pytest.CaptureFixture[str], dump: dict[str, Any]
) -> None:
    _, from_files, _ = cli(capsys, "describe", "wasmplugin", "api-key", "-f", MESH)
    with _AdminServer(dump) as server:
        code, out, _ = cli(capsys, "describe", "wasmplugin", "api-key", "--admin", server.address)
        code_missing, _, err = cli(
            capsys, "describe", "wasmplugin", "jwt-validator", "-n", "default", "--admin", server.address
        )
    assert code == 0 and SECRET not in out
    assert f"Source:       the sidecar at {server.address} (/config_dump)" in out
    assert "  default/my-service (127.0.0.1): served by this sidecar" in out
    positions = [line for line in from_files.splitlines() if line.startswith(("    inbound", "    outbound"))]
    assert positions and all(line in out.splitlines() for line in positions)
    assert "  API_KEY:  <redacted> (secretKeyRef Secret default/plugin-secrets key 'api-key')" in out
    assert "  POD_NAME:  my-service (metadata.name)" in out
    assert "  ECDS Name:          extensions.istio.io/wasmplugin/default.api-key" in out
    assert code_missing == 1 and "is not served by the sidecar" in err


@pytest.mark.parametrize("command", [["get", "wasmplugins"], ["describe", "wasmplugin", "api-key"]])
def test_get_and_describe_want_one_source(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, _, err = cli(capsys, *command)
    assert code == 2 and "give the configuration with -f PATH, or a running sidecar with --admin" in err
    code, _, err = cli(capsys, *command, "-f", MESH, "--admin", "127.0.0.1:1")
    assert code == 2 and "use either -f or --admin, not both" in err


@pytest.mark.parametrize(
    ("dump", "status", "message"),
    [
        ({"configs": []}, 200, "no type.googleapis.com/wasmplugin.admin.v1.ChainPlanDump section"),
        (b"not json", 200, "not JSON"),
        ({"configs": []}, 500, "HTTP 500"),
        (
            {
                "configs": [
                    {"@type": "type.googleapis.com/wasmplugin.admin.v1.ChainPlanDump", "plan": {"version": 2}}
                ]
            },
            200,
            "unsupported plan version 2",
        ),
    ],
)
def test_admin_errors(capsys: pytest.CaptureFixture[str], dump: Any, status: int, message: str) -> None:
    with _AdminServer(dump, status) as server:
        code, _, err = cli(capsys, "pc", "wasm", "--admin", server.address)
    assert code == 1 and message in err, err


def test_admin_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    with _AdminServer({}) as server:
        address = server.address
    code, _, err = cli(capsys, "pc", "wasm", "--admin", address)
    assert code == 1 and "cannot reach the admin endpoint" in err


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """urllib honours proxy variables; the admin endpoint is always local."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    yield
