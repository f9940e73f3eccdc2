"""The Go reference programs the config tests compare against (real Go libraries, not ports).

* ``gourl/``: Go's ``net/url`` (``ParseRequestURI``, ``Parse``, ``String``), which Kubernetes' CEL
  ``isURL``/``url()`` and istiod use on ``spec.url``;
* ``gojsonpb/``: istiod's ``pluginConfig`` → configuration marshaling (``structpb`` + legacy
  ``jsonpb``), fetched through the Go module proxy on first build (pinned by go.sum).

Each is built once per test session into a temporary directory with the local Go toolchain.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def go_binary() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if found is None:
        raise RuntimeError("the Go toolchain is needed for the config reference tests (go not found)")
    return found


def build(program: str, out_dir: Path) -> Path:
    """``go build`` tests/config/<program> into ``out_dir``; returns the binary."""
    target = out_dir / program
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod", CGO_ENABLED="0")
    proc = subprocess.run(
        [go_binary(), "build", "-o", str(target), "."],
        cwd=HERE / program,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"go build {program} failed:\n{proc.stderr}")
    return target


def run_lines(binary: Path, lines: list[str]) -> list[str]:
    proc = subprocess.run(
        [str(binary)],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{binary.name} failed: {proc.stderr}")
    out = proc.stdout.splitlines()
    assert len(out) == len(lines), (len(out), len(lines))
    return out


class GoURL:
    """Answers from Go's net/url, cached; ``answer(s)['requestURI' | 'parse']`` →
    ``{'ok', 'scheme', 'string'}``."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.cache: dict[str, dict[str, Any]] = {}

    def prefetch(self, values: list[str]) -> None:
        todo = sorted({v for v in values if v not in self.cache})
        if not todo:
            return
        for value, line in zip(todo, run_lines(self.binary, [json.dumps(v) for v in todo]), strict=True):
            self.cache[value] = json.loads(line)

    def answer(self, value: str) -> dict[str, Any]:
        if value not in self.cache:
            self.prefetch([value])
        return self.cache[value]
