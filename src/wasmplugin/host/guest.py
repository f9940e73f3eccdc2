"""Exported functions ready for unchecked calls, and the http_call response being delivered."""

from __future__ import annotations

import ctypes
from ctypes import c_int32

import wasmtime

from wasmplugin.abi.buffers import BodyBuffer
from wasmplugin.abi.headers import HeaderMap
from wasmplugin.host import native
from wasmplugin.host.api import HttpCallResponse


class CleanExit(Exception):
    """proc_exit(0) inside a start function: the command finished normally."""


class GuestFunc:
    """One exported function, ready for unchecked calls: its ``wasmtime_func_t`` address and a
    preallocated val_raw array (≥ 8 slots of 16 bytes).

    ``raw`` views the array as u32 words (slot ``k`` is word ``4k``): arguments are written there
    (values in ``[0, 2**32)``), and ``result`` views the same memory as i32 words for the signed
    result in word 0. Memoryviews index faster than ctypes arrays (~100 instructions per write)."""

    __slots__ = ("_array", "addr", "cargs", "func", "has_result", "name", "nargs", "nparams", "raw", "result")

    def __init__(
        self, name: str, func: wasmtime.Func, nparams: int, nresults: int, context: int, trap_addr: int
    ) -> None:
        self.name = name
        self.func = func  # owns the wasmtime_func_t struct at ``addr``
        self.addr = native.func_address(func)
        self.nparams = nparams
        self.nargs = max(nparams, nresults)
        self._array = array = (c_int32 * (4 * max(8, self.nargs)))()
        self.raw = memoryview(array).cast("B").cast("I")
        self.result = memoryview(array).cast("B").cast("i")
        self.has_result = nresults > 0
        #: Arguments of wasmtime_func_call_unchecked, prebuilt: (context, func, args, n, trap out).
        #: Each is a ``byref`` argument object, which ctypes passes as it is: no conversion, no
        #: allocation per call (pointer-typed objects each cost a temporary argument object; simple
        #: types like c_void_p a field-descriptor scan as well). ``n`` travels as a pointer-sized
        #: value, like the size_t it is.
        self.cargs = (
            native.word_arg(context),
            native.word_arg(self.addr),
            ctypes.byref(array),
            native.word_arg(self.nargs),
            native.word_arg(trap_addr),
        )


class CallResponse:
    """The http_call response being delivered: map 6/7 and buffer 4 during on_http_call_response."""

    __slots__ = ("body", "headers", "trailers")

    def __init__(self, response: HttpCallResponse) -> None:
        self.headers = HeaderMap(response.headers)
        self.headers.freeze()
        self.trailers = HeaderMap(response.trailers)
        self.trailers.freeze()
        self.body = BodyBuffer(response.body, mutable=False)
