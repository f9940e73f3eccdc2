"""``wasmplugin run`` end to end with real plugins (issue #2 item 6 and its Done-when)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from wasmplugin.cli.main import main

REPO = Path(__file__).resolve().parents[2]
HEADER_MODIFIER = REPO / "plugins" / "header-modifier" / "plugin.wasm"
GO_FEATURES = REPO / "plugins" / "go-features" / "plugin.wasm"
sys.path.insert(0, str(REPO / "tests" / "chain"))

from probe import ALLOC, LOOP, RQH, TRAP, probe_wasm  # noqa: E402

BLOG_CONFIG = {
    "request_headers": [
        {"name": "x-custom-header", "value": "added-by-wasm"},
        {"name": "x-request-id", "value": "generated-id"},
    ],
    "response_headers": [{"name": "x-processed-by", "value": "wasm-plugin"}],
    "enable_logging": True,
    "log_level": "info",
}


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(["run", *argv, "-o", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_header_modifier_with_the_blog_config(capsys: pytest.CaptureFixture[str]) -> None:
    code, r = run_json(
        capsys, "--plugin", str(HEADER_MODIFIER), "--config", json.dumps(BLOG_CONFIG),
        "--request", "GET /api/items?x=1", "-H", "host: shop.example.com", "-H", "user-agent: test",
    )
    assert code == 0
    assert set(r) == {"request", "local_reply", "response", "logs", "http_calls", "error"}
    req = r["request"]["headers"]
    assert ["x-custom-header", "added-by-wasm"] in req
    assert ["x-request-id", "generated-id"] in req
    assert req[:4] == [[":authority", "shop.example.com"], [":path", "/api/items?x=1"],
                       [":method", "GET"], [":scheme", "http"]]
    resp = r["response"]
    assert resp["status"] == 200
    names = [k for k, _ in resp["headers"]]
    assert ["x-processed-by", "wasm-plugin"] in resp["headers"]
    assert "x-request-duration-ms" in names
    messages = [(e["plugin"], e["level"], e["message"]) for e in r["logs"]]
    assert ("header-modifier", "info", "Request: GET /api/items?x=1") in messages
    assert any(m.startswith("Response: status=200") for _, _, m in messages)
    assert r["local_reply"] is None and r["error"] is None and r["http_calls"] == []


def test_text_output_and_log_level(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--plugin", str(HEADER_MODIFIER), "--config", json.dumps(BLOG_CONFIG),
                 "--request", "GET /", "--log-level", "warn"])
    out = capsys.readouterr().out
    assert code == 0
    assert "client received: 200" in out and "x-processed-by: wasm-plugin" in out
    assert "Request: GET /" not in out  # info is below warn


def test_config_is_passed_byte_for_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "cfg.json"
    cfg.write_bytes(b"this is not json")
    code, r = run_json(capsys, "--plugin", str(HEADER_MODIFIER), "--config", f"@{cfg}", "--request", "GET /")
    # the blog plugin refuses unparsable config in on_configure: a start failure, exit 2, 403 as deny-all
    assert code == 2
    assert "on_configure" in r["error"] and "\n" not in r["error"]
    assert r["response"]["status"] == 403 and r["response"]["body"] == "RBAC: access denied"
    assert any("Failed to parse config" in e["message"] for e in r["logs"])


@pytest.mark.parametrize(
    ("kind", "extra", "word"),
    [(TRAP, [], "maybe_fail"), (LOOP, ["--deadline-ms", "100"], "deadline"),
     (ALLOC, ["--memory-limit-mib", "16"], "memory")],
)
def test_failing_plugin_gives_one_line_error_exit_2_and_503(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: int, extra: list[str], word: str
) -> None:
    wasm = tmp_path / "bad.wasm"
    wasm.write_bytes(probe_wasm("bad", fail_at=RQH, fail_kind=kind))
    code, r = run_json(capsys, "--plugin", str(wasm), "--request", "GET /", *extra)
    assert code == 2
    err = r["error"]
    assert "\n" not in err and "plugin bad" in err and "proxy_on_request_headers" in err
    assert word in err.lower()
    assert r["response"]["status"] == 503
    assert r["local_reply"]["details"] == "wasm_fail_stream"
    assert r["request"] is None
    # the next run (a fresh VM) works
    wasm.write_bytes(probe_wasm("bad"))
    code, r = run_json(capsys, "--plugin", str(wasm), "--request", "GET /")
    assert code == 0 and r["response"]["status"] == 200 and r["error"] is None


def test_fail_open_with_repeat_bypasses_the_failed_plugin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wasm = tmp_path / "p.wasm"
    wasm.write_bytes(probe_wasm("p", fail_at=RQH))
    code, rs = run_json(capsys, "--plugin", str(wasm), "--request", "GET /", "--fail-strategy", "fail_open",
                        "--repeat", "2")
    assert code == 2
    assert [r["response"]["status"] for r in rs] == [200, 200]
    assert rs[0]["error"] and rs[1]["error"] is None


def test_upstream_answers_http_call(capsys: pytest.CaptureFixture[str]) -> None:
    code, r = run_json(
        capsys, "--plugin", str(GO_FEATURES), "--request", "GET /go/http_call", "-H", "x-go-cluster: auth",
        "--upstream", "auth=201:welcome",
    )
    assert code == 0, r
    (call,) = r["http_calls"]
    assert call["upstream"] == "auth" and [":authority", "auth"] in call["headers"]
    assert ["x-go-call-status", "201"] in r["request"]["headers"]


def test_unknown_upstream_is_refused_like_an_unknown_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    code, r = run_json(capsys, "--plugin", str(GO_FEATURES), "--request", "GET /go/http_call",
                       "-H", "x-go-cluster: nowhere")
    assert code == 0
    assert r["local_reply"]["status"] == 502 and r["http_calls"] == []


def test_body_buffering_plugin_sees_the_whole_body(capsys: pytest.CaptureFixture[str]) -> None:
    code, r = run_json(capsys, "--plugin", str(GO_FEATURES), "--request", "POST /go/body/upper",
                       "--body", "hello body")
    assert code == 0
    assert r["request"]["body"] == "HELLO BODY"


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--plugin", str(HEADER_MODIFIER), "--request", "GET"]) == 2
    assert "expected \"METHOD PATH\"" in capsys.readouterr().err
    assert main(["run", "--plugin", str(HEADER_MODIFIER), "--request", "GET /", "-H", "nocolon"]) == 2
    assert "name: value" in capsys.readouterr().err
    assert main(["run", "--plugin", str(HEADER_MODIFIER), "--request", "GET /", "--upstream", "x"]) == 2
    assert "NAME=STATUS:BODY" in capsys.readouterr().err


def test_missing_plugin_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, r = run_json(capsys, "--plugin", str(tmp_path / "nope.wasm"), "--request", "GET /")
    assert code == 2 and "cannot read" in r["error"]
    assert r["response"]["status"] == 403


def test_pseudo_headers_and_host(capsys: pytest.CaptureFixture[str]) -> None:
    code, r = run_json(capsys, "--plugin", str(HEADER_MODIFIER), "--request", "PUT /x",
                       "-H", ":authority: a.example", "-H", ":scheme: https")
    assert code == 0
    h = r["request"]["headers"]
    assert h[0] == [":authority", "a.example"] and h[3] == [":scheme", "https"]
