"""The proxy-wasm ABI as data: enums, codecs and the HTTP field/buffer types host calls read and write.

Pure: no I/O, no wasmtime. Everything above (host, chain, sidecar, testing) builds on these types.
"""
