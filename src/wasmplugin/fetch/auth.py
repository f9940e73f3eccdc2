"""Registry authentication: ``WWW-Authenticate`` challenges, Basic, and the Bearer token flow.

The docker token flow: a request answered ``401`` with ``Bearer realm=R,service=S,scope=X`` is
retried with a token from ``GET R?service=S&scope=X`` (Basic credentials on that request when we
have them; an ``identitytoken`` uses the OAuth2 refresh-token POST instead). The realm passes
:func:`wasmplugin.fetch.ssrf.check_realm` first, and credentials go to an ``http://`` realm only
when the registry itself is being spoken to in plain HTTP (an insecure registry).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from wasmplugin.errors import AuthenticationFailed
from wasmplugin.fetch.credentials import Credential
from wasmplugin.fetch.ssrf import Resolver, check_realm, system_resolver
from wasmplugin.fetch.transport import HttpSession

CLIENT_ID = "wasmplugin"

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf"\s*({_TOKEN})\s*=\s*(\"(?:[^\"\\]|\\.)*\"|{_TOKEN})\s*(,|$)")
_SCHEME = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercase: "basic", "bearer", ...
    params: dict[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenges(header: str) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` (RFC 7235): ``Scheme k=v, k="v", Scheme2 ...``."""
    challenges: list[Challenge] = []
    pos = 0
    text = header.strip()
    while pos < len(text):
        m = _SCHEME.match(text, pos)
        if not m:
            break
        scheme = m.group(1).lower()
        pos = m.end()
        params: dict[str, str] = {}
        while pos < len(text):
            p = _PARAM.match(text, pos)
            if not p:
                break
            value = p.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[p.group(1).lower()] = value
            pos = p.end()
        challenges.append(Challenge(scheme, params))
        while pos < len(text) and text[pos] in ", ":
            pos += 1
    return challenges


def pick_challenge(challenges: list[Challenge]) -> Challenge | None:
    for wanted in ("bearer", "basic"):
        for c in challenges:
            if c.scheme == wanted:
                return c
    return None


def fetch_bearer_token(
    session: HttpSession,
    challenge: Challenge,
    *,
    registry: str,
    credential: Credential,
    scopes: list[str],
    registry_is_plain_http: bool,
    max_bytes: int,
    resolve: Resolver = system_resolver,
) -> str:
    """Run the token flow for ``challenge`` and return the bearer token."""
    if credential.registry_token:
        return credential.registry_token
    realm = challenge.realm
    check_realm(realm, registry, resolve=resolve)
    realm_plain = urlsplit(realm).scheme.lower() == "http"
    send_credentials = not credential.anonymous and (not realm_plain or registry_is_plain_http)
    service = challenge.params.get("service", "")
    scope_list = scopes or ([challenge.params["scope"]] if "scope" in challenge.params else [])
    who = f"user {credential.username!r}" if credential.username else "the given credentials"

    if send_credentials and credential.identity_token:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": credential.identity_token,
            "service": service,
            "scope": " ".join(scope_list),
            "client_id": CLIENT_ID,
            "access_type": "offline",
        }
        body = urlencode(form).encode()
        resp = session.request(
            "POST", realm, headers={"Content-Type": "application/x-www-form-urlencoded"}, body=body
        )
    else:
        query: list[tuple[str, str]] = []
        if service:
            query.append(("service", service))
        query.extend(("scope", s) for s in scope_list)
        if send_credentials and credential.username:
            query.append(("account", credential.username))
        sep = "&" if "?" in realm else "?"
        url = realm + (sep + urlencode(query) if query else "")
        authorization = credential.basic_header() if send_credentials and credential.has_basic else None
        resp = session.request("GET", url, authorization=authorization)
    data = resp.read(max_bytes, what="token response")
    if resp.status in (401, 403):
        if credential.anonymous or not send_credentials:
            raise AuthenticationFailed(
                f"registry {registry} requires authentication: its token server refused an anonymous "
                "request (add credentials with --pull-secret / imagePullSecret or docker login)"
            )
        raise AuthenticationFailed(
            f"registry {registry}: token server rejected the credentials for {who} ({resp.status})"
        )
    if resp.status != 200:
        raise AuthenticationFailed(f"registry {registry}: token server answered {resp.status} {resp.reason}")
    try:
        obj = json.loads(data)
    except ValueError:
        obj = None
    token = ""
    if isinstance(obj, dict):
        token = str(obj.get("token") or obj.get("access_token") or "")
    if not token:
        raise AuthenticationFailed(f"registry {registry}: token server response has no token")
    return token
