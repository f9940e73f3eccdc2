"""Module URLs as istio-agent reads them: scheme rules, OCI references, cache-key names.

* No scheme means ``oci://`` (istiod adds it; ``ghcr.io/o/i:v1`` → ``oci://ghcr.io/o/i:v1``). Unlike
  Go's ``url.Parse``, a scheme-less ``localhost:5000/x:v1`` is also read as OCI here, so the CLI
  accepts what ``docker push`` accepts; the config layer still validates WasmPlugin URLs as Istio does.
* OCI references follow go-containerregistry: the first path component is the registry when it
  contains ``.`` or ``:`` or is ``localhost``, otherwise Docker Hub (``index.docker.io``, with
  ``library/`` for one-component names). The module cache keys OCI modules by ``oci://`` + registry
  + repository, tag and digest removed (istio ``wasm-cache-with-tag-stripped-url``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from wasmplugin.errors import UnsupportedModuleUrl

OCI_PREFIX = "oci://"
DOCKER_HUB = "index.docker.io"
SCHEMES = ("oci", "http", "https", "file")

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_REGISTRY = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


@dataclass(frozen=True, slots=True)
class OciReference:
    """``registry/repository[:tag][@sha256:hex]``, parsed."""

    registry: str  # host[:port] as written (Docker Hub normalised to index.docker.io)
    repository: str
    tag: str | None
    digest: str | None  # "sha256:<hex>"

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest when there is one, else the tag (or latest)."""
        return self.digest or self.tag or "latest"

    @property
    def context_name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        s = self.context_name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


@dataclass(frozen=True, slots=True)
class ModuleUrl:
    """A WasmPlugin ``url`` after istiod's normalisation."""

    raw: str
    url: str  # with scheme; key of istio-agent's tag → checksum map
    scheme: str
    oci: OciReference | None = None
    file_path: str | None = None

    @property
    def cache_name(self) -> str:
        """``moduleKey.name``: the repository for OCI, the full URL otherwise."""
        if self.oci is not None:
            return OCI_PREFIX + self.oci.context_name
        return self.url

    @property
    def digest_hex(self) -> str | None:
        """The hex of an ``@sha256:`` digest in an OCI URL."""
        if self.oci is not None and self.oci.digest:
            return self.oci.digest.split(":", 1)[1]
        return None

    @property
    def display(self) -> str:
        """The URL with any user:password removed, safe for messages and logs."""
        return redact_url(self.url)


def parse_module_url(raw: str) -> ModuleUrl:
    """Parse a WasmPlugin ``url``; raise :class:`UnsupportedModuleUrl` with a one-line reason."""
    text = raw.strip()
    if not text:
        raise UnsupportedModuleUrl("module url is empty")
    if "://" not in text:
        text = OCI_PREFIX + text
    scheme = text.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise UnsupportedModuleUrl(
            f"unsupported Wasm module downloading URL scheme {scheme!r} in {redact_url(raw)} "
            f"(use one of oci://, https://, http://, file://)"
        )
    rest = text.split("://", 1)[1]
    if scheme == "oci":
        ref = parse_oci_reference(rest)
        return ModuleUrl(raw=raw, url=OCI_PREFIX + rest, scheme=scheme, oci=ref)
    if scheme == "file":
        if not rest:
            raise UnsupportedModuleUrl(f"file URL {raw!r} has no path")
        # istiod hands Envoy "URL minus file://": file:///abs → /abs, file://rel → rel.
        return ModuleUrl(raw=raw, url=f"file://{rest}", scheme=scheme, file_path=rest)
    parts = urlsplit(text)
    if not parts.hostname:
        raise UnsupportedModuleUrl(f"module url {redact_url(raw)} has no host")
    return ModuleUrl(raw=raw, url=urlunsplit(parts._replace(scheme=scheme)), scheme=scheme)


def parse_oci_reference(text: str) -> OciReference:
    """Parse ``[registry/]repository[:tag][@sha256:hex]`` (no scheme)."""
    original = text
    digest: str | None = None
    if "@" in text:
        text, digest = text.rsplit("@", 1)
        algo, _, hexpart = digest.partition(":")
        if algo != "sha256" or not _HEX64.match(hexpart):
            raise UnsupportedModuleUrl(
                f"OCI reference {original!r}: digest must be sha256: followed by 64 lowercase hex characters"
            )
    tag: str | None = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG.match(tag):
            raise UnsupportedModuleUrl(f"OCI reference {original!r}: invalid tag {tag!r}")
    first, sep, remainder = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        registry, repository = first, remainder
    else:
        registry, repository = DOCKER_HUB, text
        if "/" not in repository:
            repository = f"library/{repository}"
    if registry in ("docker.io", "registry-1.docker.io"):
        registry = DOCKER_HUB
    if not _REGISTRY.match(registry):
        raise UnsupportedModuleUrl(f"OCI reference {original!r}: invalid registry {registry!r}")
    if not repository or not _REPOSITORY.match(repository):
        raise UnsupportedModuleUrl(
            f"OCI reference {original!r}: invalid repository {repository!r} "
            "(lowercase letters, digits and . _ - separators)"
        )
    return OciReference(registry=registry, repository=repository, tag=tag, digest=digest)


def normalize_sha256(value: str | None, *, what: str = "sha256") -> str | None:
    """Expected checksum as 64 lowercase hex, or None. Tolerates a ``sha256:`` prefix and case
    (the config layer rejects those in WasmPlugins, as Istio does; the CLI is lenient)."""
    if value is None:
        return None
    v = value.strip().lower()
    if not v:
        return None
    v = v.removeprefix("sha256:")
    if not _HEX64.match(v):
        raise UnsupportedModuleUrl(f"{what} {value!r} is not 64 hexadecimal characters")
    return v


def redact_url(url: str) -> str:
    """Remove ``user:password@`` from a URL for display."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{path}"


def split_hostport(hostport: str) -> tuple[str, int | None]:
    """``host[:port]`` → (host, port); IPv6 literals in brackets."""
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:] else None
    host, sep, port = hostport.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return hostport, None
