"""Exceptions that travel *inside* a host call, never across the wasm boundary.

Host-call shims raise these; the callback wrapper (``host/linking.py``) turns them into a status
code or a trap before control returns to wasmtime. Nothing here reaches users.
"""

from __future__ import annotations


class MemoryFault(Exception):
    """A guest pointer/length lies outside linear memory → INVALID_MEMORY_ACCESS (WASI: FAULT)."""


class GuestAbort(Exception):
    """Stop the guest: the wrapper returns a trap with this message to wasmtime.

    Raised for ``proc_exit`` and when a nested call into the guest (its allocator) failed; the VM
    has already recorded why, so the outer call reports the real cause.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
