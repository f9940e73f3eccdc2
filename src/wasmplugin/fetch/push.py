"""``wasmplugin push``: upload a module to an OCI registry in one of the four layouts.

Default layout: ``oci`` — the two-layer Wasm artifact Istio accepts. ``compat`` and ``docker`` are
the image forms (``plugin.wasm`` in a tar+gzip layer); ``oras`` reproduces the blog's single-layer
``oras push`` (which Istio rejects). Blobs already in the repository are not uploaded again. The
result's ``digest`` is the manifest digest: the value for ``spec.sha256``.
"""

from __future__ import annotations

from dataclasses import dataclass

from wasmplugin.errors import InvalidWasmBinary, ModuleTooLarge, UnsupportedModuleUrl
from wasmplugin.fetch.credentials import Keychain
from wasmplugin.fetch.layouts import Layout, build_image
from wasmplugin.fetch.progress import NULL_PROGRESS, Progress
from wasmplugin.fetch.reference import OCI_PREFIX, OciReference, parse_oci_reference
from wasmplugin.fetch.registry import RegistryClient
from wasmplugin.fetch.ssrf import Resolver, system_resolver
from wasmplugin.fetch.transport import Deadline, HttpSession, TlsPolicy
from wasmplugin.fetch.unbox import is_wasm
from wasmplugin.limits import DEFAULT_LIMITS, Limits

DEFAULT_LAYOUT = Layout.OCI


@dataclass(frozen=True)
class PushResult:
    reference: OciReference
    digest: str  # "sha256:<hex>" of the manifest
    layout: Layout
    layer_count: int
    module_size: int
    uploaded: int  # blobs uploaded
    skipped: int  # blobs the registry already had

    @property
    def digest_hex(self) -> str:
        return self.digest.split(":", 1)[1]

    @property
    def url(self) -> str:
        return f"{OCI_PREFIX}{self.reference.context_name}:{self.reference.tag}"


def parse_push_reference(text: str) -> OciReference:
    ref = parse_oci_reference(text.removeprefix(OCI_PREFIX))
    if ref.digest:
        raise UnsupportedModuleUrl(f"push target {text!r} has a digest; push to a tag (e.g. :v1)")
    if ref.tag is None:
        ref = OciReference(ref.registry, ref.repository, "latest", None)
    return ref


def push_module(
    target: str,
    wasm: bytes,
    layout: Layout = DEFAULT_LAYOUT,
    *,
    keychain: Keychain,
    tls: TlsPolicy,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress = NULL_PROGRESS,
    resolve: Resolver = system_resolver,
    timeout_s: float | None = None,
) -> PushResult:
    ref = parse_push_reference(target)
    if not is_wasm(wasm):
        raise InvalidWasmBinary(
            f"refusing to push: not a Wasm module (starts with {wasm[:8].hex() or 'nothing'})"
        )
    if len(wasm) > limits.module_max_bytes:
        raise ModuleTooLarge(
            f"refusing to push: module is {len(wasm)} bytes, over the {limits.module_max_bytes}-byte limit"
        )
    image = build_image(wasm, layout)
    deadline = Deadline(
        timeout_s if timeout_s is not None else max(limits.fetch_timeout_s, 120.0), what="push"
    )
    uploaded = skipped = 0
    with HttpSession(tls, limits, deadline) as session:
        client = RegistryClient(
            session,
            ref.registry,
            ref.repository,
            credential=keychain.resolve(ref.registry),
            credential_source=keychain.source,
            push=True,
            resolve=resolve,
        )
        seen: set[str] = set()
        for blob in image.blobs:
            if blob.digest in seen:
                continue
            seen.add(blob.digest)
            if client.blob_exists(blob.digest):
                skipped += 1
                continue
            client.upload_blob(blob, progress=progress)
            uploaded += 1
        assert ref.tag is not None
        digest = client.put_manifest(ref.tag, image.manifest, image.manifest_media_type)
    return PushResult(
        reference=ref,
        digest=digest,
        layout=layout,
        layer_count=image.layer_count,
        module_size=len(wasm),
        uploaded=uploaded,
        skipped=skipped,
    )
