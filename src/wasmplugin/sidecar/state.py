"""One configuration version of a running sidecar: routes, chains and what produced them.

The sidecar holds exactly one current :class:`ConfigState`; reload builds a new one and swaps the
reference (a single assignment, so a request sees either the old state or the new one, never a mix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wasmplugin.sidecar.chains import ChainSet
from wasmplugin.sidecar.routing import RouteTable


@dataclass
class ConfigState:
    #: Monotonic version number (1 = the configuration the sidecar started with).
    version: int
    routes: RouteTable
    chains: ChainSet = field(default_factory=ChainSet)
    #: Fingerprint of the input files (sha256 over paths and contents).
    fingerprint: str = ""
    #: ``ChainPlan.to_dict()`` (or equivalent) for /config_dump.
    plan: dict[str, Any] | None = None
    #: Plugins as loaded: name → {ecds_name, url, sha256, phase, priority, fail_strategy, state ...}.
    plugins: list[dict[str, Any]] = field(default_factory=list)
    #: Warnings from validation (blog extensions used, ...), shown in /config_dump.
    warnings: list[str] = field(default_factory=list)
    loaded_at: float = 0.0
