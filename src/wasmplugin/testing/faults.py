"""Forcing failures, to test what failStrategy does with them.

*Runtime* failures (trap, deadline, memory cap) are injected at the VM boundary: every VM the harness
builds is wrapped (``chain.build``'s ``vm_wrapper``), and when a fault is armed for a callback the
wrapper fails the VM exactly as the host does for a real trap — the VM is marked failed (every later
call raises ``PluginFailed``), the error is logged, and the typed error reaches the chain — instead
of running the callback. The chain, failStrategy and FAIL_RELOAD then behave as for a real trap.
The error message says the failure was forced, so nobody mistakes it for a plugin bug.

*Load* failures (a fetch that fails, a checksum mismatch, a module that is not Wasm) become the
``PluginToLoad`` the fetch layer would have produced, carrying the same typed error istio-agent
reports: the chain then puts the same deny-all / allow-all stand-in in the plugin's place.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from wasmplugin.abi.enums import LogLevel
from wasmplugin.errors import (
    ChecksumMismatch,
    FetchError,
    InvalidWasmBinary,
    ModuleNotFound,
    PluginDeadlineExceeded,
    PluginMemoryExceeded,
    PluginRuntimeError,
    PluginTrap,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from wasmplugin.chain.runtime import PluginVMLike, StreamContextLike
    from wasmplugin.host.api import StreamHost
    from wasmplugin.host.vm import PluginVM

#: Stream callbacks a fault can be armed for (short name → export name).
CALLBACKS = {
    "request_headers": "proxy_on_request_headers",
    "request_body": "proxy_on_request_body",
    "request_trailers": "proxy_on_request_trailers",
    "response_headers": "proxy_on_response_headers",
    "response_body": "proxy_on_response_body",
    "response_trailers": "proxy_on_response_trailers",
    "log": "proxy_on_log",
    "done": "proxy_on_done",
}

_KINDS: dict[str, type[PluginRuntimeError]] = {
    "trap": PluginTrap,
    "deadline": PluginDeadlineExceeded,
    "memory": PluginMemoryExceeded,
}

#: Load failures a test can force, and the error each stands for.
LOAD_FAILURES = ("fetch_failure", "checksum_mismatch", "invalid_module")


def callback_name(name: str) -> str:
    """``request_headers``, ``on_request_headers`` or ``proxy_on_request_headers`` → export name."""
    short = name.removeprefix("proxy_").removeprefix("on_")
    found = CALLBACKS.get(short)
    if found is None:
        raise ValueError(f"cannot force a failure in {name!r}; choose one of: {', '.join(CALLBACKS)}")
    return found


class FaultPlan:
    """Faults armed for one plugin, shared by every VM generation of it (FAIL_RELOAD's new VMs too)."""

    def __init__(self) -> None:
        self._armed: dict[str, deque[str]] = {}
        #: Faults that fired: (callback, kind).
        self.fired: list[tuple[str, str]] = []

    def arm(self, callback: str, kind: str = "trap", times: int = 1) -> None:
        if kind not in _KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; choose trap, deadline or memory")
        if times < 1:
            raise ValueError("times must be at least 1")
        self._armed.setdefault(callback_name(callback), deque()).extend([kind] * times)

    def disarm(self) -> None:
        self._armed.clear()

    def take(self, callback: str) -> str | None:
        q = self._armed.get(callback)
        if not q:
            return None
        kind = q.popleft()
        self.fired.append((callback, kind))
        return kind

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self._armed.values())


