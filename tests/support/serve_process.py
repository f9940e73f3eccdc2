"""Run ``wasmplugin serve`` as a real subprocess on ephemeral ports and talk to it.

Start-up is synchronised on the ``ready`` line the command prints; log lines (stderr) are
collected by a thread so tests can wait for one (``wait_log``) instead of sleeping.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"


class ServeProcess:
    def __init__(
        self, directory: Path, workload: str = "default/app", *extra: str, env: dict[str, str] | None = None
    ) -> None:
        self.directory = directory
        argv = [
            sys.executable,
            "-m",
            "wasmplugin",
            "serve",
            "-f",
            str(directory),
            "--workload",
            workload,
            "--inbound-port",
            "0",
            "--outbound-port",
            "0",
            "--admin-port",
            "0",
            "--reload-interval",
            "0.1",
            *extra,
        ]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=str(ROOT),
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        self.ports: dict[str, int] = {}
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr), daemon=True).start()

    def _pump(self, stream: Any, sink: list[str]) -> None:
        for line in stream:
            with self._cond:
                sink.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not result):
                    if self.proc.poll() is not None:
                        result = predicate()
                        if result:
                            return result
                    raise AssertionError(
                        f"timed out waiting for {what or predicate}\nstdout:\n"
                        + "\n".join(self.stdout)
                        + "\nstderr:\n"
                        + "\n".join(self.stderr[-40:])
                    )
                self._cond.wait(min(left, 0.5))

    def wait_ready(self, timeout: float = 90.0) -> ServeProcess:
        def ready() -> dict[str, int] | None:
            for line in self.stdout:
                if line.startswith("ready "):
                    return {k: int(v.rsplit(":", 1)[1]) for k, v in re.findall(r"(\w+)=(\S+)", line)}
            return None

        self.ports = self.wait_for(ready, timeout, "the ready line")
        return self

    def wait_log(self, pattern: str, timeout: float = 60.0, start: int = 0) -> str:
        rx = re.compile(pattern)

        def found() -> str | None:
            return next((line for line in self.stderr[start:] if rx.search(line)), None)

        return str(self.wait_for(found, timeout, f"log line /{pattern}/"))

    def wait_exit(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout)

    # -- HTTP helpers ------------------------------------------------------------------------------
    def url(self, listener: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[listener]}{path}"

    def admin(self, path: str, method: str = "GET") -> tuple[int, str]:
        return http(self.url("admin", path), method=method)

    def admin_json(self, path: str) -> Any:
        status, body = self.admin(path)
        assert status == 200, body
        return json.loads(body)

    def config_version(self) -> int:
        return int(self.admin_json("/server_info")["config_version"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.admin("/quitquitquit", "POST")
                self.proc.wait(15)
            except Exception:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30.0,
) -> Reply:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def http(url: str, method: str = "GET") -> tuple[int, str]:
    r = fetch(url, method=method)
    return r.status, r.body.decode()


WORKLOAD = """apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: app, namespace: default}}
spec:
  address: 127.0.0.1
  labels: {{app: app}}
  ports: {{http: {port}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: echo, namespace: default}}
spec:
  hosts: [echo.local]
  ports: [{{number: 80, name: http, targetPort: {port}}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1}}]
"""


def plugin_yaml(
    name: str,
    wasm: Path | str,
    *,
    phase: str | None = None,
    priority: int | None = None,
    fail: str | None = None,
    config: str | None = None,
    mode: str | None = None,
    namespace: str = "default",
    labels: str = "{app: app}",
) -> str:
    """One WasmPlugin document (with its leading ``---``) selecting ``labels``."""
    lines = [
        "---",
        "apiVersion: extensions.istio.io/v1alpha1",
        "kind: WasmPlugin",
        f"metadata: {{name: {name}, namespace: {namespace}}}",
        "spec:",
        f"  selector: {{matchLabels: {labels}}}",
        f"  url: file://{wasm}",
    ]
    if phase:
        lines.append(f"  phase: {phase}")
    if priority is not None:
        lines.append(f"  priority: {priority}")
    if fail:
        lines.append(f"  failStrategy: {fail}")
    if mode:
        lines.append(f"  match: [{{mode: {mode}}}]")
    if config:
        lines.append("  pluginConfig:")
        lines.extend("    " + line for line in config.strip().splitlines())
    return "\n".join(lines) + "\n"
