"""``HeaderMap``: an ordered multimap of HTTP fields as Envoy keeps them.

Names are stored lower-cased (Envoy lower-cases keys on every get/add/replace/remove); values are
kept byte for byte. Pseudo-headers (``:method``, ``:path``, ``:authority``, ``:scheme``,
``:status``) live in the same map, first, as in Envoy. Repeated names are separate entries;
``get`` returns the first (spec issue #53), ``get_all`` every value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from wasmplugin.abi.pairs import Pair, encode_pairs


def _lower(name: bytes) -> bytes:
    # bytes.lower() only touches ASCII, which is what HTTP field names are.
    return name.lower()


class HeaderMap:
    """Mutable, ordered, case-insensitive multimap of ``bytes`` names to ``bytes`` values."""

    __slots__ = ("_entries", "frozen")

    def __init__(self, entries: Iterable[tuple[bytes | str, bytes | str]] = ()) -> None:
        self._entries: list[Pair] = []
        #: Read-only (e.g. request headers in on_log, http_call response headers): writers check
        #: it and answer BAD_ARGUMENT. Set by :meth:`freeze` (a plain attribute: the hot path
        #: reads it on every header write and sets it on every stream end).
        self.frozen = False
        for k, v in entries:
            self.add(k, v)

    # -- construction helpers --------------------------------------------------------------------
    @classmethod
    def from_lowered(cls, pairs: list[Pair]) -> HeaderMap:
        """Adopt ``pairs`` whose names are already lower-case (parser fast path), without copying."""
        m = cls.__new__(cls)
        m._entries = pairs
        m.frozen = False
        return m

    def copy(self) -> HeaderMap:
        return HeaderMap.from_lowered(list(self._entries))

    def freeze(self) -> None:
        """Make the map read-only (e.g. request headers in on_log, http_call response headers)."""
        self.frozen = True

    # -- reads ---------------------------------------------------------------------------------
    def get(self, name: bytes | str) -> bytes | None:
        key = _lower(name.encode() if isinstance(name, str) else name)
        for k, v in self._entries:
            if k == key:
                return v
        return None

    def get_bytes(self, key: bytes) -> bytes | None:
        """``get`` for a ``bytes`` name, without type dispatch (host-call fast path)."""
        key = key.lower()
        for k, v in self._entries:
            if k == key:
                return v
        return None

    def get_all(self, name: bytes | str) -> list[bytes]:
        key = _lower(name.encode() if isinstance(name, str) else name)
        return [v for k, v in self._entries if k == key]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            name = name.encode()
        if not isinstance(name, bytes):
            return False
        key = _lower(name)
        return any(k == key for k, _ in self._entries)

    def __iter__(self) -> Iterator[Pair]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[Pair]:
        return list(self._entries)

    def byte_size(self) -> int:
        """Envoy's ``proxy_get_header_map_size``: sum of name and value bytes."""
        return sum(len(k) + len(v) for k, v in self._entries)

    def serialize(self) -> bytes:
        return encode_pairs(self._entries)

    def as_str_pairs(self) -> list[tuple[str, str]]:
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self._entries]

    # -- writes (callers check ``frozen`` first and map it to an ABI status) ----------------------
    def add(self, name: bytes | str, value: bytes | str) -> None:
        """Append another entry (Envoy ``addCopy``)."""
        k = _lower(name.encode() if isinstance(name, str) else name)
        v = value.encode() if isinstance(value, str) else value
        self._entries.append((k, v))

    def add_bytes(self, key: bytes, value: bytes) -> None:
        """``add`` for ``bytes`` name and value, without type dispatch (host-call fast path)."""
        self._entries.append((key.lower(), value))

    def replace(self, name: bytes | str, value: bytes | str) -> None:
        """Set-or-add (Envoy ``setCopy``): the first entry keeps its place, later duplicates go."""
        k = _lower(name.encode() if isinstance(name, str) else name)
        v = value.encode() if isinstance(value, str) else value
        entries = self._entries
        for i, (ek, _) in enumerate(entries):
            if ek == k:
                entries[i] = (k, v)
                j = i + 1
                while j < len(entries):
                    if entries[j][0] == k:
                        del entries[j]
                    else:
                        j += 1
                return
        entries.append((k, v))

    def remove(self, name: bytes | str) -> None:
        k = _lower(name.encode() if isinstance(name, str) else name)
        self._entries = [e for e in self._entries if e[0] != k]

    def set_all(self, pairs: Iterable[Pair]) -> None:
        """Replace the whole map (``proxy_set_header_map_pairs``)."""
        self._entries = [(_lower(k), v) for k, v in pairs]

    def __repr__(self) -> str:
        return f"HeaderMap({self.as_str_pairs()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HeaderMap) and self._entries == other._entries

    __hash__ = None  # type: ignore[assignment]