class InjectableVM:
    """A ``PluginVM`` whose stream callbacks can be made to fail on demand (``PluginVMLike``)."""

    def __init__(self, vm: PluginVM, plan: FaultPlan) -> None:
        self.vm = vm
        self.plan = plan

    # -- PluginVMLike -----------------------------------------------------------------------------
    @property
    def failure(self) -> PluginRuntimeError | None:
        return self.vm.failure

    @failure.setter
    def failure(self, value: PluginRuntimeError | None) -> None:
        self.vm.failure = value

    @property
    def on_failure(self) -> Callable[[PluginRuntimeError], None] | None:
        return self.vm.on_failure

    @on_failure.setter
    def on_failure(self, value: Callable[[PluginRuntimeError], None] | None) -> None:
        self.vm.on_failure = value

    def start(self) -> None:
        self.vm.start()

    def create_stream(self, host: StreamHost) -> StreamContextLike:
        return _InjectableStream(self, self.vm.create_stream(host))

    def close(self) -> None:
        self.vm.close()

    # -- used by the harness --------------------------------------------------------------------------
    def memory_size(self) -> int:
        return self.vm.memory_size()

    def fail(self, callback: str, kind: str) -> PluginRuntimeError:
        """Fail the VM as the host does after a trap in ``callback``; returns the error to raise."""
        vm = self.vm
        if kind == "deadline":
            deadline = vm.runtime.limits.callback_deadline_ms
            reason = f"exceeded the {deadline} ms deadline (forced by the test harness)"
        elif kind == "memory":
            reason = "linear memory limit exceeded (forced by the test harness)"
        else:
            reason = "trap forced by the test harness"
        err = _KINDS[kind](reason, plugin=vm.plugin_name, callback=callback)
        if vm.failure is None:
            vm.failure = err
            vm.services.log.log(vm.plugin_name, LogLevel.ERROR, str(err))
        return err


class _InjectableStream:
    """A stream context that checks the fault plan before each callback."""

    def __init__(self, owner: InjectableVM, ctx: Any) -> None:
        self._owner = owner
        self._ctx = ctx
        self.context_id: int = ctx.context_id

    def _check(self, callback: str) -> None:
        kind = self._owner.plan.take(callback)
        if kind is not None:
            raise self._owner.fail(callback, kind)

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> int:
        self._check("proxy_on_request_headers")
        return int(self._ctx.on_request_headers(num_headers, end_of_stream))

    def on_request_body(self, body_size: int, end_of_stream: bool) -> int:
        self._check("proxy_on_request_body")
        return int(self._ctx.on_request_body(body_size, end_of_stream))

    def on_request_trailers(self, num_trailers: int) -> int:
        self._check("proxy_on_request_trailers")
        return int(self._ctx.on_request_trailers(num_trailers))

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> int:
        self._check("proxy_on_response_headers")
        return int(self._ctx.on_response_headers(num_headers, end_of_stream))

    def on_response_body(self, body_size: int, end_of_stream: bool) -> int:
        self._check("proxy_on_response_body")
        return int(self._ctx.on_response_body(body_size, end_of_stream))

    def on_response_trailers(self, num_trailers: int) -> int:
        self._check("proxy_on_response_trailers")
        return int(self._ctx.on_response_trailers(num_trailers))

    def on_log(self) -> None:
        self._check("proxy_on_log")
        self._ctx.on_log()

    def on_done(self) -> None:
        self._check("proxy_on_done")
        self._ctx.on_done()

    def on_delete(self) -> None:
        self._ctx.on_delete()

    def __repr__(self) -> str:
        return f"Injectable({self._ctx!r})"


def wrapper_for(plans: dict[str, FaultPlan]) -> Callable[[PluginVMLike], PluginVMLike]:
    """The ``vm_wrapper`` for ``chain.build``: each plugin's VMs get that plugin's plan."""
    from wasmplugin.host.vm import PluginVM

    def wrap(vm: PluginVMLike) -> PluginVMLike:
        assert isinstance(vm, PluginVM)
        plan = plans.setdefault(vm.plugin_name, FaultPlan())
        return InjectableVM(vm, plan)

    return wrap


def load_failure(kind: str, *, plugin: str, source: str, sha256: str | None = None) -> FetchError:
    """The error the fetch layer reports for a forced load failure of ``plugin`` from ``source``."""
    if kind == "fetch_failure":
        return ModuleNotFound(f"module {source} could not be fetched (forced by the test harness)")
    if kind == "checksum_mismatch":
        expected = sha256 or "0" * 64
        return ChecksumMismatch(
            f"module downloaded from {source} has checksum {'f' * 64}, which does not match: "
            f"{expected} (forced by the test harness)"
        )
    if kind == "invalid_module":
        return InvalidWasmBinary(f"fetched Wasm binary from {source} is invalid (forced by the test harness)")
    raise ValueError(f"unknown load failure {kind!r}; choose one of: {', '.join(LOAD_FAILURES)}")
