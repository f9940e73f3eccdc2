"""``BodyBuffer``: a byte buffer with Envoy's proxy_set_buffer_bytes semantics.

Envoy supports only three edits (Buffer::copyFrom): ``start == 0`` drops the first ``size`` bytes and
prepends the data (so (0, 0) prepends and (0, >= len) replaces everything); ``start >= len`` appends;
anything else is BAD_ARGUMENT. Immutable buffers (configuration, call responses) refuse all edits.
"""

from __future__ import annotations

import builtins

from wasmplugin.abi.enums import WasmResult


class BodyBuffer:
    __slots__ = ("_data", "mutable")

    def __init__(self, data: bytes | bytearray = b"", *, mutable: bool = True) -> None:
        self._data = bytearray(data)
        self.mutable = mutable

    def __len__(self) -> int:
        return len(self._data)

    def bytes(self) -> bytes:
        return bytes(self._data)

    def view(self, start: int, max_size: int) -> builtins.bytes:
        """Bytes ``[start, start + max_size)`` clamped to what exists (proxy_get_buffer_bytes)."""
        return bytes(self._data[start : start + max_size])

    def append(self, chunk: builtins.bytes) -> None:
        self._data += chunk

    def replace_all(self, data: builtins.bytes) -> None:
        self._data = bytearray(data)

    def clear(self) -> None:
        self._data = bytearray()

    def set_bytes(self, start: int, size: int, data: builtins.bytes) -> WasmResult:
        if not self.mutable:
            return WasmResult.BAD_ARGUMENT
        length = len(self._data)
        if start == 0:
            del self._data[: min(size, length)]
            self._data[0:0] = data
            return WasmResult.OK
        if start >= length:
            self._data += data
            return WasmResult.OK
        return WasmResult.BAD_ARGUMENT

    def __repr__(self) -> str:
        return f"BodyBuffer({bytes(self._data)!r}, mutable={self.mutable})"
