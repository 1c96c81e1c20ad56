"""Upstream files the offline checks trust (Kubernetes schemas, Power BI schemas): one way
to get a verified local copy of a file pinned by commit and git blob id.

A copy is looked for in the directory named by a mirror variable (CI points it at
``../shared/<name>``), then in the user cache ``${XDG_CACHE_HOME:-~/.cache}/retail-platform/
<name>/``, and is otherwise downloaded at the pinned commit into that cache. Any copy whose
blob id differs from the pin is refused, so a stale mirror, a truncated download or an edited
file can never loosen a check.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def git_blob_id(data: bytes) -> str:
    """The id git gives ``data`` as a blob, as in ``git hash-object``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def download(url: str) -> bytes:
    """The bytes at ``url`` (a pinned file upstream)."""
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


@dataclass(frozen=True)
class PinnedStore:
    """Where the pinned files of one family (``name``) are looked for."""

    name: str                    # k8s-schemas, pbi-schemas: the cache and mirror folder
    env: str                     # the mirror variable
    error: type[Exception]       # raised with a message naming the fix

    def cache_dir(self) -> Path:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "retail-platform" / self.name

    def verify(self, rel: str, data: bytes, where: str, blob: str, origin: str) -> None:
        actual = git_blob_id(data)
        if actual != blob:
            raise self.error(
                f"{rel}: {where} has git blob {actual}, expected {blob} ({origin}). Replace "
                f"it with the pinned file (see {self.name}/SOURCES.md) or delete it, or point "
                f"{self.env} at a directory holding the pinned copies.")

    def locate(self, rel: str, *, blob: str, url: str, origin: str,
               download: Callable[[str], bytes]) -> Path:
        """The verified local copy of ``rel``, fetched with ``download`` when needed."""
        mirror = os.environ.get(self.env)
        if mirror and (Path(mirror) / rel).is_file():
            path = Path(mirror) / rel
            self.verify(rel, path.read_bytes(), f"the {self.env} copy {path}", blob, origin)
            return path
        cached = self.cache_dir() / rel
        if cached.is_file():
            self.verify(rel, cached.read_bytes(), f"the cached copy {cached}", blob, origin)
            return cached
        try:
            data = download(url)
        except (urllib.error.URLError, OSError) as e:
            raise self.error(
                f"{rel}: not found in {self.env} ({mirror or 'unset'}) nor in the cache "
                f"{cached}, and downloading {url} failed ({e}). Offline, set {self.env} to a "
                f"directory holding the pinned copies (CI uses ../shared/{self.name}); the "
                f"file must have git blob {blob}.") from e
        self.verify(rel, data, f"the download from {url}", blob, origin)
        cached.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a cache entry is never half-written, even with parallel
        # runs.
        part = cached.with_name(f"{cached.name}.{os.getpid()}.part")
        part.write_bytes(data)
        part.replace(cached)
        return cached
