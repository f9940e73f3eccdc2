"""The repository's shell scripts parse, and none has the `... | grep -q` race under pipefail.

With ``set -o pipefail`` a pipeline fails when any stage fails. ``grep -q`` exits at its first match,
and a writer still writing (``printf`` of a list, ``rustup target list``) then dies of SIGPIPE, so
``writer | grep -q x`` can report "not found" for a line that is there. It did on CI, for the first
plugin name in plugins/build.sh. Scripts use a here-string instead: ``grep -q x <<<"$(writer)"``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_PARTS = {".venv", "node_modules", "target", ".git", ".cargo-home", ".build"}
PIPE_INTO_QUIET_GREP = re.compile(r"\|\s*grep\s+(-[A-Za-z]*q|--quiet)")


def shell_scripts() -> list[Path]:
    found = [p for p in ROOT.rglob("*.sh") if not SKIP_PARTS.intersection(p.relative_to(ROOT).parts)]
    return sorted([*found, ROOT / ".ci" / "run"])


def test_the_scripts_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in shell_scripts()}
    assert {"plugins/build.sh", "plugins/ensure-toolchains.sh", ".ci/run"} <= names


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_script_parses(script: Path) -> None:
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_pipe_into_quiet_grep_under_pipefail(script: Path) -> None:
    text = script.read_text()
    if "pipefail" not in text:
        return
    bad = [
        f"{script.relative_to(ROOT)}:{n}: {line.strip()}"
        for n, line in enumerate(text.splitlines(), 1)
        if not line.lstrip().startswith("#") and PIPE_INTO_QUIET_GREP.search(line)
    ]
    hint = 'pipe into grep -q under pipefail (use grep -q PATTERN <<<"$(cmd)"):'
    assert bad == [], "\n".join([hint, *bad])


def test_the_race_is_real_under_pipefail() -> None:
    """The pattern the test above forbids does fail on a match when the writer outlives grep.

    seq writes ~15 MB, far more than a pipe holds, so it is still writing when grep exits.
    """
    script = "set -o pipefail; { echo first; seq 1 2000000; } | grep -qx first"
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    fixed = 'set -o pipefail; grep -qx first <<<"$({ echo first; seq 1 2000000; })"'
    assert subprocess.run(["bash", "-c", fixed], check=False).returncode == 0
