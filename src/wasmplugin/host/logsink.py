"""Log sinks: where plugin logs (proxy_log, WASI stdout/stderr) and host diagnostics go.

``CollectingLogSink`` keeps entries in memory (tests, ``wasmplugin run``); ``StreamLogSink``
writes ``[plugin] level: message`` lines to a text stream (the sidecar's stderr). Both keep a
threshold per plugin, which ``proxy_get_log_level`` reports and below which messages are dropped
before they are even decoded.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import TextIO

from wasmplugin.abi.enums import LogLevel

#: Envoy's level names as they appear in its logs.
LEVEL_NAMES = {
    LogLevel.TRACE: "trace",
    LogLevel.DEBUG: "debug",
    LogLevel.INFO: "info",
    LogLevel.WARN: "warning",
    LogLevel.ERROR: "error",
    LogLevel.CRITICAL: "critical",
    LogLevel.OFF: "off",
}


@dataclass(frozen=True, slots=True)
class LogEntry:
    plugin: str
    level: LogLevel
    message: str

    def __str__(self) -> str:
        return f"[{self.plugin}] {LEVEL_NAMES[self.level]}: {self.message}"


class _Thresholds:
    def __init__(self, default: LogLevel) -> None:
        self.default = default
        self.per_plugin: dict[str, LogLevel] = {}

    def level(self, plugin: str) -> LogLevel:
        return self.per_plugin.get(plugin, self.default)

    def set_level(self, level: LogLevel, plugin: str | None = None) -> None:
        if plugin is None:
            self.default = level
            self.per_plugin.clear()
        else:
            self.per_plugin[plugin] = level


class CollectingLogSink:
    """Records every entry at or above the threshold (default: everything)."""

    def __init__(self, level: LogLevel = LogLevel.TRACE) -> None:
        self._thresholds = _Thresholds(level)
        self._lock = threading.Lock()
        self.entries: list[LogEntry] = []

    def log(self, plugin: str, level: LogLevel, message: str) -> None:
        if level < self._thresholds.level(plugin):
            return
        with self._lock:
            entry_level = level if type(level) is LogLevel else LogLevel(level)  # no enum call per line
            self.entries.append(LogEntry(plugin, entry_level, message))

    def level(self, plugin: str) -> LogLevel:
        t = self._thresholds  # asked before every plugin log line: one call, not two
        return t.per_plugin.get(plugin, t.default)

    def set_level(self, level: LogLevel, plugin: str | None = None) -> None:
        """Set the threshold for ``plugin``, or for every plugin when ``plugin`` is ``None``."""
        self._thresholds.set_level(level, plugin)

    def messages(self, plugin: str | None = None, level: LogLevel | None = None) -> list[str]:
        """Messages, optionally only one plugin's and/or one level's."""
        return [
            e.message
            for e in list(self.entries)
            if (plugin is None or e.plugin == plugin) and (level is None or e.level == level)
        ]

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()


class StreamLogSink:
    """Writes ``[plugin] level: message`` lines to ``stream`` (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, level: LogLevel = LogLevel.INFO) -> None:
        self._stream = stream
        self._thresholds = _Thresholds(level)
        self._lock = threading.Lock()

    def log(self, plugin: str, level: LogLevel, message: str) -> None:
        if level < self._thresholds.level(plugin):
            return
        stream = self._stream if self._stream is not None else sys.stderr
        line = f"[{plugin}] {LEVEL_NAMES[level]}: {message}\n"  # IntEnum keys: ints find them
        with self._lock:
            stream.write(line)
            stream.flush()

    def level(self, plugin: str) -> LogLevel:
        t = self._thresholds  # asked before every plugin log line: one call, not two
        return t.per_plugin.get(plugin, t.default)

    def set_level(self, level: LogLevel, plugin: str | None = None) -> None:
        self._thresholds.set_level(level, plugin)
