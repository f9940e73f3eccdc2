"""Chains from WasmPlugin YAML: the sidecar's selection, phase/priority order, fetching and
failure semantics, with the harness's fakes around them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.serve_process import plugin_yaml
from wasmplugin.errors import ConfigError
from wasmplugin.testing import ChainTarget

from .conftest import PLUGINS

Chain = Callable[..., ChainTarget]


def plugin_doc(name: str, module: str, *, labels: str = "{app: web}", config: str = "{}", **kw: Any) -> str:
    """``plugin_yaml`` for one document of ``write``'s list (which adds the separators)."""
    return plugin_yaml(name, module, labels=labels, config=config, **kw).removeprefix("---\n")


def workload_doc(name: str, address: str, labels: str, port: int) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
        f"metadata: {{name: {name}, namespace: default}}\n"
        f"spec: {{address: {address}, labels: {labels}, ports: {{http: {port}}}}}\n"
    )


def write(tmp_path: Path, *docs: str, name: str = "plugins.yaml") -> Path:
    path = tmp_path / name
    path.write_text("---\n".join(docs))
    return path


def three_plugins(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        plugin_doc(
            "stats-headers",
            str(PLUGINS / "header-modifier/plugin.wasm"),
            phase="STATS",
            config="{request_headers: [{name: x-order, value: stats}]}",
        ),
        plugin_doc(
            "authn-headers",
            str(PLUGINS / "as-headers/plugin.wasm"),
            phase="AUTHN",
            config="{header_name: x-order, header_value: authn}",
        ),
        plugin_doc("authz-hostcalls", str(PLUGINS / "c-hostcalls/plugin.wasm"), phase="AUTHZ"),
    )


def test_plugins_run_in_phase_order(wasm_chain: Chain, tmp_path: Path) -> None:
    chain = wasm_chain(three_plugins(tmp_path))

    assert chain.names == ["default.authn-headers", "default.authz-hostcalls", "default.stats-headers"]
    resp = chain.request("GET", "/hello")
    assert resp.status == 200
    assert resp.upstream_request is not None
    assert resp.upstream_request.headers.get_all("x-order") == ["authn", "stats"]
    firsts = [e.plugin for e in resp.trace.callbacks("proxy_on_request_headers")]
    assert firsts == chain.names
    assert chain.selection.synthesized
    assert dict(chain.selection.workload.labels) == {"app": "web"}


def test_a_local_reply_early_in_the_chain_short_circuits_the_rest(wasm_chain: Chain, tmp_path: Path) -> None:
    chain = wasm_chain(three_plugins(tmp_path))

    resp = chain.request("GET", "/hostcalls/local_response/401")

    assert (resp.status, resp.local) == (401, True)
    assert resp.upstream_request is None
    saw_request = {e.plugin for e in resp.trace.callbacks("proxy_on_request_headers")}
    assert saw_request == {"default.authn-headers", "default.authz-hostcalls"}
    # ... but every plugin still gets on_log (Envoy creates a context just for it).
    logged = {e.plugin for e in resp.trace.callbacks("proxy_on_log")}
    assert logged == set(chain.names)


def test_each_plugin_of_a_chain_can_be_made_to_fail(wasm_chain: Chain, tmp_path: Path) -> None:
    chain = wasm_chain(three_plugins(tmp_path))

    chain.plugin("authz-hostcalls").force_trap("request_headers")
    resp = chain.request("GET", "/")

    assert (resp.status, resp.details) == (503, "wasm_fail_stream")
    assert resp.error is not None and resp.error.plugin == "default.authz-hostcalls"
    assert [p.state for p in chain.plugins] == ["ready", "failed", "ready"]


def test_relative_module_urls_are_relative_to_the_yaml(wasm_chain: Chain, tmp_path: Path) -> None:
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "hm.wasm").write_bytes((PLUGINS / "header-modifier/plugin.wasm").read_bytes())
    path = write(
        tmp_path, plugin_doc("hm", "mods/hm.wasm", config="{response_headers: [{name: x-rel, value: ok}]}")
    )

    assert wasm_chain(path).request("GET", "/").headers["x-rel"] == "ok"


def test_an_existing_workload_entry_is_used_and_selection_applies(wasm_chain: Chain, tmp_path: Path) -> None:
    hm = str(PLUGINS / "header-modifier/plugin.wasm")
    path = write(
        tmp_path,
        plugin_doc("for-web", hm, config="{response_headers: [{name: x-for, value: web}]}"),
        plugin_doc("for-db", hm, labels="{app: db}", config="{response_headers: [{name: x-for, value: db}]}"),
        workload_doc("web-1", "10.0.0.1", "{app: web}", 8080),
        workload_doc("db-1", "10.0.0.2", "{app: db}", 5432),
    )

    with pytest.raises(ConfigError, match="several WorkloadEntries"):
        wasm_chain(path)
    web = wasm_chain(path, workload="default/web-1")
    db = wasm_chain(path, workload="default/db-1")

    assert web.names == ["default.for-web"] and not web.selection.synthesized
    assert web.request("GET", "/").headers["x-for"] == "web"
    assert db.request("GET", "/").headers["x-for"] == "db"


def test_labels_that_select_nothing_are_a_clear_error(wasm_chain: Chain, tmp_path: Path) -> None:
    path = three_plugins(tmp_path)

    with pytest.raises(ConfigError, match=r"no HTTP WasmPlugin applies to inbound traffic on port 8080"):
        wasm_chain(path, labels={"app": "other"})


def test_invalid_yaml_names_the_file_and_the_field(wasm_chain: Chain, tmp_path: Path) -> None:
    path = write(tmp_path, plugin_doc("bad", "x.wasm", phase="AUTHX"))

    with pytest.raises(ConfigError) as caught:
        wasm_chain(path)

    message = str(caught.value)
    assert str(path) in message
    assert "WasmPlugin default/bad" in message
    assert "spec.phase" in message


def test_force_must_name_a_plugin_of_the_chain(wasm_chain: Chain, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="force names plugins not in this chain: nope"):
        wasm_chain(three_plugins(tmp_path), force={"nope": "fetch_failure"})


def test_a_fail_open_plugin_that_cannot_load_is_left_out(wasm_chain: Chain, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        plugin_doc("missing", str(tmp_path / "missing.wasm"), fail="FAIL_OPEN"),
        plugin_doc(
            "present",
            str(PLUGINS / "header-modifier/plugin.wasm"),
            config="{response_headers: [{name: x-present, value: 'yes'}]}",
        ),
    )

    chain = wasm_chain(path, allow_load_failure=True)

    assert chain.names == ["default.present"]
    assert chain.bypassed == ["default.missing"]
    assert "not found" in str(chain.load_errors[0])
    assert chain.request("GET", "/").headers["x-present"] == "yes"
