"""The proxy-wasm host on wasmtime: module loading, VMs, one shim per host call, WASI, limits."""
