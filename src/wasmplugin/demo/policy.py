"""The demo's policy service: a small rule table answering rbac-enforcer's questions.

rbac-enforcer POSTs ``{"subject", "method", "path", "scopes"}`` and expects ``{"allow": bool,
"reason"?: str}`` (docs/plugins/rbac-enforcer.md). The first rule whose method and path match
decides; an allowing rule may still require a scope or an authenticated subject. Nothing matches:
denied. Pure: the HTTP service around it lives in :mod:`wasmplugin.demo.services`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Question:
    subject: str
    method: str
    path: str
    scopes: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, value: Any) -> Question:
        """Raises ValueError naming the field when the body is not rbac-enforcer's question."""
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        subject, method, path = value.get("subject"), value.get("method"), value.get("path")
        scopes = value.get("scopes", [])
        if not isinstance(subject, str):
            raise ValueError("subject: expected a string")
        if not isinstance(method, str) or not method:
            raise ValueError("method: expected a non-empty string")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError("path: expected a string starting with /")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ValueError("scopes: expected a list of strings")
        return cls(subject, method.upper(), path, tuple(scopes))


@dataclass(frozen=True)
class Decision:
    allow: bool
    reason: str
    #: Index of the rule that decided, or None for the default deny.
    rule: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"allow": self.allow, "reason": self.reason}


@dataclass(frozen=True)
class Rule:
    """``methods`` empty = any method. ``path`` is exact, or a prefix when it ends in ``*``."""

    path: str
    allow: bool
    methods: frozenset[str] = field(default_factory=frozenset)
    #: For allowing rules: the scope the caller must have.
    scope: str | None = None
    #: For allowing rules: the caller must have a subject (a validated token).
    authenticated: bool = False
    #: For denying rules: the reason given to the client.
    reason: str = ""

    def matches(self, q: Question) -> bool:
        if self.methods and q.method not in self.methods:
            return False
        if self.path.endswith("*"):
            return q.path.startswith(self.path[:-1])
        return q.path == self.path

    def describe(self) -> str:
        methods = ",".join(sorted(self.methods)) or "*"
        if not self.allow:
            return f"{methods} {self.path}: deny ({self.reason})"
        need = [f"scope {self.scope}"] if self.scope else []
        if self.authenticated:
            need.append("a token")
        return f"{methods} {self.path}: allow" + (f" with {' and '.join(need)}" if need else " to anyone")


def _m(*names: str) -> frozenset[str]:
    return frozenset(names)


#: The demo's rules (docs/demo.md). alice has orders:read orders:write uploads:write, bob only
#: orders:read.
DEMO_RULES: tuple[Rule, ...] = (
    Rule("/health", True, _m("GET", "HEAD")),
    Rule("/ready", True, _m("GET", "HEAD")),
    Rule("/metrics", True, _m("GET", "HEAD")),
    Rule("/api/*", False, _m("DELETE"), reason="nobody may DELETE under /api/"),
    Rule("/api/v1/orders*", True, _m("GET", "HEAD"), scope="orders:read"),
    Rule("/api/v1/orders*", True, _m("POST", "PUT"), scope="orders:write"),
    Rule("/api/v1/upload*", True, _m("POST", "PUT"), scope="uploads:write"),
    Rule("/api/v1/search*", True, _m("GET"), authenticated=True),
)


def decide(q: Question, rules: Sequence[Rule] = DEMO_RULES) -> Decision:
    for i, rule in enumerate(rules):
        if not rule.matches(q):
            continue
        if not rule.allow:
            return Decision(False, rule.reason, i)
        if (rule.authenticated or rule.scope) and not q.subject:
            return Decision(False, f"{q.method} {q.path} needs a token", i)
        if rule.scope and rule.scope not in q.scopes:
            return Decision(False, f"{q.method} {q.path} needs scope {rule.scope}", i)
        who = f'"{q.subject}"' if q.subject else "anyone"
        return Decision(True, f"{rule.describe()} ({who})", i)
    return Decision(False, f"no rule allows {q.method} {q.path}")
