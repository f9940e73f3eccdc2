"""``wasmplugin test``: declarative test files — passing, failing (one line per unmet expectation),
invalid (one line naming the file and field), chains, load failures, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wasmplugin.cli.main import main

from .conftest import GO_FEATURES, HEADER_MODIFIER, PLUGINS

HEAD = "apiVersion: testing.wasmplugin.io/v1alpha1\nkind: PluginTest\n"


def write(tmp_path: Path, body: str, name: str = "plugin.test.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["test", *args])
    out, err = capsys.readouterr()
    return code, out, err


GO_FILE = f"""
plugin:
  wasm: {GO_FEATURES}
  config:
    tick_period_ms: 4000
    tick_callout_cluster: stats
    http_call_timeout_ms: 2000
upstreams:
  stats: {{status: 200, body: fine}}
  auth:
    - {{status: 503, body: busy}}
    - {{reset: true}}
    - {{status: 200, body: welcome, delay: 0.5}}
cases:
  - name: a call that waits for a slow answer
    upstreams:
      slow: {{status: 200, delay: 5}}
    request:
      path: /go/http_call/local
      headers: {{x-go-cluster: slow}}
    expect:
      status: 200
      headers: {{x-go-call-status: "504"}}
      body: upstream request timeout
      localReply: true
      httpCalls:
        - {{upstream: slow, method: GET, path: /, headers: {{x-go-features: http-call}}}}
  - name: answers come in the declared order
    repeat: 3
    request:
      path: /go/http_call/local
      headers: {{x-go-cluster: auth}}
    expect:
      status: 200
      body: welcome
      httpCalls: 3
  - name: the timer calls out
    advance: 3
    request: {{path: /go/callout/result}}
    expect:
      status: 200
      body: fine
      metrics:
        go_features_ticks_total: 1
        go_features_callouts_total.result=ok: 1
      logs:
        - "go-features: tick 1"
        - {{contains: "callout status=200", level: info}}
        - {{contains: "dispatch_error", absent: true}}
  - name: bodies in chunks
    request:
      method: POST
      path: /go/body/upper
      body: [abc, def]
    response:
      status: 201
      body: [created, "!"]
    expect:
      status: 201
      body: created!
      upstream:
        body: ABCDEF
        headers: {{content-length: "6"}}
  - name: the request never reaches the upstream on a local reply
    request: {{path: /go/shared/incr}}
    expect:
      upstream: {{called: false}}
      json: 1
  - name: a forced trap fails closed
    trap: request_headers
    expect:
      status: 503
      details: wasm_fail_stream
      error: forced
      pluginState: failed
"""


def test_a_passing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(write(tmp_path, GO_FILE)))

    assert code == 0, out + err
    assert "PASS  a call that waits for a slow answer" in out
    assert "6 case(s): 6 passed, 0 failed" in out
    slow_line = next(line for line in out.splitlines() if "a call that waits for a slow answer" in line)
    assert slow_line.endswith(", 2 s virtual)")  # the call's 2 s timeout fired before the 5 s answer
    assert "plugin go-features (plugin.wasm, ABI 0.2.0" in out


def test_unmet_expectations_are_listed_one_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        f"""
plugin: {{wasm: {HEADER_MODIFIER}, config: {{response_headers: [{{name: x-a, value: "1"}}]}}}}
cases:
  - name: wrong on purpose
    request: {{path: /x}}
    response: {{status: 404, body: nope}}
    expect:
      status: 200
      headers: {{x-a: "2", x-b: present, content-length: null}}
      bodyContains: found
      localReply: true
      upstream: {{path: /y}}
      logs: ["Request: GET /z"]
      metrics: {{missing_metric: 1}}
      httpCalls: 1
  - name: right
    request: {{path: /x}}
    expect: {{status: 200, headers: {{x-a: "1"}}}}
