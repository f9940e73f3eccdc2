"""No malformed input produces a Python exception: random bytes, truncated and mangled YAML, and a
wrong type in every position of every kind, through loading, planning and the CLI."""

from __future__ import annotations

import copy
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from wasmplugin.config import build_plan, load_documents, load_text
from wasmplugin.config.diagnostics import Location
from wasmplugin.config.yamlio import RawDocument, read_text
from wasmplugin.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
BLOG = sorted((REPO / "examples" / "blog").glob("*.yaml"))

VALID: list[dict[str, Any]] = [
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": "istio-system"},
        "data": {
            "mesh": "rootNamespace: istio-system\n",
            "wasmplugin": "priorityOrder: descending\nlimits: {fetch_timeout_s: 5}\n",
        },
    },
    {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": "app", "namespace": "default", "labels": {"x": "y1"}},
        "spec": {
            "address": "127.0.0.1",
            "labels": {"app": "app"},
            "ports": {"http": 8080},
            "serviceAccount": "sa",
        },
    },
    {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "svc", "namespace": "default"},
        "spec": {
            "hosts": ["svc.example"],
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 8080}],
            "resolution": "STATIC",
            "workloadSelector": {"labels": {"app": "app"}},
            "exportTo": ["*"],
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "default"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "e30="},
        "stringData": {"k": "v1"},
    },
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "default"},
        "data": {"k": "v1"},
    },
    {
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": "p", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {
            "url": "oci://r.example/p:v1",
            "sha256": "sha256:" + "ab" * 32,
            "imagePullPolicy": "Always",
            "imagePullSecret": "creds",
            "pluginConfig": {"a": [1, {"b": None}]},
            "pluginName": "root",
            "phase": "UNSPECIFIED",
            "priority": 3,
            "failStrategy": "FAIL_OPEN",
            "type": "HTTP",
            "selector": {"matchLabels": {"app": "app"}},
            "match": [{"mode": "SERVER", "ports": [{"number": 8080}]}],
            "vmConfig": {
                "env": [
                    {"name": "A", "value": "1"},
                    {"name": "B", "valueFrom": "HOST"},
                    {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "D", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}},
                    {
                        "name": "E",
                        "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k", "optional": True}},
                    },
                ]
            },
        },
    },
]

WRONG: list[Any] = [None, 0, -1, 2**40, 1.5, True, "", "x*", [], [None], [1, "a"], {}, {"unexpected": [1]}]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _replace(doc: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return copy.deepcopy(new)
    out = copy.deepcopy(doc)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = copy.deepcopy(new)
    return out


def _exercise(docs: list[Any]) -> None:
    """Load, then plan every workload; the only exception allowed is ConfigError from planning."""
    result = load_documents([RawDocument(Location("f.yaml", i + 1), d) for i, d in enumerate(docs)])
    for error in result.diagnostics:
        assert "\n" not in str(error)
    for workload in result.mesh.workloads:
        try:
            plan = build_plan(result.mesh, workload)
        except ConfigError:
            continue
        plan.to_dict()


def test_valid_fixture_is_valid() -> None:
    result = load_documents([RawDocument(Location("f.yaml", i + 1), d) for i, d in enumerate(VALID)])
    assert result.ok, [str(e) for e in result.errors]
    assert len(result.mesh.plugins) == 1 and len(result.mesh.workloads) == 1


@pytest.mark.parametrize(
    "index", range(len(VALID)), ids=[d["kind"] + ":" + d["metadata"]["name"] for d in VALID]
)
def test_wrong_type_in_every_position(index: int) -> None:
    for path in _paths(VALID[index]):
        for wrong in WRONG:
            docs = list(VALID)
            docs[index] = _replace(VALID[index], path, wrong)
            _exercise(docs)


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(250):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        for name in ("r.yaml", "r.json"):
            docs, diags = read_text(data, name)
            _exercise([d.body for d in docs])
            assert all("\n" not in str(d) for d in diags)


def test_random_text_from_yaml_alphabet() -> None:
    rng = random.Random(99)
    alphabet = [
        *"abc:-[]{}#&*!|>'\"%@`,?\n\t ",
        "apiVersion: ",
        "kind: WasmPlugin",
        "spec:",
        "  url: ",
        "<<: ",
    ]
    for _ in range(1500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 80)))
        load_text(text, "t.yaml")


@pytest.mark.parametrize("path", BLOG, ids=[p.name for p in BLOG])
def test_truncated_blog_files(path: Path) -> None:
    data = path.read_bytes()
    for end in range(0, len(data), 7):
        load_text(data[:end], path.name)


def test_mangled_blog_yaml() -> None:
    rng = random.Random(5)
    sources = [p.read_text().splitlines() for p in BLOG]
    for _ in range(600):
        lines = list(rng.choice(sources))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(lines))
            op = rng.randrange(4)
            if op == 0:
                del lines[i]
            elif op == 1:
                lines.insert(i, lines[i])
            elif op == 2:
                lines[i] = " " + lines[i]
            else:
                lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
            if not lines:
                break
        load_text("\n".join(lines), "m.yaml")


def test_cli_never_shows_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\x00\xff garbage: [\n" + yaml.safe_dump(VALID[5]).encode()[:60])
    worse = tmp_path / "worse.json"
    worse.write_text('{"apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin", "spec": 5}')
    commands = [
        ["validate", "-f", str(tmp_path)],
        ["validate", "-f", str(tmp_path / "missing.yaml")],
        ["get", "wasmplugins", "-A", "-f", str(tmp_path)],
        ["describe", "wasmplugin", "p", "-f", str(tmp_path)],
        ["proxy-config", "wasm", "default/app", "-f", str(tmp_path)],
        ["proxy-config", "ecds", "--admin", "127.0.0.1:1"],
        ["proxy-config", "wasm", "--admin", "not-an-address"],
    ]
    for args in commands:
        proc = subprocess.run(
            [sys.executable, "-m", "wasmplugin", *args], capture_output=True, text=True, timeout=60
        )
        assert "Traceback" not in proc.stderr + proc.stdout, (args, proc.stderr)
        assert proc.returncode in (1, 2), (args, proc.returncode, proc.stderr)


def test_deepest_accepted_document_prints_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from wasmplugin.cli.main import main

    nested: Any = "leaf"
    for _ in range(96):  # root, spec, pluginConfig, then 96 levels: just inside the depth limit
        nested = [nested]
    docs = [*copy.deepcopy(VALID[1:5]), copy.deepcopy(VALID[5])]
    docs[-1]["spec"]["pluginConfig"] = {"deep": nested}
    path = tmp_path / "deep.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    assert load_text(path.read_text(), "deep.yaml").ok
    for args in (
        ["get", "wasmplugins", "-o", "yaml"],
        ["get", "wasmplugins", "-o", "json"],
        ["describe", "wasmplugin", "p"],
        ["proxy-config", "wasm", "default/app", "-o", "yaml"],
        ["proxy-config", "ecds", "default/app", "-o", "json"],
    ):
        code = main([*args, "-f", str(path)])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        assert code == 0 and out, (args, err)
