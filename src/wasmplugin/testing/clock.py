"""``TestClock``: the harness's virtual time, as a test moves it.

Nothing happens on its own: ``advance(5)`` moves time 5 seconds forward and runs, at their due
times and in order, everything that falls due — ``on_tick`` timers, delayed upstream answers,
http_call timeouts, FAIL_RELOAD backoffs — and lets paused requests finish. The plugin sees the
same time through ``proxy_get_current_time_nanoseconds`` and WASI clocks (wall time starts at
2024-01-01T00:00:00Z).
"""

from __future__ import annotations

from collections.abc import Callable

from wasmplugin.host.scheduling import NS_PER_S, VirtualScheduler


class TestClock:
    __test__ = False  # not a pytest test class

    def __init__(self, scheduler: VirtualScheduler, after_run: Callable[[], None]) -> None:
        self._scheduler = scheduler
        self._after_run = after_run

    @property
    def now(self) -> float:
        """Wall time in Unix seconds (what the plugin reads)."""
        return self._scheduler.clock.now_ns() / NS_PER_S

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the harness started."""
        return self._scheduler.clock.elapsed_s

    def advance(self, seconds: float) -> int:
        """Move time forward, running what falls due on the way. Returns how many callbacks ran."""
        n = self._scheduler.advance(seconds)
        self._after_run()
        return n

    def run_pending(self) -> int:
        """Run what is due now (answers without delay, queue notifications) without moving time."""
        n = self._scheduler.run_until_idle()
        self._after_run()
        return n

    def advance_to_next(self) -> float | None:
        """Jump to the next timer and run it; returns the seconds moved (None: nothing scheduled)."""
        due = self._scheduler.next_due_s()
        if due is None:
            return None
        self.advance(max(due, 0.0))
        return max(due, 0.0)

    @property
    def pending_timers(self) -> int:
        return self._scheduler.pending_timers()

    @property
    def next_timer_in(self) -> float | None:
        return self._scheduler.next_due_s()

    def __repr__(self) -> str:
        return f"<TestClock elapsed={self.elapsed:g}s>"
