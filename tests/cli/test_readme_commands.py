"""The README's offline commands, copied from it as a user would and run from the repository root."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_command(prefix: str) -> list[str]:
    """The README line that starts with ``prefix``, as argv (``wasmplugin`` run from this venv)."""
    lines = [ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.startswith(prefix)]
    assert len(lines) == 1, f"expected one README line starting with {prefix!r}, found {lines}"
    argv = shlex.split(lines[0].split(" && ")[0])
    assert argv[0] == "wasmplugin"
    return [sys.executable, "-m", "wasmplugin", *argv[1:]]


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_run_shows_the_blog_headers() -> None:
    r = run(readme_command("wasmplugin run "))
    assert r.returncode == 0, r.stderr
    assert "> x-custom-header: added-by-wasm" in r.stdout
    assert "< x-processed-by: wasm-plugin" in r.stdout
    assert "< x-request-duration-ms:" in r.stdout
    assert "Request: GET /" in r.stdout + r.stderr


def test_validate_reports_the_blog_placeholders_only() -> None:
    r = run(readme_command("wasmplugin validate "))
    assert r.returncode == 1
    out = r.stdout.splitlines() + r.stderr.splitlines()
    errors = [ln for ln in out if ln.startswith("examples/blog/")]  # warnings start with "warning:"
    assert [e.split(":")[0] for e in errors] == [
        "examples/blog/02-wasmplugin-complete.yaml#1",
        "examples/blog/07-module-verification.yaml#1",
    ], errors
    assert all(": spec.sha256: " in e for e in errors)


def test_proxy_config_from_files_lists_the_demo_chain() -> None:
    r = run(readme_command("wasmplugin proxy-config wasm default/"))
    assert r.returncode == 0, r.stderr
    for name in ("jwt-validator", "rbac-enforcer", "custom-metrics", "header-modifier", "rate-limiter"):
        assert f"istio-system/{name}" in r.stdout


def test_inspect_describes_a_module() -> None:
    r = run(readme_command("wasmplugin inspect "))
    assert r.returncode == 0, r.stderr
    assert "ABI       0.2.0" in r.stdout
    assert "runs here yes" in r.stdout
