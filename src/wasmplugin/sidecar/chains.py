"""The set of filter chains one sidecar configuration runs, and how the proxy sees a chain.

A configuration version owns one :class:`ChainSet`: a chain per (direction, port). The proxy asks
``chain_for(direction, port)``; ``None`` means no plugin applies there and the request takes the
pass-through fast path. Reload builds a new set beside the old one and swaps it whole; exchanges
keep a reference to the set they started on, and the old set is closed when its last exchange ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from wasmplugin.abi.headers import HeaderMap
from wasmplugin.chain.api import Direction, Event, StreamInfo


class ChainStream(Protocol):
    """The inputs and outputs of ``wasmplugin.chain``'s ``HttpStream`` the proxy uses."""

    def request_headers(self, headers: HeaderMap, end_stream: bool) -> None: ...
    def request_data(self, data: bytes, end_stream: bool) -> None: ...
    def request_trailers(self, trailers: HeaderMap) -> None: ...
    def local_reply(self, status: int, body: bytes = b"", *, details: str) -> None: ...
    def reset(self, details: str = ...) -> None: ...
    def response_headers(self, headers: HeaderMap, end_stream: bool) -> None: ...
    def response_data(self, data: bytes, end_stream: bool) -> None: ...
    def response_trailers(self, trailers: HeaderMap) -> None: ...
    def events(self) -> list[Event]: ...
    def complete(self) -> None: ...


class Chain(Protocol):
    def new_stream(self, info: StreamInfo, wakeup: Callable[[], None]) -> Any: ...


def chain_is_empty(chain: object) -> bool:
    """True when a chain runs no plugin (the proxy then skips it entirely)."""
    passthrough = getattr(chain, "passthrough", None)
    if isinstance(passthrough, bool):
        return passthrough
    for attr in ("plugins", "filters", "entries"):
        value = getattr(chain, attr, None)
        if value is not None:
            try:
                return len(value) == 0
            except TypeError:
                continue
    try:
        return len(chain) == 0  # type: ignore[arg-type]
    except TypeError:
        return False


class ChainSet:
    """Chains of one configuration version, by (direction, port); ``port=None`` = any port."""

    def __init__(
        self,
        chains: dict[tuple[Direction, int | None], object] | None = None,
        *,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._chains: dict[tuple[Direction, int | None], object] = {}
        for key, chain in (chains or {}).items():
            if chain is not None and not chain_is_empty(chain):
                self._chains[key] = chain
        #: ``_chains`` split by direction, keyed by port alone: ``chain_for`` runs per request, and
        #: hashing a ``Direction`` (an Enum) is a Python-level ``__hash__`` call.
        self._inbound = {p: c for (d, p), c in self._chains.items() if d is Direction.INBOUND}
        self._outbound = {p: c for (d, p), c in self._chains.items() if d is Direction.OUTBOUND}
        self._on_close = on_close
        #: No chain at all: every request takes the fast path.
        self.empty = not self._chains
        self.active = 0
        self.retired = False
        self.closed = False

    def chain_for(self, direction: Direction, port: int) -> Chain | None:
        by_port = self._inbound if direction is Direction.INBOUND else self._outbound
        c = by_port.get(port)
        if c is None:
            c = by_port.get(None)
        return c  # type: ignore[return-value]

    def chains(self) -> dict[tuple[Direction, int | None], object]:
        return dict(self._chains)

    # -- lifetime: exchanges pin the set they started on ------------------------------------------
    # (``Exchange.start`` counts ``active`` up and ``Exchange._end_chain`` down, closing a retired
    # set at zero: no call per request)
    def retire(self) -> None:
        """Called when a newer set replaced this one: close once in-flight exchanges finish."""
        self.retired = True
        if self.active == 0:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        seen: set[int] = set()
        for chain in self._chains.values():
            if id(chain) in seen:
                continue
            seen.add(id(chain))
            close = getattr(chain, "close", None)
            if close is not None:
                close()
        if self._on_close is not None:
            self._on_close()