""",
    )

    code, out, _ = run(capsys, str(path))

    assert code == 1
    for line in (
        "FAIL  wrong on purpose",
        "status: expected 200, got 404",
        "header x-a: expected '2', got '1'",
        "header x-b: expected 'present', got absent",
        "header content-length: expected absent, got '4'",
        "body: expected it to contain 'found', got 'nope'",
        "localReply: expected a local reply, got the upstream's response",
        "upstream path: expected '/y', got '/x'",
        "logs: expected a line with 'Request: GET /z'; the case logged 2 line(s)",
        "metric missing_metric: no metric 'missing_metric'",
        "httpCalls: expected 1, got 0",
        "[header-modifier] info: Request: GET /x",  # the case's logs, shown under a failure
        "PASS  right",
        "2 case(s): 1 passed, 1 failed",
    ):
        assert line in out, line


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "plugin: {wasm: x.wasm}\ncases: [{name: a, expect: {status: '200'}}]",
            "cases[0].expect.status: expected an integer, got string",
        ),
        ("plugin: {wasm: x.wasm, confg: {}}\ncases: [{name: a}]", "plugin.confg: unknown field"),
        (
            "plugin: {wasm: x.wasm}\ncases: [{name: a, trap: on_tick}]",
            "cases[0].trap: 'on_tick' is not one of",
        ),
        (
            "plugin: {wasm: x.wasm}\nchain: {files: [a.yaml]}\ncases: [{name: a}]",
            "give exactly one of plugin",
        ),
        ("plugin: {wasm: x.wasm}\ncases: [{name: a}, {name: a}]", "cases[1].name: duplicate case name 'a'"),
        (
            "plugin: {wasm: x.wasm}\nupstreams: {auth: {status: 99}}\ncases: [{name: a}]",
            "upstreams.auth.status: 99 is not an HTTP status",
        ),
        ("plugin: {wasm: x.wasm}\ncases: []", "cases: no cases"),
        (
            "plugin: {wasm: x.wasm}\ncases: [{name: a, expect: {logs: [go: started]}}]",
            "cases[0].expect.logs[0]: YAML read 'go: started' as a mapping: quote",
        ),
    ],
)
def test_an_invalid_file_is_one_clear_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, message: str
) -> None:
    path = write(tmp_path, body)

    code, out, err = run(capsys, str(path))

    assert code == 2
    assert out == ""
    assert err.startswith(f"error: {path}: ")
    assert message in err
    assert err.count("\n") == 1


def test_wrong_api_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("apiVersion: v1\nkind: PluginTest\nplugin: {wasm: x}\ncases: [{name: a}]\n")
    code, _, err = run(capsys, str(path))
    assert code == 2
    assert "apiVersion: 'v1': this wasmplugin reads testing.wasmplugin.io/v1alpha1" in err


def test_a_chain_file_and_relative_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "plugins.yaml").write_text(
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
        "metadata: {name: hm, namespace: shop}\n"
        f"spec: {{selector: {{matchLabels: {{app: cart}}}}, url: 'file://{PLUGINS}/header-modifier/plugin.wasm',"
        " phase: AUTHZ, pluginConfig: {response_headers: [{name: x-chain, value: 'on'}]}}\n"
    )
    (tmp_path / "tests").mkdir()
    path = write(
        tmp_path / "tests",
        """
chain:
  files: [../deploy/plugins.yaml]
cases:
  - name: the chain applies
    expect:
      headers: {x-chain: "on"}
      logs: [{contains: "Request: GET /", plugin: hm}]
      pluginState: {shop.hm: ready}
""",
    )

    code, out, err = run(capsys, str(path))

    assert code == 0, out + err
    assert "[chain shop.hm]" in out


def test_expected_load_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused = write(
        tmp_path,
        f"plugin: {{wasm: {HEADER_MODIFIER}, config: {{enable_logging: 'yes'}},"
        " expectLoadError: Failed to parse config}\n",
        "refused.yaml",
    )
    loads = write(
        tmp_path,
        f"plugin: {{wasm: {HEADER_MODIFIER}, expectLoadError: anything}}\n",
        "loads.yaml",
    )

    code, out, _ = run(capsys, str(refused))
    assert code == 0
    assert "PASS  the plugin fails to load" in out

    code, out, _ = run(capsys, str(loads))
    assert code == 1
    assert "ERROR expected loading to fail with 'anything', but it loaded" in out


def test_a_plugin_that_does_not_load_fails_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, f"plugin: {{wasm: {tmp_path}/absent.wasm}}\ncases: [{{name: a}}]\n")

    code, out, _ = run(capsys, str(path))

    assert code == 1
    assert "ERROR could not load: plugin absent: cannot read" in out


def test_json_output_and_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GO_FILE)

    code, out, _ = run(capsys, str(path), "-o", "json", "-k", "bodies")

    assert code == 0
    doc = json.loads(out)
    assert doc["passed"] is True
    [file] = doc["files"]
    assert file["skipped"] == 5
    [case] = file["cases"]
    assert (case["name"], case["passed"], case["status"], case["failures"]) == (
        "bodies in chunks",
        True,
        201,
        [],
    )
