"""Typed errors, one class per cause, each carrying the one line a user should see.

Layers raise the most specific class; the CLI and the sidecar translate them at their boundary
(print ``str(err)``, pick an exit code or a failStrategy) and never show a traceback for these.
Anything that is *not* a ``WasmPluginError`` is a bug in wasmplugin and may show a traceback.
"""

from __future__ import annotations


class WasmPluginError(Exception):
    """Base class. ``str(err)`` is a complete, single-line, user-facing message."""

    #: Process exit code the CLI uses when this error ends a command.
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()) if "\n" in message else message)

    @property
    def message(self) -> str:
        return str(self.args[0])


# --- configuration (files, YAML, resources) -------------------------------------------------------


class ConfigError(WasmPluginError):
    """A configuration file or resource is unusable. Message: ``file[#doc]: Kind ns/name: field: reason``."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        document: int | None = None,
        resource: str | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.document = document
        self.resource = resource
        self.field = field
        parts: list[str] = []
        if file is not None:
            parts.append(f"{file}#{document}" if document is not None else file)
        if resource:
            parts.append(resource)
        if field:
            parts.append(field)
        parts.append(reason)
        super().__init__(": ".join(parts))


# --- modules: fetch, compile, link -------------------------------------------------------------


class FetchError(WasmPluginError):
    """A module could not be obtained (network, registry, auth, checksum, format, size)."""

    #: istio-agent's wasm_remote_fetch_count{result=...} label for this failure.
    metric_result: str = "fetch_failure"


class ModuleNotFound(FetchError):
    metric_result = "download_failure"


class RegistryUnavailable(FetchError):
    metric_result = "download_failure"


class AuthenticationFailed(FetchError):
    metric_result = "manifest_failure"


class ManifestError(FetchError):
    metric_result = "manifest_failure"


class ChecksumMismatch(FetchError):
    metric_result = "checksum_mismatched"


class InvalidImageFormat(FetchError):
    metric_result = "download_failure"


class ModuleTooLarge(FetchError):
    metric_result = "download_failure"


class UnsupportedModuleUrl(FetchError):
    """The URL's scheme is not oci/http/https/file, or the OCI reference cannot be parsed."""


class InvalidWasmBinary(FetchError):
    """Fetched bytes are not Wasm after unboxing (istio-agent: "fetched Wasm binary ... is invalid")."""

    metric_result = "download_failure"


class PullSecretError(FetchError):
    """A pull secret was requested but is empty or not a docker config.

    istio-agent: "missing image pulling secret"."""


class InsecureTokenRealm(AuthenticationFailed):
    """A registry's Bearer realm points somewhere credentials must not go (Istio's SSRF guard)."""


class TlsVerificationFailed(RegistryUnavailable):
    """The server's TLS certificate is not trusted (and the host is not listed as insecure)."""


class PushRejected(FetchError):
    """The registry refused an upload or a manifest during ``wasmplugin push``."""


class ModuleLoadError(WasmPluginError):
    """A module was obtained but cannot run: not Wasm, no ABI marker, missing import, start failed."""

    exit_code = 2

    def __init__(self, reason: str, *, plugin: str | None = None) -> None:
        self.plugin = plugin
        self.reason = reason
        super().__init__(f"plugin {plugin}: {reason}" if plugin else reason)


class InvalidModule(ModuleLoadError):
    """Bytes are not a valid WebAssembly module (bad magic, failed validation or compilation)."""


class UnknownAbiVersion(ModuleLoadError):
    """No ``proxy_abi_version_*`` export the host knows."""


class MissingImport(ModuleLoadError):
    """The module imports something this host does not provide; the message names the import."""


class PluginStartError(ModuleLoadError):
    """_initialize/_start failed, or on_vm_start / on_configure returned false."""


# --- runtime failures of a running VM ------------------------------------------------------------


class PluginRuntimeError(WasmPluginError):
    """The VM failed while running a callback; the VM is now unusable (Envoy: FailState::RuntimeError)."""

    exit_code = 2
    #: Short cause used in stats and logs: trap, deadline, memory.
    kind: str = "trap"

    def __init__(self, reason: str, *, plugin: str, callback: str) -> None:
        self.plugin = plugin
        self.callback = callback
        self.reason = reason
        super().__init__(f"plugin {plugin}: {callback}: {reason}")


class PluginTrap(PluginRuntimeError):
    kind = "trap"


class PluginDeadlineExceeded(PluginRuntimeError):
    kind = "deadline"


class PluginMemoryExceeded(PluginRuntimeError):
    kind = "memory"


class PluginFailed(PluginRuntimeError):
    """A call was attempted on a VM that already failed."""

    kind = "failed"


# --- usage --------------------------------------------------------------------------------------


class UsageError(WasmPluginError):
    """Bad command-line usage that argparse could not catch (e.g. a malformed -H value)."""

    exit_code = 2


# --- admin endpoint client --------------------------------------------------------------------


class AdminError(WasmPluginError):
    """A running sidecar's admin endpoint could not be read (``--admin HOST:PORT``): connection
    refused, HTTP error, or a config dump without wasmplugin's plan section."""


# --- demo -----------------------------------------------------------------------------------------


class DemoError(WasmPluginError):
    """``wasmplugin demo`` could not set up or run its mesh: the example files, a local service,
    the sidecar child, or a request the scenario sends (the message says which)."""
