"""The leak check: does a plugin's linear memory keep growing over identical requests?

Wasm linear memory never shrinks, so its size is a high-water mark of what the guest allocator ever
needed. A plugin that does not leak reaches a plateau once its allocator (and, for Go, its garbage
collector's pacing) has settled; a leaking one keeps growing, request after request — the TinyGo
SDK leak users reported for years is of this kind.

So the check sends ``warmup`` requests first, then ``requests`` more in ``rounds`` equal rounds,
reading the VM's memory size after each. It reports a leak when memory still grew by more than
``tolerance_bytes`` over the *second half* of the rounds: allocator warm-up and GC pacing happen
early; steady growth late is a leak.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

MIB = 1024 * 1024
#: Defaults, measured on the repository's plugins: a Go SDK plugin's GC-paced heap can keep growing
#: for several hundred requests before it settles (go-features' /go/properties: 4.5 MiB after 100,
#: 7.75 MiB after 500, flat from ~1000), while a leak of ~2 KiB or more per request exceeds the
#: tolerance over the last 500 requests. Requests cost well under a millisecond each here.
DEFAULT_WARMUP = 500
DEFAULT_REQUESTS = 1000
DEFAULT_ROUNDS = 4
DEFAULT_TOLERANCE_BYTES = 1 * MIB


def _fmt(n: float) -> str:
    if abs(n) >= MIB:
        return f"{n / MIB:.2f} MiB"
    if abs(n) >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n:.0f} B"


@dataclass
class LeakReport:
    plugin: str
    warmup: int
    requests: int
    tolerance_bytes: int
    #: Memory size after the warm-up, then after each round: ``(requests sent, bytes)``.
    samples: list[tuple[int, int]] = field(default_factory=list)

    @property
    def start_bytes(self) -> int:
        return self.samples[0][1]

    @property
    def end_bytes(self) -> int:
        return self.samples[-1][1]

    @property
    def growth_bytes(self) -> int:
        """Growth over all measured requests (after the warm-up)."""
        return self.end_bytes - self.start_bytes

    @property
    def late_growth_bytes(self) -> int:
        """Growth over the second half of the rounds: what decides."""
        mid = self.samples[(len(self.samples) - 1) // 2][1]
        return self.end_bytes - mid

    @property
    def per_request_bytes(self) -> float:
        return self.growth_bytes / self.requests if self.requests else 0.0

    @property
    def leaked(self) -> bool:
        return self.late_growth_bytes > self.tolerance_bytes

    def __str__(self) -> str:
        verdict = "LEAK" if self.leaked else "no leak"
        series = ", ".join(f"{n}: {_fmt(b)}" for n, b in self.samples)
        return (
            f"{verdict} in {self.plugin}: linear memory grew {_fmt(self.growth_bytes)} over "
            f"{self.requests} identical requests after {self.warmup} warm-up requests "
            f"(~{_fmt(self.per_request_bytes)} per request); {_fmt(self.late_growth_bytes)} in the second "
            f"half (tolerance {_fmt(self.tolerance_bytes)}). Memory after N requests: {series}"
        )


def measure(
    plugin: str,
    send: Callable[[], object],
    memory: Callable[[], int],
    *,
    warmup: int = DEFAULT_WARMUP,
    requests: int = DEFAULT_REQUESTS,
    rounds: int = DEFAULT_ROUNDS,
    tolerance_bytes: int = DEFAULT_TOLERANCE_BYTES,
) -> LeakReport:
    """Run the check: ``send()`` sends one request, ``memory()`` reads the VM's memory size."""
    if requests < rounds or rounds < 2:
        raise ValueError("need at least 2 rounds and one request per round")
    if warmup < 0 or tolerance_bytes < 0:
        raise ValueError("warmup and tolerance_bytes cannot be negative")
    for _ in range(warmup):
        send()
    report = LeakReport(plugin, warmup, requests, tolerance_bytes)
    sent = 0
    report.samples.append((warmup, memory()))
    per_round = [requests // rounds + (1 if i < requests % rounds else 0) for i in range(rounds)]
    for n in per_round:
        for _ in range(n):
            send()
        sent += n
        report.samples.append((warmup + sent, memory()))
    return report
