"""The Python port of Go's net/url (wasmplugin.config.gourl) against Go itself."""

from __future__ import annotations

import random

import pytest
from go_reference import GoURL

from wasmplugin.config import gourl

ATOMS = [
    "http",
    "https",
    "oci",
    "file",
    "ftp",
    "HTTP",
    "://",
    ":",
    "/",
    "//",
    "///",
    "?",
    "#",
    "@",
    "[",
    "]",
    "::1",
    "fe80::1",
    "::ffff:1.2.3.4",
    "1.2.3.4",
    "%25",
    "%",
    "%zz",
    "%41",
    "%2F",
    "%00",
    "%7f",
    "%e2%82%ac",
    " ",
    "a",
    "b.c",
    "host",
    "localhost",
    ":80",
    ":8080:9",
    "ghcr.io",
    "user:pw",
    "é",
    "€",
    "+",
    ";",
    ",",
    "=",
    "*",
    "!",
    "'",
    "<",
    ">",
    '"',
    "\\",
    "~",
    "-",
    "_",
    ".",
    "..",
    "en0",
    "x:y",
    "\t",
    "\x7f",
    "0",
    "9",
    "v1.fe",
]

FIXED = [
    "oci://ghcr.io/acme/p:v1",
    "ghcr.io/acme/p:v1",
    "localhost:5000/p:v1",
    "http://[::1]:80/x",
    "http://[fe80::1%25en0]/",
    "http://[1.2.3.4]/",
    "http://localhost:80:80/",
    "file:///opt/p.wasm",
    "oci://host/a b",
    "http://a b/",
    "",
    "*",
    "/abs",
    "mailto:x@y",
    "http://u:p@h/p?q#f",
]


def _inputs(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    values = set(FIXED)
    while len(values) < count:
        values.add("".join(rng.choice(ATOMS) for _ in range(rng.randint(0, 8))))
    return sorted(values)


def _ours(fn: object, value: str) -> dict[str, object]:
    try:
        url = fn(value)  # type: ignore[operator]
    except gourl.URLError:
        return {"ok": False, "scheme": "", "string": ""}
    return {"ok": True, "scheme": url.scheme, "string": url.string()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_port_matches_go(seed: int, go_url: GoURL) -> None:
    values = _inputs(seed, 3000)
    go_url.prefetch(values)
    mismatches = []
    for value in values:
        expected = go_url.answer(value)
        for key, fn in (("requestURI", gourl.parse_request_uri), ("parse", gourl.parse)):
            got = _ours(fn, value)
            if got != expected[key]:
                mismatches.append((key, value, expected[key], got))
    assert not mismatches, mismatches[:10]


def test_istiod_default_scheme() -> None:
    from wasmplugin.config.wasmplugin import normalize_url

    assert normalize_url("ghcr.io/acme/p:v1") == ("oci://ghcr.io/acme/p:v1", None)
    assert normalize_url("oci://ghcr.io/acme/p:v1") == ("oci://ghcr.io/acme/p:v1", None)
    assert normalize_url("oci://host/a b")[0] == "oci://host/a%20b"
    url, reason = normalize_url("http://x/%zz")
    assert url is None and reason is not None and "url.Parse" in reason
