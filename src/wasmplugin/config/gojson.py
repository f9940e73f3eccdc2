"""The exact bytes istiod hands a plugin as its configuration.

istiod turns ``spec.pluginConfig`` (a ``google.protobuf.Struct``) into JSON with the legacy
``jsonpb`` marshaler (``protomarshal.ToJSON``), compact. That marshaler

* writes Struct fields sorted by key (Go string order = UTF-8 byte order = code point order);
* stores every number as a double and prints it with ``encoding/json``'s float format:
  ``10`` → ``10``, ``10.0`` → ``10``, ``0.5`` → ``0.5``, ``1e21`` → ``1e+21``, ``1e-7`` → ``1e-7``;
  integers above 2^53 lose precision exactly as a double does (``9007199254740993`` →
  ``9007199254740992``);
* escapes strings like ``encoding/json``: ``"`` ``\\`` ``\\n`` ``\\r`` ``\\t`` ``\\b`` ``\\f``,
  other control characters as ``\\u00XX``, and the HTML-sensitive ``<`` ``>`` ``&`` and U+2028 /
  U+2029 as ``\\u003c`` ``\\u003e`` ``\\u0026`` ``\\u2028`` ``\\u2029``; other non-ASCII is raw UTF-8.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["format_double", "marshal"]

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _string(s: str) -> str:
    out = ['"']
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def format_double(value: float) -> str:
    """``encoding/json``'s formatting of a float64 (shortest round-trip digits, ES6 style)."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"unsupported value: {value!r}")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    a = abs(value)
    if a < 1e-6 or a >= 1e21:
        text = repr(value)  # shortest digits; Python writes 'e-07' / 'e+21' like Go's 'e' format
        mantissa, _, exponent = text.partition("e")
        sign = exponent[0]
        digits = exponent[1:].lstrip("0") or "0"
        if len(digits) < 2 and sign == "+":
            digits = digits.rjust(2, "0")
        return f"{mantissa}e{sign}{digits}"
    # 'f' format with the shortest digits that round-trip.
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int | float):
        out.append(format_double(float(value)))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, key in enumerate(sorted(value)):
            if i:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, Sequence):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


def marshal(value: Any) -> bytes:
    """Compact JSON of a Struct/Value as istiod produces it (see module docstring)."""
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode("utf-8")
