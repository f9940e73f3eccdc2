"""A blog form: a ``kubectl`` command pasted into a YAML file.

The blog's private-registry snippet starts with ``kubectl create secret docker-registry …`` and
then the WasmPlugin, in one code block. That is not YAML (kubectl would reject the file), but the
intent is clear, so as an extension (id ``kubectl-command``) ``kubectl create secret
docker-registry`` is turned into the Secret kubectl would create (type
``kubernetes.io/dockerconfigjson``, same ``.dockerconfigjson`` bytes). Any other command is an
error. ``--strict`` rejects the form.

Commands are recognised only at column 0, where YAML could never parse them, and continue over
lines ending in ``\\``. Their lines are blanked before YAML parsing so line numbers stay right.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass
from typing import Any

from wasmplugin.config.diagnostics import Diagnostic, Location, error, warning

__all__ = ["ShellCommand", "extract", "to_document"]

#: kubectl's default for ``--docker-server``.
DOCKER_HUB = "https://index.docker.io/v1/"


@dataclass(frozen=True, slots=True)
class ShellCommand:
    line: int
    text: str


def extract(text: str) -> tuple[str, list[ShellCommand]]:
    """Blank out ``kubectl …`` commands; return the remaining text and the commands."""
    if "kubectl" not in text:
        return text, []
    lines = text.split("\n")
    commands: list[ShellCommand] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("kubectl ") or lines[i].rstrip() == "kubectl":
            start = i
            parts = [lines[i].rstrip()]
            while parts[-1].endswith("\\") and i + 1 < len(lines):
                parts[-1] = parts[-1][:-1]
                i += 1
                parts.append(lines[i].rstrip())
            if parts[-1].endswith("\\"):
                parts[-1] = parts[-1][:-1]
            for j in range(start, i + 1):
                lines[j] = ""
            commands.append(ShellCommand(start + 1, " ".join(p.strip() for p in parts)))
        i += 1
    return "\n".join(lines), commands


def _docker_registry_secret(args: list[str]) -> dict[str, Any]:
    """``kubectl create secret docker-registry NAME [flags]`` → the Secret object."""
    flags = {
        "--docker-server": "server",
        "--docker-username": "username",
        "--docker-password": "password",
        "--docker-email": "email",
        "--namespace": "namespace",
        "-n": "namespace",
    }
    values: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            flag, eq, value = arg.partition("=")
            if flag not in flags:
                raise ValueError(f"unsupported flag {flag}")
            if not eq:
                if i + 1 >= len(args):
                    raise ValueError(f"flag {flag} needs a value")
                i += 1
                value = args[i]
            values[flags[flag]] = value
        else:
            positional.append(arg)
        i += 1
    if len(positional) != 1:
        raise ValueError("expected exactly one secret name")
    for needed in ("username", "password"):
        if needed not in values:
            raise ValueError(f"--docker-{needed} is required")
    entry = {"username": values["username"], "password": values["password"]}
    if values.get("email"):
        entry["email"] = values["email"]
    entry["auth"] = base64.b64encode(f"{values['username']}:{values['password']}".encode()).decode()
    config = json.dumps({"auths": {values.get("server", DOCKER_HUB): entry}}, separators=(",", ":"))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": positional[0], "namespace": values.get("namespace", "default")},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()},
    }


def to_document(file: str, command: ShellCommand) -> tuple[dict[str, Any] | None, Diagnostic]:
    """The Secret a ``kubectl create secret docker-registry`` command creates, with the extension
    warning; or None and an error for anything else."""
    where = Location(file, None, command.line)
    shown = command.text if len(command.text) <= 60 else command.text[:57] + "..."
    try:
        argv = shlex.split(command.text)
    except ValueError as exc:
        return None, error(f"{shown!r} is a shell command, not YAML ({exc})", location=where, origin="yaml")
    if argv[1:4] != ["create", "secret", "docker-registry"]:
        return None, error(
            f"{shown!r} is a shell command, not YAML: run it in a shell and remove it from the file",
            location=where,
            origin="yaml",
        )
    try:
        secret = _docker_registry_secret(argv[4:])
    except ValueError as exc:
        return None, error(f"kubectl create secret docker-registry: {exc}", location=where, origin="yaml")
    meta = secret["metadata"]
    return secret, warning(
        f"a kubectl command is not YAML; read as the Secret {meta['namespace']}/{meta['name']} "
        "(type kubernetes.io/dockerconfigjson) it creates; Istio needs the command run with kubectl",
        location=where,
        resource=f"Secret {meta['namespace']}/{meta['name']}",
        origin="extension",
        extension="kubectl-command",
    )
