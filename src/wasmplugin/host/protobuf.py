"""Just enough protobuf encoding for the properties Envoy serializes as messages.

``xds.node`` (``envoy.config.core.v3.Node``) is returned to plugins in protobuf binary form, with
its ``metadata`` as a ``google.protobuf.Struct``. Only encoding is needed, so this is a few
functions rather than a dependency.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from wasmplugin.abi.values import PropertyValue


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def field_bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def field_string(field: int, text: str) -> bytes:
    return field_bytes(field, text.encode()) if text else b""


def struct_value(value: PropertyValue) -> bytes:
    """``google.protobuf.Value`` for a Python value."""
    if value is None:
        return _key(1, 0) + _varint(0)
    if isinstance(value, bool):
        return _key(4, 0) + _varint(1 if value else 0)
    if isinstance(value, (int, float)):
        return _key(2, 1) + struct.pack("<d", float(value))
    if isinstance(value, str):
        return field_bytes(3, value.encode())
    if isinstance(value, bytes):
        return field_bytes(3, value)
    if isinstance(value, Mapping):
        return field_bytes(5, struct_message(value))
    if isinstance(value, (list, tuple)):
        return field_bytes(6, b"".join(field_bytes(1, struct_value(v)) for v in value))
    return field_bytes(3, str(value).encode())


def struct_message(fields: Mapping[str, PropertyValue]) -> bytes:
    """``google.protobuf.Struct``: ``map<string, Value> fields = 1``."""
    out = bytearray()
    for k, v in fields.items():
        entry = field_bytes(1, k.encode()) + field_bytes(2, struct_value(v))
        out += field_bytes(1, entry)
    return bytes(out)


def node_message(node_id: str, cluster: str, metadata: Mapping[str, PropertyValue]) -> bytes:
    """``envoy.config.core.v3.Node``: id = 1, cluster = 2, metadata = 3."""
    out = field_string(1, node_id) + field_string(2, cluster)
    if metadata:
        out += field_bytes(3, struct_message(metadata))
    return out
