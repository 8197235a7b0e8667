"""Files that may be wrong in type as well as in content, and writes that never leave half a file.

Every file lussi reads can be something other than what its name promises: a
directory, a FIFO (reading it would block forever), a dangling symlink, text
that is not UTF-8 or starts with a byte-order mark, a file far larger than any
real one. The readers here turn each of those into one error that names the
file, says what is wrong and what to do, raised as the caller's error type
(``DataError`` for data, ``UsageError`` for command-line inputs, ...).

:func:`describe_os_error` words an ``OSError`` (full disk, read-only or
immutable folder, over-long path) for the one-line messages of the CLI.

It is also the one home of the writes lussi makes outside its cache:
:func:`atomic_writer` (a temporary file beside the target, renamed into place
only when the writing finished) and :func:`png_data_uri` (a picture as an
``<img src>`` that needs no file beside the page). The renderer,
:mod:`lussi.render`, keeps its own writer so that it can stand alone.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import io
import errno
import json
import os
import stat
import tempfile
import unicodedata
from pathlib import Path
from typing import Sequence

__all__ = [
    "MAX_TEXT_BYTES",
    "atomic_write_text",
    "atomic_writer",
    "decode_text",
    "describe_os_error",
    "open_regular",
    "png_data_uri",
    "read_bytes",
    "read_json_object",
    "read_text",
    "unique_file_names",
]

# No text file lussi reads (classes.txt, SHA256SUMS, a cache record) comes near this;
# a bigger one is a mistake or an attack, and is refused before it is read.
MAX_TEXT_BYTES = 1 << 20

_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space or use a directory on another disk",
    errno.EDQUOT: "the disk quota is used up: free some space or use a directory on another disk",
    errno.EROFS: "the file system is read-only: use a directory on a writable disk",
    errno.EACCES: "permission denied: use a directory you can write, or fix its permissions",
    errno.EPERM: "not permitted (the file or folder may be immutable, see lsattr): use another directory",
    errno.ENAMETOOLONG: "the path is too long: use a shorter directory or file name",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EISDIR: "it is a directory where a file was expected",
    errno.ELOOP: "too many levels of symbolic links (a symlink loop?)",
    errno.EIO: "input/output error: the disk may be failing",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
}


def describe_os_error(error: OSError, *, hint: str = "", path: bool = True) -> str:
    """One line for an ``OSError``: the path(s), the system's reason and what to do.

    Parameters
    ----------
    error : OSError
    hint : str, optional
        Which option or variable chooses the failing location, appended to the advice.
    path : bool
        Start with the path(s) the error names (False when the caller already did).

    Returns
    -------
    str
    """
    names = (error.filename, error.filename2) if path else ()
    where = " -> ".join(str(name) for name in names if name is not None)
    reason = error.strerror or str(error) or type(error).__name__
    advice = _ADVICE.get(error.errno, "")
    text = f"{where}: {reason}" if where else reason
    if advice:
        text += f" ({advice}{'; ' + hint if hint else ''})"
    elif hint:
        text += f" ({hint})"
    return text


def open_regular(path: str | os.PathLike, *, error: type[Exception] = ValueError):
    """Open ``path`` for binary reading, refusing anything that is not a regular file.

    A FIFO is opened non-blocking so that merely looking at it cannot hang.

    Parameters
    ----------
    path : path-like
    error : exception type
        Raised (with a message naming ``path``) when the file is missing or not a regular file.

    Returns
    -------
    io.FileIO
        Unbuffered; the caller closes it.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if os.path.islink(path):
            raise error(f"{path}: a symbolic link to a file that does not exist; fix or remove the link") from None
        raise error(f"{path}: file not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot be opened: {describe_os_error(exc)}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, socket or device)"
        raise error(f"{path}: is {kind}, where a file was expected; replace it by the file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb", buffering=0)


def read_bytes(path: str | os.PathLike, *, max_bytes: int = MAX_TEXT_BYTES,
               error: type[Exception] = ValueError) -> bytes:
    """The bytes of a regular file no larger than ``max_bytes`` (see :func:`open_regular`)."""
    with open_regular(path, error=error) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise error(f"{path}: {size} bytes, more than the {max_bytes} a file of this kind can hold")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while being read
        raise error(f"{path}: more than the {max_bytes} bytes a file of this kind can hold")
    return data


def decode_text(data: bytes, path: str | os.PathLike, *, error: type[Exception] = ValueError) -> str:
    """Decode ``data`` (the content of ``path``) as UTF-8 text, with a message naming the file otherwise.

    A byte-order mark is refused rather than stripped: it is invisible, and
    left in place it would become part of the first name or line.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise error(f"{path}: is UTF-16 text; save it as UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        raise error(f"{path}: starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without BOM")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None
    if "\x00" in text:
        raise error(f"{path}: holds a NUL byte at offset {data.index(0)}, so it is not a text file")
    return text


def read_text(path: str | os.PathLike, *, max_bytes: int = MAX_TEXT_BYTES,
              error: type[Exception] = ValueError) -> str:
    """A small UTF-8 text file (see :func:`read_bytes` and :func:`decode_text`)."""
    return decode_text(read_bytes(path, max_bytes=max_bytes, error=error), path, error=error)


def read_json_object(path: str | os.PathLike, *, max_bytes: int = MAX_TEXT_BYTES,
                     error: type[Exception] = ValueError) -> dict:
    """A JSON file whose top level is an object; anything else raises ``error`` naming the file."""
    text = read_text(path, max_bytes=max_bytes, error=error)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise error(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise error(f"{path}: holds a JSON {type(value).__name__}, not an object")
    return value


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, mode: int = 0o644, prefix: str = ".lussi-", suffix: str = ".tmp"):
    """Open a binary temporary file beside ``path``; on a clean exit it replaces ``path``, otherwise it is removed.

    The data are flushed and fsynced before the rename, so ``path`` is either
    the old file or the whole new one, even if the run is killed. The default
    temporary name is short (``.lussi-XXXXXXXX.tmp``) so that a destination
    whose name is near the 255-byte limit can still be written.

    Parameters
    ----------
    path : path-like
        The destination.
    mode : int, default 0o644
        Its permissions (``mkstemp`` makes temporary files private).
    prefix, suffix : str
        Of the temporary file's name, for callers that clean up leftovers by name.

    Yields
    ------
    file object
        Opened for binary writing.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def atomic_write_text(path: str | os.PathLike, text: str, *, mode: int = 0o644) -> Path:
    """Write ``text`` as UTF-8 to ``path`` with :func:`atomic_writer`."""
    with atomic_writer(path, mode=mode) as stream:
        stream.write(text.encode("utf-8"))
    return Path(path)


def png_data_uri(picture) -> str:
    """A PIL image as an optimised PNG ``data:`` URI, for pages that must carry their pictures."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _clip_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def unique_file_names(stems: Sequence[str], suffix: str, *, max_bytes: int = 200) -> list[str]:
    """One file name per stem, distinct even on case-insensitive file systems.

    Stems used more than once are numbered ``01-stem``, ``02-stem``...; a name
    that still collides (``01-a.png`` beside two ``a`` files) gets ``-2``,
    ``-3``... Names are cut to ``max_bytes`` bytes of UTF-8 (the usual limit
    is 255), and control characters are replaced.

    Parameters
    ----------
    stems : sequence of str
    suffix : str
        Such as ``".html"``.
    max_bytes : int

    Returns
    -------
    list of str
        In the order of ``stems``.
    """
    room = max_bytes - len(suffix.encode("utf-8")) - 8  # keeps space for "01-" and "-NNN"
    cleaned = []
    for stem in stems:
        stem = "".join("_" if unicodedata.category(c).startswith("C") else c for c in str(stem))
        stem = _clip_utf8(stem.strip(), room).strip(". ") or "image"
        cleaned.append(stem)
    folded = [stem.casefold() for stem in cleaned]
    names, taken = [], set()
    for i, stem in enumerate(cleaned):
        base = stem if folded.count(folded[i]) == 1 else f"{i + 1:02d}-{stem}"
        candidate, number = base + suffix, 2
        while candidate.casefold() in taken:
            candidate, number = f"{base}-{number}{suffix}", number + 1
        taken.add(candidate.casefold())
        names.append(candidate)
    return names
