"""``wasmplugin inspect plugin.wasm``: what a module is and whether this host can run it.

ABI version, every import marked supported (implemented or a documented stub) or not, exports,
size, sha256 and declared memory limits — from the host's own module audit
(:meth:`WasmRuntime.describe`, the same checks that decide whether a plugin loads). Exit 0 when the
module can run here, 1 when it cannot (the reasons are printed), 2 for a file that is not Wasm.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmplugin.errors import UsageError

if TYPE_CHECKING:
    from wasmplugin.host.module import ImportInfo, ModuleDescription

EXIT_RUNNABLE = 0
EXIT_NOT_RUNNABLE = 1
PAGE = 65536


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "inspect",
        help="show a module's ABI, imports (supported or not), exports, size, sha256, memory",
        description=(
            "Audit a proxy-wasm module with this host's loader: the ABI version it declares, every "
            "import marked as supported, stubbed or missing, its exports, size, sha256 and declared "
            "memory limits. Exit 0 when the module can run here, 1 when it cannot."
        ),
    )
    p.add_argument("module", metavar="PLUGIN.wasm", help="the module file")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.add_argument("--no-exports", action="store_true", help="text output: leave out the export list")
    p.set_defaults(func=inspect_command)


def describe_file(path: Path) -> ModuleDescription:
    """The host's description of the module at ``path`` (compiled, never instantiated)."""
    from wasmplugin.host.runtime import WasmRuntime, default_cache_dir

    try:
        wasm = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    runtime = WasmRuntime(cache_dir=default_cache_dir())
    try:
        return runtime.describe(wasm, name=path.name)
    finally:
        runtime.close()


def to_dict(d: ModuleDescription, path: str) -> dict[str, Any]:
    memory = None
    if d.memory is not None:
        memory = {
            "minPages": d.memory.min_pages,
            "maxPages": d.memory.max_pages,
            "minBytes": d.memory.min_pages * PAGE,
            "maxBytes": None if d.memory.max_pages is None else d.memory.max_pages * PAGE,
            "exported": d.memory.exported,
            "imported": d.memory.imported,
        }
    return {
        "file": path,
        "size": d.size,
        "sha256": d.sha256,
        "abiVersion": d.abi_version.value if d.abi_version is not None else None,
        "runnable": not d.problems,
        "problems": list(d.problems),
        "memory": memory,
        "imports": [
            {
                "module": i.module,
                "name": i.name,
                "kind": i.kind,
                "signature": i.signature,
                "support": _support(i),
                "problem": i.problem or None,
            }
            for i in d.imports
        ],
        "exports": [{"name": e.name, "kind": e.kind, "signature": e.signature} for e in d.exports],
    }


def _support(i: ImportInfo) -> str:
    """``supported`` (implemented), ``stub`` (linked; answers a fixed status) or ``missing``."""
    if not i.supported:
        return "missing"
    return "supported" if i.implemented else "stub"


def _pages(n: int) -> str:
    size = n * PAGE
    human = f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size // 1024} KiB"
    return f"{n} pages ({human})"


def render_text(d: ModuleDescription, path: str, *, exports: bool = True) -> str:
    lines = [f"{path}"]
    lines.append(f"  size      {d.size} bytes")
    lines.append(f"  sha256    {d.sha256}")
    abi = d.abi_version.value if d.abi_version is not None else "none (not a proxy-wasm module)"
    lines.append(f"  ABI       {abi}")
    if d.memory is None:
        lines.append("  memory    none declared")
    else:
        m = d.memory
        where = "exported" if m.exported else ("imported" if m.imported else "not exported")
        maximum = "no maximum" if m.max_pages is None else f"max {_pages(m.max_pages)}"
        lines.append(f"  memory    min {_pages(m.min_pages)}, {maximum}, {where}")
    if d.problems:
        lines.append("  runs here NO")
        lines.extend(f"    - {p}" for p in d.problems)
    else:
        lines.append("  runs here yes")
    counts = {"supported": 0, "stub": 0, "missing": 0}
    for i in d.imports:
        counts[_support(i)] += 1
    lines.append(
        f"imports ({len(d.imports)}: {counts['supported']} supported, {counts['stub']} stubbed, "
        f"{counts['missing']} missing)"
    )
    width = max((len(f"{i.module}.{i.name}") for i in d.imports), default=0)
    for i in d.imports:
        mark = {"supported": "ok     ", "stub": "stub   ", "missing": "MISSING"}[_support(i)]
        name = f"{i.module}.{i.name}".ljust(width)
        detail = f"  -- {i.problem}" if i.problem else ""
        lines.append(f"  {mark} {name}  {i.kind} {i.signature}{detail}")
    if exports:
        lines.append(f"exports ({len(d.exports)})")
        ewidth = max((len(e.name) for e in d.exports), default=0)
        for e in d.exports:
            lines.append(f"  {e.kind:<6} {e.name.ljust(ewidth)}  {e.signature}")
    return "\n".join(lines) + "\n"


def inspect_command(args: argparse.Namespace) -> int:
    path = Path(args.module)
    description = describe_file(path)
    if args.output == "json":
        json.dump(to_dict(description, str(path)), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(description, str(path), exports=not args.no_exports))
    return EXIT_NOT_RUNNABLE if description.problems else EXIT_RUNNABLE
