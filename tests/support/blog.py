"""The seed blog's header-modifier ``pluginConfig``, verbatim, for the suites that run it."""

from __future__ import annotations

HEADER_MODIFIER_CONFIG = """\
request_headers:
  - name: "x-custom-header"
    value: "added-by-wasm"
  - name: "x-request-id"
    value: "generated-id"
response_headers:
  - name: "x-processed-by"
    value: "wasm-plugin"
enable_logging: true
log_level: "info"
"""
