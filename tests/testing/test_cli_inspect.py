"""``wasmplugin inspect``: the host's audit of a module — ABI, imports marked supported / stubbed /
missing, exports, size, sha256, memory — as text and JSON; exit 1 when the module cannot run here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from wasmplugin.cli.main import main

from .conftest import AS_HEADERS, C_HOSTCALLS, GO_FEATURES, HEADER_MODIFIER, PLUGINS


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["inspect", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("module", "abi"),
    [
        (HEADER_MODIFIER, "0.2.1"),
        (GO_FEATURES, "0.2.0"),
        (AS_HEADERS, "0.2.0"),
        (C_HOSTCALLS, "0.2.1"),
        (PLUGINS / "c-hostcalls/plugin-abi-0.1.0.wasm", "0.1.0"),
    ],
)
def test_json_describes_the_module(capsys: pytest.CaptureFixture[str], module: Path, abi: str) -> None:
    code, out, _ = run(capsys, str(module), "-o", "json")

    assert code == 0
    doc = json.loads(out)
    data = module.read_bytes()
    assert doc["abiVersion"] == abi
    assert doc["runnable"] is True and doc["problems"] == []
    assert doc["size"] == len(data)
    assert doc["sha256"] == hashlib.sha256(data).hexdigest()
    assert doc["memory"]["exported"] is True and doc["memory"]["minPages"] >= 1
    assert {"proxy_abi_version_" + abi.replace(".", "_"), "memory"} <= {e["name"] for e in doc["exports"]}
    assert all(i["support"] in ("supported", "stub") for i in doc["imports"])


def test_text_marks_each_import(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(C_HOSTCALLS))

    assert code == 0
    assert "  ABI       0.2.1\n" in out
    assert "  runs here yes\n" in out
    assert "  ok      env.proxy_log " in out
    assert "  stub    env.proxy_grpc_call " in out  # linked, answers a fixed status
    assert "func (i32, i32, i32) -> i32" in out
    assert "exports (" in out and "proxy_on_request_headers" in out


def test_a_module_with_an_unknown_import_cannot_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(PLUGINS / "c-hostcalls/plugin-unknown-import.wasm"), "--no-exports")

    assert code == 1
    assert "  runs here NO\n" in out
    assert "MISSING env.proxy_c_hostcalls_unknown_function" in out
    assert "not provided by this host" in out
    assert "exports (" not in out


def test_a_module_without_an_abi_marker(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(PLUGINS / "c-hostcalls/plugin-no-abi.wasm"), "-o", "json")

    assert code == 1
    doc = json.loads(out)
    assert doc["abiVersion"] is None
    assert "missing or unknown Proxy-Wasm ABI version" in doc["problems"][0]


def test_not_wasm_and_missing_files_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")

    code, out, err = run(capsys, str(text))
    assert (code, out) == (2, "")
    assert err == "error: plugin notes.txt: not a WebAssembly binary (no \\0asm magic)\n"

    code, _, err = run(capsys, str(tmp_path / "absent.wasm"))
    assert code == 2
    assert err.startswith(f"error: {tmp_path / 'absent.wasm'}: cannot read")
