"""http(s):// modules, as istio-agent's ``httpfetcher.go`` fetches them.

Up to ``http_max_attempts`` (5) GETs; between attempts an exponential backoff from 500 ms (× 1.5,
±50 % jitter). Network errors and 5xx answers other than 501, 505 and 511 are retried; any other
non-200 answer fails at once. The body is unboxed (gzip / tar) until it is Wasm. The checksum of
an http(s) module is the sha256 of these final, unboxed bytes.
"""

from __future__ import annotations

import logging
import threading

from wasmplugin.errors import FetchError, ModuleNotFound, RegistryUnavailable
from wasmplugin.fetch.progress import NULL_PROGRESS, Progress
from wasmplugin.fetch.reference import redact_url
from wasmplugin.fetch.transport import Backoff, FetchTimeout, HttpSession
from wasmplugin.fetch.unbox import unbox

log = logging.getLogger("wasmplugin.fetch")

NOT_RETRIED_5XX = frozenset({501, 505, 511})


def retryable(status: int) -> bool:
    """istio ``retryable``: 5xx except Not Implemented, HTTP Version Not Supported, Network Auth Required."""
    return status >= 500 and status not in NOT_RETRIED_5XX


def fetch_http(
    session: HttpSession,
    url: str,
    *,
    progress: Progress = NULL_PROGRESS,
    cancel: threading.Event | None = None,
) -> bytes:
    """Download ``url`` with istio-agent's retry policy and return the unboxed bytes."""
    limits = session.limits
    shown = redact_url(url)
    backoff = Backoff(
        limits.http_initial_backoff_s,
        limits.http_backoff_multiplier,
        limits.http_backoff_max_s,
        limits.http_backoff_jitter,
        cancel=cancel,
    )
    last: FetchError | None = None
    attempts = limits.http_max_attempts
    for attempt in range(1, attempts + 1):
        try:
            resp = session.request("GET", url)
            if resp.status == 200:
                body = resp.read(limits.module_max_bytes, progress=progress, what="Wasm module")
                return unbox(body, limits.module_max_bytes)
            resp.discard()
            message = f"wasm module download from {shown} failed: HTTP {resp.status} {resp.reason}"
            if not retryable(resp.status):
                if resp.status == 404:
                    raise ModuleNotFound(message)
                raise FetchError(message)
            last = RegistryUnavailable(message)
        except FetchTimeout:
            raise
        except RegistryUnavailable as exc:  # network errors are retried unless the deadline passed
            last = exc
        if attempt < attempts:
            log.info("fetch %s: attempt %d/%d failed (%s); retrying", shown, attempt, attempts, last.message)
            backoff.wait(session.deadline)
    assert last is not None
    raise type(last)(f"{last.message} (after {attempts} attempts)")
