"""Reading files: go-yaml v2 scalars, JSON, directories, stdin, and errors that name file and line."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import pytest

from wasmplugin.config import load, load_text
from wasmplugin.config.yamlio import read_text, resolve_plain
from wasmplugin.limits import DEFAULT_LIMITS


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("y", True),
        ("Yes", True),
        ("on", True),
        ("TRUE", True),
        ("n", False),
        ("off", False),
        ("No", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("10", 10),
        ("-3", -3),
        ("+7", 7),
        ("0x1F", 31),
        ("0o17", 15),
        ("017", 15),
        ("0b101", 5),
        ("-0b101", -5),
        ("1_000", 1000),
        ("08", 8.0),
        ("1e3", 1000.0),
        ("1.5e3", 1500.0),
        (".5", 0.5),
        ("+.5", 0.5),
        ("12345678901234567890", 12345678901234567890),
        ("1:30", "1:30"),
        ("2001-12-14", "2001-12-14"),
        ("1e400", "1e400"),
        ("-", "-"),
        ("yes please", "yes please"),
        ("0x", "0x"),
        ("._5", "._5"),
    ],
)
def test_plain_scalars_resolve_like_go_yaml_v2(text: str, value: object) -> None:
    resolved = resolve_plain(text)[1]
    assert resolved == value and type(resolved) is type(value)


def test_documents_become_kubernetes_json() -> None:
    docs, diags = read_text(
        "a: 1.0\nb: 12345678901234567890\nc: 1e3\nd: '1e3'\n1: x\ntrue: y\n<<: {m: 1}\n", "t.yaml"
    )
    assert diags == []
    assert docs[0].body == {
        "m": 1,
        "a": 1,
        "b": float(12345678901234567890),
        "c": 1000,
        "d": "1e3",
        "1": "x",
        "true": True,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\na: 2\n", "line 2 column 1: YAML syntax error: duplicate key 'a'"),
        ("a: .inf\n", "cannot be represented in JSON"),
        ("a: .nan\n", "cannot be represented in JSON"),
        ("a: [1\n", "line 2 column 1: YAML syntax error"),
        ("---\na: 1\n---\nb: {\n", "t.yaml#2: line 5"),
        ("a: b\n\x07\n", "t.yaml: line 2: unacceptable character #x0007"),
        ("a: !custom x\n", "could not determine a constructor for the tag '!custom'"),
        ("a: &x [*x]\n", "nested more than 100 levels deep"),
        ("a: !!int abc\n", "cannot decode 'abc'"),
    ],
)
def test_yaml_errors_name_file_document_and_line(text: str, expected: str) -> None:
    _, diags = read_text(text, "t.yaml")
    assert len(diags) == 1 and expected in str(diags[0]), str(diags[0])


def test_billion_laughs_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    _, diags = read_text(
        "\n".join(lines) + "\n",
        "bomb.yaml",
        limits=DEFAULT_LIMITS.with_overrides(config_document_max_nodes=100_000),
    )
    assert len(diags) == 1 and "aliases" in diags[0].reason


def test_nesting_depth_is_bounded() -> None:
    deep = "a: " + "[" * 100 + "]" * 100 + "\n"
    docs, diags = read_text(deep, "d.yaml")
    assert diags == [] and docs
    _, diags = read_text("a: " + "[" * 101 + "]" * 101 + "\n", "d.yaml")
    assert [d.reason for d in diags] == ["document is nested more than 100 levels deep"]
    _, diags = read_text("a: " + "[" * 5000 + "]" * 5000 + "\n", "d.yaml")
    assert len(diags) == 1


def test_json_files() -> None:
    docs, diags = read_text('{"apiVersion": "v1", "kind": "ConfigMap", "n": 1.0}', "c.json")
    assert diags == [] and docs[0].body["n"] == 1 and isinstance(docs[0].body["n"], int)
    _, diags = read_text('{"a": 1, "a": 2}', "c.json")
    assert "duplicate key" in diags[0].reason
    _, diags = read_text('{"a": NaN}', "c.json")
    assert "NaN" in diags[0].reason
    _, diags = read_text('{"a": [1,}', "c.json")
    assert diags[0].reason.startswith("line 1 column 10: JSON syntax error")


def test_not_utf8_and_too_big() -> None:
    _, diags = read_text(b"a: \xff\xfe\n", "b.yaml")
    assert "not UTF-8" in diags[0].reason
    _, diags = read_text(
        b"a: 1\n" * 10, "b.yaml", limits=DEFAULT_LIMITS.with_overrides(config_file_max_bytes=20)
    )
    assert "larger than 20 bytes" in diags[0].reason


def test_directories_recursion_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    plugin = (
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: %s}\nspec: {url: x}\n"
    )
    (tmp_path / "a.yaml").write_text(plugin % "a")
    (tmp_path / "b.yml").write_text(plugin % "b")
    (tmp_path / "c.json").write_text(
        '{"apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin", '
        '"metadata": {"name": "c"}, "spec": {"url": "x"}}'
    )
    (tmp_path / "notes.txt").write_text("not config")
    (tmp_path / "sub" / "d.yaml").write_text(plugin % "d")
    flat = load([str(tmp_path)])
    assert sorted(p.name for p in flat.mesh.plugins) == ["a", "b", "c"]
    deep = load([str(tmp_path)], recursive=True)
    assert sorted(p.name for p in deep.mesh.plugins) == ["a", "b", "c", "d"]
    missing = load([str(tmp_path / "nope.yaml")])
    assert [str(e) for e in missing.errors] == [f"{tmp_path / 'nope.yaml'}: no such file or directory"]


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        b"apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: s}\nspec: {url: x}\n"
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
    result = load(["-"])
    assert result.ok and [p.name for p in result.mesh.plugins] == ["s"] and result.files == ("<stdin>",)


def test_lists_and_empty_documents_and_unknown_kinds() -> None:
    text = """
