"""``GuestMemory``: fast, bounds-checked access to a VM's linear memory.

A memoryview over the whole memory is cached and rebuilt only when an access falls beyond its end
(the memory grew). The engine is configured with ``memory_may_move = False``, so the base address
never changes while the store lives; the view is dropped in :meth:`release` before the store goes.
"""

from __future__ import annotations

import ctypes
import struct

import wasmtime

from wasmplugin.host import native
from wasmplugin.host.faults import MemoryFault

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_PAIR = struct.Struct("<II")


class GuestMemory:
    __slots__ = ("_ctx", "_keep", "_mem", "size", "view")

    def __init__(self, context: int, memory: wasmtime.Memory | None) -> None:
        self._ctx = context
        self.view: memoryview = memoryview(b"")
        self.size = 0
        if memory is None:  # not reachable yet (instantiation): every access is a fault
            self._mem, self._keep = 0, None
            return
        self._mem, self._keep = native.memory_address(memory)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the memory's size (and base) after growth."""
        if not self._mem:
            return
        size = int(native.memory_data_size(self._ctx, self._mem))
        base = native.memory_data(self._ctx, self._mem)
        if size == 0 or not base:
            self.view, self.size = memoryview(b""), 0
            return
        self.view = memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")
        self.size = size

    def current_size(self) -> int:
        return int(native.memory_data_size(self._ctx, self._mem)) if self._mem else 0

    def check(self, ptr: int, size: int) -> None:
        if ptr + size > self.size:
            self.refresh()
            if ptr + size > self.size:
                raise MemoryFault(f"[{ptr}, {ptr + size}) outside linear memory of {self.size} bytes")

    def read(self, ptr: int, size: int) -> bytes:
        end = ptr + size
        if end > self.size:
            self.check(ptr, size)
        return self.view[ptr:end].tobytes()

    def write(self, ptr: int, data: bytes) -> None:
        end = ptr + len(data)
        if end > self.size:
            self.check(ptr, len(data))
        self.view[ptr:end] = data

    def get_u32(self, ptr: int) -> int:
        if ptr + 4 > self.size:
            self.check(ptr, 4)
        return int(_U32.unpack_from(self.view, ptr)[0])

    def put_u32(self, ptr: int, value: int) -> None:
        if ptr + 4 > self.size:
            self.check(ptr, 4)
        _U32.pack_into(self.view, ptr, value & 0xFFFFFFFF)

    def put_u64(self, ptr: int, value: int) -> None:
        if ptr + 8 > self.size:
            self.check(ptr, 8)
        _U64.pack_into(self.view, ptr, value & 0xFFFFFFFFFFFFFFFF)

    def get_pairs_u32(self, ptr: int, count: int) -> list[tuple[int, int]]:
        """``count`` consecutive (u32, u32) records, e.g. WASI iovecs."""
        self.check(ptr, 8 * count)
        view = self.view
        return [_PAIR.unpack_from(view, ptr + 8 * i) for i in range(count)]

    def release(self) -> None:
        self.view.release()
        self.view = memoryview(b"")
        self.size = 0
        self._mem = 0
