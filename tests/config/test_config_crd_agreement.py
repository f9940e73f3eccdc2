"""wasmplugin's WasmPlugin admission agrees with Istio's real CRD, document by document.

The reference is the CRD file evaluated by jsonschema + cel-python + Go's net/url
(``crd_reference.py``); the corpus (``wasmplugin_corpus.py``) is generated. The project's verdict is
taken in ``--strict`` mode (the blog's forms are errors there, as in Istio) and compared on
acceptance and on the set of rejected field paths. Cases the CRD accepts but istiod's webhook
rejects are marked in the corpus and must be rejected by the project with a webhook error.
"""

from __future__ import annotations

from typing import Any

import pytest
from crd_reference import CrdReference
from wasmplugin_corpus import Case, generate

from wasmplugin.config.diagnostics import Location
from wasmplugin.config.wasmplugin import parse_wasmplugin

CASES = generate()


def _document(spec: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": "p", "namespace": "default"},
    }
    if spec is not None:
        doc["spec"] = spec
    return doc


def _ours(spec: Any, strict: bool = True) -> tuple[set[str], set[str]]:
    """(CRD-stage error paths, webhook error paths) from the project's validator."""
    _, diags = parse_wasmplugin(_document(spec), Location("corpus.yaml", 1), strict=strict)
    errors = [d for d in diags if d.is_error]
    assert all(d.origin in ("schema", "extension", "webhook") for d in errors), [str(d) for d in errors]
    crd = {d.field or "" for d in errors if d.origin != "webhook"}
    webhook = {d.field or "" for d in errors if d.origin == "webhook"}
    return crd, webhook


@pytest.fixture(scope="module")
def reference(crd_reference: CrdReference) -> CrdReference:
    crd_reference.go_url.prefetch(
        [v for c in CASES if isinstance(c.spec, dict) and isinstance(v := c.spec.get("url"), str)]
        + [
            "http://" + v
            for c in CASES
            if isinstance(c.spec, dict) and isinstance(v := c.spec.get("url"), str)
        ]
    )
    return crd_reference


def test_corpus_is_large_and_mixed(reference: CrdReference) -> None:
    verdicts = [not reference.problems(c.spec) for c in CASES]
    assert len(CASES) >= 100
    assert sum(verdicts) >= 50, "too few valid documents"
    assert len(verdicts) - sum(verdicts) >= 50, "too few invalid documents"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_verdict_agrees_with_the_crd(case: Case, reference: CrdReference) -> None:
    expected = reference.problems(case.spec)
    crd, webhook = _ours(case.spec)
    assert crd == expected, f"CRD says {sorted(expected)}, wasmplugin says {sorted(crd)}"
    if case.webhook and not expected:
        assert webhook, "istiod's webhook rejects this; wasmplugin must too"
    if not case.webhook:
        assert not webhook, f"unexpected webhook errors {sorted(webhook)}"


def test_the_reference_is_not_trivial(reference: CrdReference) -> None:
    """Spot checks that the reference itself sees what the CRD says (guards the harness)."""
    assert reference.problems({"url": "oci://x/y:v1"}) == set()
    assert reference.problems({"url": "ftp://x"}) == {"spec.url"}
    assert reference.problems({"url": "x", "sha256": "sha256:" + "a" * 64}) == {"spec.sha256"}
    assert reference.problems({"url": "x", "phase": "UNSPECIFIED"}) == {"spec.phase"}
    assert reference.problems({"url": "x", "selector": {}, "targetRefs": []}) == {"spec"}
    assert reference.problems({"url": "x", "vmConfig": {"env": [{"name": "a"}, {"name": "a"}]}}) == {
        "spec.vmConfig.env[1]"
    }
    assert reference.problems({"url": "x", "priority": None}) == set()
    assert reference.problems({"url": "x", "bogus": 1}) == {"spec.bogus"}
