"""Reports of declarative test runs: readable text for people, JSON for tools."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wasmplugin.testing.testrun import FileResult

#: Log lines shown under a failed case.
LOG_LINES_SHOWN = 15


def render_text(results: Sequence[FileResult], *, verbose: bool = False) -> str:
    lines: list[str] = []
    for r in results:
        lines.append(f"{r.path}  [{r.target}]")
        if r.error is not None:
            lines.append(f"  ERROR {r.error}")
        width = max((len(c.name) for c in r.cases), default=0)
        for c in r.cases:
            mark = "PASS " if c.passed else ("ERROR" if c.error is not None else "FAIL ")
            timing = f"{c.wall_ms:.0f} ms"
            if c.virtual_s >= 0.001:
                timing += f", {c.virtual_s:g} s virtual"
            lines.append(f"  {mark} {c.name.ljust(width)}  ({timing})")
            if c.error is not None:
                lines.append(f"          {c.error}")
            for f in c.failures:
                lines.append(f"          {f}")
            if (not c.passed or verbose) and c.logs:
                shown = c.logs[-LOG_LINES_SHOWN:]
                lines.append(
                    "          logs"
                    + (f" (last {len(shown)} of {len(c.logs)})" if len(shown) < len(c.logs) else "")
                    + ":"
                )
                lines.extend(f"            {line}" for line in shown)
        if r.skipped:
            lines.append(f"  ({r.skipped} case(s) not selected)")
    total = sum(len(r.cases) for r in results)
    failed = sum(1 for r in results for c in r.cases if not c.passed)
    broken = sum(1 for r in results if r.error is not None)
    summary = f"{total} case(s): {total - failed} passed, {failed} failed"
    if broken:
        summary += f"; {broken} file(s) could not run"
    lines.append(summary)
    return "\n".join(lines) + "\n"


def to_json(results: Sequence[FileResult]) -> dict[str, Any]:
    return {
        "passed": all(r.passed for r in results),
        "files": [
            {
                "file": str(r.path),
                "target": r.target,
                "error": r.error,
                "skipped": r.skipped,
                "cases": [
                    {
                        "name": c.name,
                        "passed": c.passed,
                        "failures": c.failures,
                        "error": c.error,
                        "status": c.status,
                        "wallMs": round(c.wall_ms, 3),
                        "virtualSeconds": c.virtual_s,
                        "logs": c.logs,
                    }
                    for c in r.cases
                ],
            }
            for r in results
        ],
    }
