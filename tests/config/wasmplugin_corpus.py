"""A generated corpus of WasmPlugin specs, valid and invalid, for the CRD agreement test.

Every case is a base spec plus one mutation; then seeded random combinations of two or three
mutations. Nothing here says what the verdict should be: the reference (the real CRD evaluated by
jsonschema + cel-python + Go) decides, and the test compares. ``webhook`` marks mutations the CRD
accepts but istiod's webhook rejects (documented in wasmplugin.config.webhook).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HEX64 = "0123456789abcdef" * 4

BASES: dict[str, dict[str, Any]] = {
    "minimal": {"url": "oci://ghcr.io/acme/plugin:v1"},
    "selector": {
        "url": "oci://ghcr.io/acme/plugin:v1",
        "selector": {"matchLabels": {"app": "api-gateway"}},
        "phase": "AUTHN",
        "priority": 10,
    },
    "full": {
        "url": "https://example.com/plugin.wasm",
        "sha256": HEX64,
        "imagePullPolicy": "IfNotPresent",
        "imagePullSecret": "pull-secret",
        "pluginConfig": {"a": 1, "nested": {"list": [1, "x", True]}},
        "pluginName": "root",
        "phase": "STATS",
        "priority": -3,
        "failStrategy": "FAIL_OPEN",
        "type": "HTTP",
        "vmConfig": {"env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": "HOST"}]},
        "match": [{"mode": "SERVER", "ports": [{"number": 8080}]}],
    },
    "targetrefs": {
        "url": "oci://ghcr.io/acme/plugin:v1",
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}],
    },
}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    keys = path.split(".")

    def apply(spec: dict[str, Any]) -> None:
        target: Any = spec
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = copy.deepcopy(value)

    return apply


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    keys = path.split(".")

    def apply(spec: dict[str, Any]) -> None:
        target: Any = spec
        for key in keys[:-1]:
            target = target.get(key, {})
        if isinstance(target, dict):
            target.pop(keys[-1], None)

    return apply


@dataclass(frozen=True)
class Mutation:
    label: str
    apply: Callable[[dict[str, Any]], None]
    webhook: bool = False
    #: False for expensive cases (thousands of values through cel-python): not used in combinations.
    combinable: bool = True


def _env(*items: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return _set("vmConfig", {"env": list(items)})


def _labels(labels: Any) -> Callable[[dict[str, Any]], None]:
    return _set("selector", {"matchLabels": labels})


def _refs(*refs: Any) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        spec.pop("selector", None)
        spec.pop("targetRef", None)
        spec["targetRefs"] = copy.deepcopy(list(refs))

    return apply


GW = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}

MUTATIONS: list[Mutation] = [
    Mutation("identity", lambda s: None),
    # url
    *[
        Mutation(f"url={u!r}", _set("url", u))
        for u in [
            "ghcr.io/acme/plugin:v1",
            "http://example.com/p.wasm",
            "HTTPS://Example.com/p.wasm",
            "file:///opt/plugins/p.wasm",
            "oci://localhost:5000/p:v1",
            "localhost:5000/p:v1",
            "ftp://example.com/p.wasm",
            "gs://bucket/p.wasm",
            "",
            "x",
            "/absolute/path.wasm",
            "http://a b/",
            "oci://host/a b",
            "%zz",
            "http://[::1]:8080/p.wasm",
            "http://[1.2.3.4]/p.wasm",
            "http://[zzz]/",
            "oci://host/p#frag",
            "http://x/\x01",
            "mailto:me@example.com",
            "oci:relative",
            "http://user:pw@host/p.wasm",
            "http://ho%41st/",
            "http://::1/",
            "a:b",
        ]
    ],
    Mutation("url=5", _set("url", 5)),
    Mutation("url missing", _delete("url")),
    # sha256
    *[
        Mutation(f"sha256={v!r}", _set("sha256", v))
        for v in [
            "",
            HEX64,
            HEX64[:63],
            HEX64 + "0",
            HEX64.upper(),
            "sha256:" + HEX64,
            HEX64 + "\n",
            "zz",
            "a]b1c2",
        ]
    ],
    Mutation("sha256=1", _set("sha256", 1)),
    # enums
    *[
        Mutation(f"phase={v!r}", _set("phase", v))
        for v in ["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS", "UNSPECIFIED", "authn", "", 1]
    ],
    *[
        Mutation(f"failStrategy={v!r}", _set("failStrategy", v))
        for v in ["FAIL_CLOSE", "FAIL_RELOAD", "FAIL"]
    ],
    *[
        Mutation(f"imagePullPolicy={v!r}", _set("imagePullPolicy", v))
        for v in ["UNSPECIFIED_POLICY", "Always", "IF_NOT_PRESENT", "always"]
    ],
    *[Mutation(f"type={v!r}", _set("type", v)) for v in ["UNSPECIFIED_PLUGIN_TYPE", "NETWORK", "TCP"]],
    # priority
    *[
        Mutation(f"priority={v!r}", _set("priority", v))
        for v in [0, -5, 2147483647, -2147483648, None, "10", 1.5, True]
    ],
    Mutation("priority=2^31", _set("priority", 2147483648), webhook=True),
    Mutation("priority=-2^31-1", _set("priority", -2147483649), webhook=True),
    # strings with lengths
    *[Mutation(f"imagePullSecret len {n}", _set("imagePullSecret", "s" * n)) for n in [0, 1, 253, 254]],
    *[Mutation(f"pluginName len {n}", _set("pluginName", "p" * n)) for n in [0, 1, 256, 257]],
    Mutation("verificationKey", _set("verificationKey", "key")),
    Mutation("verificationKey=5", _set("verificationKey", 5)),
    # pluginConfig
    *[
        Mutation(f"pluginConfig={v!r}", _set("pluginConfig", v))
        for v in [{}, {"k": [1, {"x": None}]}, [1], "s", None]
    ],
    # selector
    Mutation("selector {}", _set("selector", {})),
    Mutation("selector no labels", _labels({})),
    Mutation("selector wildcard value", _labels({"app": "x*"})),
    Mutation("selector wildcard key", _labels({"a*": "x"})),
    Mutation("selector empty key", _labels({"": "x"})),
    Mutation("selector value 63", _labels({"app": "v" * 63})),
    Mutation("selector value 64", _labels({"app": "v" * 64})),
    Mutation("selector value int", _labels({"app": 1})),
    Mutation("selector null value", _labels({"app": None})),
    Mutation("selector unknown field", _set("selector", {"matchLabels": {"a": "b"}, "matchExpressions": []})),
    Mutation("selector 4097 labels", _labels({f"k{i}": "v" for i in range(4097)}), combinable=False),
    Mutation("selector=string", _set("selector", "app=x")),
    # target refs
    Mutation("targetRefs gateway", _refs(GW)),
    Mutation("targetRefs service core", _refs({"kind": "Service", "name": "svc"})),
    Mutation("targetRefs service group core", _refs({"group": "core", "kind": "Service", "name": "svc"})),
    Mutation(
        "targetRefs serviceentry",
        _refs({"group": "networking.istio.io", "kind": "ServiceEntry", "name": "s"}),
    ),
    Mutation(
        "targetRefs gatewayclass",
        _refs({"group": "gateway.networking.k8s.io", "kind": "GatewayClass", "name": "istio-waypoint"}),
    ),
    Mutation("targetRefs Pod", _refs({"kind": "Pod", "name": "p"}), webhook=True),
    Mutation(
        "targetRefs istio Gateway",
        _refs({"group": "networking.istio.io", "kind": "Gateway", "name": "g"}),
        webhook=True,
    ),
    Mutation("targetRefs namespace set", _refs({**GW, "namespace": "other"})),
    Mutation("targetRefs namespace empty", _refs({**GW, "namespace": ""})),
    Mutation("targetRefs bad kind", _refs({**GW, "kind": "1Gateway"})),
    Mutation("targetRefs kind missing", _refs({"group": GW["group"], "name": "gw"})),
    Mutation("targetRefs name empty", _refs({**GW, "name": ""})),
    Mutation("targetRefs bad group", _refs({**GW, "group": "Gateway.Networking"})),
    Mutation("targetRefs 16", _refs(*[{**GW, "name": f"g{i}"} for i in range(16)])),
    Mutation("targetRefs 17", _refs(*[{**GW, "name": f"g{i}"} for i in range(17)])),
    Mutation("targetRefs empty list", _refs()),
    Mutation(
        "targetRef singular",
        lambda s: (s.pop("selector", None), s.pop("targetRefs", None), s.__setitem__("targetRef", dict(GW))),
    ),
    Mutation(
        "selector and targetRefs", lambda s: s.update(selector={"matchLabels": {"a": "b"}}, targetRefs=[GW])
    ),
    Mutation("selector and empty targetRefs", lambda s: s.update(selector={}, targetRefs=[])),
    Mutation("targetRef and targetRefs", lambda s: s.update(targetRef=dict(GW), targetRefs=[GW])),
    # match
    *[
        Mutation(f"match={v!r}", _set("match", v))
        for v in [
            [],
            [{}],
            [{"mode": "CLIENT"}],
            [{"mode": "UNDEFINED", "ports": []}],
            [{"mode": "BOTH"}],
            [{"ports": [{"number": 0}]}],
            [{"ports": [{"number": 65535}]}],
            [{"ports": [{"number": 65536}]}],
            [{"ports": [{}]}],
            [{"ports": [{"number": 80}, {"number": 80}]}],
            [{"ports": [{"number": 80}]}, {"ports": [{"number": 80}]}],
            [None],
            [{"ports": [{"number": "80"}]}],
            [{"mode": "CLIENT", "port": 80}],
            {"mode": "CLIENT"},
        ]
    ],
    # vmConfig
    Mutation("vmConfig {}", _set("vmConfig", {})),
    Mutation("env []", _env()),
    Mutation("env name empty", _env({"name": ""})),
    Mutation("env name 256", _env({"name": "n" * 256})),
    Mutation("env name 257", _env({"name": "n" * 257})),
    Mutation("env value 2048", _env({"name": "A", "value": "v" * 2048})),
    Mutation("env value 2049", _env({"name": "A", "value": "v" * 2049})),
    Mutation("env HOST with value", _env({"name": "A", "valueFrom": "HOST", "value": "x"})),
    Mutation("env HOST", _env({"name": "A", "valueFrom": "HOST"})),
    Mutation("env INLINE with value", _env({"name": "A", "valueFrom": "INLINE", "value": "x"})),
    Mutation("env valueFrom SECRET", _env({"name": "A", "valueFrom": "SECRET"})),
    Mutation("env duplicate names", _env({"name": "A"}, {"name": "A", "value": "2"})),
    Mutation("env 256 items", _env(*[{"name": f"E{i}"} for i in range(256)]), combinable=False),
    Mutation("env 257 items", _env(*[{"name": f"E{i}"} for i in range(257)]), combinable=False),
    Mutation("env missing name", _env({"value": "x"})),
    Mutation(
        "env fieldRef object", _env({"name": "P", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    ),
    Mutation(
        "env secretKeyRef object",
        _env({"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}),
    ),
    Mutation("env null item", _env(None)),
    Mutation("vmConfig unknown field", _set("vmConfig", {"env": [], "runtime": "v8"})),
    # the spec itself
    Mutation("unknown spec field", _set("foo", 1)),
    Mutation("spec null fields", lambda s: s.update(phase=None, sha256=None, match=None)),
]


@dataclass(frozen=True)
class Case:
    name: str
    spec: Any
    webhook: bool = False
    labels: tuple[str, ...] = field(default_factory=tuple)


def generate(seed: int = 20240501, combinations: int = 200) -> list[Case]:
    cases: list[Case] = []
    for base_name, base in BASES.items():
        for mutation in MUTATIONS:
            if not mutation.combinable and base_name != "minimal":
                continue
            spec = copy.deepcopy(base)
            mutation.apply(spec)
            cases.append(Case(f"{base_name}: {mutation.label}", spec, mutation.webhook, (mutation.label,)))
    rng = random.Random(seed)
    for i in range(combinations):
        base_name = rng.choice(sorted(BASES))
        chosen = rng.sample([m for m in MUTATIONS if m.combinable], rng.choice((2, 3)))
        spec = copy.deepcopy(BASES[base_name])
        for mutation in chosen:
            mutation.apply(spec)
        labels = tuple(m.label for m in chosen)
        cases.append(
            Case(
                f"random {i} {base_name}: {' + '.join(labels)}", spec, any(m.webhook for m in chosen), labels
            )
        )
    cases.append(Case("spec missing", None))
    cases.append(Case("spec is a string", "url: x"))
    cases.append(Case("spec is a list", [{"url": "x"}]))
    return cases
