"""Every limit wasmplugin enforces, in one place.

Defaults follow proxy-wasm-cpp-host, Envoy and istio-agent where they have one; each field names its
source. Flags (``--memory-limit``, ``--callback-deadline-ms`` ...) and the mesh config build a new
``Limits`` with :func:`dataclasses.replace`; nothing else in the code base hard-codes a limit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True, slots=True)
class Limits:
    # --- wasm VM -------------------------------------------------------------------------------
    #: Linear memory cap per VM (proxy-wasm-cpp-host's default for V8/wasmtime is 1 GiB).
    vm_memory_bytes: int = 1 * GIB
    #: Deadline for one call into the guest (any proxy_on_* callback, malloc, _initialize).
    callback_deadline_ms: int = 1000
    #: Epoch ticker period; a deadline is rounded up to a whole number of ticks.
    epoch_tick_ms: int = 10
    #: Wasm tables / instances per store (wasmtime limiter); generous, only stops pathological modules.
    vm_table_elements: int = 1_000_000
    #: Largest module accepted at all (istio-agent: 256 MiB, ISTIO_WASM_MAX_BINARY_SIZE_BYTES).
    module_max_bytes: int = 256 * MIB
    #: WASI random_get refuses more than this per call (proxy-wasm-cpp-host).
    random_get_max_bytes: int = 64 * KIB
    #: proxy_get_property paths whose parse a VM keeps (wasmplugin's own; the cache starts over
    #: when full, so a plugin asking for ever new paths costs memory only up to this).
    property_cache_entries: int = 256
    #: Host-call argument arrays (one per wasmtime stack address) whose view a VM keeps
    #: (wasmplugin's own; the cache starts over when full).
    args_views_entries: int = 256

    # --- ABI codecs ----------------------------------------------------------------------------
    #: Serialized header pairs larger than this decode as empty (PROXY_WASM_HOST_PAIRS_MAX_BYTES).
    pairs_max_bytes: int = 1 * MIB
    #: More pairs than this decode as empty (PROXY_WASM_HOST_PAIRS_MAX_COUNT).
    pairs_max_count: int = 1024

    # --- HTTP data path --------------------------------------------------------------------------
    #: Envoy's max_request_headers_kb default (60 KiB); larger requests get 431.
    max_request_headers_bytes: int = 60 * KIB
    #: Envoy's max_headers_count default.
    max_headers_count: int = 100
    #: Per-stream body buffer when a plugin pauses a body callback (Envoy's per-connection buffer
    #: limit default is 1 MiB); exceeded on a request gives 413, on a response 500.
    body_buffer_bytes: int = 1 * MIB
    #: Largest http_call response kept for the plugin; larger → on_http_call_response(…,0,0,0) + "reset".
    http_call_response_max_bytes: int = 4 * MIB
    #: Upstream response timeout for proxied requests (Envoy route timeout default 15 s).
    upstream_timeout_s: float = 15.0
    #: Idle keep-alive timeout for downstream connections.
    downstream_idle_timeout_s: float = 300.0
    #: Upstream TCP connect timeout (Istio's default cluster connectTimeout, 10 s).
    upstream_connect_timeout_s: float = 10.0
    #: Idle keep-alive connections the sidecar keeps per upstream endpoint.
    upstream_max_idle_per_endpoint: int = 1024
    #: Per-connection write buffer before the proxy stops reading from the other side (flow
    #: control; Envoy's per_connection_buffer_limit_bytes default, 1 MiB).
    connection_buffer_bytes: int = 1 * MIB

    # --- failStrategy ----------------------------------------------------------------------------
    #: FAIL_RELOAD base backoff (Envoy ReloadConfig default 1 s), doubled per consecutive failure.
    fail_reload_backoff_s: float = 1.0
    fail_reload_backoff_max_s: float = 30.0

    # --- module fetch (istio-agent pkg/wasm/options.go) --------------------------------------
    fetch_timeout_s: float = 30.0
    http_request_timeout_s: float = 15.0
    http_max_attempts: int = 5
    http_initial_backoff_s: float = 0.5
    cache_purge_interval_s: float = 3600.0
    cache_module_expiry_s: float = 24 * 3600.0
    #: istio pkg/backoff (cenkalti defaults): interval × 1.5 per attempt, ±50 % jitter, 60 s cap.
    http_backoff_multiplier: float = 1.5
    http_backoff_jitter: float = 0.5
    http_backoff_max_s: float = 60.0
    #: OCI transient-error retries (go-containerregistry defaults: 3 tries, 1 s × 3 per try).
    oci_max_attempts: int = 3
    oci_initial_backoff_s: float = 1.0
    oci_backoff_multiplier: float = 3.0
    #: Largest manifest / index accepted (containerd's limit; go-containerregistry has none).
    oci_manifest_max_bytes: int = 4 * MIB
    #: Largest token-endpoint or registry error body read.
    registry_response_max_bytes: int = 1 * MIB
    #: Redirects followed for one request (blob downloads may redirect to storage).
    http_max_redirects: int = 5

    # --- configuration files (wasmplugin.config) ------------------------------------------------
    #: Largest configuration file read (kubectl has no limit; this stops accidents like -f /dev/zero).
    config_file_max_bytes: int = 64 * MIB
    #: Values in one document once YAML aliases are expanded (go-yaml refuses "excessive aliasing").
    config_document_max_nodes: int = 1_000_000
    #: Nesting depth of a document (a deeper pluginConfig is surely a mistake; keeps every printer safe).
    config_document_max_depth: int = 100

    def with_overrides(self, **overrides: Any) -> Limits:
        """Return a copy with the given fields replaced; unknown names are a programming error."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        return replace(self, **overrides)


DEFAULT_LIMITS = Limits()
