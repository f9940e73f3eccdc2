"""oci:// modules, in istio-agent's two steps (``imagefetcher.go`` ``PrepareFetch``).

1. :func:`prepare` resolves the manifest (following an index to its linux/amd64 image) and yields
   the **manifest digest** — Istio's checksum for OCI — before any blob is downloaded, so the cache
   can answer "unchanged" after one manifest request.
2. :meth:`PreparedImage.download` fetches the one blob that holds the module and extracts it per
   :mod:`layouts`.
"""

from __future__ import annotations

from dataclasses import dataclass

from wasmplugin.errors import InvalidImageFormat
from wasmplugin.fetch.layouts import (
    INDEX_TYPES,
    ImageManifest,
    Layout,
    locate_wasm,
    manifest_media_type,
    parse_image_manifest,
    parse_json,
    select_platform_manifest,
)
from wasmplugin.fetch.progress import NULL_PROGRESS, Progress
from wasmplugin.fetch.reference import OciReference
from wasmplugin.fetch.registry import RegistryClient
from wasmplugin.fetch.unbox import plugin_from_layer


@dataclass
class PreparedImage:
    client: RegistryClient
    reference: OciReference
    digest: str  # "sha256:<hex>" of the image manifest
    manifest: ImageManifest

    @property
    def digest_hex(self) -> str:
        return self.digest.split(":", 1)[1]

    def download(
        self, *, limit: int, allow_single_layer: bool = True, progress: Progress = NULL_PROGRESS
    ) -> tuple[bytes, Layout]:
        source = locate_wasm(self.manifest, allow_single_layer=allow_single_layer)
        blob = self.client.get_blob(source.layer, limit=limit, progress=progress)
        if source.packed:
            return plugin_from_layer(blob, limit), source.layout
        return blob, source.layout


def prepare(client: RegistryClient, ref: OciReference) -> PreparedImage:
    data, content_type, digest = client.get_manifest(ref.reference)
    where = f"manifest of {ref}"
    obj = parse_json(data, where)
    media_type = manifest_media_type(obj, content_type)
    if media_type in INDEX_TYPES:
        child = select_platform_manifest(obj, where)
        data, content_type, digest = client.get_manifest(child.digest)
        obj = parse_json(data, f"{where} ({child.digest[:19]})")
        media_type = manifest_media_type(obj, content_type)
        if media_type in INDEX_TYPES:
            raise InvalidImageFormat(f"{where}: nested image indexes are not supported")
    manifest = parse_image_manifest(obj, media_type, where)
    return PreparedImage(client=client, reference=ref, digest=digest, manifest=manifest)
