"""``LogView``: plugin logs as a test reads them — a sequence of entries with substring matching.

``"token expired" in plugin.logs`` is true when any collected message contains the text;
``plugin.logs.at("error")`` narrows to one level, ``plugin.logs.since(mark)`` to what happened after
a point (each ``Response`` carries the logs of its own request this way).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import overload

from wasmplugin.abi.enums import LogLevel
from wasmplugin.host.logsink import CollectingLogSink, LogEntry


def parse_level(level: str | int | LogLevel) -> LogLevel:
    if isinstance(level, LogLevel):
        return level
    if isinstance(level, int):
        return LogLevel(level)
    try:
        return LogLevel.parse(level)
    except KeyError:
        raise ValueError(f"unknown log level {level!r}: trace, debug, info, warn, error, critical") from None


class LogView:
    """A filtered, live view of a :class:`CollectingLogSink` (entries appear as they are logged)."""

    def __init__(
        self,
        sink: CollectingLogSink,
        *,
        plugins: Sequence[str] | None = None,
        level: LogLevel | None = None,
        start: int = 0,
        stop: int | None = None,
    ) -> None:
        self._sink = sink
        self._plugins = tuple(plugins) if plugins is not None else None
        self._level = level
        self._start = start
        self._stop = stop

    def _entries(self) -> list[LogEntry]:
        entries = self._sink.entries[self._start : self._stop]
        return [
            e
            for e in entries
            if (self._plugins is None or e.plugin in self._plugins)
            and (self._level is None or e.level == self._level)
        ]

    # -- Sequence ------------------------------------------------------------------------------
    @overload
    def __getitem__(self, i: int) -> LogEntry: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[LogEntry]: ...
    def __getitem__(self, i: int | slice) -> LogEntry | Sequence[LogEntry]:
        return self._entries()[i]

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self._entries())

    def __contains__(self, text: object) -> bool:
        """``"some text" in logs``: a message contains it. A ``LogEntry`` is compared as such."""
        if isinstance(text, LogEntry):
            return text in self._entries()
        if not isinstance(text, str):
            return False
        return any(text in e.message for e in self._entries())

    # -- narrowing ------------------------------------------------------------------------------
    def at(self, level: str | int | LogLevel) -> LogView:
        return LogView(
            self._sink, plugins=self._plugins, level=parse_level(level), start=self._start, stop=self._stop
        )

    def of(self, *plugins: str) -> LogView:
        return LogView(self._sink, plugins=plugins, level=self._level, start=self._start, stop=self._stop)

    def mark(self) -> int:
        """A position in the log; ``since(mark)`` is everything logged after it."""
        return len(self._sink.entries)

    def since(self, mark: int, until: int | None = None) -> LogView:
        return LogView(self._sink, plugins=self._plugins, level=self._level, start=mark, stop=until)

    @property
    def errors(self) -> LogView:
        return self.at(LogLevel.ERROR)

    @property
    def warnings(self) -> LogView:
        return self.at(LogLevel.WARN)

    # -- reading ----------------------------------------------------------------------------------
    @property
    def messages(self) -> list[str]:
        return [e.message for e in self._entries()]

    def contains(self, text: str, *, level: str | int | LogLevel | None = None) -> bool:
        view = self.at(level) if level is not None else self
        return any(text in e.message for e in view)

    def matching(self, pattern: str) -> list[str]:
        """Messages matching the regular expression (``re.search``)."""
        rx = re.compile(pattern)
        return [e.message for e in self._entries() if rx.search(e.message)]

    def clear(self) -> None:
        """Forget every collected entry (of every plugin of the harness)."""
        self._sink.clear()

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self._entries())

    def __repr__(self) -> str:
        entries = self._entries()
        shown = "\n  ".join(str(e) for e in entries[-20:])
        more = f"  ({len(entries) - 20} earlier lines not shown)\n  " if len(entries) > 20 else ""
        return f"<logs: {len(entries)} line(s)>\n  {more}{shown}" if entries else "<logs: none>"
