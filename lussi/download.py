"""Downloading MNIST from the canonical https mirrors: verified, capped and atomic.

``lussi download`` calls :func:`download_mnist`; :func:`lussi.data.load_dataset`
calls it when asked to (``download=True``). The four files and their digests are
:data:`lussi.data.MNIST_FILES`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Iterable

from . import progress
from .data import MNIST_FILES
from .errors import DataError
from .idx_folder import sha256_file
from .safe_io import atomic_writer

__all__ = ["MAX_DOWNLOAD_BYTES", "MNIST_MIRRORS", "download_mnist"]

# Canonical https mirrors of the original files (yann.lecun.com itself serves
# plain http only and often refuses automated downloads, so it is not listed).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# A download larger than this is not MNIST: stop reading rather than fill the disk.
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024


def download_mnist(
    directory: str | os.PathLike,
    *,
    mirrors: Iterable[str] = MNIST_MIRRORS,
    files: dict[str, str] | None = None,
    opener: Callable | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    timeout: float = 60.0,
) -> list[Path]:
    """Download the MNIST idx files into ``directory``, verified and atomic.

    Each file is tried on each mirror in turn; only https URLs are used. A
    file is streamed to a temporary file beside its destination, capped at
    ``max_bytes``, and renamed into place only when its sha256 matches, so an
    interrupted or corrupt download never leaves a file that looks complete.
    Files already present with the right digest are kept.

    Parameters
    ----------
    directory : path-like
        Destination; created if missing.
    mirrors : iterable of str
        Base URLs ending in ``/``; each must use https.
    files : dict of str to str, optional
        File name to expected sha256; defaults to :data:`MNIST_FILES`.
    opener : callable, optional
        ``opener(url, timeout=...)`` returning a file-like response;
        defaults to urllib's opener with redirects restricted to https
        (tests pass a fake).
    max_bytes : int
        Refuse a response larger than this.
    timeout : float
        Seconds per connection attempt.

    Returns
    -------
    list of Path
        The verified files.

    Raises
    ------
    DataError
        If a mirror is not https, or no mirror delivers a file with the right
        digest (the message lists each mirror's failure).
    """
    import urllib.request

    directory = Path(directory)
    files = dict(MNIST_FILES if files is None else files)
    mirrors = list(mirrors)
    for mirror in mirrors:
        if urllib.parse.urlparse(mirror).scheme != "https":
            raise DataError(f"refusing mirror {mirror!r}: only https mirrors are allowed")
    opener = opener or _https_only_opener()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, expected in files.items():
        target = directory / name
        if target.is_file() and sha256_file(target) == expected:
            written.append(target)
            continue
        for stale in directory.glob(f".{name}.*.part"):  # left by a download that was killed
            stale.unlink(missing_ok=True)
        failures = []
        for mirror in mirrors:
            url = urllib.parse.urljoin(mirror, name)
            try:
                _download_one(url, target, expected, opener, max_bytes, timeout)
            except (OSError, DataError) as error:
                failures.append(f"{url}: {error}")
                continue
            written.append(target)
            break
        else:
            raise DataError(f"could not download {name}:\n  " + "\n  ".join(failures))
    return written


def _https_only_opener():
    """``urlopen`` that refuses a redirect away from https (the default follows https -> http)."""
    import urllib.request

    class HttpsOnlyRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if urllib.parse.urlparse(newurl).scheme != "https":
                raise DataError(f"refusing redirect to {newurl}: only https is allowed")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(HttpsOnlyRedirect).open


def _download_one(url, target: Path, expected: str, opener, max_bytes: int, timeout: float):
    digest = hashlib.sha256()
    size = 0
    # The ".part" name lets a later run find what a killed download left (see above).
    with atomic_writer(target, prefix=f".{target.name}.", suffix=".part") as out, \
            opener(url, timeout=timeout) as response:
        total = getattr(response, "length", None)
        if total is not None and total > max_bytes:
            raise DataError(f"response is {total} bytes, over the {max_bytes}-byte cap")
        with progress.bar(desc=target.name, total=total, unit="B", unit_scale=True) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                size += len(block)
                if size > max_bytes:
                    raise DataError(f"response exceeds the {max_bytes}-byte cap")
                digest.update(block)
                out.write(block)
                bar.update(len(block))
        actual = digest.hexdigest()
        if actual != expected:
            raise DataError(f"checksum mismatch: expected sha256 {expected}, got {actual}")
