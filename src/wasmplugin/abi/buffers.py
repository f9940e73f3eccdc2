"""``BodyBuffer``: a byte buffer with Envoy's proxy_set_buffer_bytes semantics.

Envoy supports only three edits (Buffer::copyFrom): ``start == 0`` drops the first ``size`` bytes and
prepends the data (so (0, 0) prepends and (0, >= len) replaces everything); ``start >= len`` appends;
anything else is BAD_ARGUMENT. Immutable buffers (configuration, call responses) refuse all edits.

The data given is kept as it is until the first edit: a body that plugins only read (or do not
look at) is never copied on its way through the chain.
"""

from __future__ import annotations

import builtins

from wasmplugin.abi.enums import WasmResult


class BodyBuffer:
    __slots__ = ("_data", "mutable")

    def __init__(self, data: bytes | bytearray = b"", *, mutable: bool = True) -> None:
        self._data: bytes | bytearray = data if type(data) is bytes else bytearray(data)
        self.mutable = mutable

    def __len__(self) -> int:
        return len(self._data)

    def bytes(self) -> builtins.bytes:
        data = self._data
        return data if type(data) is bytes else builtins.bytes(data)

    def view(self, start: int, max_size: int) -> builtins.bytes:
        """Bytes ``[start, start + max_size)`` clamped to what exists (proxy_get_buffer_bytes)."""
        return builtins.bytes(self._data[start : start + max_size])

    def _editable(self) -> bytearray:
        data = self._data
        if type(data) is bytes:
            self._data = data = bytearray(data)
        assert isinstance(data, bytearray)
        return data

    def append(self, chunk: builtins.bytes) -> None:
        self._editable().extend(chunk)

    def replace_all(self, data: builtins.bytes) -> None:
        self._data = bytearray(data)

    def clear(self) -> None:
        self._data = bytearray()

    def set_bytes(self, start: int, size: int, data: builtins.bytes) -> WasmResult:
        if not self.mutable:
            return WasmResult.BAD_ARGUMENT
        length = len(self._data)
        if start == 0:
            buf = self._editable()
            del buf[: min(size, length)]
            buf[0:0] = data
            return WasmResult.OK
        if start >= length:
            self._editable().extend(data)
            return WasmResult.OK
        return WasmResult.BAD_ARGUMENT

    def __repr__(self) -> str:
        return f"BodyBuffer({builtins.bytes(self._data)!r}, mutable={self.mutable})"
