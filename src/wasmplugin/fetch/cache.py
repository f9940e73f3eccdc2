"""The module cache, kept as istio-agent keeps it (``pkg/wasm/cache.go``), but on disk.

Layout (``DIR`` = the cache directory)::

    DIR/index.json                                  modules + tag→checksum map (atomic rewrites)
    DIR/.lock                                       flock for cross-process updates
    DIR/<hex(sha256(module name))>/<checksum>.wasm  one file per module, mode 0644

* **modules**: (name, checksum) → file, size, sha256 of the bytes, last use, referencing URLs.
  ``name`` is ``oci://registry/repository`` for OCI (tag and digest stripped), else the URL;
  ``checksum`` is the OCI manifest digest or the http(s) module's sha256.
* **checksums**: full URL as written → last checksum and resourceName → resourceVersion, for
  http(s) URLs and OCI URLs without ``@digest`` (how IfNotPresent avoids the network).
* Every hit re-hashes the file; a corrupted or missing file drops the entry so it is fetched again.
* **purge**: entries unused for longer than the expiry (24 h) are deleted with their checksum
  entries.

Istio keeps the maps in memory; here they persist in ``index.json`` so the CLI, the sidecar and
its workers share one cache. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wasmplugin.errors import FetchError

log = logging.getLogger("wasmplugin.fetch")

INDEX_FILE = "index.json"
LOCK_FILE = ".lock"
INDEX_VERSION = 1


@dataclass
class CacheEntry:
    name: str
    checksum: str
    path: str  # relative to the cache directory
    size: int
    module_sha256: str
    fetched_at: float
    last_used: float
    urls: list[str] = field(default_factory=list)
    layout: str | None = None
    manifest_digest: str | None = None

    @property
    def key(self) -> str:
        return entry_key(self.name, self.checksum)


@dataclass
class ChecksumEntry:
    checksum: str
    versions: dict[str, str] = field(default_factory=dict)


def entry_key(name: str, checksum: str) -> str:
    return f"{name}@{checksum}"


@dataclass
class CacheIndex:
    modules: dict[str, CacheEntry] = field(default_factory=dict)
    checksums: dict[str, ChecksumEntry] = field(default_factory=dict)
    last_purge: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "version": INDEX_VERSION,
            "last_purge": self.last_purge,
            "modules": {k: asdict(v) for k, v in sorted(self.modules.items())},
            "checksums": {k: asdict(v) for k, v in sorted(self.checksums.items())},
        }

    @classmethod
    def from_json(cls, obj: Any) -> CacheIndex:
        if not isinstance(obj, dict) or obj.get("version") != INDEX_VERSION:
            raise ValueError("unknown index format")
        modules = {k: CacheEntry(**v) for k, v in obj.get("modules", {}).items()}
        checksums = {k: ChecksumEntry(**v) for k, v in obj.get("checksums", {}).items()}
        return cls(modules=modules, checksums=checksums, last_purge=float(obj.get("last_purge", 0.0)))

    def get(self, name: str, checksum: str) -> CacheEntry | None:
        return self.modules.get(entry_key(name, checksum))

    def remove(self, entry: CacheEntry) -> None:
        self.modules.pop(entry.key, None)
        for url in entry.urls:
            ce = self.checksums.get(url)
            if ce is not None and ce.checksum == entry.checksum:
                del self.checksums[url]


class ModuleCache:
    """Files + index under one directory; safe across threads and processes."""

    def __init__(self, directory: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self.clock = clock
        self._lock = threading.RLock()

    # --- transactions ------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[CacheIndex]:
        """Load the index under the locks, yield it, and write it back if it changed."""
        with self._lock:
            self._ensure_dir()
            with open(self.directory / LOCK_FILE, "a+b") as lock_file:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
                try:
                    index, before = self._load()
                    yield index
                    after = json.dumps(index.to_json(), indent=1, sort_keys=True)
                    if after != before:
                        # Atomic (rename) but not fsynced: an index lost in a crash is rebuilt.
                        _atomic_write(self.directory / INDEX_FILE, after.encode(), mode=0o644, sync=False)
                finally:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _ensure_dir(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FetchError(
                f"cannot create module cache directory {self.directory}: {exc.strerror}"
            ) from None

    def _load(self) -> tuple[CacheIndex, str]:
        path = self.directory / INDEX_FILE
        try:
            text = path.read_text()
        except FileNotFoundError:
            return CacheIndex(), ""
        try:
            return CacheIndex.from_json(json.loads(text)), text
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("module cache index %s is unreadable (%s); starting an empty index", path, exc)
            return CacheIndex(), text

    # --- files -----------------------------------------------------------------------------

    def relative_path(self, name: str, checksum: str) -> str:
        return f"{hashlib.sha256(name.encode()).hexdigest()}/{checksum}.wasm"

    def absolute(self, entry: CacheEntry) -> Path:
        return self.directory / entry.path

    def write_module(self, name: str, checksum: str, data: bytes) -> str:
        rel = self.relative_path(name, checksum)
        target = self.directory / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(target, data, mode=0o644)
        except OSError as exc:
            raise FetchError(f"cannot write module to cache {target}: {exc.strerror}") from None
        return rel

    def verify(self, entry: CacheEntry) -> bool:
        """The file exists and hashes to what was stored."""
        try:
            data = self.absolute(entry).read_bytes()
        except OSError:
            return False
        return len(data) == entry.size and hashlib.sha256(data).hexdigest() == entry.module_sha256

    def delete_file(self, entry: CacheEntry) -> None:
        path = self.absolute(entry)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when empty

    # --- maintenance -------------------------------------------------------------------------

    def entries(self) -> list[CacheEntry]:
        if not (self.directory / INDEX_FILE).exists():
            return []
        with self.transaction() as index:
            return sorted(index.modules.values(), key=lambda e: (e.name, -e.last_used))

    def purge(self, expiry_s: float, *, now: float | None = None) -> list[CacheEntry]:
        """Delete modules unused for more than ``expiry_s``; returns what was removed."""
        now = self.clock() if now is None else now
        removed: list[CacheEntry] = []
        with self.transaction() as index:
            for entry in list(index.modules.values()):
                if now - entry.last_used > expiry_s:
                    index.remove(entry)
                    self.delete_file(entry)
                    removed.append(entry)
            index.last_purge = now
        return removed

    def clear(self) -> list[CacheEntry]:
        with self.transaction() as index:
            removed = list(index.modules.values())
            for entry in removed:
                self.delete_file(entry)
            index.modules.clear()
            index.checksums.clear()
        return removed

    def remove_orphans(self) -> list[Path]:
        """Files under the directory that no entry references (interrupted writes, lost index)."""
        removed: list[Path] = []
        with self.transaction() as index:
            known = {e.path for e in index.modules.values()}
            for sub in self.directory.iterdir():
                if not sub.is_dir() or len(sub.name) != 64:
                    continue
                for f in sub.iterdir():
                    rel = f"{sub.name}/{f.name}"
                    if rel not in known and f.is_file():
                        f.unlink()
                        removed.append(f)
                with contextlib.suppress(OSError):
                    sub.rmdir()
        return removed


def _atomic_write(path: Path, data: bytes, *, mode: int, sync: bool = True) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
