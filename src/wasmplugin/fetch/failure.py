"""What a failed module fetch turns into (istio-agent ``convert.go``; reference §6.8, §7).

istio-agent never NACKs a failed fetch: it replaces the plugin, under the same filter name, by an
RBAC filter — allow-all under FAIL_OPEN, deny-all (HTTP 403 "RBAC: access denied", TCP closed)
under everything else, FAIL_RELOAD included (FAIL_RELOAD only concerns runtime errors). The chain
applies this; this module only decides.
"""

from __future__ import annotations

from enum import Enum

from wasmplugin.errors import FetchError, WasmPluginError

DENY_STATUS = 403
DENY_BODY = b"RBAC: access denied"
ALLOW_STAT_PREFIX = "wasm-default-allow"
DENY_STAT_PREFIX = "wasm-default-deny"


class FetchFallback(Enum):
    ALLOW = "allow"  # plugin bypassed
    DENY = "deny"  # every request answered 403

    @property
    def stat_prefix(self) -> str:
        return ALLOW_STAT_PREFIX if self is FetchFallback.ALLOW else DENY_STAT_PREFIX


def fallback_for(fail_strategy: object) -> FetchFallback:
    """ALLOW only for FAIL_OPEN (a string, or an enum whose name or value is FAIL_OPEN)."""
    if isinstance(fail_strategy, Enum):
        names = {str(fail_strategy.name), str(fail_strategy.value)}
    else:
        names = {str(fail_strategy) if fail_strategy is not None else ""}
    return FetchFallback.ALLOW if "FAIL_OPEN" in names else FetchFallback.DENY


def is_fetch_failure(err: BaseException) -> bool:
    """Failures that get the RBAC fallback: anything that stopped the agent producing a local file."""
    return isinstance(err, FetchError)


def describe(err: WasmPluginError) -> str:
    """``result=<metric label>: <message>`` for logs and status views."""
    label = getattr(err, "metric_result", "fetch_failure")
    return f"result={label}: {err}"
