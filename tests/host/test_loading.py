"""Module loading: ABI detection, import audit (Envoy's version gating, exact types), exports."""

# ruff: noqa: E501  (inline WAT keeps one function per line)

from __future__ import annotations

import pytest

from wasmplugin.abi.enums import AbiVersion
from wasmplugin.errors import InvalidModule, MissingImport, UnknownAbiVersion
from wasmplugin.host.runtime import WasmRuntime

from .conftest import wat_bytes

BASE = """
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
"""


def module(body: str, *, imports: str = "", base: str = BASE) -> str:
    return f"(module {imports} {base} {body})"


@pytest.mark.parametrize(
    ("marker", "version"),
    [
        ("proxy_abi_version_0_1_0", AbiVersion.V0_1_0),
        ("proxy_abi_version_0_2_0", AbiVersion.V0_2_0),
        ("proxy_abi_version_0_2_1", AbiVersion.V0_2_1),
    ],
)
def test_abi_version_is_read_from_the_marker_export(
    runtime: WasmRuntime, marker: str, version: AbiVersion
) -> None:
    m = runtime.compile(wat_bytes(module(f'(func (export "{marker}"))')), name="ns.p")
    assert m.abi_version is version


def test_first_known_marker_wins(runtime: WasmRuntime) -> None:
    text = module(
        '(func (export "proxy_abi_version_9_9_9")) (func (export "proxy_abi_version_0_2_0"))'
        ' (func (export "proxy_abi_version_0_2_1"))'
    )
    assert runtime.compile(wat_bytes(text), name="ns.p").abi_version is AbiVersion.V0_2_0


def test_module_without_marker_is_refused_with_one_line(runtime: WasmRuntime) -> None:
    with pytest.raises(UnknownAbiVersion) as err:
        runtime.compile(wat_bytes(module('(func (export "proxy_abi_version_1_0_0"))')), name="ns.nomarker")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("plugin ns.nomarker: missing or unknown Proxy-Wasm ABI version")
    assert "proxy_abi_version_1_0_0" in msg


def test_marker_must_be_a_function(runtime: WasmRuntime) -> None:
    text = module('(global (export "proxy_abi_version_0_2_1") i32 (i32.const 0))')
    with pytest.raises(UnknownAbiVersion):
        runtime.compile(wat_bytes(text), name="ns.p")


def test_unknown_import_names_module_and_function(runtime: WasmRuntime) -> None:
    text = module(
        '(func (export "proxy_abi_version_0_2_1"))',
        imports='(import "env" "proxy_redis_call" (func (param i32) (result i32)))',
    )
    with pytest.raises(MissingImport) as err:
        runtime.compile(wat_bytes(text), name="ns.redis")
    msg = str(err.value)
    assert "env.proxy_redis_call" in msg and "not provided" in msg and msg.startswith("plugin ns.redis:")


def test_unknown_import_module_is_missing(runtime: WasmRuntime) -> None:
    text = module(
        '(func (export "proxy_abi_version_0_2_1"))',
        imports='(import "wasi:io/streams" "read" (func (param i32) (result i32)))',
    )
    with pytest.raises(MissingImport, match=r"wasi:io/streams\.read"):
        runtime.compile(wat_bytes(text), name="ns.p")


@pytest.mark.parametrize(
    ("marker", "name", "params"),
    [
        ("proxy_abi_version_0_2_0", "proxy_get_log_level", "i32"),
        ("proxy_abi_version_0_1_0", "proxy_continue_stream", "i32"),
        ("proxy_abi_version_0_1_0", "proxy_close_stream", "i32"),
        ("proxy_abi_version_0_2_1", "proxy_get_configuration", "i32 i32"),
        ("proxy_abi_version_0_2_1", "proxy_continue_request", ""),
        ("proxy_abi_version_0_2_0", "proxy_clear_route_cache", ""),
    ],
)
def test_imports_are_gated_by_abi_version_like_envoy(
    runtime: WasmRuntime, marker: str, name: str, params: str
) -> None:
    p = f"(param {params}) " if params else ""
    text = module(f'(func (export "{marker}"))', imports=f'(import "env" "{name}" (func {p}(result i32)))')
    with pytest.raises(MissingImport) as err:
        runtime.compile(wat_bytes(text), name="ns.p")
    assert f"env.{name}" in str(err.value) and "offered only to ABI" in str(err.value)


@pytest.mark.parametrize(
    ("marker", "name", "params"),
    [
        ("proxy_abi_version_0_2_1", "proxy_get_log_level", "i32"),
        ("proxy_abi_version_0_2_0", "proxy_continue_stream", "i32"),
        ("proxy_abi_version_0_1_0", "proxy_get_configuration", "i32 i32"),
        ("proxy_abi_version_0_1_0", "proxy_continue_request", ""),
        ("proxy_abi_version_0_1_0", "proxy_clear_route_cache", ""),
    ],
)
def test_version_specific_imports_link_for_their_version(
    runtime: WasmRuntime, marker: str, name: str, params: str
) -> None:
    p = f"(param {params}) " if params else ""
    text = module(f'(func (export "{marker}"))', imports=f'(import "env" "{name}" (func {p}(result i32)))')
    m = runtime.compile(wat_bytes(text), name="ns.p")
    assert [(i.name, i.supported) for i in m.imports] == [(name, True)]


