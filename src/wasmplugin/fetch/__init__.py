"""Module distribution: oci://, http(s)://, file:// fetchers, istio-agent's cache, credentials, push.

Entry points for other layers::

    fetcher = ModuleFetcher(cache_dir, limits, insecure_registries, docker_config, metrics)
    module = fetcher.get(url, sha256=..., pull_policy=..., pull_secret=..., resource_name=...,
                         resource_version=...)        # -> FetchedModule, or raises FetchError
    fallback_for(fail_strategy)                       # what a FetchError turns into (403 or bypass)
    metrics.samples()                                 # istio-agent's wasm_* metrics

See docs/distribution.md. Names are imported on first use so ``wasmplugin --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wasmplugin.fetch.failure import DENY_BODY, DENY_STATUS, FetchFallback, fallback_for, is_fetch_failure
    from wasmplugin.fetch.fetcher import USER_DOCKER_CONFIG, FetchedModule, ModuleFetcher
    from wasmplugin.fetch.layouts import Layout
    from wasmplugin.fetch.metrics import PROMETHEUS_PREFIX, FetchMetrics
    from wasmplugin.fetch.options import default_cache_dir
    from wasmplugin.fetch.policy import PullPolicy

_EXPORTS = {
    "DENY_BODY": "failure",
    "DENY_STATUS": "failure",
    "FetchFallback": "failure",
    "fallback_for": "failure",
    "is_fetch_failure": "failure",
    "USER_DOCKER_CONFIG": "fetcher",
    "FetchedModule": "fetcher",
    "ModuleFetcher": "fetcher",
    "Layout": "layouts",
    "PROMETHEUS_PREFIX": "metrics",
    "FetchMetrics": "metrics",
    "default_cache_dir": "options",
    "PullPolicy": "policy",
}

__all__ = [
    "DENY_BODY",
    "DENY_STATUS",
    "PROMETHEUS_PREFIX",
    "USER_DOCKER_CONFIG",
    "FetchFallback",
    "FetchMetrics",
    "FetchedModule",
    "Layout",
    "ModuleFetcher",
    "PullPolicy",
    "default_cache_dir",
    "fallback_for",
    "is_fetch_failure",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wasmplugin.fetch' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"wasmplugin.fetch.{module}"), name)
    globals()[name] = value
    return value
