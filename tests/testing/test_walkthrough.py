"""docs/testing-plugins.md takes a new user from ``init`` to a passing test: this runs the page's
walkthrough block, line by line, for each language — init, build (real toolchains, crates.io / npm /
Go module proxy), the generated pytest tests, the generated declarative tests."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

DOC = REPO / "docs" / "testing-plugins.md"
MARKER = "<!-- walkthrough"


def walkthrough_commands() -> list[str]:
    text = DOC.read_text()
    start = text.index(MARKER)
    block = re.search(r"```console\n(.*?)```", text[start:], re.S)
    assert block is not None, "the walkthrough marker must precede a ```console block"
    return [line[2:] for line in block.group(1).splitlines() if line.startswith("$ ")]


def test_the_block_is_the_documented_journey() -> None:
    commands = walkthrough_commands()
    assert commands[0].startswith("wasmplugin init --lang go ")
    assert "./build.sh" in commands
    assert any(c.startswith("pytest") for c in commands)
    assert any(c.startswith("wasmplugin test") for c in commands)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("lang", ["go", "rust", "assemblyscript"])
def test_walkthrough(lang: str, tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    for key in [k for k in env if k.startswith(("PYTEST_", "COV_"))]:
        del env[key]
    cwd = tmp_path
    outputs: dict[str, str] = {}
    for command in walkthrough_commands():
        command = command.replace("--lang go", f"--lang {lang}")
        argv = shlex.split(command)
        if argv[0] == "cd":
            cwd = cwd / argv[1]
            continue
        done = subprocess.run(
            command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=800
        )
        assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
        outputs[argv[0]] = done.stdout
    assert (cwd / "plugin.wasm").read_bytes().startswith(b"\0asm")
    assert re.search(r"\b5 passed\b", outputs["pytest"]), outputs["pytest"]
    assert "2 case(s): 2 passed, 0 failed" in outputs["wasmplugin"]
