"""Proxy-Wasm ABI enumerations (spec v0.1.0 / v0.2.0 / v0.2.1, proxy-wasm-cpp-sdk names).

Values are wire values: never renumber. Hot paths compare against plain ints, so every enum is an
``IntEnum`` and a module-level constant is provided for the few used per request.
"""

from __future__ import annotations

from enum import Enum, IntEnum


class AbiVersion(Enum):
    V0_1_0 = "0.1.0"
    V0_2_0 = "0.2.0"
    V0_2_1 = "0.2.1"

    @property
    def marker(self) -> str:
        return "proxy_abi_version_" + self.value.replace(".", "_")


#: Marker export name → version. Envoy takes the first known marker in export order.
ABI_MARKERS: dict[str, AbiVersion] = {v.marker: v for v in AbiVersion}


class WasmResult(IntEnum):
    OK = 0
    NOT_FOUND = 1
    BAD_ARGUMENT = 2
    SERIALIZATION_FAILURE = 3
    PARSE_FAILURE = 4
    BAD_EXPRESSION = 5
    INVALID_MEMORY_ACCESS = 6
    EMPTY = 7
    CAS_MISMATCH = 8
    RESULT_MISMATCH = 9
    INTERNAL_FAILURE = 10
    BROKEN_CONNECTION = 11
    UNIMPLEMENTED = 12


class LogLevel(IntEnum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4
    CRITICAL = 5
    #: Only reported by proxy_get_log_level (Envoy: logging off).
    OFF = 6

    @classmethod
    def parse(cls, text: str) -> LogLevel:
        """Accept Envoy/istioctl spellings: trace, debug, info, warn, warning, error, critical, off."""
        name = text.strip().upper()
        if name == "WARNING":
            name = "WARN"
        return cls[name]


class Action(IntEnum):
    CONTINUE = 0
    PAUSE = 1


class FilterHeadersStatus(IntEnum):
    CONTINUE = 0
    STOP_ITERATION = 1
    CONTINUE_AND_END_STREAM = 2
    STOP_ALL_ITERATION_AND_BUFFER = 3
    STOP_ALL_ITERATION_AND_WATERMARK = 4


class FilterDataStatus(IntEnum):
    CONTINUE = 0
    STOP_ITERATION_AND_BUFFER = 1
    STOP_ITERATION_AND_WATERMARK = 2
    STOP_ITERATION_NO_BUFFER = 3


class FilterTrailersStatus(IntEnum):
    CONTINUE = 0
    STOP_ITERATION = 1


class BufferType(IntEnum):
    HTTP_REQUEST_BODY = 0
    HTTP_RESPONSE_BODY = 1
    DOWNSTREAM_DATA = 2
    UPSTREAM_DATA = 3
    HTTP_CALL_RESPONSE_BODY = 4
    GRPC_RECEIVE_BUFFER = 5
    VM_CONFIGURATION = 6
    PLUGIN_CONFIGURATION = 7
    FOREIGN_FUNCTION_ARGUMENTS = 8


class MapType(IntEnum):
    HTTP_REQUEST_HEADERS = 0
    HTTP_REQUEST_TRAILERS = 1
    HTTP_RESPONSE_HEADERS = 2
    HTTP_RESPONSE_TRAILERS = 3
    GRPC_RECEIVE_INITIAL_METADATA = 4
    GRPC_RECEIVE_TRAILING_METADATA = 5
    HTTP_CALL_RESPONSE_HEADERS = 6
    HTTP_CALL_RESPONSE_TRAILERS = 7


class PeerType(IntEnum):
    UNKNOWN = 0
    LOCAL = 1
    REMOTE = 2


class StreamType(IntEnum):
    HTTP_REQUEST = 0
    HTTP_RESPONSE = 1
    DOWNSTREAM = 2
    UPSTREAM = 3


class MetricType(IntEnum):
    COUNTER = 0
    GAUGE = 1
    HISTOGRAM = 2


class WasiErrno(IntEnum):
    SUCCESS = 0
    BADF = 8
    FAULT = 21
    INVAL = 28
    NOENT = 44
    NOSYS = 52
    NOTDIR = 54
    NOTSUP = 58
    NOTCAPABLE = 76


class WasiClockId(IntEnum):
    REALTIME = 0
    MONOTONIC = 1


#: gRPC status passed by SDKs for "no gRPC status" in proxy_send_local_response.
GRPC_STATUS_NONE = -1
GRPC_STATUS_UNAVAILABLE = 14
