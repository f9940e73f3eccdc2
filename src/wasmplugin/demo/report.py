"""The demo's table: one row per case, with what the plugins did underneath. Pure text.

Per case: the request, the expected and actual status, then

* ``token`` — which token the request carried (user, algorithm, what is wrong with it);
* ``plugins`` — the chain in order, each plugin the request reached, and the one that answered
  (``jwt-validator[401]``); plugins it never reached are listed as skipped;
* ``upstream`` — headers of interest the app received (added by plugins), when it got the request;
* ``response`` — headers of interest the client received, and the reason of an error answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from wasmplugin.demo.scenario import Exchange, Outcome, short_name

UPSTREAM_HEADERS = ("x-jwt-sub", "x-jwt-scopes", "x-custom-header", "x-request-id")
RESPONSE_HEADERS = (
    "www-authenticate",
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-processed-by",
)


def wrap(label: str, items: Sequence[str], indent: int, width: int, sep: str = "  ") -> list[str]:
    """``label  item<sep>item ...`` wrapped between items at ``width``; continuation lines align
    under the first item. Items are never cut."""
    prefix = " " * indent + label.ljust(10)
    lines: list[str] = []
    current: list[str] = []
    for item in items:
        if current and len(prefix) + len(sep.join([*current, item])) > width:
            lines.append(sep.join(current))
            current = []
        current.append(item)
    lines.append(sep.join(current))
    return [(prefix if i == 0 else " " * len(prefix)) + line for i, line in enumerate(lines)]


def plugin_items(ex: Exchange, chain: Sequence[str]) -> list[str]:
    reached = ex.reached(chain)
    replier = ex.replied_by(chain)
    items: list[str] = []
    for i, p in enumerate(reached):
        name = short_name(p) + (f"[{ex.status}]" if p == replier else "")
        items.append(name if i == len(reached) - 1 and replier == p else name + " >")
    if replier is None:
        items.append("app")
    log_only = [short_name(p) for p in ex.touched(chain) if p not in reached]
    if log_only:
        items.append("(on_log only: " + ", ".join(log_only) + ")")
    return items


def _headers(pairs: Sequence[tuple[str, str]], names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        values = [v for k, v in pairs if k == name]
        if values:
            out.append(f"{name}: {', '.join(values)}")
    return out


def render(outcomes: Sequence[Outcome], chain: Sequence[str], width: int = 100) -> str:
    head = ["#", "CASE", "REQUEST", "EXPECT", "GOT", ""]
    rows = []
    for i, o in enumerate(outcomes, 1):
        got = str(o.status)
        if o.case.burst > 1:
            got += f" after {o.passed_before}x200"
        rows.append([str(i), o.case.title, o.case.request, str(o.case.expect), got, "ok" if o.ok else "FAIL"])
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "  ".join(cell.ljust(widths[c]) for c, cell in enumerate(r)).rstrip()

    lines = [fmt(head)]
    indent = widths[0] + 2
    for o, row in zip(outcomes, rows, strict=True):
        lines.append(fmt(row))
        ex = o.last
        lines.extend(wrap("token", [o.case.token.describe() if o.case.token else "none"], indent, width))
        lines.extend(wrap("plugins", plugin_items(ex, chain), indent, width, sep=" "))
        upstream = ex.upstream()
        if upstream is not None:
            lines.extend(
                wrap(
                    "upstream", _headers(upstream, UPSTREAM_HEADERS) or ["(none of interest)"], indent, width
                )
            )
        response = _headers(ex.headers, RESPONSE_HEADERS)
        if ex.status >= 400 and (reason := ex.reason()):
            response.insert(0, f"body: {reason}")
        if response:
            lines.extend(wrap("response", response, indent, width))
    passed = sum(1 for o in outcomes if o.ok)
    lines.append("")
    lines.append(f"{passed}/{len(outcomes)} cases got their expected status.")
    return "\n".join(lines)
