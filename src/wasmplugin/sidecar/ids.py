"""``x-request-id`` values, as Envoy's connection manager adds them to requests that lack one.

Envoy puts a random UUID there; what matters to plugins and upstreams is a unique id in the UUID
text form (8-4-4-4-12 lower-case hex digits). Formatting 128 fresh random bits per request costs
about a microsecond in Python, so ids are a random 64-bit part, drawn again every
:data:`_BATCH` ids, followed by a 64-bit counter that starts at a random value: unique within the
process, unpredictable across processes and restarts, and one formatting operation per request.
"""

from __future__ import annotations

import os

#: Ids per random prefix.
_BATCH = 4096


class RequestIds:
    """Generator of ``x-request-id`` values (one per listener; not thread-safe, used on the loop)."""

    __slots__ = ("_left", "_n", "_prefix")

    def __init__(self) -> None:
        self._left = 0
        self._n = 0
        self._prefix = b""

    def next(self) -> bytes:
        left = self._left
        if not left:
            h = os.urandom(16).hex().encode()
            self._prefix = b"%s-%s-%s-" % (h[:8], h[8:12], h[12:16])
            self._n = int(h[16:], 16)
            left = _BATCH
        self._left = left - 1
        n = self._n = (self._n + 1) & 0xFFFF_FFFF_FFFF_FFFF
        return b"%s%04x-%012x" % (self._prefix, n >> 48, n & 0xFFFF_FFFF_FFFF)
