"""Foreign functions Envoy registers for every plugin (``proxy_call_foreign_function``).

``compress`` / ``uncompress`` use zlib exactly as Envoy's ``foreign.cc`` does (zlib format,
default level); bad input to ``uncompress`` answers SERIALIZATION_FAILURE. Embedders add or
override functions through ``HostServices.foreign_functions``.
"""

from __future__ import annotations

import zlib

from wasmplugin.abi.enums import WasmResult
from wasmplugin.host.api import ForeignFunction


def compress(_plugin: str, data: bytes) -> tuple[WasmResult, bytes]:
    return WasmResult.OK, zlib.compress(data)


def uncompress(_plugin: str, data: bytes) -> tuple[WasmResult, bytes]:
    try:
        return WasmResult.OK, zlib.decompress(data)
    except zlib.error:
        return WasmResult.SERIALIZATION_FAILURE, b""


def builtin_foreign_functions() -> dict[str, ForeignFunction]:
    return {"compress": compress, "uncompress": uncompress}
