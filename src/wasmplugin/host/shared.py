"""Shared key/value data and shared queues, scoped per ``vm_id`` (proxy-wasm-cpp-host semantics).

One instance of each per ``HostServices`` (per process / worker / test): every VM built with the
same services object and the same ``vm_id`` sees the same data and queues, as Envoy shares them
across the VMs of one process.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from wasmplugin.abi.enums import WasmResult

#: ``notify(token)`` — posts ``proxy_on_queue_ready`` to the registering root context.
QueueNotifier = Callable[[int], None]


class SharedData:
    """Per-vm_id key/value store with compare-and-swap (``proxy_{get,set}_shared_data``).

    CAS values come from one counter starting at 1 that skips 0 (cpp-host ``nextCas``); a set with
    ``cas == 0`` is unconditional; a set on an existing key with a different non-zero CAS answers
    CAS_MISMATCH.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[bytes, tuple[bytes, int]]] = {}
        self._next_cas = 1

    def get(self, vm_id: str, key: bytes) -> tuple[bytes, int] | None:
        with self._lock:
            scope = self._data.get(vm_id)
            if scope is None:
                return None
            return scope.get(key)

    def set(self, vm_id: str, key: bytes, value: bytes, cas: int) -> WasmResult:
        with self._lock:
            scope = self._data.setdefault(vm_id, {})
            current = scope.get(key)
            if current is not None and cas != 0 and cas != current[1]:
                return WasmResult.CAS_MISMATCH
            scope[key] = (value, self._take_cas())
            return WasmResult.OK

    def keys(self, vm_id: str) -> list[bytes]:
        with self._lock:
            return list(self._data.get(vm_id, {}))

    def _take_cas(self) -> int:
        cas = self._next_cas
        self._next_cas = cas + 1 if cas < 0xFFFFFFFF else 1
        return cas


@dataclass
class _Queue:
    vm_id: str
    name: str
    items: deque[bytes] = field(default_factory=deque)
    notify: QueueNotifier | None = None


class SharedQueues:
    """Named queues per vm_id (``proxy_{register,resolve,enqueue,dequeue}_shared_queue``).

    Registering creates the queue or re-opens it (items are kept) and makes the caller the one
    notified on enqueue; tokens are non-zero and stable for the queue's lifetime.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], int] = {}
        self._queues: dict[int, _Queue] = {}
        self._next_token = 1

    def register(self, vm_id: str, name: str, notify: QueueNotifier | None) -> int:
        with self._lock:
            key = (vm_id, name)
            token = self._tokens.get(key)
            if token is None:
                token = self._take_token()
                self._tokens[key] = token
                self._queues[token] = _Queue(vm_id, name)
            self._queues[token].notify = notify
            return token

    def resolve(self, vm_id: str, name: str) -> int | None:
        with self._lock:
            return self._tokens.get((vm_id, name))

    def enqueue(self, token: int, value: bytes) -> WasmResult:
        with self._lock:
            queue = self._queues.get(token)
            if queue is None:
                return WasmResult.NOT_FOUND
            queue.items.append(value)
            notify = queue.notify
        if notify is not None:
            notify(token)
        return WasmResult.OK

    def dequeue(self, token: int) -> tuple[WasmResult, bytes]:
        with self._lock:
            queue = self._queues.get(token)
            if queue is None:
                return WasmResult.NOT_FOUND, b""
            if not queue.items:
                return WasmResult.EMPTY, b""
            return WasmResult.OK, queue.items.popleft()

    def size(self, token: int) -> int:
        with self._lock:
            queue = self._queues.get(token)
            return len(queue.items) if queue is not None else 0

    def forget_notifier(self, notify: QueueNotifier) -> None:
        """Stop notifying ``notify`` (its VM is closing); the queues and items stay."""
        with self._lock:
            for queue in self._queues.values():
                if queue.notify == notify:
                    queue.notify = None

    def _take_token(self) -> int:
        token = self._next_token
        self._next_token = token + 1 if token < 0xFFFFFFFF else 1
        return token
