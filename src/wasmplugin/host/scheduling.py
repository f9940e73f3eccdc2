"""Clocks and schedulers for the host: real time, and a deterministic virtual loop.

``SystemClock`` reads the OS clocks. ``VirtualClock`` + ``VirtualScheduler`` give ``wasmplugin
run`` and the pytest harness manual time: nothing happens until ``advance()`` or
``run_until_idle()`` is called, and callbacks due at the same instant run in the order they were
scheduled. ``AsyncioScheduler`` adapts an asyncio event loop (the sidecar).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable

NS_PER_S = 1_000_000_000

#: Virtual wall clock start: 2024-01-01T00:00:00Z, so timestamps look like real ones.
VIRTUAL_EPOCH_NS = 1_704_067_200 * NS_PER_S
#: Virtual monotonic clock start. Never 0: Go's runtime aborts when nanotime() returns zero.
VIRTUAL_MONOTONIC_START_NS = NS_PER_S


class SystemClock:
    """Wall time (``time.time_ns``) and monotonic time (``time.monotonic_ns``), called directly:
    reading the clock costs no Python frame (the hot path reads it a few times per request)."""

    now_ns = staticmethod(time.time_ns)
    monotonic_ns = staticmethod(time.monotonic_ns)


class VirtualClock:
    """A clock that moves only when told to. Wall and monotonic time advance together."""

    def __init__(self, start_ns: int = VIRTUAL_EPOCH_NS) -> None:
        self._wall_start = start_ns
        self._mono_ns = VIRTUAL_MONOTONIC_START_NS

    def now_ns(self) -> int:
        return self._wall_start + (self._mono_ns - VIRTUAL_MONOTONIC_START_NS)

    def monotonic_ns(self) -> int:
        return self._mono_ns

    @property
    def elapsed_s(self) -> float:
        """Seconds advanced since the clock was created."""
        return (self._mono_ns - VIRTUAL_MONOTONIC_START_NS) / NS_PER_S

    def _advance_to(self, monotonic_ns: int) -> None:
        if monotonic_ns < self._mono_ns:
            raise ValueError("a virtual clock never goes backwards")
        self._mono_ns = monotonic_ns


class _VirtualTimer:
    __slots__ = ("cancelled", "due_ns", "fn", "seq")

    def __init__(self, due_ns: int, seq: int, fn: Callable[[], None]) -> None:
        self.due_ns = due_ns
        self.seq = seq
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: _VirtualTimer) -> bool:
        return (self.due_ns, self.seq) < (other.due_ns, other.seq)


class VirtualScheduler:
    """A deterministic scheduler on a :class:`VirtualClock`.

    ``call_soon`` work and timers run only inside :meth:`run_until_idle` / :meth:`advance`, never
    inside the call that scheduled them. Exceptions raised by callbacks propagate to the caller of
    ``advance``/``run_until_idle`` (a test should see them).
    """

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = clock if clock is not None else VirtualClock()
        self._ready: deque[Callable[[], None]] = deque()
        self._timers: list[_VirtualTimer] = []
        self._seq = itertools.count()

    # -- Scheduler protocol ------------------------------------------------------------------------
    def call_soon(self, fn: Callable[[], None]) -> None:
        self._ready.append(fn)

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> _VirtualTimer:
        due = self.clock.monotonic_ns() + max(0, round(delay_s * NS_PER_S))
        timer = _VirtualTimer(due, next(self._seq), fn)
        heapq.heappush(self._timers, timer)
        return timer

    # -- driving -------------------------------------------------------------------------------
    def run_until_idle(self, max_steps: int = 100_000) -> int:
        """Run ready callbacks and timers due now until nothing is runnable; time does not move.

        Returns the number of callbacks run. ``max_steps`` guards against a callback that keeps
        rescheduling itself with no delay.
        """
        steps = 0
        while True:
            if self._ready:
                fn = self._ready.popleft()
            else:
                timer = self._pop_due(self.clock.monotonic_ns())
                if timer is None:
                    return steps
                fn = timer.fn
            steps += 1
            if steps > max_steps:
                raise RuntimeError(f"scheduler still busy after {max_steps} callbacks")
            fn()

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds``, running every timer that falls due on the way, at its
        due time, in order. Returns the number of callbacks run."""
        if seconds < 0:
            raise ValueError("cannot advance by a negative amount")
        target = self.clock.monotonic_ns() + round(seconds * NS_PER_S)
        steps = self.run_until_idle()
        while True:
            self._drop_cancelled()
            if not self._timers or self._timers[0].due_ns > target:
                break
            self.clock._advance_to(max(self._timers[0].due_ns, self.clock.monotonic_ns()))
            steps += self.run_until_idle()
        self.clock._advance_to(target)
        return steps + self.run_until_idle()

    def pending_timers(self) -> int:
        self._drop_cancelled()
        return sum(1 for t in self._timers if not t.cancelled)

    def next_due_s(self) -> float | None:
        """Seconds until the next live timer, or ``None``."""
        self._drop_cancelled()
        if not self._timers:
            return None
        return (self._timers[0].due_ns - self.clock.monotonic_ns()) / NS_PER_S

    @property
    def idle(self) -> bool:
        return not self._ready

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)

    def _pop_due(self, now_ns: int) -> _VirtualTimer | None:
        self._drop_cancelled()
        if self._timers and self._timers[0].due_ns <= now_ns:
            return heapq.heappop(self._timers)
        return None


class AsyncioScheduler:
    """The Scheduler protocol on an asyncio loop (the sidecar). Thread-safe ``call_soon``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def call_soon(self, fn: Callable[[], None]) -> None:
        self._loop.call_soon_threadsafe(fn)

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        return self._loop.call_later(delay_s, fn)
