"""Property value encodings, as Envoy serializes CEL values for proxy_get_property (§10.3).

Providers return plain Python values; :func:`encode_value` turns them into the bytes a plugin sees:
str/bytes raw, int as 8-byte little-endian int64, float as 8-byte IEEE-754, bool as one byte,
``Timestamp``/``Duration`` as int64 nanoseconds, dict as serialized pairs (values encoded
recursively), list/tuple as pairs whose keys are the items and whose values are empty.
``RawProto`` carries pre-serialized protobuf bytes (e.g. ``xds.node``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Union

from wasmplugin.abi.pairs import encode_pairs

_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")


@dataclass(frozen=True, slots=True)
class Timestamp:
    nanos: int


@dataclass(frozen=True, slots=True)
class Duration:
    nanos: int


@dataclass(frozen=True, slots=True)
class Uint:
    """An unsigned 64-bit attribute (connection.id, upstream.request_attempt_count)."""

    value: int


@dataclass(frozen=True, slots=True)
class RawProto:
    data: bytes


PropertyValue = Union[
    str, bytes, bool, int, float, Timestamp, Duration, Uint, RawProto,
    "dict[str, PropertyValue]", "list[PropertyValue]",
]


def encode_value(value: PropertyValue) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):  # before int: bool is an int subclass
        return b"\x01" if value else b"\x00"
    if isinstance(value, int):
        return _I64.pack(value)
    if isinstance(value, float):
        return _F64.pack(value)
    if isinstance(value, (Timestamp, Duration)):
        return _I64.pack(value.nanos)
    if isinstance(value, Uint):
        return _U64.pack(value.value)
    if isinstance(value, RawProto):
        return value.data
    if isinstance(value, dict):
        return encode_pairs([(k.encode(), encode_value(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return encode_pairs([(encode_value(v), b"") for v in value])
    raise TypeError(f"cannot encode property value of type {type(value).__name__}")
