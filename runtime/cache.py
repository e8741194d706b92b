"""The disk cache of compiled code: objects and their metadata, keyed by everything that
decides the machine code.

Owns: where the cache lives (MOJOLITE_CACHE_DIR, else $XDG_CACHE_HOME/mojolite or
~/.cache/mojolite), making it private to the user and refusing one that others can
write (loading machine code from it would let them run code as you), atomic writes
(temp file + rename, so concurrent writers and readers never see half a file), and
integrity (a checksum per entry; an entry that fails it is rebuilt with a warning).
Does not own the key's contents: callers hash what identifies their code (the
language puts in the sources, the specialization, the target's triple, CPU and full
feature string, and the versions).
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import warnings

from .config import settings

FORMAT = 1                       # bump when the entry layout changes


class CacheWarning(UserWarning):
    """The disk cache was skipped or an entry rebuilt; compiled code still runs."""


def directory() -> str:
    if settings.cache_dir:
        return settings.cache_dir
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mojolite")


def key(*parts) -> str:
    """A cache key: the SHA-256 of the parts' reprs."""
    return hashlib.sha256(repr((FORMAT,) + parts).encode()).hexdigest()


class DiskCache:
    def __init__(self, path: str | None = None):
        self.path = path or directory()
        self.usable = settings.cache and self._prepare()

    def _prepare(self) -> bool:
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            st = os.stat(self.path)
        except OSError as e:
            warnings.warn(f"mojolite: cache directory {self.path} is unusable ({e}); not caching",
                          CacheWarning, stacklevel=3)
            return False
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            warnings.warn(f"mojolite: cache directory {self.path} belongs to another user; not using it",
                          CacheWarning, stacklevel=3)
            return False
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            warnings.warn(f"mojolite: cache directory {self.path} is writable by other users, who could "
                          "plant code that would run as you; not using it (chmod 700 it to use it)",
                          CacheWarning, stacklevel=3)
            return False
        return True

    def _files(self, k: str) -> tuple[str, str]:
        return os.path.join(self.path, f"{k}.o"), os.path.join(self.path, f"{k}.json")

    def get(self, k: str) -> tuple[bytes, dict] | None:
        """(object bytes, metadata) of entry `k`, or None if absent or damaged (then warns)."""
        if not self.usable:
            return None
        obj_path, meta_path = self._files(k)
        try:
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
            with open(obj_path, "rb") as f:
                obj = f.read()
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            warnings.warn(f"mojolite: cache entry {k[:16]} is unreadable ({e}); rebuilding", CacheWarning)
            return None
        if meta.get("sha256") != hashlib.sha256(obj).hexdigest():
            warnings.warn(f"mojolite: cache entry {k[:16]} fails its checksum; rebuilding", CacheWarning)
            return None
        return obj, meta

    def put(self, k: str, obj: bytes, meta: dict) -> None:
        """Store entry `k`; the object first, then the metadata that vouches for it."""
        if not self.usable:
            return
        obj_path, meta_path = self._files(k)
        meta = dict(meta, sha256=hashlib.sha256(obj).hexdigest())
        try:
            _atomic_write(obj_path, obj)
            _atomic_write(meta_path, json.dumps(meta).encode())
        except OSError as e:
            warnings.warn(f"mojolite: could not write to the cache ({e})", CacheWarning)

    def entries(self) -> list[str]:
        if not os.path.isdir(self.path):
            return []
        return sorted(f[:-5] for f in os.listdir(self.path) if f.endswith(".json") and not f.startswith("record-"))

    def size(self) -> int:
        if not os.path.isdir(self.path):
            return 0
        return sum(os.path.getsize(os.path.join(self.path, f)) for f in os.listdir(self.path)
                   if f.endswith((".o", ".json")))

    def clear(self) -> int:
        """Remove every entry, record and stray temporary file; the number of entries removed."""
        n = len(self.entries())
        if os.path.isdir(self.path):
            for f in os.listdir(self.path):
                if f.endswith((".o", ".json", ".tmp")):
                    try:
                        os.unlink(os.path.join(self.path, f))
                    except FileNotFoundError:
                        pass
        return n


def _atomic_write(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


_cache: DiskCache | None = None


def cache() -> DiskCache:
    """The process's cache (settings are read once)."""
    global _cache
    if _cache is None or _cache.path != directory():
        _cache = DiskCache()
    return _cache


def get_record(k: str) -> dict | None:
    """A small JSON record (an autotuning result) stored under key `k`, or None."""
    c = cache()
    if not c.usable:
        return None
    try:
        with open(os.path.join(c.path, f"record-{k}.json"), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        warnings.warn(f"mojolite: record {k[:16]} is unreadable ({e}); ignoring it", CacheWarning)
        return None


def put_record(k: str, record: dict) -> None:
    c = cache()
    if c.usable:
        try:
            _atomic_write(os.path.join(c.path, f"record-{k}.json"), json.dumps(record).encode())
        except OSError as e:
            warnings.warn(f"mojolite: could not write to the cache ({e})", CacheWarning)
