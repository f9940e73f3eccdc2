"""A value that must never be printed or logged (Secret data, pull credentials)."""

from __future__ import annotations

__all__ = ["REDACTED", "Redacted"]

#: What every printer shows instead of a secret value.
REDACTED = "<redacted>"


class Redacted:
    """Wraps secret bytes. ``str``/``repr``/``format`` show :data:`REDACTED`; only
    :meth:`reveal` returns the value, and only code that hands it to a plugin or a registry
    should call it. A value read back from a config dump has no content (``available`` false)."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes | None) -> None:
        self._value = value

    @classmethod
    def unavailable(cls) -> Redacted:
        return cls(None)

    @property
    def available(self) -> bool:
        return self._value is not None

    def reveal(self) -> bytes:
        """The secret bytes (empty when unavailable)."""
        return self._value or b""

    def reveal_text(self) -> str:
        return self.reveal().decode("utf-8", "replace")

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Redacted) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Redacted, self._value))

    def __repr__(self) -> str:
        return f"Redacted({REDACTED})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return format(REDACTED, spec)
