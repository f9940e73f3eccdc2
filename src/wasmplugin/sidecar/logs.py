"""The sidecar's loggers and the plugin log sink, with Envoy's names and line format.

Envoy has named loggers (``wasm``, ``http``, ``upstream``, ``config``, ``admin``, ``main`` ...) whose
levels ``POST /logging?NAME=LEVEL`` changes. Plugin logs go through the ``wasm`` logger: a plugin's
``proxy_get_log_level`` answers that logger's level, so ``/logging?wasm=debug`` makes debug logs
appear, as in the blog. Lines look like Envoy's::

    [2026-11-27 21:40:06.123][info][wasm] wasm log istio-system.header-modifier: Request: GET /
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from wasmplugin.abi.enums import LogLevel

LOGGERS = ("admin", "config", "http", "main", "upstream", "wasm")
_NAMES = {
    LogLevel.TRACE: "trace",
    LogLevel.DEBUG: "debug",
    LogLevel.INFO: "info",
    LogLevel.WARN: "warning",
    LogLevel.ERROR: "error",
    LogLevel.CRITICAL: "critical",
    LogLevel.OFF: "off",
}


def level_name(level: LogLevel) -> str:
    return _NAMES[level]


class SidecarLog:
    """Named loggers with levels; writes one line per message to ``stream``. Also the host's
    ``LogSink`` for plugins (through the ``wasm`` logger)."""

    def __init__(self, level: LogLevel = LogLevel.INFO, stream: TextIO | None = None) -> None:
        self.levels: dict[str, LogLevel] = dict.fromkeys(LOGGERS, level)
        self._stream = stream
        self._lock = threading.Lock()
        #: Prefix added to every line (worker processes set ``[worker N]``).
        self.prefix = ""

    def set_level(self, logger: str, level: LogLevel) -> None:
        if logger not in self.levels:
            raise KeyError(logger)
        self.levels[logger] = level

    def set_all(self, level: LogLevel) -> None:
        for name in self.levels:
            self.levels[name] = level

    def apply(self, logger: str | None, level: LogLevel) -> None:
        """``POST /logging``: one logger (``KeyError`` if unknown), or every logger when None."""
        if logger is None:
            self.set_all(level)
        else:
            self.set_level(logger, level)

    def level_names(self) -> dict[str, str]:
        """``GET /logging``: each logger's level by Envoy's name."""
        return {k: level_name(v) for k, v in self.levels.items()}

    def enabled(self, logger: str, level: LogLevel) -> bool:
        return level >= self.levels.get(logger, LogLevel.INFO)

    def emit(self, logger: str, level: LogLevel, message: str) -> None:
        if level < self.levels.get(logger, LogLevel.INFO):
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        line = f"{self.prefix}[{stamp}][{_NAMES[level]}][{logger}] {message}\n"
        stream = self._stream or sys.stderr
        with self._lock:
            stream.write(line)
            stream.flush()

    def info(self, logger: str, message: str) -> None:
        self.emit(logger, LogLevel.INFO, message)

    def warn(self, logger: str, message: str) -> None:
        self.emit(logger, LogLevel.WARN, message)

    def error(self, logger: str, message: str) -> None:
        self.emit(logger, LogLevel.ERROR, message)

    # -- host LogSink ------------------------------------------------------------------------------
    def log(self, plugin: str, level: LogLevel, message: str) -> None:
        self.emit("wasm", level, f"wasm log {plugin}: {message}")

    def level(self, plugin: str) -> LogLevel:
        return self.levels["wasm"]
