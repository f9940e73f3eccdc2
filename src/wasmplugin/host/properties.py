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


def _constant(value: Value) -> Provider:
    def provide(_path: tuple[str, ...], _stream: StreamHost | None) -> tuple[Value, int]:
        return value, 1

    return provide


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
    """One per VM. ``register`` adds or replaces a provider for a first segment."""

    def __init__(self, settings: PluginSettings, node: NodeInfo) -> None:
        node_value = node_property(node)

        def xds(path: tuple[str, ...], stream: StreamHost | None) -> tuple[Value, int] | None:
            if len(path) >= 2 and path[1] == "node":
                return node_value, 2
            return from_stream(path, stream)

        self._providers: dict[str, Provider] = {
            "plugin_name": _constant(settings.name),
            "plugin_root_id": _constant(settings.root_id),
            "plugin_vm_id": _constant(settings.vm_id),
            "node": _constant(node_value),
            "xds": xds,
        }

    def register(self, first_segment: str, provider: Provider) -> None:
        self._providers[first_segment] = provider

    def lookup(self, path: tuple[str, ...], stream: StreamHost | None) -> bytes | None:
        """Encoded value at ``path``, or ``None`` (NOT_FOUND). Raises SerializationError."""
        if not path:
            return None
        provider = self._providers.get(path[0], from_stream)
        found = provider(path, stream)
        if found is None:
            return None
        value: Value | None = found[0]
        for segment in path[found[1] :]:
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
