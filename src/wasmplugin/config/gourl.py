"""Go's ``net/url`` parser, as Kubernetes and Istio apply it to ``WasmPlugin.spec.url``.

Three consumers disagree with Python's ``urllib`` on many inputs, so the rules are ported here:

* the CRD's CEL rule uses Kubernetes' ``isURL``/``url()``, i.e. ``url.ParseRequestURI``;
* istiod's admission webhook (``strictParseURL``) uses ``ParseRequestURI`` then ``url.Parse``;
* istiod normalises with ``url.Parse``; an empty scheme becomes ``oci`` and ``URL.String()`` is
  what Envoy (and the agent's cache key) sees.

Behaviour follows Go 1.26 with ``GODEBUG=urlstrictcolons=0`` (the default for modules declaring
Go < 1.26, as Kubernetes and Istio do): extra colons in an ``http(s)`` host are tolerated,
bracketed hosts must be IPv6 literals. ``tests/config/test_gourl.py`` checks this port against
the real Go library on a few thousand inputs.

Everything works on bytes, as Go strings are bytes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["GoURL", "URLError", "parse", "parse_request_uri"]


class URLError(ValueError):
    """Go returned an error; ``str(err)`` is Go's reason (without the ``parse "..."`` prefix)."""


# Encoding modes (net/url's ``encoding``).
_PATH = "path"
_PATH_SEGMENT = "pathSegment"
_HOST = "host"
_ZONE = "zone"
_USER_PASSWORD = "userPassword"
_QUERY_COMPONENT = "queryComponent"
_FRAGMENT = "fragment"

_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_HOST_EXTRA = frozenset(b"!$&'()*+,;=:[]<>\"")
_UNRESERVED_MARK = frozenset(b"-_.~")
_RESERVED = frozenset(b"$&+,/:;=?@")
_FRAGMENT_SUBDELIMS = frozenset(b"!()*")
_VALID_ENCODED_EXTRA = frozenset(b"!$&'()*+,;=:@[]%")
_USERINFO_OK = frozenset(b"-._:~!$&'()*+,;=%@") | _ALNUM
_UPPERHEX = b"0123456789ABCDEF"


def _should_escape(c: int, mode: str) -> bool:
    if c in _ALNUM:
        return False
    if mode in (_HOST, _ZONE) and c in _HOST_EXTRA:
        return False
    if c in _UNRESERVED_MARK:
        return False
    if c in _RESERVED:
        if mode == _PATH:
            return c == ord("?")
        if mode == _PATH_SEGMENT:
            return c in b"/;,?"
        if mode == _USER_PASSWORD:
            return c in b"@/?:"
        if mode == _QUERY_COMPONENT:
            return True
        if mode == _FRAGMENT:
            return False
    return not (mode == _FRAGMENT and c in _FRAGMENT_SUBDELIMS)


def _unhex(c: int) -> int:
    return int(chr(c), 16)


def _unescape(s: bytes, mode: str) -> bytes:
    n = 0
    has_plus = False
    i = 0
    while i < len(s):
        c = s[i]
        if c == ord("%"):
            n += 1
            if i + 2 >= len(s) or s[i + 1] not in _HEX or s[i + 2] not in _HEX:
                raise URLError(f"invalid URL escape {s[i : i + 3]!r}")
            if mode == _HOST and _unhex(s[i + 1]) < 8 and s[i : i + 3] != b"%25":
                raise URLError(f"invalid URL escape {s[i : i + 3]!r}")
            if mode == _ZONE:
                v = _unhex(s[i + 1]) << 4 | _unhex(s[i + 2])
                if s[i : i + 3] != b"%25" and v != ord(" ") and _should_escape(v, _HOST):
                    raise URLError(f"invalid URL escape {s[i : i + 3]!r}")
            i += 3
        elif c == ord("+"):
            has_plus = mode == _QUERY_COMPONENT
            i += 1
        else:
            if mode in (_HOST, _ZONE) and c < 0x80 and _should_escape(c, mode):
                raise URLError(f"invalid character {chr(c)!r} in host name")
            i += 1
    if n == 0 and not has_plus:
        return s
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == ord("%"):
            out.append(_unhex(s[i + 1]) << 4 | _unhex(s[i + 2]))
            i += 3
            continue
        if c == ord("+"):
            out.append(ord(" ") if mode == _QUERY_COMPONENT else c)
        else:
            out.append(c)
        i += 1
    return bytes(out)


