"""Transfer progress: a one-line bar on a terminal for transfers that take more than a moment.

Nothing is drawn when the stream is not a terminal (pipes, CI logs, tests) or before ``delay_s``
has passed, so quick transfers stay silent. ``WASMPLUGIN_PROGRESS_DELAY_S`` overrides the delay.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Protocol, TextIO

DEFAULT_DELAY_S = 0.5


class Progress(Protocol):
    def start(self, label: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    def start(self, label: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


NULL_PROGRESS: Progress = NullProgress()


class TerminalProgress:
    """Draws ``label [#####.....]  1.2/2.0 MiB`` with carriage returns on ``stream``."""

    def __init__(
        self, stream: TextIO | None = None, *, delay_s: float | None = None, width: int = 30
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if delay_s is None:
            env = os.environ.get("WASMPLUGIN_PROGRESS_DELAY_S")
            delay_s = float(env) if env else DEFAULT_DELAY_S
        self.delay_s = delay_s
        self.width = width
        self._label = ""
        self._total: int | None = None
        self._done = 0
        self._started = 0.0
        self._drawn = False
        self._last_draw = 0.0

    @property
    def enabled(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def start(self, label: str, total: int | None) -> None:
        self._label, self._total, self._done = label, total, 0
        self._started = time.monotonic()
        self._drawn = False

    def advance(self, n: int) -> None:
        self._done += n
        now = time.monotonic()
        if now - self._started < self.delay_s or not self.enabled:
            return
        if self._drawn and now - self._last_draw < 0.1 and self._done != self._total:
            return
        self._draw()
        self._last_draw = now

    def finish(self) -> None:
        if self._drawn:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False

    def _draw(self) -> None:
        done_mib = self._done / (1024 * 1024)
        if self._total:
            frac = min(1.0, self._done / self._total)
            filled = int(frac * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            text = f"\r{self._label} [{bar}] {done_mib:6.1f}/{self._total / (1024 * 1024):.1f} MiB"
        else:
            text = f"\r{self._label} {done_mib:6.1f} MiB"
        self.stream.write(text)
        self.stream.flush()
        self._drawn = True
