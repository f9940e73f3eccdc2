"""Tests of wasmplugin.testing itself (the harness plugin authors use), on the real plugins in
plugins/. The fixtures (wasm_plugin, wasm_chain, wasm_harness, ...) come from the pytest plugin."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"
GO_FEATURES = PLUGINS / "go-features" / "plugin.wasm"
C_HOSTCALLS = PLUGINS / "c-hostcalls" / "plugin.wasm"
HEADER_MODIFIER = PLUGINS / "header-modifier" / "plugin.wasm"
AS_HEADERS = PLUGINS / "as-headers" / "plugin.wasm"
