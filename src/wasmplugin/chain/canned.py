"""``CannedUpstreams``: an http_call dispatcher with fixed answers, for ``wasmplugin run`` and tests.

No network: ``--upstream NAME=STATUS:BODY`` names a cluster and its answer. A call to a name that is
not configured is refused with BAD_ARGUMENT, as Envoy refuses an unknown cluster. Answers arrive
through the scheduler (never inside ``dispatch``), like real ones. Every call is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wasmplugin.abi.enums import WasmResult
from wasmplugin.abi.pairs import Pair
from wasmplugin.errors import UsageError
from wasmplugin.host.api import HttpCallRequest, HttpCallResponse, Scheduler


@dataclass(frozen=True, slots=True)
class CannedAnswer:
    status: int
    body: bytes = b""


def parse_upstream(spec: str) -> tuple[str, CannedAnswer]:
    """``NAME=STATUS:BODY`` (BODY may be empty or contain ``:``)."""
    name, sep, rest = spec.partition("=")
    status_text, _, body = rest.partition(":")
    if not sep or not name or not status_text.strip().isdigit():
        raise UsageError(f"--upstream {spec!r}: expected NAME=STATUS:BODY, e.g. auth=200:ok")
    status = int(status_text)
    if not 100 <= status <= 599:
        raise UsageError(f"--upstream {spec!r}: status {status} is not an HTTP status (100-599)")
    return name, CannedAnswer(status, body.encode())


class CannedUpstreams:
    """HttpCallDispatcher answering from a table; ``calls`` records every accepted call."""

    def __init__(self, answers: dict[str, CannedAnswer], scheduler: Scheduler) -> None:
        self.answers = dict(answers)
        self.scheduler = scheduler
        self.calls: list[HttpCallRequest] = []
        self.refused: list[HttpCallRequest] = []

    def dispatch(
        self, call: HttpCallRequest, on_done: Callable[[HttpCallResponse | None], None]
    ) -> WasmResult:
        answer = self.answers.get(call.cluster)
        if answer is None:
            self.refused.append(call)
            return WasmResult.BAD_ARGUMENT
        self.calls.append(call)
        headers: tuple[Pair, ...] = (
            (b":status", str(answer.status).encode()),
            (b"content-length", str(len(answer.body)).encode()),
        )
        response = HttpCallResponse(headers=headers, body=answer.body)
        self.scheduler.call_soon(lambda: on_done(response))
        return WasmResult.OK
