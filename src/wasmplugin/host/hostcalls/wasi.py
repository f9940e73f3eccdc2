"""WASI preview1, with Envoy's behaviour (proxy-wasm-cpp-host ``exports.cc``), offered under both
``wasi_snapshot_preview1`` and ``wasi_unstable``.

There is no file system, no socket and no host environment: stdout/stderr become plugin logs
(fd 1 → info, fd 2 → error, one trailing newline stripped), clocks read ``services.clock``,
``environ`` comes only from ``PluginSettings.env``. ``proc_exit`` *traps* (Envoy returns; AS
relies on it stopping the guest) — the one deliberate difference, documented in conformance.md.
Bad pointers answer FAULT (21).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from wasmplugin.abi.enums import LogLevel, WasiErrno
from wasmplugin.errors import PluginTrap
from wasmplugin.host.faults import GuestAbort
from wasmplugin.host.functions import Args

if TYPE_CHECKING:
    from wasmplugin.host.vm import PluginVM

SUCCESS = 0
BADF = int(WasiErrno.BADF)
INVAL = int(WasiErrno.INVAL)
NOENT = int(WasiErrno.NOENT)
NOSYS = int(WasiErrno.NOSYS)
NOTDIR = int(WasiErrno.NOTDIR)
NOTSUP = int(WasiErrno.NOTSUP)
#: WASI ``rights`` bit FD_WRITE, the only right reported for stdout/stderr.
RIGHTS_FD_WRITE = 64


# -- output ------------------------------------------------------------------------------------
def _write(vm: PluginVM, fd: int, iovs: int, iovs_len: int, nwritten_ptr: int) -> int:
    if fd != 1 and fd != 2:
        return BADF
    mem = vm.mem
    chunks = [mem.read(p, n) for p, n in mem.get_pairs_u32(iovs, iovs_len)]
    data = b"".join(chunks)
    mem.put_u32(nwritten_ptr, len(data))
    level = LogLevel.INFO if fd == 1 else LogLevel.ERROR
    sink = vm.services.log
    if level >= sink.level(vm.plugin_name):
        if data.endswith(b"\n"):
            data = data[:-1]
        sink.log(vm.plugin_name, level, data.decode("utf-8", "replace"))
    return SUCCESS


def fd_write(vm: PluginVM, a: Args) -> int:
    return _write(vm, a[0], a[4], a[8], a[12])


def fd_pwrite(vm: PluginVM, a: Args) -> int:
    # (fd, iovs, iovs_len, offset i64, nwritten): the offset is ignored for a log stream
    return _write(vm, a[0], a[4], a[8], a[16])


# -- environment, arguments ------------------------------------------------------------------------
def _environ(vm: PluginVM) -> list[bytes]:
    return [f"{k}={v}".encode() + b"\0" for k, v in vm.settings.env]


def environ_sizes_get(vm: PluginVM, a: Args) -> int:
    entries = _environ(vm)
    mem = vm.mem
    mem.check(a[0], 4)
    mem.check(a[4], 4)
    mem.put_u32(a[0], len(entries))
    mem.put_u32(a[4], sum(len(e) for e in entries))
    return SUCCESS


def environ_get(vm: PluginVM, a: Args) -> int:
    entries = _environ(vm)
    mem = vm.mem
    ptrs = a[0]
    buf = a[4]
    mem.check(ptrs, 4 * len(entries))
    mem.check(buf, sum(len(e) for e in entries))
    for i, entry in enumerate(entries):
        mem.put_u32(ptrs + 4 * i, buf)
        mem.write(buf, entry)
        buf += len(entry)
    return SUCCESS


def args_sizes_get(vm: PluginVM, a: Args) -> int:
    mem = vm.mem
    mem.check(a[0], 4)
    mem.check(a[4], 4)
    mem.put_u32(a[0], 0)
    mem.put_u32(a[4], 0)
    return SUCCESS


def args_get(vm: PluginVM, a: Args) -> int:
    return SUCCESS


# -- clocks, randomness, scheduling --------------------------------------------------------------
def clock_time_get(vm: PluginVM, a: Args) -> int:
    clock_id = a[0]
    if clock_id == 0:
        now = vm.services.clock.now_ns()
    elif clock_id == 1:
        now = vm.services.clock.monotonic_ns()
    else:
        return NOTSUP
    vm.mem.put_u64(a[8], now)  # (id, precision i64, ret u64*)
    return SUCCESS


def clock_res_get(vm: PluginVM, a: Args) -> int:
    if a[0] > 1:
        return NOTSUP
    vm.mem.put_u64(a[4], 1)
    return SUCCESS


def random_get(vm: PluginVM, a: Args) -> int:
    size = a[4]
    if size > vm.services.limits.random_get_max_bytes:
        return INVAL
    vm.mem.write(a[0], os.urandom(size))
    return SUCCESS


def poll_oneoff(vm: PluginVM, a: Args) -> int:
    """No event ever becomes ready and the call never sleeps (Envoy)."""
    vm.mem.put_u32(a[12], 0)
    return SUCCESS


def sched_yield(vm: PluginVM, a: Args) -> int:
    return SUCCESS


def proc_exit(vm: PluginVM, a: Args) -> None:
    code = a[0]
    vm._exit_code = code
    vm._pending_failure = (PluginTrap, f"proc_exit({code})")
    raise GuestAbort(f"proc_exit({code})")


def proc_raise(vm: PluginVM, a: Args) -> int:
    return NOSYS


# -- file descriptors --------------------------------------------------------------------------
def fd_read(vm: PluginVM, a: Args) -> int:
    return NOSYS


def _logged_noop(name: str) -> Callable[[PluginVM, Args], int]:
    def shim(vm: PluginVM, a: Args) -> int:
        vm.services.log.log(vm.plugin_name, LogLevel.ERROR, f"wasi {name}: not supported")
        return SUCCESS

    shim.__name__ = name
    return shim


fd_seek = _logged_noop("fd_seek")
fd_close = _logged_noop("fd_close")


def fd_fdstat_get(vm: PluginVM, a: Args) -> int:
    fd = a[0]
    if fd != 1 and fd != 2:
        return BADF
    mem = vm.mem
    mem.check(a[4], 24)
    mem.put_u64(a[4], 0)  # filetype, flags: zero
    mem.put_u64(a[4] + 8, RIGHTS_FD_WRITE)
    mem.put_u64(a[4] + 16, 0)
    return SUCCESS


def _stdio_only(name: str) -> Callable[[PluginVM, Args], int]:
    def shim(vm: PluginVM, a: Args) -> int:
        fd = a[0]
        return SUCCESS if fd == 1 or fd == 2 else BADF

    shim.__name__ = name
    return shim


def _errno(name: str, errno: int) -> Callable[[PluginVM, Args], int]:
    def shim(vm: PluginVM, a: Args) -> int:
        return errno

    shim.__name__ = name
    return shim


def fd_tell(vm: PluginVM, a: Args) -> int:
    vm.mem.put_u64(a[4], 0)
    return SUCCESS
