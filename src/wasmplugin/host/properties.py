"""Property lookup for ``proxy_get_property``: a registry of providers keyed by first segment.

The host answers the Wasm-only names (``plugin_name``, ``plugin_root_id``, ``plugin_vm_id``) and
the node identity (``xds.node``, and the legacy top-level ``node`` removed from Envoy in 2024 but
still asked for by older plugins); everything else is stream-scoped and delegated to
``StreamHost.stream_property`` (NOT_FOUND in a root context, as in Envoy's ``on_configure``).

A provider returns the value for a *prefix* of the path; the remaining segments index into it:
map key, message field name, or decimal list index. The final value is encoded as Envoy does
(``abi/values.py``); a protobuf message is returned in binary form.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

from wasmplugin.abi.values import PropertyValue, encode_value
from wasmplugin.host.api import NodeInfo, StreamHost
from wasmplugin.host.protobuf import node_message
from wasmplugin.host.settings import PluginSettings


class Message:
    """A protobuf message property: indexes like a map of its fields, encodes as protobuf binary."""

    __slots__ = ("encoded", "fields")

    def __init__(self, fields: Mapping[str, Value], encoded: bytes) -> None:
        self.fields = dict(fields)
        self.encoded = encoded


Value = PropertyValue | Message

#: ``provider(path, stream) -> (value, segments consumed)`` or ``None`` when absent.
Provider = Callable[[tuple[str, ...], StreamHost | None], tuple[Value, int] | None]


class SerializationError(Exception):
    """The value cannot be encoded (→ SERIALIZATION_FAILURE)."""


def split_path(raw: bytes) -> tuple[str, ...]:
    """NUL-separated segments; a trailing NUL is ignored (Envoy stops at the end of the path)."""
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    if not raw:
        return ()
    return tuple(seg.decode("utf-8", "surrogateescape") for seg in raw.split(b"\0"))


def node_property(node: NodeInfo) -> Message:
    metadata = dict(node.metadata)
    return Message(
        {"id": node.id, "cluster": node.cluster, "metadata": metadata},
        node_message(node.id, node.cluster, metadata),
    )


def from_stream(path: tuple[str, ...], stream: StreamHost | None) -> tuple[Value, int] | None:
    """Ask the stream for the whole path, then for shorter prefixes (the host indexes the rest)."""
    if stream is None:
        return None
    for n in range(len(path), 0, -1):
        value = stream.stream_property(path[:n])
        if value is not None:
            return value, n
    return None


class PropertyResolver:
    """One per VM. ``register`` adds or replaces a provider for a first segment.

    Plugins ask for the same few paths on every request, so the parse of a raw path is kept per
    path bytes (up to ``cache_entries`` paths; the cache starts over when full): a path answered
    by the host alone (``plugin_*``, ``node``, ``xds.node``) keeps its encoded answer, any other
    its segments and whether the stream answers it (else its provider is asked). A stream's
    answer is never kept: it is asked for every time.
    """

    __slots__ = ("_cache", "_cache_entries", "_constants", "_providers", "_xds_node")

    def __init__(self, settings: PluginSettings, node: NodeInfo, cache_entries: int) -> None:
        node_value = node_property(node)

        def xds(path: tuple[str, ...], stream: StreamHost | None) -> tuple[Value, int] | None:
            if len(path) >= 2 and path[1] == "node":
                return node_value, 2
            return from_stream(path, stream)

        #: First segments whose whole subtree the host answers with values fixed for the VM's life.
        self._constants: dict[str, Value] = {
            "plugin_name": settings.name,
            "plugin_root_id": settings.root_id,
            "plugin_vm_id": settings.vm_id,
            "node": node_value,
        }
        self._providers: dict[str, Provider] = {"xds": xds}
        self._xds_node = xds  # while registered, ``xds.node.*`` is fixed for the VM's life too
        self._cache: dict[bytes, _Parsed] = {}
        self._cache_entries = cache_entries

    def register(self, first_segment: str, provider: Provider) -> None:
        self._constants.pop(first_segment, None)
        self._providers[first_segment] = provider
        self._cache.clear()

    def lookup(self, path: tuple[str, ...], stream: StreamHost | None) -> bytes | None:
        """Encoded value at ``path``, or ``None`` (NOT_FOUND). Raises SerializationError."""
        if not path:
            return None
        head = path[0]
        if head in self._constants:
            return _at(self._constants[head], path, 1)
        found = self._providers.get(head, from_stream)(path, stream)
        return None if found is None else _at(found[0], path, found[1])

    def lookup_raw(self, raw: bytes, stream: StreamHost | None) -> bytes | None:
        """:meth:`lookup` of the NUL-separated path ``raw`` as a plugin passes it."""
        parsed = self._cache.get(raw)
        if parsed is None:
            parsed = self._parse(raw)
        answer, path, ask_stream = parsed
        if path is None:
            return answer
        if ask_stream:  # the common case, inlined: the stream knows the whole path
            if stream is None:
                return None
            value = stream.stream_property(path)
            if value is None:  # a shorter prefix, indexed by the host?
                found = from_stream(path[:-1], stream)
                return None if found is None else _at(found[0], path, found[1])
            if type(value) is bytes:
                return value
            return encode(value)
        return self.lookup(path, stream)

    @property
    def cached_paths(self) -> int:
        return len(self._cache)

    def path(self, raw: bytes) -> tuple[str, ...]:
        """The segments of ``raw`` (from the cache when it has them)."""
        parsed = self._cache.get(raw)
        if parsed is None or parsed[1] is None:
            return split_path(raw)
        return parsed[1]

    def _parse(self, raw: bytes) -> _Parsed:
        path = split_path(raw)
        parsed: _Parsed = (None, path, False)  # ask the provider on every call
        if not path:
            parsed = (None, None, False)
        elif path[0] in self._constants or (
            path[0] == "xds" and path[1:2] == ("node",) and self._providers["xds"] is self._xds_node
        ):
            with contextlib.suppress(SerializationError):  # otherwise raised again on every call
                parsed = (self.lookup(path, None), None, False)
        elif path[0] not in self._providers:
            parsed = (None, path, True)
        if len(self._cache) >= self._cache_entries:
            self._cache.clear()
        self._cache[raw] = parsed
        return parsed


#: A parsed path: (the encoded answer, when the host answers it alone and ``path`` is None;
#: the segments otherwise; whether the stream answers it, else its provider, on every call).
_Parsed = tuple[bytes | None, tuple[str, ...] | None, bool]


def _at(value: Value | None, path: tuple[str, ...], consumed: int) -> bytes | None:
    """Encoded ``value`` indexed by the segments of ``path`` after the first ``consumed``."""
    for segment in path[consumed:]:
        assert value is not None
        value = _index(value, segment)
        if value is None:
            return None
    assert value is not None
    return encode(value)


def _index(value: Value, segment: str) -> Value | None:
    if isinstance(value, Message):
        return value.fields.get(segment)
    if isinstance(value, Mapping):
        found = value.get(segment)
        if found is None:
            found = value.get(segment.encode())  # type: ignore[call-overload]
        return found
    if isinstance(value, (list, tuple)) and segment.isdigit():
        i = int(segment)
        return value[i] if i < len(value) else None
    return None


def encode(value: Value) -> bytes:
    if isinstance(value, Message):
        return value.encoded
    try:
        return encode_value(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SerializationError(str(exc)) from None
