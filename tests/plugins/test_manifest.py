"""plugins/MANIFEST.json is true: committed sources and modules hash to what it records, and every
module is a valid proxy-wasm module with exactly the ABI its plugin.json declares.

The digest of a plugin's sources is recomputed here independently of plugins/manifest.py: sha256
over the sorted lines ``<relative path>\\0<sha256 of the file>\\n`` of the files matched by the
plugin.json ``sources`` globs. wasmtime only validates the modules (compiling the multi-megabyte Go
modules would take seconds each), never runs them; imports and exports are read from the binary's
sections by the small reader below.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import wasmtime

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
MANIFEST = PLUGINS / "MANIFEST.json"
KNOWN_ABIS = ("0.1.0", "0.2.0", "0.2.1")
IGNORED_PARTS = {"node_modules", "target", ".cargo-home", ".build"}

# Host functions a module may import from "env", per ABI version (proxy-wasm-abi.md §2.4, §4).
COMMON_HOST_FUNCTIONS = frozenset(
    {
        "proxy_log",
        "proxy_get_current_time_nanoseconds",
        "proxy_set_tick_period_milliseconds",
        "proxy_set_effective_context",
        "proxy_done",
        "proxy_call_foreign_function",
        "proxy_get_buffer_bytes",
        "proxy_set_buffer_bytes",
        "proxy_get_buffer_status",
        "proxy_get_header_map_pairs",
        "proxy_set_header_map_pairs",
        "proxy_get_header_map_value",
        "proxy_add_header_map_value",
        "proxy_replace_header_map_value",
        "proxy_remove_header_map_value",
        "proxy_get_header_map_size",
        "proxy_get_property",
        "proxy_set_property",
        "proxy_send_local_response",
        "proxy_get_status",
        "proxy_http_call",
        "proxy_grpc_call",
        "proxy_grpc_stream",
        "proxy_grpc_send",
        "proxy_grpc_cancel",
        "proxy_grpc_close",
        "proxy_get_shared_data",
        "proxy_set_shared_data",
        "proxy_register_shared_queue",
        "proxy_resolve_shared_queue",
        "proxy_enqueue_shared_queue",
        "proxy_dequeue_shared_queue",
        "proxy_define_metric",
        "proxy_increment_metric",
        "proxy_record_metric",
        "proxy_get_metric",
    }
)
HOST_FUNCTIONS = {
    "0.1.0": COMMON_HOST_FUNCTIONS
    | {"proxy_get_configuration", "proxy_continue_request", "proxy_continue_response"}
    | {"proxy_clear_route_cache"},
    "0.2.0": COMMON_HOST_FUNCTIONS | {"proxy_continue_stream", "proxy_close_stream"},
    "0.2.1": COMMON_HOST_FUNCTIONS | {"proxy_continue_stream", "proxy_close_stream", "proxy_get_log_level"},
}
WASI_MODULES = {"wasi_snapshot_preview1", "wasi_unstable"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@cache
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST.read_text())
    return data


def plugin_dirs() -> list[str]:
    return sorted(p.name for p in PLUGINS.iterdir() if (p / "plugin.json").is_file())


def plugin_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PLUGINS / name / "plugin.json").read_text())
    return data


def declared_outputs(name: str) -> dict[str, dict[str, Any]]:
    """plugin.wasm with the plugin's ABI, plus plugin.json ``variants``."""
    meta = plugin_json(name)
    outs = {"plugin.wasm": {"abi": meta.get("abi"), "load": "ok"}}
    for file, variant in meta.get("variants", {}).items():
        outs[file] = {"abi": variant.get("abi"), "load": variant.get("load", "ok")}
    return outs


def all_outputs() -> list[tuple[str, str]]:
    return [(name, file) for name in plugin_dirs() for file in declared_outputs(name)]


