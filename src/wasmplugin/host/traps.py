"""Describing a failed guest call in one line: trap codes, wasmtime messages, sizes."""

from __future__ import annotations

import wasmtime

_MIB = 1024 * 1024


def first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line
    return text.strip()


_TRAP_REASONS = {
    wasmtime.TrapCode.UNREACHABLE: "unreachable",
    wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS: "out of bounds memory access",
    wasmtime.TrapCode.STACK_OVERFLOW: "call stack exhausted",
    wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO: "integer divide by zero",
    wasmtime.TrapCode.INTEGER_OVERFLOW: "integer overflow",
    wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER: "invalid conversion to integer",
    wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS: "undefined element: out of bounds table access",
    wasmtime.TrapCode.INDIRECT_CALL_TO_NULL: "uninitialized element",
    wasmtime.TrapCode.BAD_SIGNATURE: "indirect call type mismatch",
    wasmtime.TrapCode.INTERRUPT: "interrupted",
}


def cause(message: str) -> str:
    """The innermost cause of a wasmtime error/trap message (its last non-empty line)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return message.strip()
    cause = lines[-1]
    if cause.startswith("wasm trap: "):
        cause = cause[len("wasm trap: ") :]
    return cause


def describe_trap(trap: wasmtime.Trap) -> str:
    code = trap.trap_code
    reason = _TRAP_REASONS.get(code) if code is not None else None
    if reason is None:
        reason = cause(trap.message)
    try:
        frames = trap.frames
    except Exception:
        frames = []
    for frame in frames:
        name = frame.func_name
        if name:
            return f"{reason} (in {name})"
    return reason


def fmt_mib(n: int) -> str:
    return f"{n / _MIB:.1f} MiB" if n % _MIB else f"{n // _MIB} MiB"