def _escape(s: bytes, mode: str) -> bytes:
    out = bytearray()
    for c in s:
        if c == ord(" ") and mode == _QUERY_COMPONENT:
            out.append(ord("+"))
        elif _should_escape(c, mode):
            out += b"%" + bytes((_UPPERHEX[c >> 4], _UPPERHEX[c & 15]))
        else:
            out.append(c)
    return bytes(out)


def _valid_encoded(s: bytes, mode: str) -> bool:
    return all(c in _VALID_ENCODED_EXTRA or not _should_escape(c, mode) for c in s)


def _valid_optional_port(port: bytes) -> bool:
    if not port:
        return True
    if port[:1] != b":":
        return False
    return all(0x30 <= b <= 0x39 for b in port[1:])


def _is_ipv6_literal(host: bytes) -> bool:
    """``netip.ParseAddr(host)`` succeeds and is not IPv4 (an IPv6 address, optionally with a zone)."""
    try:
        text = host.decode("ascii")
    except UnicodeDecodeError:
        return False
    addr, sep, zone = text.partition("%")
    if sep and not zone:
        return False
    if ":" not in addr:
        return False  # IPv4 (or garbage): either way not an IPv6 literal
    try:
        ipaddress.IPv6Address(addr)
    except ValueError:
        return False
    return True


def _parse_host(scheme: bytes, host: bytes) -> bytes:
    open_idx = host.rfind(b"[")
    if open_idx > 0:
        raise URLError("invalid IP-literal")
    if open_idx == 0:
        close_idx = host.rfind(b"]")
        if close_idx < 0:
            raise URLError("missing ']' in host")
        colon_port = host[close_idx + 1 :]
        if not _valid_optional_port(colon_port):
            raise URLError(f"invalid port {colon_port!r} after host")
        colon_port = _unescape(colon_port, _HOST)
        hostname = host[1:close_idx]
        zone_idx = hostname.find(b"%25")
        if zone_idx >= 0:
            unescaped = _unescape(hostname[:zone_idx], _HOST) + _unescape(hostname[zone_idx:], _ZONE)
        else:
            unescaped = _unescape(hostname, _HOST)
        if not _is_ipv6_literal(unescaped):
            raise URLError("invalid IP-literal")
        return b"[" + unescaped + b"]" + colon_port
    first_colon = host.find(b":")
    if first_colon != -1:
        # urlstrictcolons=0: the last colon starts the port, for every scheme.
        colon_port = host[host.rfind(b":") :]
        if not _valid_optional_port(colon_port):
            raise URLError(f"invalid port {colon_port!r} after host")
    return _unescape(host, _HOST)


@dataclass(frozen=True, slots=True)
class _User:
    username: bytes
    password: bytes
    password_set: bool

    def encode(self) -> bytes:
        s = _escape(self.username, _USER_PASSWORD)
        if self.password_set:
            s += b":" + _escape(self.password, _USER_PASSWORD)
        return s


def _parse_authority(scheme: bytes, authority: bytes) -> tuple[_User | None, bytes]:
    at = authority.rfind(b"@")
    host = _parse_host(scheme, authority if at < 0 else authority[at + 1 :])
    if at < 0:
        return None, host
    userinfo = authority[:at]
    # Go ranges over runes: any non-ASCII rune is rejected too.
    if not all(c in _USERINFO_OK for c in userinfo):
        raise URLError("net/url: invalid userinfo")
    if b":" not in userinfo:
        return _User(_unescape(userinfo, _USER_PASSWORD), b"", False), host
    name, _, password = userinfo.partition(b":")
    return _User(_unescape(name, _USER_PASSWORD), _unescape(password, _USER_PASSWORD), True), host


def _get_scheme(raw: bytes) -> tuple[bytes, bytes]:
    for i, c in enumerate(raw):
        if 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A:
            continue
        if 0x30 <= c <= 0x39 or c in b"+-.":
            if i == 0:
                return b"", raw
            continue
        if c == ord(":"):
            if i == 0:
                raise URLError("missing protocol scheme")
            return raw[:i], raw[i + 1 :]
        return b"", raw
    return b"", raw


