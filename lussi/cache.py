"""A content-keyed artefact cache: atomic, locked, checksummed, pickle-free.

An entry is a directory ``<kind>-<key>`` whose name is a digest of everything
that determines its contents (model configuration, data fingerprint, library
versions), so changing a hyperparameter can never return a stale model. An
entry is built in a temporary directory beside it and renamed into place, so
a killed run leaves either a complete entry or none (the temporary directory
is never read, and is removed under that entry's lock, so never while its
build is running, however long it runs). ``MANIFEST.json`` records the sha256
of every file and the key material; an entry that does not match it, or whose
manifest or record is not what lussi writes (wrong JSON type, a directory, a
symlink, a FIFO), is discarded with a warning and rebuilt. A per-entry lock
(:mod:`lussi.locks`) makes concurrent processes build each entry once; a
process kept waiting says who holds the lock and gives up after
``LUSSI_LOCK_TIMEOUT`` seconds.

Nothing here deserialises code: records are JSON, and the builders and loaders
of each model use ``.npz`` with ``allow_pickle=False`` or Keras' safe mode.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

from . import interrupts, locks
from .idx_folder import sha256_file
from .errors import CacheError, CacheWarning
from .safe_io import describe_os_error, read_json_object
from .validation import schema_problem

__all__ = ["Cache", "CacheEntry", "CacheError", "CacheWarning", "cache_key", "default_cache_dir"]

MANIFEST = "MANIFEST.json"
RECORD = "record.json"
_MAX_JSON_BYTES = 64 << 20
_DIGEST = re.compile(r"[0-9a-f]{64}")
# ".tmp-<kind>-<key>-XXXXXXXX" (a build) or ".trash-<kind>-<key>-XXXXXXXX" (a removal), XXXXXXXX from mkdtemp.
_LEFTOVER = re.compile(r"\.(?:tmp|trash)-(?P<name>.+-[0-9a-f]{24})-[a-z0-9_]{8}")
_OLD_TRASH = re.compile(r"\.trash-[a-z0-9_]{8}")  # lussi before 0.1.1: never read, safe to remove any time
# Errors of writing to the cache's disk, reported as a CacheError naming the entry and the directory.
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG,
                 errno.EIO, errno.EFBIG}


def default_cache_dir() -> Path:
    """``$LUSSI_CACHE_DIR``, else ``$XDG_CACHE_HOME/lussi``, else ``~/.cache/lussi``, made absolute.

    A relative value is taken from the working directory now, so a process
    that changes directory later (a report's kernel) uses the same cache; an
    empty ``LUSSI_CACHE_DIR`` is refused rather than ignored.
    """
    env = os.environ.get("LUSSI_CACHE_DIR")
    if env is not None:
        if not env:
            raise CacheError("LUSSI_CACHE_DIR is set but empty; unset it or set it to a directory")
        return Path(env).absolute()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base).absolute() / "lussi"


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


def _entry_files(path: Path) -> tuple[set[str], str]:
    """The regular files under ``path`` (relative names), or why the entry holds something else."""
    files, stack = set(), [path]
    while stack:
        with os.scandir(stack.pop()) as items:
            for item in items:
                if item.is_dir(follow_symlinks=False):
                    stack.append(Path(item.path))
                elif item.is_file(follow_symlinks=False):
                    files.add(str(Path(item.path).relative_to(path)))
                else:  # a symlink could point anywhere, and reading a FIFO would block forever
                    return files, f"{item.path} is a symbolic link or special file, which lussi never writes"
    return files, ""


class Cache:
    """Artefact cache rooted at a private directory.

    Parameters
    ----------
    root : path-like, optional
        The cache directory; defaults to :func:`default_cache_dir`. It is
        made absolute against the working directory and created with mode
        0700. An existing directory must belong to the current user and must
        not be writable by group or others, because whoever can write it
        decides what gets loaded.
    lock_timeout : float, optional
        Seconds to wait for an entry another process is building; default
        ``$LUSSI_LOCK_TIMEOUT`` or :data:`lussi.locks.DEFAULT_TIMEOUT`.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, lock_timeout: float | None = None):
        if root is not None and not os.fspath(root):
            raise CacheError("the cache directory is an empty path; give a directory (--cache-dir, LUSSI_CACHE_DIR)")
        self.root = Path(root).absolute() if root is not None else default_cache_dir()
        self.lock_timeout = locks.lock_timeout(lock_timeout)
        self._check_root()

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    def _check_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            info = self.root.stat()
        except OSError as error:
            raise CacheError(
                f"cannot create cache directory {self.root}: {describe_os_error(error, path=False)}; "
                "set LUSSI_CACHE_DIR or pass --cache-dir to a writable location"
            ) from None
        if not stat.S_ISDIR(info.st_mode):
            raise CacheError(f"cache directory {self.root} is not a directory; choose another with --cache-dir")
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

    def _lock(self, name: str):
        return locks.hold(self.root / f".{name}.lock", what=f"the cache entry {name} in {self.root}",
                          timeout=self.lock_timeout)

    def verify(self, kind: str, key: str, *, schema: dict | None = None) -> tuple[dict | None, str]:
        """Check an entry against its manifest.

        Parameters
        ----------
        kind, key : str
        schema : dict, optional
            Keys the record must hold and their types (see :meth:`get_or_build`).

        Returns
        -------
        record : dict or None
            The entry's record when it is complete and intact, else None.
        problem : str
            Why the entry is not usable ("" when it is, "absent" when missing).
        """
        path = self.entry_path(kind, key)
        try:
            return self._verify(path, kind, key, schema)
        except (OSError, ValueError) as error:  # unreadable parts: as damaged as missing ones
            return None, f"{path}: {error}"

    def _verify(self, path: Path, kind: str, key: str, schema: dict | None) -> tuple[dict | None, str]:
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None, "absent"
        if not stat.S_ISDIR(mode):
            what = "a symbolic link" if stat.S_ISLNK(mode) else "not a directory"
            return None, f"{path} is {what}, not an entry lussi wrote"
        present, problem = _entry_files(path)
        if problem:
            return None, problem
        manifest = read_json_object(path / MANIFEST, max_bytes=_MAX_JSON_BYTES)
        files = manifest.get("files")
        if not isinstance(files, dict) or not all(
                isinstance(name, str) and isinstance(digest, str) and _DIGEST.fullmatch(digest)
                for name, digest in files.items()):
            return None, f"{path / MANIFEST}: 'files' is not a mapping of file names to sha256 digests"
        if manifest.get("key") != key or manifest.get("kind") != kind:
            return None, f"{path} records key {manifest.get('key')!r}, expected {key!r}"
        present -= {MANIFEST}
        if present != set(files):
            return None, f"{path} holds files {sorted(present ^ set(files))} not matching its manifest"
        for name, expected in files.items():
            actual = sha256_file(path / name)
            if actual != expected:
                return None, f"{path / name}: sha256 {actual} does not match the recorded {expected}"
        record = read_json_object(path / RECORD, max_bytes=_MAX_JSON_BYTES)
        problem = schema_problem(record, schema or {}, str(path / RECORD))
        return (None, problem) if problem else (record, "")

    def get_or_build(
        self,
        kind: str,
        material: dict,
        build: Callable[[Path], dict],
        *,
        rebuild: bool = False,
        schema: dict | None = None,
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
        schema : dict, optional
            Keys the record must hold, each to a type, a tuple of types or a
            nested dict (``{"seconds": float, "table": {"records": list}}``);
            a cached record without that shape is discarded and rebuilt.

        Returns
        -------
        CacheEntry

        Raises
        ------
        CacheError
            The entry's lock is held by another process for longer than the
            lock timeout, or the entry cannot be written (a full or read-only disk).
        """
        key = cache_key({"kind": kind, **material})
        name = f"{kind}-{key}"
        path = self.entry_path(kind, key)
        with self._lock(name):
            # Builds of this entry only happen under its lock, so any temporary
            # directory of it seen now was left by a killed process: never used, removed.
            self._remove_leftovers(name)
            if not rebuild:
                record, problem = self.verify(kind, key, schema=schema)
                if record is not None:
                    return CacheEntry(path, key, record, hit=True)
                if problem != "absent":
                    warnings.warn(f"discarding damaged cache entry: {problem}; rebuilding", CacheWarning, stacklevel=2)
            try:
                self._remove(path)
                record = self._build(name, kind, key, material, build, schema)
            except OSError as error:
                if error.errno not in _WRITE_ERRORS:
                    raise
                raise CacheError(
                    f"cannot write the cache entry {name}: "
                    f"{describe_os_error(error, hint='point --cache-dir or LUSSI_CACHE_DIR at another disk')}"
                    + ("" if self.root.as_posix() in str(error.filename) else f" (cache directory {self.root})")
                ) from None
            return CacheEntry(path, key, record, hit=False)

    def _build(self, name: str, kind: str, key: str, material: dict, build, schema) -> dict:
        temp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=self.root))
        try:
            record = build(temp)
            problem = schema_problem(record, schema or {}, "the record built")
            if problem:
                raise TypeError(f"{problem} (build of {name})")
            (temp / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
            files = {
                str(p.relative_to(temp)): sha256_file(p) for p in sorted(temp.rglob("*")) if p.is_file()
            }
            manifest = {"kind": kind, "key": key, "material": material, "files": files, "created": time.time()}
            (temp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
            _fsync_tree(temp)
            interrupts.check()  # an interrupt swallowed during the build (in a __del__) must not commit it
            os.rename(temp, self.entry_path(kind, key))
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return record

    def _remove(self, path: Path) -> None:
        if os.path.islink(path) or (os.path.lexists(path) and not path.is_dir()):
            os.unlink(path)  # a link is removed, never what it points to
        elif path.is_dir():
            # Move aside first so a crash mid-delete never leaves a half-entry under the real name.
            trash = Path(tempfile.mkdtemp(prefix=f".trash-{path.name}-", dir=self.root))
            os.rename(path, trash / "entry")
            shutil.rmtree(trash, ignore_errors=True)

    def _remove_leftovers(self, name: str) -> None:
        for leftover in (*self.root.glob(f".tmp-{name}-*"), *self.root.glob(f".trash-{name}-*")):
            if not leftover.is_symlink() and leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)

    def clean_temporary(self) -> int:
        """Remove leftovers of interrupted builds and removals whose entry nobody is building; returns how many.

        Keyed on the entry's lock, never on age: a build that has run for
        hours still holds its lock, so its folder is left alone.
        """
        removed = 0
        for path in self.root.iterdir():
            match = _LEFTOVER.fullmatch(path.name)
            if path.is_symlink() or not path.is_dir() or not (match or _OLD_TRASH.fullmatch(path.name)):
                continue
            if match is None:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
                continue
            with locks.try_hold(self.root / f".{match['name']}.lock") as free:
                if free:
                    shutil.rmtree(path, ignore_errors=True)
                    removed += 1
        return removed

    def entries(self) -> list[dict]:
        """One dict per entry (directory, or link lussi never writes): name, kind, size, whether it verifies."""
        rows = []
        for path in sorted(self.root.iterdir()):
            if path.name.startswith(".") or (path.is_file() and not path.is_symlink()):
                continue
            kind, _, key = path.name.rpartition("-")
            record, problem = self.verify(kind, key)
            files = _entry_files(path)[0] if path.is_dir() and not path.is_symlink() else set()
            rows.append(
                {
                    "name": path.name,
                    "kind": kind,
                    "size_bytes": sum((path / f).stat().st_size for f in files),
                    "ok": record is not None,
                    "problem": problem,
                }
            )
        return rows
