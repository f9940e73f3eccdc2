"""``wasmplugin init``: a new plugin project that builds, with a WasmPlugin resource and passing tests.

The skeletons live in ``wasmplugin/cli/templates/<lang>/`` (plus ``common/`` for what every language
shares: the WasmPlugin YAML, a pytest file on :mod:`wasmplugin.testing`, a declarative test file and
a README). Files are copied with ``__NAME__`` (the plugin name), ``__CRATE__`` (the name with ``_``
for ``-``, Rust's library file name) and ``__LANG__`` replaced; ``gitignore`` becomes ``.gitignore``.
See docs/testing-plugins.md.
"""

from __future__ import annotations

import argparse
import re
import stat
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from wasmplugin.errors import UsageError

#: ``--lang`` value → (template directory, name shown to users).
LANGUAGES = {
    "rust": ("rust", "Rust, proxy-wasm crate 0.2.5, wasm32-wasip1"),
    "go": ("go", "Go >= 1.24, proxy-wasm-go-sdk"),
    "assemblyscript": ("assemblyscript", "AssemblyScript 0.14.9, @solo-io/proxy-runtime 0.1.8"),
}
ALIASES = {"as": "assemblyscript", "tinygo": "go"}

#: A DNS-1123 label: the name is also the WasmPlugin's metadata.name, a Go module and a crate name.
_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_LEFTOVER = re.compile(r"__[A-Z]+__")
#: Template file names that become dotfiles (dotfiles are awkward as package data).
_RENAMES = {"gitignore": ".gitignore"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init",
        help="create a new plugin project (Rust, Go or AssemblyScript) that builds and has tests",
        description=(
            "Create a plugin project in ./NAME (or --dir): sources, build.sh, a WasmPlugin resource "
            "(wasmplugin.yaml), a pytest file using the wasmplugin harness and a declarative test file "
            "for `wasmplugin test`. Then: cd NAME && ./build.sh && pytest tests/"
        ),
    )
    p.add_argument(
        "name", metavar="NAME", help="plugin name: lower-case letters, digits and '-' (a DNS label)"
    )
    p.add_argument(
        "--lang",
        required=True,
        type=str.lower,
        choices=sorted([*LANGUAGES, *ALIASES]),
        metavar="rust|go|assemblyscript",
        help="plugin language and SDK",
    )
    p.add_argument(
        "--dir", metavar="PATH", help="directory to create (default ./NAME); must not exist or be empty"
    )
    p.set_defaults(func=init_command)


@dataclass(frozen=True)
class Scaffold:
    directory: Path
    files: tuple[Path, ...]
    language: str


def create_project(name: str, lang: str, directory: Path) -> Scaffold:
    """Write the skeleton for ``lang`` into ``directory`` (created; must be absent or empty)."""
    lang = ALIASES.get(lang, lang)
    if lang not in LANGUAGES:
        raise UsageError(f"--lang {lang!r}: choose rust, go or assemblyscript")
    if not _NAME.match(name):
        raise UsageError(
            f"plugin name {name!r}: use lower-case letters, digits and '-', starting with a letter "
            "(at most 63 characters), e.g. my-plugin"
        )
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise UsageError(f"{directory} already exists and is not an empty directory")
    template_dir, label = LANGUAGES[lang]
    tokens = {"__NAME__": name, "__CRATE__": name.replace("-", "_"), "__LANG__": label}
    root = resources.files("wasmplugin.cli") / "templates"
    plan: list[tuple[Path, bytes]] = []
    for part in ("common", template_dir):
        for rel, item in _walk(root / part, Path()):
            target = directory / rel.parent / _RENAMES.get(rel.name, rel.name)
            plan.append((target, _render(item.read_text(encoding="utf-8"), tokens, rel).encode()))
    written: list[Path] = []
    for target, data in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if target.suffix == ".sh":
            target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        written.append(target)
    return Scaffold(directory, tuple(sorted(written)), lang)


def _walk(node: Traversable, rel: Path) -> list[tuple[Path, Traversable]]:
    out: list[tuple[Path, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda t: t.name):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            out.extend(_walk(child, rel / child.name))
        else:
            out.append((rel / child.name, child))
    return out


def _render(text: str, tokens: dict[str, str], rel: Path) -> str:
    for token, value in tokens.items():
        text = text.replace(token, value)
    leftover = _LEFTOVER.search(text)
    if leftover:  # a template bug, not a user mistake
        raise RuntimeError(f"template {rel}: unknown placeholder {leftover.group(0)}")
    return text


def init_command(args: argparse.Namespace) -> int:
    directory = Path(args.dir) if args.dir else Path(args.name)
    scaffold = create_project(args.name, args.lang, directory)
    print(f"created {scaffold.directory}/ ({LANGUAGES[scaffold.language][1]}):")
    for f in scaffold.files:
        print(f"  {f.relative_to(scaffold.directory)}")
    print("next:")
    print(f"  cd {scaffold.directory}")
    print("  ./build.sh                              # build plugin.wasm")
    print("  pytest tests/                           # run the generated tests")
    print("  wasmplugin test tests/plugin.test.yaml  # the declarative ones")
    return 0