def sources_digest(name: str) -> tuple[str, dict[str, str]]:
    """Shared code a plugin builds from (``../go-common/**/*.go``) is keyed ``../go-common/...``."""
    root = PLUGINS / name
    files: dict[str, str] = {}
    for pattern in plugin_json(name)["sources"]:
        for path in root.glob(pattern):
            resolved = path.resolve()
            assert resolved.is_relative_to(PLUGINS), f"{name}: source {pattern!r} leaves plugins/"
            if path.is_file():
                rel = Path(os.path.relpath(resolved, root))
                if not IGNORED_PARTS.intersection(rel.parts):
                    files[rel.as_posix()] = sha256(path)
    lines = "".join(f"{rel}\0{digest}\n" for rel, digest in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest(), files


# --- a reader for the import, function, type and export sections ------------------------------------

VALTYPES = {
    0x7F: "i32",
    0x7E: "i64",
    0x7D: "f32",
    0x7C: "f64",
    0x7B: "v128",
    0x70: "funcref",
    0x6F: "externref",
}
KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


@dataclass(frozen=True)
class Extern:
    module: str  # "" for exports
    name: str
    kind: str
    signature: tuple[tuple[str, ...], tuple[str, ...]] | None  # functions only


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result

    def name(self) -> str:
        n = self.uleb()
        self.pos += n
        return self.data[self.pos - n : self.pos].decode()

    def limits(self) -> None:
        flags = self.byte()
        self.uleb()
        if flags & 1:
            self.uleb()


@dataclass
class ModuleInfo:
    imports: list[Extern]
    exports: list[Extern]


def read_module(data: bytes) -> ModuleInfo:
    assert data[:8] == b"\0asm\x01\0\0\0", "not a wasm 1.0 binary"
    r = Reader(data)
    r.pos = 8
    types: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    func_types: list[int] = []
    imports: list[Extern] = []
    raw_exports: list[tuple[str, int, int]] = []
    while r.pos < len(data):
        section, size = r.byte(), r.uleb()
        end = r.pos + size
        if section == 1:
            for _ in range(r.uleb()):
                assert r.byte() == 0x60
                params = tuple(VALTYPES[r.byte()] for _ in range(r.uleb()))
                results = tuple(VALTYPES[r.byte()] for _ in range(r.uleb()))
                types.append((params, results))
        elif section == 2:
            for _ in range(r.uleb()):
                module, field, kind = r.name(), r.name(), r.byte()
                sig = None
                if kind == 0:
                    func_types.append(r.uleb())
                    sig = types[func_types[-1]]
                elif kind == 1:
                    r.byte()
                    r.limits()
                elif kind == 2:
                    r.limits()
                elif kind == 3:
                    r.pos += 2
                else:
                    r.byte()
                    r.uleb()
                imports.append(Extern(module, field, KINDS[kind], sig))
        elif section == 3:
            func_types.extend(r.uleb() for _ in range(r.uleb()))
        elif section == 7:
            for _ in range(r.uleb()):
                raw_exports.append((r.name(), r.byte(), r.uleb()))
        r.pos = end
    exports = [
        Extern("", name, KINDS[kind], types[func_types[index]] if kind == 0 else None)
        for name, kind, index in raw_exports
    ]
    return ModuleInfo(imports, exports)


@cache
def validated(name: str, file: str) -> ModuleInfo:
    data = (PLUGINS / name / file).read_bytes()
    wasmtime.Module.validate(wasmtime.Engine(), data)  # raises on an invalid module
    return read_module(data)


# --- the manifest covers exactly the plugins there are --------------------------------------------


def test_every_plugin_directory_is_in_the_manifest() -> None:
    assert sorted(manifest()["plugins"]) == plugin_dirs(), "run plugins/build.sh for the missing plugins"


@pytest.mark.parametrize("name", plugin_dirs())
def test_plugin_json_is_complete(name: str) -> None:
    meta = plugin_json(name)
    assert meta.get("language") in {"rust", "go", "assemblyscript", "c", "wat"}
    assert meta.get("abi") in KNOWN_ABIS
    assert meta.get("description"), "plugin.json needs a description"
    assert meta.get("sources"), "plugin.json needs source globs"
    assert (PLUGINS / name / "build.sh").is_file()


@pytest.mark.parametrize("name", plugin_dirs())
def test_manifest_records_the_declared_outputs(name: str) -> None:
    recorded = manifest()["plugins"][name]["outputs"]
    declared = declared_outputs(name)
    assert sorted(recorded) == sorted(declared)
    for file, info in declared.items():
        assert recorded[file]["abi"] == info["abi"], file
        assert recorded[file]["load"] == info["load"], file


# --- sources and modules hash to what the manifest says --------------------------------------------


@pytest.mark.parametrize("name", plugin_dirs())
def test_sources_match_the_manifest(name: str) -> None:
    entry = manifest()["plugins"][name]
    digest, files = sources_digest(name)
    assert files, f"{name}: the sources globs match no file"
    changed = sorted(f for f in set(files) | set(entry["sources"]) if files.get(f) != entry["sources"].get(f))
    assert not changed, f"{name}: sources changed without a rebuild (run plugins/build.sh {name}): {changed}"
    assert digest == entry["sources_sha256"]


@pytest.mark.parametrize(("name", "file"), all_outputs())
def test_module_matches_the_manifest(name: str, file: str) -> None:
    path = PLUGINS / name / file
    assert path.is_file(), f"{name}/{file} is missing (run plugins/build.sh {name})"
    recorded = manifest()["plugins"][name]["outputs"][file]
    assert sha256(path) == recorded["sha256"], f"{name}/{file} differs from MANIFEST.json"
    assert path.stat().st_size == recorded["bytes"]


# --- each module is a proxy-wasm module with the declared ABI --------------------------------------


@pytest.mark.parametrize(("name", "file"), all_outputs())
def test_module_exports_exactly_its_abi_marker(name: str, file: str) -> None:
    module = validated(name, file)
    markers = [e for e in module.exports if e.name.startswith("proxy_abi_version_")]
    abi = declared_outputs(name)[file]["abi"]
    if abi is None:
        assert markers == [], f"{name}/{file} must have no ABI marker"
    else:
        assert [m.name for m in markers] == ["proxy_abi_version_" + abi.replace(".", "_")]
        assert markers[0].kind == "func" and markers[0].signature == ((), ())


@pytest.mark.parametrize(("name", "file"), all_outputs())
def test_module_has_memory_and_an_allocator(name: str, file: str) -> None:
    exports = {e.name: e for e in validated(name, file).exports}
    assert "memory" in exports and exports["memory"].kind == "memory"
    allocator = exports.get("malloc") or exports.get("proxy_on_memory_allocate")
    assert allocator is not None, "needs malloc or proxy_on_memory_allocate"
    assert allocator.signature == (("i32",), ("i32",))


@pytest.mark.parametrize(("name", "file"), all_outputs())
def test_module_imports_only_what_its_abi_offers(name: str, file: str) -> None:
    """Envoy links imports by ABI version; a fixture meant to be refused must import something unknown."""
    info = declared_outputs(name)[file]
    imports = [(i.module, i.name) for i in validated(name, file).imports]
    allowed = HOST_FUNCTIONS.get(info["abi"] or "0.2.1", HOST_FUNCTIONS["0.2.1"])
    unknown = [f"{m}.{n}" for m, n in imports if not (m in WASI_MODULES or (m == "env" and n in allowed))]
    if info["load"] == "refused" and info["abi"] is not None:
        assert unknown, f"{name}/{file} should import a function no host provides"
    else:
        assert unknown == [], f"{name}/{file} imports functions its ABI {info['abi']} does not have"


@pytest.mark.parametrize(("name", "file"), [("c-hostcalls", "plugin.wasm"), ("as-headers", "plugin.wasm")])
def test_section_reader_agrees_with_wasmtime(name: str, file: str) -> None:
    """The reader above, checked against a real compilation on two small modules."""
    data = (PLUGINS / name / file).read_bytes()
    module = wasmtime.Module(wasmtime.Engine(), data)
    info = read_module(data)

    def sig(ty: object) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        if isinstance(ty, wasmtime.FuncType):
            return tuple(str(t) for t in ty.params), tuple(str(t) for t in ty.results)
        return None

    assert [(i.module, i.name, sig(i.type)) for i in module.imports] == [
        (i.module, i.name, i.signature) for i in info.imports
    ]
    assert [(e.name, sig(e.type)) for e in module.exports] == [(e.name, e.signature) for e in info.exports]
