"""pluginConfig → configuration bytes, against istiod's real marshaler (Go structpb + jsonpb)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from go_reference import run_lines

from wasmplugin.config.gojson import format_double, marshal

NUMBERS: list[Any] = [
    10,
    10.0,
    0.5,
    1e21,
    1e20,
    1e-7,
    1e-6,
    1.5e-6,
    123456789012345678901234567890,
    9007199254740993,
    -0.0,
    0,
    0.1,
    1 / 3,
    2**63,
    -1e22,
    5e-324,
    1.7976931348623157e308,
    300,
    -7,
    12345.678,
]
STRINGS = ["<a&b>", "\u2028\u2029", "\x00\x01\x1f\x7f", "\b\f\n\r\t", "é€😀", '"\\/', "plain", ""]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth < 3 and r < 0.2:
        return {
            rng.choice([*STRINGS, "k", "K", "a_b", "10"]): _random_value(rng, depth + 1)
            for _ in range(rng.randint(0, 4))
        }
    if depth < 3 and r < 0.35:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if r < 0.6:
        return rng.choice([*NUMBERS, rng.uniform(-1e6, 1e6), rng.randint(-(10**6), 10**6)])
    if r < 0.8:
        return rng.choice(STRINGS)
    return rng.choice([True, False, None])


def test_matches_istiod_marshaler(gojsonpb_binary: Path) -> None:
    rng = random.Random(7)
    docs: list[dict[str, Any]] = [{"n": n} for n in NUMBERS] + [{s: s} for s in STRINGS]
    docs.append({"b": True, "z": None, "a": [1, "x", {"k": []}], "A": {}, "é": 1, "e": 2})
    docs += [{"root": _random_value(rng)} for _ in range(400)]
    expected = run_lines(gojsonpb_binary, [json.dumps(d) for d in docs])
    mismatches = [
        (d, e, marshal(d).decode()) for d, e in zip(docs, expected, strict=True) if marshal(d).decode() != e
    ]
    assert not mismatches, mismatches[:5]


def test_numbers_are_doubles() -> None:
    assert marshal({"limit": 10}) == b'{"limit":10}'
    assert marshal({"limit": 10.0}) == b'{"limit":10}'
    assert marshal({"ratio": 0.25, "big": 1e21, "tiny": 1e-7}) == b'{"big":1e+21,"ratio":0.25,"tiny":1e-7}'
    assert marshal({"id": 9007199254740993}) == b'{"id":9007199254740992}'
    assert format_double(-0.0) == "-0"


def test_keys_sorted_and_html_escaped() -> None:
    assert (
        marshal({"b": 1, "a": {"d": "<x>", "c": "&"}}) == b'{"a":{"c":"\\u0026","d":"\\u003cx\\u003e"},"b":1}'
    )
