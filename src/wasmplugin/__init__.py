"""wasmplugin: Istio's WasmPlugin system on one laptop — proxy-wasm host, sidecar, control plane, tools."""

__version__ = "0.1.0"