---
# only a comment
---
apiVersion: v1
kind: List
items:
- apiVersion: extensions.istio.io/v1alpha1
  kind: WasmPlugin
  metadata: {name: one}
  spec: {url: x}
- apiVersion: extensions.istio.io/v1alpha1
  kind: WasmPlugin
  metadata: {name: two}
  spec: {url: x}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
"""
    result = load_text(text, "l.yaml")
    assert sorted(p.name for p in result.mesh.plugins) == ["one", "two"]
    assert [str(w) for w in result.warnings] == [
        "warning: l.yaml#3: apps/v1 Deployment is not used by wasmplugin; ignored"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "l.yaml#1: not a Kubernetes object"),
        ("just a string\n", "l.yaml#1: not a Kubernetes object"),
        ("kind: WasmPlugin\n", "l.yaml#1: apiVersion: apiVersion is missing (WasmPlugin)"),
        ("apiVersion: v1\n", "l.yaml#1: kind: kind is missing"),
        (
            "apiVersion: extensions.istio.io/v1beta1\nkind: WasmPlugin\n",
            "served as extensions.istio.io/v1alpha1",
        ),
        (
            "apiVersion: v1\nkind: WasmPlugin\n",
            "WasmPlugin is served as extensions.istio.io/v1alpha1, not v1",
        ),
        (
            "apiVersion: networking.istio.io/v2\nkind: ServiceEntry\n",
            "served as networking.istio.io/v1, v1beta1, v1alpha3",
        ),
    ],
)
def test_kind_errors(text: str, expected: str) -> None:
    result = load_text(text, "l.yaml")
    assert len(result.errors) == 1 and expected in str(result.errors[0]), str(result.errors[0])


def test_float_is_finite_everywhere() -> None:
    docs, _ = read_text("a: 1.5\n", "t.yaml")
    assert math.isfinite(docs[0].body["a"])


def test_pure_python_parser_agrees_with_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyYAML without libyaml falls back to its pure-Python parser: same documents, same errors."""
    from wasmplugin.config import yamlio

    repo = Path(__file__).resolve().parents[2]
    texts = [p.read_text() for p in sorted((repo / "examples" / "blog").glob("*.yaml"))]
    texts += ["a: 1\na: 2\n", "a: [1\n", "---\na: 1\n---\nb: {\n", "a: b\n\x07\n", "a: .inf\n"]
    texts += ["x: 0o17\ny: n\n"]

    def summary(text: str) -> tuple[object, ...]:
        docs, diags = read_text(text, "t.yaml")
        return tuple(d.body for d in docs), tuple(d.location.document for d in diags)

    with_libyaml = [summary(t) for t in texts]
    monkeypatch.setattr(yamlio, "_CParser", None)
    assert [summary(t) for t in texts] == with_libyaml