def test_import_with_wrong_type_fails_the_link(runtime: WasmRuntime) -> None:
    text = module(
        '(func (export "proxy_abi_version_0_2_1"))',
        imports='(import "env" "proxy_log" (func (param i32 i32) (result i32)))',
    )
    with pytest.raises(MissingImport) as err:
        runtime.compile(wat_bytes(text), name="ns.p")
    assert "env.proxy_log" in str(err.value) and "(i32, i32, i32) -> i32" in str(err.value)


def test_i64_metric_imports_need_exact_types(runtime: WasmRuntime) -> None:
    ok = module(
        '(func (export "proxy_abi_version_0_2_1"))',
        imports='(import "env" "proxy_increment_metric" (func (param i32 i64) (result i32)))',
    )
    runtime.compile(wat_bytes(ok), name="ns.p")
    bad = ok.replace("(param i32 i64)", "(param i32 i32)")
    with pytest.raises(MissingImport):
        runtime.compile(wat_bytes(bad), name="ns.p")


def test_wasi_is_offered_under_both_module_names(runtime: WasmRuntime) -> None:
    text = module(
        '(func (export "proxy_abi_version_0_2_0"))',
        imports='(import "wasi_unstable" "proc_exit" (func (param i32)))'
        ' (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))'
        ' (import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))',
    )
    m = runtime.compile(wat_bytes(text), name="ns.p")
    assert all(i.supported and i.implemented for i in m.imports)


def test_every_import_of_the_full_fixture_links(runtime: WasmRuntime) -> None:
    m = runtime.compile(wat_bytes("hostcalls_v021"), name="ns.all")
    assert len(m.imports) > 60
    assert all(i.supported for i in m.imports)
    stubs = {i.name for i in m.imports if not i.implemented}
    assert {"proxy_grpc_call", "envoy_resolve_dns", "fd_read", "path_open"} <= stubs
    assert "proxy_http_call" not in stubs


def test_not_wasm_is_invalid_module(runtime: WasmRuntime) -> None:
    with pytest.raises(InvalidModule, match=r"plugin ns\.p: not a WebAssembly binary"):
        runtime.compile(b"hello world", name="ns.p")


def test_failing_validation_is_invalid_module(runtime: WasmRuntime) -> None:
    with pytest.raises(InvalidModule) as err:
        runtime.compile(b"\0asm\x01\0\0\0\x01\x05", name="ns.p")
    assert "\n" not in str(err.value) and "invalid WebAssembly module" in str(err.value)


def test_module_must_export_memory(runtime: WasmRuntime) -> None:
    text = '(module (func (export "proxy_abi_version_0_2_1")) (func (export "malloc") (param i32) (result i32) (i32.const 0)))'
    with pytest.raises(InvalidModule, match='does not export its linear memory as "memory"'):
        runtime.compile(wat_bytes(text), name="ns.p")


def test_module_must_export_an_allocator(runtime: WasmRuntime) -> None:
    text = '(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_1")))'
    with pytest.raises(InvalidModule, match="neither malloc nor proxy_on_memory_allocate"):
        runtime.compile(wat_bytes(text), name="ns.p")


def test_callback_with_wrong_type_is_refused(runtime: WasmRuntime) -> None:
    text = module(
        '(func (export "proxy_abi_version_0_2_1")) (func (export "proxy_on_request_headers") (param i32 i32) (result i32) (i32.const 0))'
    )
    with pytest.raises(InvalidModule, match="proxy_on_request_headers has type"):
        runtime.compile(wat_bytes(text), name="ns.p")
    # the same two-argument form is right for ABI 0.1.0
    v010 = text.replace("0_2_1", "0_1_0")
    runtime.compile(wat_bytes(v010), name="ns.p")


def test_describe_reports_problems_without_raising(runtime: WasmRuntime) -> None:
    text = module(
        '(func (export "proxy_abi_version_0_2_1"))',
        imports='(import "env" "proxy_nope" (func (result i32))) (import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))',
    )
    d = runtime.describe(wat_bytes(text), name="ns.p")
    assert d.abi_version is AbiVersion.V0_2_1
    assert [(i.name, i.supported) for i in d.imports] == [("proxy_nope", False), ("proxy_log", True)]
    assert d.problems and "env.proxy_nope" in d.problems[0]
    assert d.memory is not None and d.memory.exported and d.memory.min_pages == 1
    assert {e.name for e in d.exports} >= {"memory", "malloc", "proxy_abi_version_0_2_1"}
    assert next(e for e in d.exports if e.name == "malloc").signature == "(i32) -> i32"


def test_compile_cache_shares_artifacts_but_keeps_names(runtime: WasmRuntime) -> None:
    wasm = wat_bytes("header_adder")
    a = runtime.compile(wasm, name="ns.a")
    b = runtime.compile(wasm, name="ns.b")
    assert a.name == "ns.a" and b.name == "ns.b"
    assert a.sha256 == b.sha256 and a._artifact is b._artifact
    assert a.size == len(wasm)
