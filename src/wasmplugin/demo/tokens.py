"""The demo's identity provider: signing keys generated at start, their JWKS, and JWTs.

Two keys, as jwt-validator accepts: RS256 (RSA 2048, PKCS#1 v1.5 + SHA-256) and ES256 (ECDSA
P-256 + SHA-256, signature as the 64-byte ``r‖s`` of RFC 7518 §3.4). Keys exist only in memory for
the life of the demo; the JWKS publishes their public halves with ``kid``, ``alg`` and ``use``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ALGORITHMS = ("RS256", "ES256")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int, size: int | None = None) -> bytes:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


@dataclass(frozen=True)
class SigningKey:
    """One private key and what the JWKS says about it."""

    kid: str
    alg: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, alg: str, kid: str) -> SigningKey:
        if alg == "RS256":
            return cls(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        if alg == "ES256":
            return cls(kid, alg, ec.generate_private_key(ec.SECP256R1()))
        raise ValueError(f"unsupported alg {alg!r}")

    def sign(self, data: bytes) -> bytes:
        key = self.private
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return _uint(r, 32) + _uint(s, 32)

    def jwk(self) -> dict[str, str]:
        """The public key as a JWK (RFC 7517/7518)."""
        key = self.private
        base = {"kid": self.kid, "alg": self.alg, "use": "sig"}
        if isinstance(key, rsa.RSAPrivateKey):
            numbers = key.public_key().public_numbers()
            return {"kty": "RSA", **base, "n": b64url(_uint(numbers.n)), "e": b64url(_uint(numbers.e))}
        point = key.public_key().public_numbers()
        return {
            "kty": "EC",
            **base,
            "crv": "P-256",
            "x": b64url(_uint(point.x, 32)),
            "y": b64url(_uint(point.y, 32)),
        }


def sign_jwt(key: SigningKey, claims: Mapping[str, Any], *, kid: str | None = None) -> str:
    """A compact JWS: ``base64url(header).base64url(claims).base64url(signature)``."""
    header = {"alg": key.alg, "typ": "JWT", "kid": kid if kid is not None else key.kid}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, dict(claims))
    )
    return signing_input + "." + b64url(key.sign(signing_input.encode("ascii")))


class TokenIssuer:
    """The demo's ``https://auth.example.com``: mints tokens with its keys."""

    def __init__(self, issuer: str, audience: str, keys: Sequence[SigningKey]) -> None:
        self.issuer = issuer
        self.audience = audience
        self.keys = {k.alg: k for k in keys}

    @classmethod
    def generate(cls, issuer: str, audience: str) -> TokenIssuer:
        stamp = time.strftime("%Y%m%d", time.gmtime())
        return cls(
            issuer,
            audience,
            [SigningKey.generate(alg, f"demo-{alg.lower()}-{stamp}") for alg in ALGORITHMS],
        )

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.jwk() for k in self.keys.values()]}

    def mint(
        self,
        subject: str,
        scopes: Sequence[str] = (),
        *,
        alg: str = "RS256",
        audience: str | None = None,
        issuer: str | None = None,
        lifetime_s: int = 3600,
        issued_at: int | None = None,
    ) -> str:
        """A token for ``subject``. ``issued_at`` in the past with a short ``lifetime_s`` gives an
        expired token; ``audience``/``issuer`` override the defaults for wrong-claim tokens."""
        now = int(time.time()) if issued_at is None else issued_at
        claims: dict[str, Any] = {
            "iss": issuer if issuer is not None else self.issuer,
            "sub": subject,
            "aud": audience if audience is not None else self.audience,
            "iat": now,
            "exp": now + lifetime_s,
        }
        if scopes:
            claims["scope"] = " ".join(scopes)
        return sign_jwt(self.keys[alg], claims)
