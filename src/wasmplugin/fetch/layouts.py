"""The image layouts a Wasm module travels in: recognising them on pull, building them on push.

Pull follows istio-agent's ``imagefetcher.go`` order:

1. **docker** — manifest ``mediaType`` is Docker v2; the *last* layer must be
   ``application/vnd.docker.image.rootfs.diff.tar.gzip`` holding ``plugin.wasm``;
2. **compat** — OCI image whose last layer is ``application/vnd.oci.image.layer.v1.tar+gzip``
   holding ``plugin.wasm``;
3. **oci** — OCI artifact with exactly two layers, one of media type
   ``application/vnd.module.wasm.content.layer.v1+wasm`` (raw Wasm bytes);
4. **oras** (extension) — the blog's ``oras push``: a single Wasm-content layer. Istio rejects it
   ("number of layers must be 2 but got 1"); wasmplugin accepts it with a warning.

Push builds each of them deterministically (fixed tar/gzip metadata), so the same module always
gives the same manifest digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from enum import Enum
from typing import Any

from wasmplugin.errors import InvalidImageFormat, ManifestError
from wasmplugin.fetch.unbox import PLUGIN_FILE_NAME

# manifests
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_ACCEPT = (DOCKER_MANIFEST, OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
# configs
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
WASM_CONFIG = "application/vnd.module.wasm.config.v1+json"
# layers
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
WASM_LAYER = "application/vnd.module.wasm.content.layer.v1+wasm"

TITLE_ANNOTATION = "org.opencontainers.image.title"
EMPTY_JSON = b"{}"

ORAS_WARNING = (
    "single-layer Wasm artifact (the blog's `oras push`) accepted as a wasmplugin extension; "
    'Istio rejects it ("number of layers must be 2 but got 1") - push it with '
    "`wasmplugin push --format oci` or `--format compat` for a real mesh"
)


class Layout(Enum):
    DOCKER = "docker"
    COMPAT = "compat"
    OCI = "oci"
    ORAS = "oras"

    @property
    def description(self) -> str:
        return {
            Layout.DOCKER: "Docker image (plugin.wasm in the last tar+gzip layer)",
            Layout.COMPAT: "OCI image (plugin.wasm in the last tar+gzip layer)",
            Layout.OCI: "OCI Wasm artifact (2 layers)",
            Layout.ORAS: "single-layer ORAS artifact (extension; Istio rejects it)",
        }[self]


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    @classmethod
    def parse(cls, obj: Any, where: str) -> Descriptor:
        if not isinstance(obj, dict):
            raise ManifestError(f"{where}: descriptor is not an object")
        mt, dg, sz = obj.get("mediaType", ""), obj.get("digest"), obj.get("size")
        if not isinstance(dg, str) or not dg.startswith("sha256:") or len(dg) != 71:
            raise ManifestError(f"{where}: descriptor digest {dg!r} is not a sha256 digest")
        if not isinstance(sz, int) or sz < 0:
            raise ManifestError(f"{where}: descriptor size {sz!r} is invalid")
        return cls(media_type=mt if isinstance(mt, str) else "", digest=dg, size=sz)


@dataclass(frozen=True, slots=True)
class ImageManifest:
    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True, slots=True)
class WasmSource:
    """Which blob holds the module and how to read it."""

    layout: Layout
    layer: Descriptor
    packed: bool  # tar+gzip with plugin.wasm inside (docker/compat) or raw Wasm bytes (oci/oras)


def parse_json(data: bytes, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ManifestError(f"{where} is not a JSON object")
    return obj


def manifest_media_type(obj: dict[str, Any], content_type: str | None) -> str:
    mt = obj.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    ct = (content_type or "").split(";")[0].strip()
    if ct in MANIFEST_ACCEPT:
        return ct
    if "manifests" in obj:
        return OCI_INDEX
    return OCI_MANIFEST


def select_platform_manifest(index: dict[str, Any], where: str) -> Descriptor:
    """go-containerregistry ``desc.Image()`` on an index: the linux/amd64 child (default platform);
    wasmplugin also takes the only child of a one-entry index (e.g. ``wasip1/wasm``)."""
    children = index.get("manifests")
    if not isinstance(children, list) or not children:
        raise ManifestError(f"{where}: image index has no manifests")
    parsed = [(Descriptor.parse(c, where), c.get("platform") or {}) for c in children]
    for desc, platform in parsed:
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return desc
    if len(parsed) == 1:
        return parsed[0][0]
    raise ManifestError(f"{where}: image index has no linux/amd64 manifest and more than one child")


def parse_image_manifest(obj: dict[str, Any], media_type: str, where: str) -> ImageManifest:
    layers_obj = obj.get("layers")
    if not isinstance(layers_obj, list):
        raise ManifestError(f"{where}: manifest has no layers list (schema 1 manifests are not supported)")
    layers = tuple(Descriptor.parse(layer, f"{where} layer {i}") for i, layer in enumerate(layers_obj))
    config = Descriptor.parse(obj["config"], f"{where} config") if "config" in obj else None
    return ImageManifest(media_type=media_type, config=config, layers=layers)


def locate_wasm(manifest: ImageManifest, *, allow_single_layer: bool = True) -> WasmSource:
    """istio-agent's extraction order; raise :class:`InvalidImageFormat` with Istio's reasons."""
    layers = manifest.layers
    if manifest.media_type == DOCKER_MANIFEST:
        if not layers:
            raise InvalidImageFormat(
                "could not extract Wasm file from the image as Docker container: "
                "number of layers must be greater than zero"
            )
        last = layers[-1]
        if last.media_type != DOCKER_LAYER:
            raise InvalidImageFormat(
                "could not extract Wasm file from the image as Docker container: "
                f"invalid media type {last.media_type} (expect {DOCKER_LAYER})"
            )
        return WasmSource(Layout.DOCKER, last, packed=True)
    if layers and layers[-1].media_type == OCI_LAYER:
        return WasmSource(Layout.COMPAT, layers[-1], packed=True)
    compat_err = (
        "number of layers must be greater than zero"
        if not layers
        else f"invalid media type {layers[-1].media_type} (expect {OCI_LAYER})"
    )
    wasm_layers = [layer for layer in layers if layer.media_type == WASM_LAYER]
    if len(layers) == 2:
        if wasm_layers:
            return WasmSource(Layout.OCI, wasm_layers[0], packed=False)
        oci_err = f"could not find the layer of type {WASM_LAYER}"
    else:
        oci_err = f"number of layers must be 2 but got {len(layers)}"
    if len(layers) == 1 and wasm_layers and allow_single_layer:
        return WasmSource(Layout.ORAS, wasm_layers[0], packed=False)
    raise InvalidImageFormat(
        "the given image is in invalid format as an OCI image: "
        f"could not parse as compat variant: {compat_err}; could not parse as oci variant: {oci_err}"
    )


# --- building (push) ------------------------------------------------------------------------------


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Blob:
    media_type: str
    data: bytes
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    def descriptor(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d


@dataclass(frozen=True, slots=True)
class BuiltImage:
    layout: Layout
    manifest: bytes
    manifest_media_type: str
    blobs: tuple[Blob, ...]  # config first, then layers (deduplicated by digest)
    layer_count: int

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)


def _plugin_tar(wasm: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(PLUGIN_FILE_NAME)
        info.size = len(wasm)
        info.mode = 0o644
        info.mtime = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(wasm))
    return buf.getvalue()


def _manifest_bytes(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=False).encode()


def build_image(wasm: bytes, layout: Layout) -> BuiltImage:
    """Manifest and blobs for ``wasm`` in ``layout``."""
    if layout in (Layout.DOCKER, Layout.COMPAT):
        tar_bytes = _plugin_tar(wasm)
        layer_data = gzip.compress(tar_bytes, compresslevel=6, mtime=0)
        docker = layout is Layout.DOCKER
        config_obj = {
            "architecture": "wasm",
            "os": "wasip1",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar_bytes)]},
        }
        config = Blob(DOCKER_CONFIG if docker else OCI_CONFIG, _manifest_bytes(config_obj))
        layer = Blob(DOCKER_LAYER if docker else OCI_LAYER, layer_data)
        media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
        manifest = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": config.descriptor(),
            "layers": [layer.descriptor()],
        }
        return BuiltImage(layout, _manifest_bytes(manifest), media_type, (config, layer), 1)
    title = ((TITLE_ANNOTATION, PLUGIN_FILE_NAME),)
    wasm_blob = Blob(WASM_LAYER, wasm, title)
    if layout is Layout.OCI:
        # solo-io wasm spec config; Istio only needs the second layer to exist.
        config = Blob(WASM_CONFIG, _manifest_bytes({"type": "envoy_proxy", "abiVersions": [], "rootIds": []}))
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": [wasm_blob.descriptor(), config.descriptor()],
        }
        return BuiltImage(layout, _manifest_bytes(manifest), OCI_MANIFEST, (config, wasm_blob), 2)
    # ORAS 1.x `oras push --artifact-type <wasm> plugin.wasm:<wasm layer type>`: image manifest with
    # artifactType and the empty config.
    config = Blob(OCI_EMPTY, EMPTY_JSON)
    config_desc = config.descriptor()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": WASM_LAYER,
        "config": config_desc,
        "layers": [wasm_blob.descriptor()],
    }
    return BuiltImage(layout, _manifest_bytes(manifest), OCI_MANIFEST, (config, wasm_blob), 1)
