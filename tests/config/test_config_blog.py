"""The blog's YAML: a faithful copy in examples/blog/, and how each document validates."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from support.shared_material import shared_file
from wasmplugin.config import load

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "blog"


def _blog() -> Path:
    env = os.environ.get("WASMPLUGIN_BLOG")
    return Path(env) if env else shared_file("seed/how-to-build-istio-wasmplugin.md")


def _blog_yaml_blocks() -> list[str]:
    return [
        body for lang, body in re.findall(r"```(\w*)\n(.*?)```", _blog().read_text(), re.S) if lang == "yaml"
    ]


def test_examples_are_byte_identical_to_the_blog() -> None:
    blocks = _blog_yaml_blocks()
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) == len(blocks) == 14
    for path, block in zip(files, blocks, strict=True):
        assert path.read_bytes() == block.encode(), path.name


def test_every_document_validates_except_the_two_placeholder_sha256() -> None:
    result = load([str(EXAMPLES)])
    errors = result.errors
    assert [(Path(e.location.file or "").name, e.location.document, e.field) for e in errors] == [
        ("02-wasmplugin-complete.yaml", 1, "spec.sha256"),
        ("07-module-verification.yaml", 1, "spec.sha256"),
    ]
    for error in errors:
        assert "64 lowercase hex" in error.reason
    # 14 snippets, 15 YAML documents, plus the Secret the kubectl command in snippet 06 creates
    assert result.documents == 16
    assert len(result.mesh.plugins) == 13


def test_strict_reports_exactly_the_blog_forms() -> None:
    result = load([str(EXAMPLES)], strict=True)
    found = sorted(
        (Path(e.location.file or "").name, e.field, e.extension)
        for e in result.errors
        if e.extension is not None
    )
    assert found == [
        ("02-wasmplugin-complete.yaml", "spec.vmConfig.env[1].valueFrom", "env-value-from"),
        ("02-wasmplugin-complete.yaml", "spec.vmConfig.env[2].valueFrom", "env-value-from"),
        ("06-private-registry.yaml", None, "kubectl-command"),
        ("08-static-configuration.yaml", "spec.phase", "phase-unspecified"),
        ("09-environment-variables.yaml", "spec.vmConfig.env[1].valueFrom", "env-value-from"),
        ("09-environment-variables.yaml", "spec.vmConfig.env[2].valueFrom", "env-value-from"),
        ("09-environment-variables.yaml", "spec.vmConfig.env[3].valueFrom", "env-value-from"),
        ("09-environment-variables.yaml", "spec.vmConfig.env[4].valueFrom", "env-value-from"),
    ]
    others = [e for e in result.errors if e.extension is None]
    assert [e.field for e in others] == ["spec.sha256", "spec.sha256"]
    for error in result.errors:
        if error.extension:
            assert "rejected by --strict" in error.reason


def test_without_strict_the_blog_forms_are_warnings_naming_istios_form() -> None:
    result = load([str(EXAMPLES)])
    by_extension = {w.extension: w for w in result.warnings if w.extension}
    assert set(by_extension) == {"env-value-from", "kubectl-command", "phase-unspecified"}
    assert "UNSPECIFIED_PHASE" in by_extension["phase-unspecified"].reason
    assert "INLINE or HOST" in by_extension["env-value-from"].reason
    assert "kubectl" in by_extension["kubectl-command"].reason


@pytest.mark.parametrize("name", [p.name for p in sorted(EXAMPLES.glob("*.yaml"))])
def test_each_snippet_alone(name: str) -> None:
    result = load([str(EXAMPLES / name)])
    expected_errors = 1 if name in ("02-wasmplugin-complete.yaml", "07-module-verification.yaml") else 0
    assert len(result.errors) == expected_errors, [str(e) for e in result.errors]


def test_private_registry_secret_from_the_kubectl_command_resolves() -> None:
    from wasmplugin.config.env import resolve_pull_secret

    mesh = load([str(EXAMPLES / "06-private-registry.yaml")]).mesh
    plugin = mesh.plugin("istio-system", "private-plugin")
    assert plugin is not None
    secret, problem = resolve_pull_secret(mesh, plugin)
    assert problem is None and secret is not None and secret.resolved
    assert secret.name == "kubernetes://istio-system/ghcr-pull-secret"
    import json

    config = json.loads(secret.dockerconfigjson.reveal())
    assert config == {
        "auths": {"ghcr.io": {"username": "myuser", "password": "mytoken", "auth": "bXl1c2VyOm15dG9rZW4="}}
    }
