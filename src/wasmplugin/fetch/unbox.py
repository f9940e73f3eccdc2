"""Getting Wasm bytes out of their packaging: gzip, tar, image layers, and the magic check.

* http(s) (istio ``unboxIfPossible``): repeatedly gunzip (magic ``1f 8b``) or take the first file of
  a POSIX tar (``ustar`` at offset 257) until the bytes are Wasm; on any failure the original bytes
  are kept, and the magic check then reports them as invalid.
* OCI image layers (Docker / compat variants): gunzip, then the first tar entry whose base name is
  ``plugin.wasm``.

Every decompression is bounded by the module size limit, so a gzip bomb stops at the limit.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import zlib

from wasmplugin.errors import InvalidImageFormat, ModuleTooLarge

WASM_MAGIC = b"\x00asm"
GZIP_MAGIC = b"\x1f\x8b"
PLUGIN_FILE_NAME = "plugin.wasm"


def is_wasm(data: bytes) -> bool:
    """istio ``isValidWasmBinary``: at least 8 bytes (magic + version) starting with ``\\0asm``."""
    return len(data) >= 8 and data[:4] == WASM_MAGIC


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def is_tar(data: bytes) -> bool:
    return len(data) >= 262 and data[257:262] == b"ustar"


def gunzip(data: bytes, limit: int, *, what: str = "gzip data") -> bytes:
    """Decompress (all concatenated members), refusing output larger than ``limit``."""
    out = bytearray()
    rest = data
    while rest:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        chunk = rest
        while chunk:
            out += d.decompress(chunk, limit + 1 - len(out))
            if len(out) > limit:
                raise ModuleTooLarge(f"{what} decompresses to more than the {limit}-byte limit")
            chunk = d.unconsumed_tail
        out += d.flush()
        if len(out) > limit:
            raise ModuleTooLarge(f"{what} decompresses to more than the {limit}-byte limit")
        if not d.eof:
            raise zlib.error("truncated gzip stream")
        rest = d.unused_data if d.unused_data[:2] == GZIP_MAGIC else b""
    return bytes(out)


def first_tar_file(data: bytes, limit: int) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            if member.isfile():
                if member.size > limit:
                    raise ModuleTooLarge(f"{member.name} in the tar archive is over the {limit}-byte limit")
                f = tar.extractfile(member)
                return f.read() if f is not None else b""
    raise tarfile.ReadError("no regular file in the archive")


def unbox(data: bytes, limit: int) -> bytes:
    """http(s) unboxing, best effort. Size-limit violations are raised; other failures are not."""
    current = data
    for _ in range(8):
        if is_wasm(current):
            return current
        try:
            if is_gzip(current):
                current = gunzip(current, limit)
            elif is_tar(current):
                current = first_tar_file(current, limit)
            else:
                break
        except ModuleTooLarge:
            raise
        except (OSError, EOFError, zlib.error, tarfile.TarError):
            return data
    return current if is_wasm(current) else data


def plugin_from_layer(layer: bytes, limit: int) -> bytes:
    """The ``plugin.wasm`` entry of a tar+gzip image layer (Docker and OCI "compat" variants)."""
    try:
        tar_bytes = gunzip(layer, limit + 16 * 1024 * 1024, what="image layer")
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
            names: list[str] = []
            for member in tar:
                names.append(member.name)
                if posixpath.basename(member.name.rstrip("/")) != PLUGIN_FILE_NAME:
                    continue
                if not member.isfile():
                    continue
                if member.size > limit:
                    raise ModuleTooLarge(f"plugin.wasm in the image layer is over the {limit}-byte limit")
                f = tar.extractfile(member)
                if f is None:
                    break
                return f.read()
    except ModuleTooLarge:
        raise
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        raise InvalidImageFormat(f"image layer is not a tar+gzip archive: {exc}") from None
    shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
    raise InvalidImageFormat(f"no plugin.wasm in the image's last layer (it holds: {shown or 'nothing'})")
