"""A content-keyed artefact cache: atomic, locked, checksummed, pickle-free.

An entry is a directory ``<kind>-<key>`` whose name is a digest of everything
that determines its contents (model configuration, data fingerprint, library
versions), so changing a hyperparameter can never return a stale model. An
entry is built in a temporary directory beside it and renamed into place, so
a killed run leaves either a complete entry or none (the temporary directory
is never read, and is removed the next time that entry is asked for).
``MANIFEST.json`` records the sha256 of every file and the key material; an
entry that does not match it is discarded with a warning and rebuilt. A per-entry ``fcntl`` lock makes
concurrent processes build each entry once.

Nothing here deserialises code: records are JSON, and the builders and loaders
of each model use ``.npz`` with ``allow_pickle=False`` or Keras' safe mode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator

from .data import sha256_file

__all__ = ["Cache", "CacheEntry", "CacheError", "CacheWarning", "cache_key", "default_cache_dir"]

MANIFEST = "MANIFEST.json"
RECORD = "record.json"


class CacheError(RuntimeError):
    """The cache directory cannot be used safely (unwritable, or writable by others)."""


class CacheWarning(UserWarning):
    """A cache entry was found damaged and is being rebuilt."""


def default_cache_dir() -> Path:
    """``$LUSSI_CACHE_DIR``, else ``$XDG_CACHE_HOME/lussi``, else ``~/.cache/lussi``."""
    env = os.environ.get("LUSSI_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lussi"


def cache_key(material: dict) -> str:
    """Digest (24 hex chars) of JSON-serialisable key material, independent of dict order."""
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]




def _fsync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """A complete, verified cache entry.

    Attributes
    ----------
    path : Path
        The entry's directory; read files from it, never write.
    key : str
        The entry's digest.
    record : dict
        The JSON record the builder returned (training time, history, ...).
    hit : bool
        True when the entry was already cached, False when just built.
    """

    path: Path
    key: str
    record: dict
    hit: bool

    @property
    def size_bytes(self) -> int:
        """Bytes on disk of the entry's files."""
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


