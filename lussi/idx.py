"""idx files (MNIST's format), read in one bounded, checksummed pass.

The header is read and checked against the file and against a size cap
before any data is: a sparse 3 GiB file with a bad type code is refused after
reading 4 bytes, a header whose dimensions multiply past the cap (or past
2**64) is refused before anything is allocated, and gzip is decompressed as
a stream into a buffer of exactly the declared size, so a 2 MB gzip bomb
never expands beyond the cap. When a digest is given it is computed over the
bytes actually read, so what is checked is what is used.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .errors import ChecksumError, DataError
from .safe_io import open_regular

__all__ = ["IDX_DTYPES", "MAX_IDX_BYTES", "read_idx", "write_idx"]

IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# The largest idx payload read (MNIST's largest file holds 47 MB, EMNIST's 550 MB).
MAX_IDX_BYTES = 1 << 30
# Deflate cannot expand data by more than about 1032:1, so a gzip file smaller than
# declared / 1032 is certainly truncated: refused before the buffer is allocated.
_MAX_DEFLATE_RATIO = 1032
_CHUNK = 1 << 20
_MAX_HEADER = 4 + 4 * 255


class _HashingReader(io.RawIOBase):
    """A raw binary stream that feeds every byte read through sha256."""

    def __init__(self, handle):
        self._handle = handle
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._handle.readinto(buffer)
        if count:
            self.digest.update(memoryview(buffer)[:count])
        return count

    def drain(self) -> str:
        """Read (and hash) what is left; the hex digest of the whole file."""
        for block in iter(lambda: self._handle.read(_CHUNK), b""):
            self.digest.update(block)
        return self.digest.hexdigest()


def _read_exactly(stream, size: int, path: Path, what: str) -> bytes:
    data = bytearray()
    while len(data) < size:
        block = stream.read(size - len(data))
        if not block:
            raise DataError(f"{path}: truncated {what} ({len(data)} of {size} bytes)")
        data += block
    return bytes(data)


def _header(stream, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, header size) from the first bytes of ``stream``."""
    start = stream.read(4)
    if len(start) < 4:
        raise DataError(f"{path}: too short to be an idx file ({len(start)} bytes)")
    if start[0] != 0 or start[1] != 0:
        raise DataError(f"{path}: bad idx magic number 0x{start.hex()} (an idx file starts with two zero bytes)")
    type_code, ndim = start[2], start[3]
    if type_code not in IDX_DTYPES:
        raise DataError(f"{path}: unknown idx data type code 0x{type_code:02x}")
    if ndim == 0:
        raise DataError(f"{path}: idx header declares zero dimensions")
    dims = _read_exactly(stream, 4 * ndim, path, "idx header")
    shape = tuple(int.from_bytes(dims[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    return IDX_DTYPES[type_code], shape, 4 + 4 * ndim


def _check_size(path: Path, shape, dtype, header_size: int, file_size: int, gz: bool, max_bytes: int) -> int:
    """Bytes of data the header declares, refused when over the cap or impossible for this file."""
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    # Zero items along one axis do not make 2**32 along the others a sensible header (NumPy refuses the shape).
    if max(expected, math.prod(d or 1 for d in shape) * dtype.itemsize) > max_bytes:
        raise DataError(
            f"{path}: header declares shape {shape} ({expected} bytes of data), more than the "
            f"{max_bytes}-byte limit for an idx file; the header is corrupt or the file is not a dataset"
        )
    if not gz and file_size != header_size + expected:
        actual = file_size - header_size
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{path}: {problem}: header declares shape {shape} ({expected} bytes of data), file holds {actual}"
        )
    if gz and expected > _MAX_DEFLATE_RATIO * file_size + 1024:
        raise DataError(
            f"{path}: truncated: header declares shape {shape} ({expected} bytes of data), more than a "
            f"{file_size}-byte gzip file can hold"
        )
    return expected


def _payload(stream, path: Path, expected: int, shape, header_size: int) -> np.ndarray:
    buffer = np.empty(expected, dtype=np.uint8)
    view, filled = memoryview(buffer), 0
    while filled < expected:
        count = stream.readinto(view[filled : filled + _CHUNK])
        if not count:
            raise DataError(
                f"{path}: truncated: header declares shape {shape} ({expected} bytes of data), file holds {filled}"
            )
        filled += count
    if stream.read(1):
        if isinstance(stream, gzip.GzipFile):
            _drain_gzip(stream)  # extra output from a damaged deflate stream is corruption, not extra data
        raise DataError(f"{path}: has trailing bytes: header declares shape {shape} ({expected} bytes of data)")
    return buffer


def _drain_gzip(stream, limit: int = 16 << 20) -> None:
    """Decompress (and drop) up to ``limit`` more bytes, so that a corrupt stream's CRC check can fail."""
    for _ in range(limit // _CHUNK):
        if not stream.read(_CHUNK):
            return


def _parse(raw: _HashingReader, path: Path, gz: bool, file_size: int, max_bytes: int) -> np.ndarray:
    stream = gzip.GzipFile(fileobj=io.BufferedReader(raw), mode="rb") if gz else raw
    try:
        dtype, shape, header_size = _header(stream, path)
        expected = _check_size(path, shape, dtype, header_size, file_size, gz, max_bytes)
        buffer = _payload(stream, path, expected, shape, header_size)
    except (OSError, EOFError, zlib.error) as error:
        if not gz:
            raise DataError(f"{path}: cannot be read ({error})") from None
        raise DataError(
            f"{path}: corrupt or truncated gzip data ({error}); delete the file and download it again"
        ) from None
    array = buffer.view(dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike, *, sha256: str | None = None, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read one idx file (gzipped or not) and validate its header.

    Parameters
    ----------
    path : path-like
        An idx file such as ``train-images-idx3-ubyte.gz``. Gzip is detected
        from the content, not the name.
    sha256 : str, optional
        Expected hex digest of the file's bytes, checked over exactly the
        bytes read; a mismatch is reported before any format problem.
    max_bytes : int
        Largest data payload accepted (after decompression).

    Returns
    -------
    ndarray
        The array with the dimensions and dtype the header declares (native
        byte order).

    Raises
    ------
    DataError
        If the file is missing or not a regular file, not gzip-readable, has
        a bad magic number or dtype code, declares more than ``max_bytes``,
        holds fewer or more bytes than its header declares, or does not match
        ``sha256``.
    """
    path = Path(path)
    with open_regular(path, error=DataError) as handle:
        file_size = os.fstat(handle.fileno()).st_size
        gz = os.pread(handle.fileno(), 2, 0) == b"\x1f\x8b"
        raw = _HashingReader(handle)
        try:
            array = _parse(raw, path, gz, file_size, max_bytes)
        except DataError:
            # A tampered file is reported as such; one larger than any valid file is not hashed whole for that.
            if sha256 is not None and file_size <= max_bytes + _MAX_HEADER:
                _check_digest(path, raw.drain(), sha256)
            raise
        if sha256 is not None:
            _check_digest(path, raw.drain(), sha256)
    return array


def _check_digest(path: Path, actual: str, expected: str) -> None:
    if actual != expected.lower():
        raise ChecksumError(path, expected.lower(), actual)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an idx file (gzipped when ``path`` ends in ``.gz``).

    The inverse of :func:`read_idx`; used to build small synthetic datasets
    (tests, examples) in MNIST's layout.

    Parameters
    ----------
    path : path-like
    array : ndarray
        uint8, int8, int16, int32, float32 or float64, at least 1-D.

    Returns
    -------
    Path
    """
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("=").str: k for k, v in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("=").str)
    if code is None or array.ndim == 0:
        raise ValueError(f"cannot write dtype {array.dtype} with {array.ndim} dimensions as idx")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(IDX_DTYPES[code], copy=False).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload, mtime=0) if path.suffix == ".gz" else payload)
    return path