@dataclass(frozen=True, slots=True)
class GoURL:
    """The fields of Go's ``url.URL`` that matter here, plus ``String()`` as :meth:`string`."""

    scheme: str
    opaque: bytes = b""
    user: _User | None = None
    host: bytes = b""
    path: bytes = b""
    raw_path: bytes = b""
    raw_query: bytes = b""
    fragment: bytes = b""
    raw_fragment: bytes = b""
    force_query: bool = False
    omit_host: bool = False

    def with_scheme(self, scheme: str) -> GoURL:
        return GoURL(
            scheme,
            self.opaque,
            self.user,
            self.host,
            self.path,
            self.raw_path,
            self.raw_query,
            self.fragment,
            self.raw_fragment,
            self.force_query,
            self.omit_host,
        )

    @property
    def hostname(self) -> str:
        return self.host.decode("utf-8", "surrogateescape")

    def escaped_path(self) -> bytes:
        if self.raw_path and _valid_encoded(self.raw_path, _PATH):
            try:
                if _unescape(self.raw_path, _PATH) == self.path:
                    return self.raw_path
            except URLError:
                pass
        if self.path == b"*":
            return b"*"
        return _escape(self.path, _PATH)

    def escaped_fragment(self) -> bytes:
        if self.raw_fragment and _valid_encoded(self.raw_fragment, _FRAGMENT):
            try:
                if _unescape(self.raw_fragment, _FRAGMENT) == self.fragment:
                    return self.raw_fragment
            except URLError:
                pass
        return _escape(self.fragment, _FRAGMENT)

    def string(self) -> str:
        """Go's ``URL.String()``."""
        buf = bytearray()
        scheme = self.scheme.encode()
        if scheme:
            buf += scheme + b":"
        if self.opaque:
            buf += self.opaque
        else:
            if (scheme or self.host or self.user is not None) and not (
                self.omit_host and not self.host and self.user is None
            ):
                if self.host or self.path or self.user is not None:
                    buf += b"//"
                if self.user is not None:
                    buf += self.user.encode() + b"@"
                if self.host:
                    buf += _escape(self.host, _HOST)
            path = self.escaped_path()
            if path and path[:1] != b"/" and self.host:
                buf += b"/"
            if not buf and b":" in path.partition(b"/")[0]:
                buf += b"./"
            buf += path
        if self.force_query or self.raw_query:
            buf += b"?" + self.raw_query
        if self.fragment:
            buf += b"#" + self.escaped_fragment()
        return buf.decode("utf-8", "surrogateescape")


def _set_path(p: bytes) -> tuple[bytes, bytes]:
    path = _unescape(p, _PATH)
    return path, (b"" if _escape(path, _PATH) == p else p)


def _parse(raw: bytes, via_request: bool) -> GoURL:
    if any(b < 0x20 or b == 0x7F for b in raw):
        raise URLError("net/url: invalid control character in URL")
    if not raw and via_request:
        raise URLError("empty url")
    if raw == b"*":
        return GoURL(scheme="", path=b"*")
    scheme_b, rest = _get_scheme(raw)
    scheme = scheme_b.decode("ascii").lower()
    force_query = False
    raw_query = b""
    if rest.endswith(b"?") and rest.count(b"?") == 1:
        force_query = True
        rest = rest[:-1]
    else:
        rest, _, raw_query = rest.partition(b"?")
    if not rest.startswith(b"/"):
        if scheme:
            return GoURL(scheme=scheme, opaque=rest, raw_query=raw_query, force_query=force_query)
        if via_request:
            raise URLError("invalid URI for request")
        if b":" in rest.partition(b"/")[0]:
            raise URLError("first path segment in URL cannot contain colon")
    user: _User | None = None
    host = b""
    omit_host = False
    if (scheme or (not via_request and not rest.startswith(b"///"))) and rest.startswith(b"//"):
        authority, slash, tail = rest[2:].partition(b"/")
        rest = slash + tail
        user, host = _parse_authority(scheme.encode(), authority)
    elif scheme and rest.startswith(b"/"):
        omit_host = True
    path, raw_path = _set_path(rest)
    return GoURL(
        scheme=scheme,
        user=user,
        host=host,
        path=path,
        raw_path=raw_path,
        raw_query=raw_query,
        force_query=force_query,
        omit_host=omit_host,
    )


def parse_request_uri(raw: str) -> GoURL:
    """Go's ``url.ParseRequestURI``; raises :class:`URLError`."""
    return _parse(raw.encode("utf-8", "surrogateescape"), via_request=True)


def parse(raw: str) -> GoURL:
    """Go's ``url.Parse`` (fragment split off first); raises :class:`URLError`."""
    data = raw.encode("utf-8", "surrogateescape")
    before, sep, frag = data.partition(b"#")
    url = _parse(before, via_request=False)
    if not sep or not frag:
        return url
    fragment = _unescape(frag, _FRAGMENT)
    raw_fragment = b"" if _escape(fragment, _FRAGMENT) == frag else frag
    return GoURL(
        url.scheme,
        url.opaque,
        url.user,
        url.host,
        url.path,
        url.raw_path,
        url.raw_query,
        fragment,
        raw_fragment,
        url.force_query,
        url.omit_host,
    )
