#!/usr/bin/env python3
"""MANIFEST.json for plugins/: what each plugin's sources and modules hash to.

Used by plugins/build.sh (stdlib only, runs with any python3 >= 3.9):

    manifest.py list                      plugin names (directories with plugin.json and build.sh)
    manifest.py outputs NAME              the files NAME's build.sh writes (plugin.wasm, variants)
    manifest.py update NAME=TOOLCHAIN...  re-hash those plugins and rewrite MANIFEST.json
    manifest.py check NAME...             sources and committed modules still match MANIFEST.json
    manifest.py compare NAME DIR          rebuilt modules in DIR are byte-identical to the committed ones

The sources of a plugin are the files matched by the globs in its plugin.json ``sources`` (relative
to the plugin's directory; shared code in a sibling directory such as ``../go-common/**/*.go`` is
recorded with its ``../`` path); their digest is sha256 over the sorted lines
``<relative path>\\0<sha256 of the file>\\n``.
tests/plugins/test_manifest.py recomputes the same digest independently.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

PLUGINS = Path(__file__).resolve().parent
MANIFEST = PLUGINS / "MANIFEST.json"
#: Directories no source glob may reach into (build outputs and caches).
IGNORED_PARTS = {"node_modules", "target", ".cargo-home", ".build"}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plugin_names() -> list[str]:
    return sorted(
        p.name for p in PLUGINS.iterdir() if (p / "plugin.json").is_file() and (p / "build.sh").is_file()
    )


def plugin_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PLUGINS / name / "plugin.json").read_text())
    return data


def source_files(name: str) -> list[str]:
    """Relative paths (POSIX) of the files matched by plugin.json ``sources``.

    A glob may reach a sibling directory of shared code (``../go-common/**/*.go``); such files are
    recorded as ``../go-common/...``. Nothing outside plugins/ may be a source.
    """
    root = PLUGINS / name
    found: set[str] = set()
    for pattern in plugin_json(name).get("sources", []):
        for path in root.glob(pattern):
            norm = os.path.normpath(path)
            if Path(os.path.relpath(norm, PLUGINS)).parts[0] == "..":
                continue  # outside plugins/
            rel = Path(os.path.relpath(norm, root))
            if path.is_file() and not IGNORED_PARTS.intersection(rel.parts):
                found.add(rel.as_posix())
    return sorted(found)


def sources_digest(name: str) -> tuple[str, dict[str, str]]:
    root = PLUGINS / name
    files = {rel: sha256_file(root / rel) for rel in source_files(name)}  # rel may start with ../
    lines = "".join(f"{rel}\0{digest}\n" for rel, digest in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest(), files


def outputs(name: str) -> dict[str, dict[str, Any]]:
    """Output file → {abi, load} from plugin.json: plugin.wasm plus optional ``variants``."""
    meta = plugin_json(name)
    result: dict[str, dict[str, Any]] = {"plugin.wasm": {"abi": meta.get("abi"), "load": "ok"}}
    for file, variant in meta.get("variants", {}).items():
        result[file] = {"abi": variant.get("abi"), "load": variant.get("load", "ok")}
    return result


def load_manifest() -> dict[str, Any]:
    if MANIFEST.is_file():
        data: dict[str, Any] = json.loads(MANIFEST.read_text())
        return data
    return {}


def write_manifest(data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    tmp = MANIFEST.with_suffix(".json.tmp")
    tmp.write_text(text)
    tmp.replace(MANIFEST)


def entry_for(name: str, toolchain: str) -> dict[str, Any]:
    meta = plugin_json(name)
    digest, files = sources_digest(name)
    outs: dict[str, Any] = {}
    for file, info in outputs(name).items():
        path = PLUGINS / name / file
        outs[file] = {
            "abi": info["abi"],
            "load": info["load"],
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
        }
    return {
        "language": meta.get("language"),
        "abi": meta.get("abi"),
        "toolchain": toolchain,
        "sources_sha256": digest,
        "sources": files,
        "outputs": outs,
    }


def cmd_update(args: list[str]) -> int:
    data = load_manifest()
    data["about"] = (
        "Written by plugins/build.sh; do not edit. sources_sha256 = sha256 over sorted "
        "'<path>\\0<sha256>\\n' lines of the files matched by plugin.json 'sources'."
    )
    plugins = data.setdefault("plugins", {})
    for arg in args:
        name, _, toolchain = arg.partition("=")
        plugins[name] = entry_for(name, toolchain)
    for stale in set(plugins) - set(plugin_names()):
        del plugins[stale]
    write_manifest(data)
    return 0


def cmd_check(names: list[str]) -> int:
    plugins = load_manifest().get("plugins", {})
    bad = 0
    for name in names:
        entry = plugins.get(name)
        if entry is None:
            print(f"{name}: not in MANIFEST.json (run plugins/build.sh {name})")
            bad += 1
            continue
        digest, files = sources_digest(name)
        if digest != entry.get("sources_sha256"):
            recorded = entry.get("sources", {})
            changed = sorted(f for f in set(files) | set(recorded) if files.get(f) != recorded.get(f))
            print(f"{name}: sources changed since MANIFEST.json was written: {', '.join(changed)}")
            bad += 1
        for file in outputs(name):
            path = PLUGINS / name / file
            want = entry.get("outputs", {}).get(file, {}).get("sha256")
            if not path.is_file() or sha256_file(path) != want:
                print(f"{name}: {file} does not match MANIFEST.json")
                bad += 1
    return 1 if bad else 0


def cmd_compare(name: str, rebuilt_dir: str) -> int:
    """Prints one line per output: name, file, bytes, IDENTICAL or DIFFERENT (with both hashes)."""
    bad = 0
    for file in outputs(name):
        committed = PLUGINS / name / file
        rebuilt = Path(rebuilt_dir) / file
        if not rebuilt.is_file():
            print(f"{name:<22} {file:<28} {'-':>9}  MISSING (build.sh did not write it)")
            bad += 1
            continue
        new = sha256_file(rebuilt)
        old = sha256_file(committed) if committed.is_file() else "(none)"
        size = rebuilt.stat().st_size
        if new == old:
            print(f"{name:<22} {file:<28} {size:>9}  identical  {new[:16]}")
        else:
            print(f"{name:<22} {file:<28} {size:>9}  DIFFERENT  committed {old[:16]} rebuilt {new[:16]}")
            bad += 1
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "list":
        print("\n".join(plugin_names()))
        return 0
    if cmd == "outputs":
        print("\n".join(outputs(args[0])))
        return 0
    if cmd == "update":
        return cmd_update(args)
    if cmd == "check":
        return cmd_check(args)
    if cmd == "compare":
        return cmd_compare(args[0], args[1])
    print(f"unknown command {cmd!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
