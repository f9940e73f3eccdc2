"""The scripted requests and how each is judged. No I/O here: the runner sends, this decides.

A case is a request (method, path, which token) and the status it must get. What a request did is
an :class:`Exchange`: the client's response, what the upstream app echoed (when the request got
there), and which plugins it reached — from the sidecar's per-plugin counters
(``wasm_filter.<plugin>.rq_total`` / ``.local_replies`` in admin ``/stats``), read before and after
each request. Cases run one at a time, so each difference belongs to one request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from wasmplugin.demo.mesh import DemoFacts

#: Users of the demo's identity provider and their scopes (the policy rules use the scopes).
USERS: Mapping[str, tuple[str, ...]] = {
    "alice": ("orders:read", "orders:write", "uploads:write"),
    "bob": ("orders:read",),
}
WRONG_AUDIENCE = "other.example.com"


@dataclass(frozen=True)
class TokenSpec:
    """Which token to mint: user, algorithm, and what is wrong with it (if anything)."""

    user: str
    alg: str = "RS256"
    expired: bool = False
    audience: str | None = None

    def describe(self) -> str:
        what = f"{self.user} {self.alg}"
        if self.expired:
            what += ", expired"
        if self.audience is not None:
            what += f", aud={self.audience}"
        return what


@dataclass(frozen=True)
class Case:
    title: str
    method: str
    path: str
    token: TokenSpec | None
    expect: int
    #: Send the request up to this many times, stopping at the first answer that is not 200
    #: (the burst). 1 for an ordinary case.
    burst: int = 1

    @property
    def request(self) -> str:
        return f"{self.method} {self.path}" + (f" x{self.burst}" if self.burst > 1 else "")


def demo_cases(facts: DemoFacts) -> list[Case]:
    """The blog's story, in order: a health check on an allowed path, no token, an expired and a
    wrong-audience token, valid tokens without and with permission, then a burst past the limit."""
    health = next((p for p in facts.allowed_paths if not p.endswith("*")), "/health")
    rule = facts.burst_rule
    return [
        Case("health check (allowed path)", "GET", health, None, 200),
        Case("no token", "GET", "/api/v1/orders", None, 401),
        Case("expired token", "GET", "/api/v1/orders", TokenSpec("alice", expired=True), 401),
        Case("wrong audience", "GET", "/api/v1/orders", TokenSpec("alice", audience=WRONG_AUDIENCE), 401),
        Case("valid token, no permission", "POST", "/api/v1/upload", TokenSpec("bob", "ES256"), 403),
        Case("valid token, nobody may DELETE", "DELETE", "/api/v1/orders/42", TokenSpec("alice"), 403),
        Case("valid token (RS256)", "GET", "/api/v1/orders", TokenSpec("alice"), 200),
        Case("valid token (ES256)", "GET", "/api/v1/orders/42", TokenSpec("bob", "ES256"), 200),
        Case(
            f"burst past the limit ({rule.limit} per {rule.window_s}s)",
            "POST",
            "/api/v1/upload",
            TokenSpec("alice"),
            facts.rate_limit_status,
            burst=2 * rule.limit + 1,
        ),
    ]


@dataclass(frozen=True)
class PluginCounters:
    """Per-plugin counters from one read of admin ``/stats``: name → (requests, local replies,
    failStrategy denials)."""

    values: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)

    @classmethod
    def parse(cls, stats_text: str) -> PluginCounters:
        """``wasm_filter.<plugin>.<stat>: N`` lines; a plugin in several chains (inbound and
        outbound) is added up."""
        index = {"rq_total": 0, "local_replies": 1, "denied": 2}
        acc: dict[str, list[int]] = {}
        for line in stats_text.splitlines():
            name, sep, value = line.partition(": ")
            if not sep or not name.startswith("wasm_filter."):
                continue
            plugin, _, stat = name[len("wasm_filter.") :].rpartition(".")
            if stat in index and value.strip().isdigit():
                acc.setdefault(plugin, [0, 0, 0])[index[stat]] += int(value)
        return cls({k: (v[0], v[1], v[2]) for k, v in acc.items()})

    def minus(self, before: PluginCounters) -> PluginCounters:
        out: dict[str, tuple[int, int, int]] = {}
        for name, (rq, lr, dn) in self.values.items():
            b = before.values.get(name, (0, 0, 0))
            out[name] = (rq - b[0], lr - b[1], dn - b[2])
        return PluginCounters(out)


@dataclass(frozen=True)
class Exchange:
    """One request as the client and the sidecar saw it."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    #: Per-plugin counter differences over this request.
    counters: PluginCounters

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def upstream(self) -> list[tuple[str, str]] | None:
        """The headers the app received, when the answer is the app's echo."""
        try:
            echo = json.loads(self.body)
        except ValueError:
            return None
        if not isinstance(echo, dict) or echo.get("service") != "api-gateway":
            return None
        return [(str(k), str(v)) for k, v in echo.get("headers", [])]

    def touched(self, chain: Sequence[str]) -> list[str]:
        """Plugins that got a stream context for this request (``rq_total`` went up)."""
        return [p for p in chain if self.counters.values.get(p, (0, 0, 0))[0] > 0]

    def reached(self, chain: Sequence[str]) -> list[str]:
        """Plugins the request itself reached: those with a context, up to the one that replied.
        A local reply ends the request path (later plugins only get ``on_log``, for which the
        chain creates a context as Envoy does — the sidecar counts that context too)."""
        touched = self.touched(chain)
        replier = self.replied_by(chain)
        if replier is None:
            return touched
        return [p for p in touched if chain.index(p) <= chain.index(replier)]

    def replied_by(self, chain: Sequence[str]) -> str | None:
        for p in chain:
            _, lr, dn = self.counters.values.get(p, (0, 0, 0))
            if lr > 0 or dn > 0:
                return p
        return None

    def reason(self) -> str | None:
        """The ``error_description`` / ``reason`` / ``error`` of a JSON error body."""
        try:
            value = json.loads(self.body)
        except ValueError:
            text = self.body.decode("utf-8", "replace").strip()
            return text[:80] or None
        if not isinstance(value, dict):
            return None
        for key in ("error_description", "reason", "error"):
            if isinstance(value.get(key), str):
                return str(value[key])
        return None


@dataclass(frozen=True)
class Outcome:
    case: Case
    exchanges: tuple[Exchange, ...]

    @property
    def last(self) -> Exchange:
        return self.exchanges[-1]

    @property
    def status(self) -> int:
        return self.last.status

    @property
    def ok(self) -> bool:
        """The last answer has the expected status, and in a burst every earlier one was 200."""
        if self.status != self.case.expect:
            return False
        return all(e.status == 200 for e in self.exchanges[:-1])

    @property
    def passed_before(self) -> int:
        """Requests of a burst answered 200 before the last one."""
        return sum(1 for e in self.exchanges[:-1] if e.status == 200)


def short_name(plugin: str) -> str:
    """``istio-system.jwt-validator`` → ``jwt-validator`` (the chain's log name is ``<ns>.<name>``)."""
    return plugin.rsplit(".", 1)[-1] if "." in plugin else plugin
