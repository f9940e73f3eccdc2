"""`wasmplugin pull`, `push` and `cache` as a user runs them (subprocesses, real registries)."""

from __future__ import annotations

import base64
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from support.registry import REGISTRY_PASSWORD, REGISTRY_USER, Registry, TestCA, make_wasm

pytestmark = [pytest.mark.registry, pytest.mark.usefixtures("fetch_env")]

WASM = make_wasm(6000, seed="cli")


def cli(
    *args: str, env: dict[str, str] | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "wasmplugin", *args], capture_output=True, text=True, env=env, timeout=120
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"wasmplugin {' '.join(args)} failed: {proc.stderr}")
    return proc


@pytest.fixture
def env(isolated_home: Path) -> dict[str, str]:
    return dict(os.environ)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    path = tmp_path / "plugin.wasm"
    path.write_bytes(WASM)
    return path


def push_v1(
    registry: Registry, module: Path, repo: str, env: dict[str, str], *options: str
) -> subprocess.CompletedProcess[str]:
    """``wasmplugin push`` of ``module`` as ``repo:v1`` to the plain-HTTP test registry."""
    return cli(
        "push",
        f"{registry.host}/{repo}:v1",
        str(module),
        *options,
        "--insecure-registry",
        registry.host,
        env=env,
        check=True,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_push_prints_only_the_digest_on_stdout_and_pull_finds_it(
    registry: Registry, module: Path, unique_repo: str, env: dict[str, str]
) -> None:
    ref = f"{registry.host}/{unique_repo}:v1"
    pushed = push_v1(registry, module, unique_repo, env)
    digest = pushed.stdout.strip()
    assert pushed.stdout == digest + "\n" and len(digest) == 64
    assert registry.raw_manifest(unique_repo, "v1").digest == f"sha256:{digest}"
    assert "pushed oci://" in pushed.stderr

    pulled = cli(
        "pull", f"oci://{ref}", "--sha256", digest, "--insecure-registry", registry.host, env=env, check=True
    )
    fields = dict(line.split(":", 1) for line in pulled.stdout.splitlines())
    path = Path(fields["cached"].strip())
    assert path.read_bytes() == WASM
    assert fields["manifest digest"].split()[0] == f"sha256:{digest}"
    assert fields["source"].strip() == "downloaded"
    again = cli(
        "pull", f"oci://{ref}", "--sha256", digest, env=env, check=True
    )  # cache: no registry flags needed
    assert "source:          cache" in again.stdout


def test_push_accepts_oci_prefix_and_env_insecure_list(
    registry: Registry, module: Path, unique_repo: str, env: dict[str, str]
) -> None:
    env["WASM_INSECURE_REGISTRIES"] = f"other.example.com,{registry.host}"
    out = cli(
        "push", f"oci://{registry.host}/{unique_repo}", str(module), "--format", "docker", env=env, check=True
    )
    assert registry.raw_manifest(unique_repo, "latest").digest == "sha256:" + out.stdout.strip()


def test_oras_push_warns(registry: Registry, module: Path, unique_repo: str, env: dict[str, str]) -> None:
    out = push_v1(registry, module, unique_repo, env, "--format", "oras")
    assert "Istio rejects it" in out.stderr
    pulled = cli(
        "pull", f"{registry.host}/{unique_repo}:v1", "--insecure-registry", registry.host, env=env, check=True
    )
    assert "warning: single-layer Wasm artifact" in pulled.stderr
    strict = cli(
        "pull",
        f"{registry.host}/{unique_repo}:v1",
        "--istio-strict",
        "--pull-policy",
        "Always",
        "--insecure-registry",
        registry.host,
        env=env,
    )
    assert "number of layers must be 2 but got 1" in one_line_error(strict)


def test_wrong_sha256_is_one_line_naming_both(
    registry: Registry, module: Path, unique_repo: str, env: dict[str, str]
) -> None:
    digest = push_v1(registry, module, unique_repo, env).stdout.strip()
    wrong = "0" * 64
    line = one_line_error(
        cli(
            "pull",
            f"{registry.host}/{unique_repo}:v1",
            "--sha256",
            wrong,
            "--insecure-registry",
            registry.host,
            env=env,
        )
    )
    assert digest in line and wrong in line


def test_private_registry_errors_and_pull_secret(
    auth_registry: Registry,
    test_ca: TestCA,
    module: Path,
    unique_repo: str,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    ref = f"{auth_registry.host}/{unique_repo}:v1"
    ca = ["--ca-file", str(test_ca.ca_file)]
    line = one_line_error(cli("push", ref, str(module), *ca, env=env))
    assert "requires authentication" in line

    dockerconfig = json.dumps(
        {"auths": {auth_registry.host: {"username": REGISTRY_USER, "password": REGISTRY_PASSWORD}}}
    ).encode()
    auth_file = tmp_path / "auth.json"
    auth_file.write_bytes(dockerconfig)
    digest = cli(
        "push", ref, str(module), "--auth-file", str(auth_file), *ca, env=env, check=True
    ).stdout.strip()

    assert "requires authentication" in one_line_error(cli("pull", ref, *ca, env=env))
    secret = tmp_path / "secret.yaml"
    secret.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\n  namespace: istio-system\n"
        "type: kubernetes.io/dockerconfigjson\n"
        f"data:\n  .dockerconfigjson: {base64.b64encode(dockerconfig).decode()}\n"
    )
    out = cli("pull", ref, "--sha256", digest, "--pull-secret", str(secret), *ca, env=env, check=True)
    assert REGISTRY_PASSWORD not in out.stdout + out.stderr

    wrong = tmp_path / "wrong.json"
    wrong.write_text(
        json.dumps({"auths": {auth_registry.host: {"username": REGISTRY_USER, "password": "nope"}}})
    )
    line = one_line_error(
        cli("pull", ref, "--pull-secret", str(wrong), "--pull-policy", "Always", *ca, env=env)
    )
    assert "rejected the credentials for user 'alice'" in line and "nope" not in line

    # Untrusted TLS without --ca-file: one line that says what to do.
    assert "--ca-file" in one_line_error(cli("pull", f"{auth_registry.host}/{unique_repo}:other", env=env))


def test_pull_json_output_and_copy(
    registry: Registry, module: Path, unique_repo: str, env: dict[str, str], tmp_path: Path
) -> None:
    push_v1(registry, module, unique_repo, env, "--format", "compat")
    out = tmp_path / "copy.wasm"
    res = cli(
        "pull",
        f"{registry.host}/{unique_repo}:v1",
        "--json",
        "-o",
        str(out),
        "--insecure-registry",
        registry.host,
        env=env,
        check=True,
    )
    obj = json.loads(res.stdout)
    assert obj["layout"] == "compat" and obj["manifest_digest"].startswith("sha256:")
    assert out.read_bytes() == WASM == Path(obj["path"]).read_bytes()


def test_not_a_wasm_file_and_bad_reference(registry: Registry, tmp_path: Path, env: dict[str, str]) -> None:
    junk = tmp_path / "junk.wasm"
    junk.write_text("hello")
    assert "not a Wasm module" in one_line_error(cli("push", f"{registry.host}/x:v1", str(junk), env=env))
    assert "cannot read module" in one_line_error(
        cli("push", f"{registry.host}/x:v1", str(tmp_path / "missing"), env=env), code=2
    )
    assert "invalid repository" in one_line_error(cli("pull", "oci://registry.example.com/UPPER:v1", env=env))
    assert "has a digest" in one_line_error(
        cli("push", f"{registry.host}/x@sha256:{'a' * 64}", str(junk), env=env)
    )


def test_cache_ls_prune_and_dir(
    registry: Registry, module: Path, unique_repo: str, env: dict[str, str]
) -> None:
    assert cli("cache", "ls", env=env, check=True).stdout.startswith("no cached modules")
    push_v1(registry, module, unique_repo, env)
    cli(
        "pull", f"{registry.host}/{unique_repo}:v1", "--insecure-registry", registry.host, env=env, check=True
    )
    listing = cli("cache", "ls", env=env, check=True).stdout
    assert f"oci://{registry.host}/{unique_repo}" in listing and "1 module(s)" in listing
    assert cli("cache", "dir", env=env, check=True).stdout.strip() == env["WASMPLUGIN_CACHE_DIR"]
    kept = cli("cache", "prune", env=env, check=True).stdout  # nothing expired yet
    assert kept.startswith("removed 0 module(s)")
    gone = cli("cache", "prune", "--older-than", "0s", env=env, check=True).stdout
    assert gone.startswith("removed 1 module(s)")
    assert cli("cache", "ls", env=env, check=True).stdout.startswith("no cached modules")


def test_progress_bar_only_on_a_terminal(
    registry: Registry, unique_repo: str, env: dict[str, str], tmp_path: Path
) -> None:
    big = tmp_path / "big.wasm"
    big.write_bytes(make_wasm(3 * 1024 * 1024, seed="big"))
    env["WASMPLUGIN_PROGRESS_DELAY_S"] = "0"
    ref = f"{registry.host}/{unique_repo}:v1"
    piped = cli("push", ref, str(big), "--insecure-registry", registry.host, env=env, check=True)
    assert "[#" not in piped.stderr and "\r" not in piped.stderr

    # The same push with stderr on a pseudo-terminal draws a bar.
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wasmplugin", "pull", ref, "--insecure-registry", registry.host],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    shown = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert "[" in shown and "#" in shown and "MiB" in shown


def test_help_texts() -> None:
    for cmd in (["pull"], ["push"], ["cache"], ["cache", "prune"]):
        out = cli(*cmd, "--help", check=True).stdout
        assert "usage: wasmplugin" in out
    assert "spec.sha256" in cli("push", "--help").stdout
