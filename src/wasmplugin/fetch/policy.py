"""imagePullPolicy as istio-agent applies it (``cache.go`` ``shouldIgnoreResourceVersion``).

* ``IfNotPresent`` — a URL seen before is served from the cache by its remembered checksum;
* ``Always`` — the remembered checksum is reused only while the WasmPlugin's ``resourceVersion`` is
  unchanged; a new version re-resolves the tag (for OCI: one manifest request, and a blob download
  only if the digest changed). Without a resource version (the CLI) every call re-checks;
* unset — IfNotPresent, except an ``oci://`` URL whose tag is literally ``:latest``, which behaves as
  Always. A URL with no tag is *not* treated as latest (unlike Kubernetes).

An expected ``sha256`` or an ``@sha256:`` URL pins the module, so the cache answers first whatever
the policy.
"""

from __future__ import annotations

from enum import Enum

from wasmplugin.errors import UsageError
from wasmplugin.fetch.reference import ModuleUrl


class PullPolicy(Enum):
    UNSPECIFIED = "UNSPECIFIED_POLICY"
    IF_NOT_PRESENT = "IfNotPresent"
    ALWAYS = "Always"


_ALIASES = {
    "": PullPolicy.UNSPECIFIED,
    "unspecified_policy": PullPolicy.UNSPECIFIED,
    "unspecified": PullPolicy.UNSPECIFIED,
    "ifnotpresent": PullPolicy.IF_NOT_PRESENT,
    "if_not_present": PullPolicy.IF_NOT_PRESENT,
    "if-not-present": PullPolicy.IF_NOT_PRESENT,
    "always": PullPolicy.ALWAYS,
}


def parse_pull_policy(value: object) -> PullPolicy:
    """Accept None, this enum, another enum (by value or name) or a string, case-insensitively."""
    if value is None:
        return PullPolicy.UNSPECIFIED
    if isinstance(value, PullPolicy):
        return value
    if isinstance(value, Enum):
        for candidate in (value.value, value.name):
            if isinstance(candidate, str) and candidate.lower() in _ALIASES:
                return _ALIASES[candidate.lower()]
        raise UsageError(f"unknown imagePullPolicy {value!r}")
    if isinstance(value, str):
        policy = _ALIASES.get(value.strip().lower())
        if policy is None:
            raise UsageError(f"unknown imagePullPolicy {value!r} (use IfNotPresent or Always)")
        return policy
    raise UsageError(f"unknown imagePullPolicy {value!r}")


def ignores_resource_version(policy: PullPolicy, url: ModuleUrl) -> bool:
    """True when a remembered tag → checksum mapping may be used regardless of resourceVersion."""
    if policy is PullPolicy.ALWAYS:
        return False
    if policy is PullPolicy.IF_NOT_PRESENT:
        return True
    return not (url.scheme == "oci" and url.url.endswith(":latest"))
