"""Serialized header pairs, the ABI's one map encoding (spec "Serialization"; cpp-host pairs_util).

Layout: u32 count N; N × (u32 key_len, u32 value_len); then per pair key, NUL, value, NUL. All
little-endian. Used for header maps, local-reply headers, http_call headers/trailers and map/list
properties. Decoding follows proxy-wasm-cpp-host exactly: fewer than 4 bytes is an empty map, input
over the byte or pair limit decodes as empty, and anything malformed is rejected.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from wasmplugin.limits import DEFAULT_LIMITS

_U32 = struct.Struct("<I")

Pair = tuple[bytes, bytes]


class PairsFormatError(ValueError):
    """The buffer is not a well-formed serialized pairs encoding."""


def encode_pairs(pairs: Sequence[Pair] | Iterable[Pair]) -> bytes:
    """Serialize ``pairs``; an empty sequence gives 4 zero bytes (what the Rust SDK sends)."""
    if not isinstance(pairs, Sequence):
        pairs = list(pairs)
    n = len(pairs)
    sizes: list[int] = [n]
    chunks: list[bytes] = []
    for k, v in pairs:
        sizes.append(len(k))
        sizes.append(len(v))
        chunks.append(k)
        chunks.append(b"\0")
        chunks.append(v)
        chunks.append(b"\0")
    return struct.pack(f"<{len(sizes)}I", *sizes) + b"".join(chunks)


def decode_pairs(
    data: bytes | bytearray | memoryview,
    *,
    max_bytes: int = DEFAULT_LIMITS.pairs_max_bytes,
    max_count: int = DEFAULT_LIMITS.pairs_max_count,
) -> list[Pair]:
    """Parse serialized pairs.

    Returns ``[]`` for input shorter than 4 bytes and for input over the size or count limit (as
    cpp-host does); raises :class:`PairsFormatError` when sizes and NULs do not add up exactly.
    """
    size = len(data)
    if size < 4 or size > max_bytes:
        return []
    (n,) = _U32.unpack_from(data, 0)
    if n > max_count:
        return []
    header_end = 4 + 8 * n
    if header_end > size:
        raise PairsFormatError(f"{n} pairs need {header_end} bytes of sizes, buffer has {size}")
    sizes = struct.unpack_from(f"<{2 * n}I", data, 4)
    mv = memoryview(data)
    pos = header_end
    out: list[Pair] = []
    for i in range(n):
        klen = sizes[2 * i]
        vlen = sizes[2 * i + 1]
        end = pos + klen + 1 + vlen + 1
        if end > size:
            raise PairsFormatError(f"pair {i} runs past the end of the buffer")
        if mv[pos + klen] != 0 or mv[end - 1] != 0:
            raise PairsFormatError(f"pair {i} is not NUL-terminated")
        out.append((bytes(mv[pos : pos + klen]), bytes(mv[pos + klen + 1 : end - 1])))
        pos = end
    if pos != size:
        raise PairsFormatError(f"{size - pos} trailing bytes after {n} pairs")
    return out


def encode_list(items: Sequence[bytes]) -> bytes:
    """Envoy's list-property encoding: pairs whose keys are the items and whose values are empty."""
    return encode_pairs([(item, b"") for item in items])
