"""Checks and resolution of the command line's options, done once before any work.

Every user path (``--dataset DIR``, ``--cache-dir``, ``--explain``,
``--data-dir``, ``LUSSI_CACHE_DIR``, ``LUSSI_DATA_DIR``) is made absolute
against the working directory of the invocation here, so that every command,
and the Jupyter kernel of ``lussi render`` (which runs in the report's
folder), resolves it the same way. Empty values are refused instead of
meaning "everything" or "the current folder", and outputs that cannot be
written are reported before a model is trained.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import UsageError
from .locks import TIMEOUT_ENV, parse_timeout
from .safe_io import describe_os_error, read_text

__all__ = ["DATASET_NAMES", "check_output_dir", "check_report_files", "prepare"]

DATASET_NAMES = ("mnist", "digits")
_EMPTY = {
    "cache_dir": "give a directory, or leave the option out for the default cache",
    "dataset": "give mnist, digits or a directory of idx files",
    "models": "give model names (knn_seed,knn,knn_tuned,mlp,cnn), or leave the option out for all of them",
    "explain": "give a directory for the pages",
    "data_dir": "give a directory, or leave the option out for the default",
    "to": "give html, revealjs or both",
    "lock_timeout": "give a number of seconds",
}
_PATH_VARIABLES = ("LUSSI_CACHE_DIR", "LUSSI_DATA_DIR")
_MAX_REPORT_BYTES = 16 << 20


def _absolute(value: str) -> str:
    return str(Path(value).absolute())


def _models(value: str) -> tuple[str, ...]:
    names = [part.strip() for part in value.split(",")]
    if any(not name for name in names):
        raise UsageError(f"--models {value!r} has an empty name; separate model names by single commas")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"--models names {', '.join(twice)} more than once; list each model once")
    return tuple(names)


def _check_environment() -> None:
    for variable in _PATH_VARIABLES:
        if os.environ.get(variable) == "":
            raise UsageError(f"{variable} is set but empty; unset it or set it to a directory")
    if TIMEOUT_ENV in os.environ:
        parse_timeout(os.environ[TIMEOUT_ENV], TIMEOUT_ENV)


def prepare(args) -> None:
    """Refuse empty or malformed options and make every path option absolute, in place on ``args``."""
    for option, hint in _EMPTY.items():
        value = getattr(args, option, None)
        if value is not None and not str(value).strip():
            raise UsageError(f"--{option.replace('_', '-')} is empty: {hint}")
    _check_environment()
    if getattr(args, "lock_timeout", None) is not None:
        args.lock_timeout = parse_timeout(args.lock_timeout, "--lock-timeout")
    if getattr(args, "models", None) is not None:
        args.models = _models(args.models)
    for option in ("cache_dir", "data_dir", "explain"):
        if getattr(args, option, None) is not None:
            setattr(args, option, _absolute(getattr(args, option)))
    if getattr(args, "dataset", None) is not None and args.dataset not in DATASET_NAMES:
        given, args.dataset = args.dataset, _absolute(args.dataset)
        try:
            found = stat.S_ISDIR(os.stat(args.dataset).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            found = False
        except OSError as error:  # an over-long name, a symlink loop
            raise UsageError(f"--dataset {given}: {describe_os_error(error, path=False)}") from None
        if not found:
            raise UsageError(f"unknown dataset {given!r}: there is no directory {args.dataset}; use 'mnist', "
                             "'digits' or a directory holding the four idx files")


def export_for_kernel(args) -> None:
    """Put the cache, data and lock settings where a report's kernel (another process, another folder) reads them."""
    for variable in _PATH_VARIABLES:
        if os.environ.get(variable):
            os.environ[variable] = _absolute(os.environ[variable])
    if args.cache_dir is not None:
        os.environ["LUSSI_CACHE_DIR"] = args.cache_dir
    if args.lock_timeout is not None:
        os.environ[TIMEOUT_ENV] = repr(args.lock_timeout)


def check_output_dir(path: str | os.PathLike, option: str) -> None:
    """Fail now, before any model is trained, if ``path`` cannot become a directory this process can write."""
    path = Path(path)
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    try:
        limit = os.pathconf(existing, "PC_NAME_MAX")
        mode = os.stat(existing).st_mode
    except OSError as error:
        raise UsageError(f"{option} {path}: {describe_os_error(error)}") from None
    too_long = [part for part in path.parts if len(part.encode()) > limit]
    if too_long or len(os.fsencode(path)) >= os.pathconf(existing, "PC_PATH_MAX"):
        raise UsageError(f"{option} {path}: the path is too long (a name may have {limit} bytes); "
                         "use a shorter directory name")
    if not stat.S_ISDIR(mode):
        raise UsageError(f"{option} {path}: {existing} is a file, not a directory; give a directory for the output")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot write in {existing}: {describe_os_error(error, path=False)}") \
            from None


def check_report_files(qmd: Path) -> Path:
    """The report as an absolute path, after checking it and its ``_quarto.yml`` are regular UTF-8 text files."""
    if not os.path.lexists(qmd):
        raise UsageError(f"{qmd} not found: run lussi render from the project directory or pass the .qmd path")
    qmd = qmd.absolute()
    read_text(qmd, max_bytes=_MAX_REPORT_BYTES, error=UsageError)
    for name in ("_quarto.yml", "_quarto.yaml"):
        if os.path.lexists(qmd.parent / name):
            read_text(qmd.parent / name, max_bytes=_MAX_REPORT_BYTES, error=UsageError)
    return qmd
