"""argparse ``type=`` converters shared by commands, so a bad number reads the same everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

N = TypeVar("N", int, float)


def _parse(text: str, convert: Callable[[str], N], noun: str) -> N:
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None


def port(text: str) -> int:
    """A TCP port, 0 (= pick a free one) to 65535."""
    value = _parse(text, int, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def positive_int(text: str) -> int:
    value = _parse(text, int, "a number")
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_seconds(text: str) -> float:
    value = _parse(text, float, "a number of seconds")
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value
