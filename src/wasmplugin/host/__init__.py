"""The proxy-wasm host on wasmtime: module loading, VMs, one shim per host call, WASI, limits.

Public entry points (the contract in ``host/api.py`` and the brief's host API):

* ``runtime.WasmRuntime`` — engine, epoch ticker, compile cache; ``compile()`` → ``module.CompiledModule``
* ``settings.PluginSettings`` — a plugin's identity and configuration
* ``vm.PluginVM`` — one VM: ``start()``, ``create_stream()`` → ``contexts.StreamContext``
* ``scheduling`` (clocks, ``VirtualScheduler``), ``logsink``, ``shared``, ``metrics`` — services
* ``simplehost`` — an in-memory ``StreamHost`` and ``make_services`` for tests and tools

Internals: ``native`` (ctypes entry points), ``linking`` (callbacks), ``memory`` (guest memory),
``functions`` + ``hostcalls/`` (the shims and their table), ``properties``, ``protobuf``,
``foreign``, ``faults``, ``guest`` (exports ready for unchecked calls), ``traps`` (one-line
failure descriptions).
"""
