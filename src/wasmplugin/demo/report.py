"""The demo's table: one row per case, with what the plugins did underneath. Pure text.

Per case: the request, the token, the expected and actual status, then

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


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def plugins_line(ex: Exchange, chain: Sequence[str]) -> str:
    reached = ex.reached(chain)
    replier = ex.replied_by(chain)
    parts: list[str] = []
    for p in reached:
        name = short_name(p)
        if p == replier:
            name += f"[{ex.status}]"
        parts.append(name)
    line = " > ".join(parts) if parts else "(none)"
    if replier is None and reached:
        line += " > app"
    skipped = [short_name(p) for p in chain if p not in reached]
    if skipped:
        line += "   skipped: " + ", ".join(skipped)
    return line


def _headers(pairs: Sequence[tuple[str, str]], names: Sequence[str]) -> str:
    shown = [f"{k}: {v}" for name in names for k, v in pairs if k == name]
    return "  ".join(shown)


def render(outcomes: Sequence[Outcome], chain: Sequence[str], width: int = 118) -> str:
    head = ["#", "CASE", "REQUEST", "TOKEN", "EXPECT", "GOT", ""]
    rows = []
    for i, o in enumerate(outcomes, 1):
        got = str(o.status)
        if o.case.burst > 1:
            got += f" after {o.passed_before}x200"
        token = o.case.token.describe() if o.case.token else "none"
        rows.append([str(i), o.case.title, o.case.request, token, str(o.case.expect), got, "ok" if o.ok else "FAIL"])
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "  ".join(cell.ljust(widths[c]) for c, cell in enumerate(r)).rstrip()

    lines = [fmt(head)]
    indent = " " * (widths[0] + 2)
    for o, row in zip(outcomes, rows, strict=True):
        lines.append(fmt(row))
        ex = o.last
        lines.append(_fit(f"{indent}plugins   {plugins_line(ex, chain)}", width))
        upstream = ex.upstream()
        if upstream is not None:
            shown = _headers(upstream, UPSTREAM_HEADERS)
            lines.append(_fit(f"{indent}upstream  {shown or '(no header of interest)'}", width))
        response = _headers(ex.headers, RESPONSE_HEADERS)
        if ex.status >= 400 and (reason := ex.reason()):
            response = f"body: {reason}" + (f"  {response}" if response else "")
        if response:
            lines.append(_fit(f"{indent}response  {response}", width))
    passed = sum(1 for o in outcomes if o.ok)
    lines.append("")
    lines.append(f"{passed}/{len(outcomes)} cases got their expected status.")
    return "\n".join(lines)
