"""Where things live and which environment variables change them (istio-agent ``options.go`` names).

| setting | default | environment |
|---|---|---|
| cache directory | ``$XDG_CACHE_HOME/wasmplugin`` or ``~/.cache/wasmplugin`` | ``WASMPLUGIN_CACHE_DIR`` |
| insecure registries | none | ``WASM_INSECURE_REGISTRIES`` (comma-separated, ``*`` = all) |
| extra trusted CA file | none | ``WASMPLUGIN_CA_FILE`` |
| per-request timeout | 15 s | ``WASM_HTTP_REQUEST_TIMEOUT`` (Go duration, e.g. ``15s``) |
| HTTP attempts | 5 | ``WASM_HTTP_REQUEST_MAX_RETRIES`` |
| module expiry | 24 h | ``WASM_MODULE_EXPIRY`` |
| purge interval | 1 h | ``WASM_PURGE_INTERVAL`` |
| max module size | 256 MiB | ``ISTIO_WASM_MAX_BINARY_SIZE_BYTES`` |
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from wasmplugin.errors import UsageError
from wasmplugin.limits import Limits

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("WASMPLUGIN_CACHE_DIR"):
        return Path(env["WASMPLUGIN_CACHE_DIR"])
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "wasmplugin"


def insecure_registries(env: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    return [h.strip() for h in env.get("WASM_INSECURE_REGISTRIES", "").split(",") if h.strip()]


def ca_file(env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    return env.get("WASMPLUGIN_CA_FILE") or None


def parse_duration(text: str, *, what: str = "duration") -> float:
    """Go ``time.ParseDuration`` subset (``1h30m``, ``15s``, ``500ms``); a bare number is seconds."""
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    pos, total = 0, 0.0
    while pos < len(t):
        m = _DURATION_PART.match(t, pos)
        if not m:
            raise UsageError(f"{what}: {text!r} is not a duration like 30s, 15m, 24h")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not t:
        raise UsageError(f"{what}: empty duration")
    return total


def limits_from_env(limits: Limits, env: Mapping[str, str] | None = None) -> Limits:
    env = os.environ if env is None else env
    overrides: dict[str, float | int] = {}
    for var, (limit, parse) in _ENV_LIMITS.items():
        if env.get(var):
            overrides[limit] = parse(env[var], var)
    return limits.with_overrides(**overrides) if overrides else limits


def _int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not an integer") from None
    if value <= 0:
        raise UsageError(f"{what}: must be positive")
    return value


def _duration(text: str, what: str) -> float:
    return parse_duration(text, what=what)


#: istio-agent's environment variables → the Limits field each sets, and how its value is read.
_ENV_LIMITS: dict[str, tuple[str, Callable[[str, str], float | int]]] = {
    "WASM_HTTP_REQUEST_TIMEOUT": ("http_request_timeout_s", _duration),
    "WASM_HTTP_REQUEST_MAX_RETRIES": ("http_max_attempts", _int),
    "WASM_MODULE_EXPIRY": ("cache_module_expiry_s", _duration),
    "WASM_PURGE_INTERVAL": ("cache_purge_interval_s", _duration),
    "ISTIO_WASM_MAX_BINARY_SIZE_BYTES": ("module_max_bytes", _int),
}