class Cache:
    """Artefact cache rooted at a private directory.

    Parameters
    ----------
    root : path-like, optional
        The cache directory; defaults to :func:`default_cache_dir`. It is
        created with mode 0700. An existing directory must belong to the
        current user and must not be writable by group or others, because
        whoever can write it decides what gets loaded.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self._check_root()

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    def _check_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise CacheError(
                f"cannot create cache directory {self.root}: {error.strerror}; "
                "set LUSSI_CACHE_DIR or pass --cache-dir to a writable location"
            ) from None
        info = self.root.stat()
        if info.st_uid != os.getuid():
            raise CacheError(
                f"cache directory {self.root} belongs to another user (uid {info.st_uid}); "
                "use a directory of your own (LUSSI_CACHE_DIR or --cache-dir)"
            )
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise CacheError(
                f"cache directory {self.root} is writable by other users (mode {stat.S_IMODE(info.st_mode):o}); "
                f"run `chmod go-w {self.root}` or use another directory"
            )
        # Readable too: a write-only directory would fail later, mid-run, listing or verifying entries.
        if not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
            raise CacheError(
                f"cache directory {self.root} is not writable or not readable; "
                "fix its permissions or set LUSSI_CACHE_DIR"
            )

    # ------------------------------------------------------------------ entries

    def entry_path(self, kind: str, key: str) -> Path:
        return self.root / f"{kind}-{key}"

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        lock_path = self.root / f".{name}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if the process dies
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def verify(self, kind: str, key: str) -> tuple[dict | None, str]:
        """Check an entry against its manifest.

        Returns
        -------
        record : dict or None
            The entry's record when it is complete and intact, else None.
        problem : str
            Why the entry is not usable ("" when it is, "absent" when missing).
        """
        path = self.entry_path(kind, key)
        if not path.is_dir():
            return None, "absent"
        manifest_path = path / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text())
            files = manifest["files"]
        except (OSError, ValueError, KeyError, TypeError):
            return None, f"{manifest_path} is missing or unreadable"
        if manifest.get("key") != key or manifest.get("kind") != kind:
            return None, f"{path} records key {manifest.get('key')!r}, expected {key!r}"
        present = {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()} - {MANIFEST}
        if present != set(files):
            return None, f"{path} holds files {sorted(present ^ set(files))} not matching its manifest"
        for name, expected in files.items():
            actual = sha256_file(path / name)
            if actual != expected:
                return None, f"{path / name}: sha256 {actual} does not match the recorded {expected}"
        try:
            record = json.loads((path / RECORD).read_text())
        except (OSError, ValueError):
            return None, f"{path / RECORD} is unreadable"
        return record, ""

    def get_or_build(
        self,
        kind: str,
        material: dict,
        build: Callable[[Path], dict],
        *,
        rebuild: bool = False,
    ) -> CacheEntry:
        """Return the entry for ``material``, building it if absent or damaged.

        Parameters
        ----------
        kind : str
            Short prefix of the entry's directory name (``"knn"``, ``"mlp"``, ...).
        material : dict
            JSON-serialisable description of everything the entry depends on.
        build : callable
            ``build(directory) -> record``: writes the artefact's files into an
            empty temporary directory and returns a JSON-serialisable record.
        rebuild : bool
            Discard any cached entry and build anew.

        Returns
        -------
        CacheEntry
        """
        key = cache_key({"kind": kind, **material})
        name = f"{kind}-{key}"
        path = self.entry_path(kind, key)
        with self._lock(name):
            # Builds of this entry only happen under its lock, so any temporary
            # directory of it seen now was left by a killed process: never used, removed.
            for leftover in self.root.glob(f".tmp-{name}-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            if not rebuild:
                record, problem = self.verify(kind, key)
                if record is not None:
                    return CacheEntry(path, key, record, hit=True)
                if problem != "absent":
                    warnings.warn(f"discarding damaged cache entry: {problem}; rebuilding", CacheWarning, stacklevel=2)
            self._remove(path)
            temp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=self.root))
            try:
                record = build(temp)
                (temp / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
                files = {
                    str(p.relative_to(temp)): sha256_file(p) for p in sorted(temp.rglob("*")) if p.is_file()
                }
                manifest = {"kind": kind, "key": key, "material": material, "files": files, "created": time.time()}
                (temp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
                _fsync_tree(temp)
                os.rename(temp, path)
            except BaseException:
                shutil.rmtree(temp, ignore_errors=True)
                raise
            return CacheEntry(path, key, record, hit=False)

    def _remove(self, path: Path) -> None:
        if path.exists():
            # Move aside first so a crash mid-delete never leaves a half-entry under the real name.
            trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=self.root))
            os.rename(path, trash / "entry")
            shutil.rmtree(trash, ignore_errors=True)

    def clean_temporary(self, *, older_than: float = 3600.0) -> int:
        """Remove leftovers of interrupted builds older than ``older_than`` seconds; returns how many."""
        removed = 0
        now = time.time()
        for path in self.root.glob(".t*-*"):
            if path.is_dir() and (path.name.startswith(".tmp-") or path.name.startswith(".trash-")):
                if now - path.stat().st_mtime > older_than:
                    shutil.rmtree(path, ignore_errors=True)
                    removed += 1
        return removed

    def entries(self) -> list[dict]:
        """One dict per entry directory: name, kind, size in bytes, whether it verifies."""
        rows = []
        for path in sorted(self.root.iterdir()):
            if not path.is_dir() or path.name.startswith("."):
                continue
            kind, _, key = path.name.rpartition("-")
            record, problem = self.verify(kind, key)
            rows.append(
                {
                    "name": path.name,
                    "kind": kind,
                    "size_bytes": sum(p.stat().st_size for p in path.rglob("*") if p.is_file()),
                    "ok": record is not None,
                    "problem": problem,
                }
            )
        return rows
