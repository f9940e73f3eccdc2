"""The committed modules are what their sources build into, and the Go plugins' own tests pass.

Each plugin is rebuilt by ``plugins/build.sh --verify NAME`` (into a temporary directory; the tree is
not changed) and must come out byte-identical to the committed ``.wasm``. Each Go directory with a
``test.sh`` runs it: ``go vet`` (native and wasip1) and ``go test``, whose request-flow tests use the
Go SDK's host emulator (proxywasm/proxytest).

The toolchains are installed by ``make test`` (plugins/ensure-toolchains.sh) before pytest starts.
A missing toolchain is a failure naming it, never a skip: a module nobody can rebuild is not
verified. Go and rustup are also looked for where their installers put them (/usr/local/go/bin,
~/.cargo/bin), in case PATH lacks them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
# A cold machine downloads Go modules, crates and npm packages on the first build.
BUILD_TIMEOUT_S = 900
EXTRA_PATH = ("/usr/local/go/bin", str(Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin"))
INSTALL_HINT = "run `make test` (it runs plugins/ensure-toolchains.sh) or see plugins/README.md#building"


def plugin_names() -> list[str]:
    """What plugins/build.sh builds: every directory with plugin.json and build.sh."""
    return sorted(
        p.name for p in PLUGINS.iterdir() if (p / "plugin.json").is_file() and (p / "build.sh").is_file()
    )


def go_test_dirs() -> list[str]:
    return sorted(p.name for p in PLUGINS.iterdir() if (p / "test.sh").is_file() and (p / "go.mod").is_file())


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([env.get("PATH", ""), *EXTRA_PATH])
    return env


def missing_toolchain(language: str, env: dict[str, str]) -> str | None:
    """One line naming what this language's build needs and is not installed, or None."""

    def which(cmd: str) -> str | None:
        return shutil.which(cmd, path=env["PATH"])

    if language == "go":
        return None if which("go") else "Go 1.26 (`go`) is not installed (looked on PATH, /usr/local/go/bin)"
    if language == "rust":
        if not which("cargo"):
            return "Rust (`cargo`, rustup stable 1.95.0) is not installed"
        rustup = which("rustup")
        if rustup:
            installed = subprocess.run(
                [rustup, "target", "list", "--installed"], env=env, capture_output=True, text=True
            ).stdout.split()
            if "wasm32-wasip1" not in installed:
                return "the Rust target wasm32-wasip1 is not installed (rustup target add wasm32-wasip1)"
        return None
    if language == "c":
        absent = [c for c in ("clang", "wasm-ld") if not which(c)]
        if not Path("/usr/lib/wasm32-wasi/libc.a").is_file():
            absent.append("wasi-libc")
        if not list(Path("/usr/lib").glob("llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a")):
            absent.append("libclang-rt-14-dev-wasm32")
        return f"the C toolchain lacks {', '.join(absent)}" if absent else None
    if language == "assemblyscript":
        return None if which("npm") and which("node") else "Node.js and npm are not installed"
    return None


def run(cmd: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
    )
    return proc, time.monotonic() - t0


def shown(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT_S + 60)
@pytest.mark.parametrize("name", plugin_names())
def test_committed_module_matches_a_rebuild(name: str) -> None:
    language = json.loads((PLUGINS / name / "plugin.json").read_text()).get("language", "")
    missing = missing_toolchain(language, tool_env())
    if missing:
        pytest.fail(f"{name}: cannot verify plugin.wasm: {missing}; {INSTALL_HINT}", pytrace=False)
    proc, seconds = run(["bash", str(PLUGINS / "build.sh"), "--verify", name], cwd=PLUGINS.parent)
    assert proc.returncode == 0, f"plugins/build.sh --verify {name} failed ({seconds:.1f} s)\n{shown(proc)}"
    assert "verify OK" in proc.stdout, shown(proc)
    assert f"{name}: rebuilt in" in proc.stdout, shown(proc)


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT_S + 60)
@pytest.mark.parametrize("name", go_test_dirs())
def test_go_vet_and_unit_tests_pass(name: str) -> None:
    missing = missing_toolchain("go", tool_env())
    if missing:
        pytest.fail(f"{name}: cannot run test.sh: {missing}; {INSTALL_HINT}", pytrace=False)
    proc, seconds = run(["bash", str(PLUGINS / name / "test.sh")], cwd=PLUGINS / name)
    assert proc.returncode == 0, f"plugins/{name}/test.sh failed after {seconds:.1f} s\n{shown(proc)}"
    assert "FAIL" not in proc.stdout, shown(proc)


def test_every_go_plugin_has_a_test_script() -> None:
    """A Go plugin without test.sh would silently drop out of the parametrization above."""
    go_plugins = [n for n in plugin_names() if (PLUGINS / n / "go.mod").is_file()]
    assert go_plugins, "no Go plugin found under plugins/"
    assert [n for n in go_plugins if n not in go_test_dirs()] == []
    assert "go-common" in go_test_dirs()
