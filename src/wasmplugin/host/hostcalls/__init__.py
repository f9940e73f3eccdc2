"""One thin shim per host call, grouped by area; ``table.py`` lists them all with their types.

Every shim has the same shape: check arguments → find the context (the VM's effective one) →
read guest memory → call a typed method → write results back → return a status. Shims never
raise across the boundary: ``MemoryFault`` becomes INVALID_MEMORY_ACCESS (WASI: FAULT) and any
other exception INTERNAL_FAILURE, in the wrapper of ``host/linking.py``.

Statuses are plain ints here (hot path); they equal ``abi.enums.WasmResult``.
"""

from typing import Any

OK = 0
NOT_FOUND = 1
BAD_ARGUMENT = 2
SERIALIZATION_FAILURE = 3
PARSE_FAILURE = 4
INVALID_MEMORY_ACCESS = 6
EMPTY = 7
CAS_MISMATCH = 8
INTERNAL_FAILURE = 10
BROKEN_CONNECTION = 11
UNIMPLEMENTED = 12


def signed32(v: int) -> int:
    return v - 0x1_0000_0000 if v & 0x8000_0000 else v


def u64_at(a: Any, slot: int) -> int:
    """Unsigned i64 argument in val_raw slot ``slot`` (``a`` is the callback's u32 word pointer)."""
    return int(a[4 * slot]) | (int(a[4 * slot + 1]) << 32)


def i64_at(a: Any, slot: int) -> int:
    """Signed i64 argument in val_raw slot ``slot``."""
    v = u64_at(a, slot)
    return v - (1 << 64) if v & (1 << 63) else v
