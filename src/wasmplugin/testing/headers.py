"""``Headers``: a read-only, case-insensitive view of HTTP fields for assertions, and the one function
that turns what a test writes (a dict, a list of pairs, str or bytes) into wire pairs.

Values are text (UTF-8, undecodable bytes replaced); ``raw`` keeps the bytes. ``headers["x"]`` is
the first value (KeyError when absent), ``get_all`` every value, and a ``Headers`` compares equal to
a dict of its (first) values, so ``assert resp.headers == {...}`` reads naturally.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

#: What tests may pass as headers: ``{"name": "value"}`` (a list value adds the name repeatedly),
#: or an iterable of ``(name, value)`` pairs; names and values as str or bytes.
HeaderValue = str | bytes | int
HeadersInput = (
    Mapping[str, HeaderValue | list[HeaderValue] | tuple[HeaderValue, ...]]
    | Mapping[bytes, bytes]
    | Iterable[tuple[str | bytes, HeaderValue]]
    | None
)


def _b(value: str | bytes | int) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode()
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"header values are str, bytes or int, not {type(value).__name__}")


def to_pairs(headers: HeadersInput) -> list[tuple[bytes, bytes]]:
    """Wire pairs (lower-cased names) from any accepted input form."""
    if headers is None:
        return []
    out: list[tuple[bytes, bytes]] = []
    items: Iterable[tuple[str | bytes, object]]
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        key = _b(name).lower()
        if isinstance(value, (list, tuple)):
            out.extend((key, _b(v)) for v in value)
        else:
            out.append((key, _b(value)))
    return out


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


class Headers(Mapping[str, str]):
    """Ordered, case-insensitive, read-only HTTP fields (pseudo-headers included when present)."""

    __slots__ = ("raw",)

    def __init__(self, pairs: Iterable[tuple[bytes, bytes]] = ()) -> None:
        #: The fields as ``(name, value)`` bytes, names lower-case, in order.
        self.raw: tuple[tuple[bytes, bytes], ...] = tuple((bytes(k).lower(), bytes(v)) for k, v in pairs)

    def __getitem__(self, name: str) -> str:
        key = name.lower().encode()
        for k, v in self.raw:
            if k == key:
                return _text(v)
        raise KeyError(f"no header {name!r} (have: {', '.join(self.names()) or 'none'})")

    def get_all(self, name: str) -> list[str]:
        key = name.lower().encode()
        return [_text(v) for k, v in self.raw if k == key]

    def names(self) -> list[str]:
        """Distinct names in first-seen order."""
        seen: dict[str, None] = {}
        for k, _ in self.raw:
            seen.setdefault(_text(k), None)
        return list(seen)

    def pairs(self) -> list[tuple[str, str]]:
        return [(_text(k), _text(v)) for k, v in self.raw]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower().encode()
        return any(k == key for k, _ in self.raw)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self.raw == other.raw
        if isinstance(other, Mapping):
            return dict(self.items()) == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"Headers({self.pairs()!r})"

    def __str__(self) -> str:
        return "\n".join(f"{k}: {v}" for k, v in self.pairs())


class BodyView:
    """``text`` and ``json()`` of a message's ``body``, for the classes that hold one."""

    body: bytes

    @property
    def text(self) -> str:
        return _text(self.body)

    def json(self) -> Any:
        return jsonlib.loads(self.body)


class RequestView(BodyView):
    """A request's ``method``, ``path`` and ``authority``, read from its pseudo-headers."""

    headers: Headers

    @property
    def method(self) -> str:
        return self.headers.get(":method", "")

    @property
    def path(self) -> str:
        return self.headers.get(":path", "")

    @property
    def authority(self) -> str:
        return self.headers.get(":authority", "")
