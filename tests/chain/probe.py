"""Build the ``probe`` WAT plugin (tests/chain/wat/probe.wat) with chosen behaviour.

The probe is a real proxy-wasm module compiled with ``wasmtime.wat2wasm``; its knobs are constants
baked in at build time (the return value of each callback, where it sends a local reply, traps,
loops or grows memory, whether it dispatches an http_call and what it does with the answer).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import wasmtime

from wasmplugin.abi.pairs import encode_pairs

WAT = (Path(__file__).parent / "wat" / "probe.wat").read_text()

# callback ids
RQH, RQB, RQT, RSH, RSB, RST, LOG, CALL, TICK = range(1, 10)
TRAP, LOOP, ALLOC = 1, 2, 3


def _wat_bytes(data: bytes) -> str:
    return "".join(f"\\{b:02x}" for b in data)


@cache
def probe_wasm(
    name: str = "p",
    *,
    rqh: int = 0,
    rqb: int = 0,
    rqt: int = 0,
    rsh: int = 0,
    rsb: int = 0,
    rst: int = 0,
    rqb_until_eos: bool = False,
    rsb_until_eos: bool = False,
    local_at: int = 0,
    local_status: int = 403,
    fail_at: int = 0,
    fail_kind: int = TRAP,
    close_at: int = 0,
    call_at_rqh: bool = False,
    call_then: int = 0,
    call_timeout_ms: int = 1000,
    continue_in_rqh: bool = False,
    trailers_at_eos: bool = False,
    append: bytes = b"",
    tick_ms: int = 0,
    configure_ok: bool = True,
) -> bytes:
    call_headers = encode_pairs([(b":method", b"GET"), (b":path", b"/auth"), (b":authority", b"upstream")])
    body = b"denied by " + name.encode()
    details = (name + "_local").encode()
    knobs: dict[str, str | int] = {
        "NAME": _wat_bytes(name.encode()),
        "NAME_LEN": len(name.encode()),
        "CALL_HEADERS": _wat_bytes(call_headers),
        "CALL_HEADERS_LEN": len(call_headers),
        "LOCAL_BODY": _wat_bytes(body),
        "LOCAL_BODY_LEN": len(body),
        "LOCAL_DETAILS": _wat_bytes(details),
        "LOCAL_DETAILS_LEN": len(details),
        "APPEND": _wat_bytes(append),
        "APPEND_LEN": len(append),
        "RQH": rqh, "RQB": rqb, "RQT": rqt, "RSH": rsh, "RSB": rsb, "RST": rst,
        "RQB_UNTIL_EOS": int(rqb_until_eos),
        "RSB_UNTIL_EOS": int(rsb_until_eos),
        "LOCAL_AT": local_at,
        "LOCAL_STATUS": local_status,
        "FAIL_AT": fail_at,
        "FAIL_KIND": fail_kind,
        "CLOSE_AT": close_at,
        "CALL_AT_RQH": int(call_at_rqh),
        "CALL_THEN": call_then,
        "CALL_TIMEOUT_MS": call_timeout_ms,
        "CONTINUE_IN_RQH": int(continue_in_rqh),
        "TRAILERS_AT_EOS": int(trailers_at_eos),
        "TICK_MS": tick_ms,
        "CONFIGURE_OK": int(configure_ok),
    }
    text = WAT
    for key, value in knobs.items():
        text = text.replace(f"@{key}@", str(value))
    assert re.search(r"@[A-Z_]+@", text) is None, "unsubstituted knob"
    return bytes(wasmtime.wat2wasm(text))
