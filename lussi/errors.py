"""Error types shared by the data, cache and command-line layers.

They live here, below every other module, so that the readers in
:mod:`lussi.safe_io`, :mod:`lussi.idx` and :mod:`lussi.validation` can raise
them without importing the modules that use those readers.
"""

from __future__ import annotations

__all__ = ["CacheError", "CacheWarning", "ChecksumError", "DataError", "UsageError"]


class DataError(ValueError):
    """A data file or directory is missing, corrupt or inconsistent."""


class ChecksumError(DataError):
    """A file's sha256 differs from the one it must have.

    Attributes
    ----------
    path : Path
    expected, actual : str
        Hex digests.
    """

    def __init__(self, path, expected: str, actual: str, advice: str = "the file is corrupt or not the original, "
                                                                         "download it again"):
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(f"{path}: checksum mismatch: expected sha256 {expected}, got {actual}; {advice}")


class CacheError(RuntimeError):
    """The cache directory cannot be used safely (unwritable, writable by others, locked too long)."""


class CacheWarning(UserWarning):
    """A cache entry (or one of the cache's own files) was found damaged and is being rebuilt."""


class UsageError(Exception):
    """A problem with the command line's arguments or with a file they name."""
