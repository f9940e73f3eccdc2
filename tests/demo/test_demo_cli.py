"""``wasmplugin demo`` end to end, as ``make demo`` runs it: real child processes, real sockets.

* ``--once`` prints the table with every case at its expected status and exits 0;
* a case that does not get its status makes ``--once`` exit 1;
* without ``--once`` it keeps serving (the printed curl commands work) until Ctrl-C, then stops
  the sidecar and the services and removes its temporary run directory;
* Ctrl-C while the sidecar is still starting stops everything too (exit 130).

Synchronisation is on output lines and process exit, with deadlines; never on sleeps.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wasmplugin.demo import httpclient

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "demo"
START_TIMEOUT = 600.0
CASE_ROW = re.compile(r"^(\d+)\s{2}(.+?)\s{2,}.*\s(ok|FAIL)$")


class DemoProcess:
    """``python -m wasmplugin demo ...`` with its output collected line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wasmplugin", "demo", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=str(ROOT),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def text(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_line(self, pattern: str, timeout: float) -> re.Match[str]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if m := rx.search(line):
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines))
                self._cond.wait(min(left, 1.0))

    def wait_exit(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    @classmethod
    def once(cls, *args: str) -> tuple[DemoProcess, int]:
        """``demo --once ARGS`` run to its exit: the process (for its output) and the exit code."""
        demo = cls("--once", *args)
        try:
            return demo, demo.wait_exit(START_TIMEOUT + 120)
        finally:
            demo.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains ``text`` (the sidecar's is ``... serve -f RUN/mesh ...``)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and "pytest" not in cmdline:
            out.append(int(entry.name))
    return out


def gone(pid: int, mesh: Path) -> bool:
    """The sidecar ``pid`` no longer exists (or the pid now belongs to something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return str(mesh).encode() not in cmdline


def case_rows(text: str) -> dict[str, str]:
    rows = {}
    for line in text.splitlines():
        if m := CASE_ROW.match(line):
            rows[m.group(2).strip()] = m.group(3)
    return rows


EXPECTED_CASES = {
    "health check (allowed path)",
    "no token",
    "expired token",
    "wrong audience",
    "valid token, no permission",
    "valid token, nobody may DELETE",
    "valid token (RS256)",
    "valid token (ES256)",
    "burst past the limit (5 per 300s)",
}


def test_demo_once_prints_every_case_at_its_status(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    demo, code = DemoProcess.once("--run-dir", str(run_dir))
    text = demo.text
    assert code == 0, text
    rows = case_rows(text)
    assert set(rows) == EXPECTED_CASES, text
    assert set(rows.values()) == {"ok"}, text
    assert "9/9 cases got their expected status." in text
    # what the plugins did, as the table shows it
    assert "jwt-validator[401]" in text and "rbac-enforcer[403]" in text and "rate-limiter[429]" in text
    assert "429 after 5x200" in text
    assert "x-jwt-sub: alice" in text and "x-custom-header: added-by-wasm" in text
    assert "x-processed-by: wasm-plugin" in text
    assert 'error_description="token expired"' in text and "body: audience mismatch" in text
    assert "modules fetched over http:// and verified against their sha256: 5" in text
    # the chain as proxy-config prints it, and the metrics
    assert re.search(r"1\s+AUTHN\s+10\s+istio-system/jwt-validator", text)
    assert re.search(r"5\s+UNSPECIFIED_PHASE\s+<unset>\s+istio-system/rate-limiter", text)
    assert 'custom_api_requests_total{method="POST",status="429"} 1' in text
    # refused before the STATS phase, still counted (custom-metrics records in on_log)
    assert 'custom_api_requests_total{method="GET",status="401"} 3' in text
    assert 'custom_api_requests_total{method="POST",status="403"} 1' in text
    assert 'custom_api_requests_total{method="DELETE",status="403"} 1' in text
    # everything stopped; the run directory was asked for, so it is kept
    assert processes_mentioning(str(run_dir / "mesh")) == []
    assert (run_dir / "sidecar.log").is_file() and (run_dir / "mesh" / "wasmplugin-authn.yaml").is_file()


def test_demo_once_exits_nonzero_when_a_case_fails(tmp_path: Path) -> None:
    # Without allowed_paths the health check needs a token: that case gets 401, not 200.
    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLES, examples)
    authn = examples / "wasmplugin-authn.yaml"
    text = authn.read_text()
    authn.write_text(text[: text.index("    allowed_paths:")])
    demo, code = DemoProcess.once("--examples", str(examples))
    out = demo.text
    assert code == 1, out
    rows = case_rows(out)
    assert rows.pop("health check (allowed path)") == "FAIL", out
    assert set(rows.values()) == {"ok"}, out
    assert "8/9 cases got their expected status." in out
    kept = demo.wait_line(r"^Run directory kept: (\S+)$", 5).group(1)
    assert Path(kept, "sidecar.log").is_file()  # kept for the post-mortem
    shutil.rmtree(kept)


def test_demo_serves_until_ctrl_c_then_cleans_up(tmp_path: Path) -> None:
    demo = DemoProcess()
    try:
        demo.wait_line(r"^Press Ctrl-C to stop\.$", START_TIMEOUT + 120)
        text = demo.text
        assert "9/9 cases got their expected status." in text
        token = demo.wait_line(r"^  export TOKEN=(\S+)$", 1).group(1)
        port = int(demo.wait_line(r"curl -i http://127\.0\.0\.1:(\d+)/health$", 1).group(1))
        run_dir = Path(demo.wait_line(r"^Sidecar log: (\S+)/sidecar\.log", 1).group(1))
        pid = int(demo.wait_line(r"^  pid (\d+): fetching and compiling", 1).group(1))
        assert not gone(pid, run_dir / "mesh")

        import asyncio

        reply = asyncio.run(
            httpclient.request(
                "127.0.0.1", port, "GET", "/api/v1/orders", [("authorization", f"Bearer {token}")]
            )
        )
        assert reply.status == 200 and b'"x-jwt-sub"' in reply.body

        demo.proc.send_signal(signal.SIGINT)
        assert demo.wait_exit(60) == 0
        assert "Stopping." in demo.text
        assert gone(pid, run_dir / "mesh")  # the demo waited for it before exiting
        assert not run_dir.exists()  # the temporary run directory is removed
    finally:
        demo.kill()


def test_ctrl_c_while_starting_stops_the_sidecar(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    demo = DemoProcess("--run-dir", str(run_dir))
    try:
        pid = int(demo.wait_line(r"^  pid (\d+): fetching and compiling", 60).group(1))
        assert not gone(pid, run_dir / "mesh")
        demo.proc.send_signal(signal.SIGINT)
        assert demo.wait_exit(60) == 130
        assert "Interrupted; stopping." in demo.text
        assert gone(pid, run_dir / "mesh")
    finally:
        demo.kill()
