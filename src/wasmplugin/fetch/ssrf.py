"""Istio's SSRF guard for Bearer token realms (``pkg/wasm/ssrf.go``, release note ``wasm-ssrf-bearer-realm``).

A registry's ``WWW-Authenticate: Bearer realm=...`` tells the client where to send credentials. A
hostile registry could point it at a cloud metadata service or a loopback admin port. The realm is
refused when:

* its scheme is not ``http``/``https``;
* its host is a metadata name (``metadata.google.internal`` ...), or resolves to a metadata address
  (169.254.169.254, fd00:ec2::254, 100.100.100.200);
* it resolves to a loopback, link-local, private or unspecified address while the registry itself
  is not in that same class (a registry on 127.0.0.1 may use a token server on 127.0.0.1).

The decision is a pure function of the addresses so it can be tested without a network.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from enum import Enum
from urllib.parse import urlsplit

from wasmplugin.errors import InsecureTokenRealm

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class AddressClass(Enum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    LINK_LOCAL = "link-local"
    PRIVATE = "private"
    UNSPECIFIED = "unspecified"
    METADATA = "metadata"


Resolver = Callable[[str], list[str]]


def classify(address: str) -> AddressClass:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return AddressClass.METADATA
    if ip.is_loopback:
        return AddressClass.LOOPBACK
    if ip.is_link_local:
        return AddressClass.LINK_LOCAL
    if ip.is_unspecified:
        return AddressClass.UNSPECIFIED
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT):
        return AddressClass.PRIVATE
    return AddressClass.PUBLIC


def system_resolver(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def _addresses(host: str, resolve: Resolver) -> list[str]:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return [host]
    except ValueError:
        return resolve(host)


def check_realm(
    realm: str,
    registry_host: str,
    *,
    resolve: Resolver = system_resolver,
) -> None:
    """Raise :class:`InsecureTokenRealm` if credentials must not be sent to ``realm``."""
    parts = urlsplit(realm)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InsecureTokenRealm(
            f"registry {registry_host} sent a Bearer token realm with scheme {scheme or 'none'!r}; "
            "only http and https realms are allowed"
        )
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise InsecureTokenRealm(f"registry {registry_host} sent a Bearer token realm without a host")
    if host in METADATA_HOSTS:
        raise InsecureTokenRealm(
            f"registry {registry_host} sent a Bearer token realm on the metadata host {host}; refused"
        )
    realm_classes = {classify(a) for a in _addresses(host, resolve)}
    sensitive = realm_classes - {AddressClass.PUBLIC}
    if not sensitive:
        return
    reg_host = _strip_port(registry_host)
    registry_classes = {classify(a) for a in _addresses(reg_host, resolve)}
    for cls in sorted(sensitive, key=lambda c: c.value):
        if cls is AddressClass.METADATA or cls not in registry_classes:
            raise InsecureTokenRealm(
                f"registry {registry_host} sent a Bearer token realm on a {cls.value} address ({host}) "
                "while the registry is not on one; refused (SSRF guard)"
            )


def _strip_port(hostport: str) -> str:
    if hostport.startswith("["):
        return hostport[1:].split("]", 1)[0]
    if hostport.count(":") == 1:
        return hostport.split(":", 1)[0]
    return hostport


def classes_of(addresses: Iterable[str]) -> set[AddressClass]:
    return {classify(a) for a in addresses}
