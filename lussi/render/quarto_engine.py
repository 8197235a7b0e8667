"""The ``quarto`` engine: run the real Quarto CLI on the report, all-or-nothing, with a readable terminal.

One ``quarto render`` renders every requested format. When they are all the
document's formats, Quarto is called once without ``--to``, so ``_quarto.yml``'s
``execute: cache`` lets the second format reuse the first's executed notebook
(its ``pre-render`` step empties that cache when a render starts).

Quarto renders in the document's folder and then moves the files to a temporary
``--output-dir`` beside the final ones; they are moved into place only when the
whole render succeeded, and whatever a failed or interrupted render wrote is
deleted, so no file that looks complete is left behind. Quarto's output is
passed through to stderr without the lines that say nothing to a reader (the
kernel's TCP notice, TensorFlow's start-up banners). A failing cell is reported
as one line naming the cell and its lines in the ``.qmd``, parsed from Quarto's
output.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .errors import RenderError, strip_ansi

__all__ = ["cell_failure", "declared_formats", "filter_noise", "render_with_quarto"]

# Lines (or, for the kernel's notice, the part of a line) that Quarto passes through from the kernel.
_NOISE = [
    re.compile(r"\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption\.[^\n\r]*"),
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"),
    re.compile(r"^[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] .*$"),  # absl/TensorFlow C++ log lines
    re.compile(r"^.*oneDNN custom operations are on.*$"),
    re.compile(r"^.*This TensorFlow binary is optimized to use available CPU instructions.*$"),
    re.compile(r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$"),
    re.compile(r"^.*TqdmWarning: IProgress not found.*$"),
    re.compile(r"^\s*from \.autonotebook import tqdm as notebook_tqdm$"),
]
_CELL_FAILURE = re.compile(
    r"An error occurred while executing the following cell:\n-{6,}\n(?P<source>.*?)\n-{6,}\n(?P<traceback>.*)",
    re.S,
)
_QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def filter_noise(line: str) -> str | None:
    """``line`` without the noise Quarto relays from the kernel; None when nothing of it is left."""
    plain = strip_ansi(line)
    kept = plain
    for pattern in _NOISE:
        kept = pattern.sub("", kept)
    if kept == plain:
        return line  # untouched: keep Quarto's colours
    return kept if kept.strip() else None


def declared_formats(project: dict, front_matter: dict) -> set[str]:
    """The formats a bare ``quarto render`` writes: the front matter's ``format:`` names, else ``_quarto.yml``'s."""
    for config in (front_matter, project):
        formats = config.get("format") if isinstance(config, dict) else None
        if isinstance(formats, str):
            return {formats}
        if isinstance(formats, dict) and formats:
            return {str(name) for name in formats}
    return set()


def cell_failure(output: str, document, qmd: Path) -> str | None:
    """The one-line message for a failing cell in Quarto's ``output``, or None when no cell failed.

    Quarto prints the failing cell's source between two dashed rules, then the
    traceback, whose last line is ``ExceptionType: message``; the source is
    matched against the ``.qmd``'s cells to name the cell and its lines.
    """
    match = _CELL_FAILURE.search(strip_ansi(output))
    if match is None:
        return None
    source = match["source"].strip()
    lines = [line.strip() for line in match["traceback"].splitlines()]
    lines = [line for line in lines if line and not line.startswith(("WARN:", "ERROR:"))]
    error = next((line for line in reversed(lines) if re.match(r"^[A-Za-z_][\w.]*: ", line)), None)
    error = error or (lines[-1] if lines else "the cell raised an error")
    cell = next((c for c in document.cells if c.source.strip() == source), None)
    where = cell.describe() if cell is not None else f"a cell starting {source.splitlines()[0][:60]!r}"
    return f"{where} of {qmd.name} failed: {error}"


@contextlib.contextmanager
def _project_lock(directory: Path):
    """One Quarto render at a time per project: they would share its .quarto_ipynb files and Jupyter cache."""
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"lussi-quarto-{os.getuid()}-{digest}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if this process dies
        yield
    finally:
        os.close(fd)


class _Relay:
    """Passes Quarto's output to stderr line by line without noise, and keeps it for error messages."""

    def __init__(self, show: bool):
        self.show = show
        self.pending = ""
        self.transcript: list[str] = []

    def feed(self, text: str) -> None:
        self.transcript.append(text)
        self.pending += text
        while True:
            cut = min((i for i in (self.pending.find("\n"), self.pending.find("\r")) if i >= 0), default=-1)
            if cut < 0:
                return
            segment, end, self.pending = self.pending[:cut], self.pending[cut], self.pending[cut + 1 :]
            kept = filter_noise(segment)
            if kept is not None:
                self._write(kept + end)

    def flush(self) -> None:
        """Show a partial line (Quarto's "Cell 3/40 ...") once the output has paused."""
        if self.pending:
            kept = filter_noise(self.pending)
            self.pending = ""
            if kept:
                self._write(kept)

    def _write(self, text: str) -> None:
        if self.show:
            sys.stderr.write(text)
            sys.stderr.flush()

    def text(self) -> str:
        return "".join(self.transcript)


def _run(cmd: list[str], cwd: Path, env: dict, show: bool, timeout: float | None) -> tuple[int, str]:
    relay = _Relay(show)
    process = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,  # so that an interrupt or a timeout can stop deno, python and the kernel together
    )
    deadline = None if timeout is None else time.monotonic() + timeout
    fd = process.stdout.fileno()
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0.3)
            if not ready:
                relay.flush()
            else:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                relay.feed(chunk.decode("utf-8", errors="replace"))
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(cmd, timeout)
        relay.flush()
        return process.wait(), relay.text()
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        process.stdout.close()


def _quarto_value(value) -> str:
    # Quarto parses -P values as YAML; JSON is valid YAML and keeps types.
    return value if isinstance(value, str) else json.dumps(value)


def _invocations(qmd: Path, formats, declared, params, output_dir: Path) -> list[list[str]]:
    # No --quiet when progress is off: Quarto would then print nothing at all, not even a failing cell.
    base = ["render", str(qmd), "--output-dir", str(output_dir)]
    for key, value in params.items():
        base += ["-P", f"{key}:{_quarto_value(value)}"]
    if set(formats) == declared:
        return [base]  # one execution: the second format reads the first's notebook from the Jupyter cache
    return [base + ["--to", fmt] for fmt in formats]


def _render_once(cmd: list[str], qmd: Path, document, env: dict, progress: bool, timeout) -> None:
    """Run one ``quarto render``; a failure is one line naming the cell, or Quarto's last error."""
    try:
        status, output = _run(cmd, qmd.parent, env, progress, timeout)
    except subprocess.TimeoutExpired:
        raise RenderError(f"quarto render took longer than {timeout:.0f} s and was stopped") from None
    if status != 0:
        message = cell_failure(output, document, qmd)
        tail = strip_ansi(output).strip()[-2000:]
        if message is None:
            errors = [line for line in tail.splitlines() if line.startswith("ERROR")]
            message = f"quarto render failed with exit code {status}" + (f": {errors[-1]}" if errors else "")
        raise RenderError(message, traceback=tail or None)


def render_with_quarto(quarto, qmd: Path, document, project, formats, params, paths, *, progress, timeout) -> None:
    """Render ``formats`` of ``qmd`` with the Quarto CLI at ``quarto`` into ``paths`` (all or nothing).

    Raises
    ------
    RenderError
        Quarto failed: a cell raised (one line naming the cell), or anything else
        (the message gives the exit code, ``traceback`` the end of Quarto's output).
    """
    env = {**os.environ, **_QUIET_ENV}
    # The kernel must run in this Python, the one that has the document's imports; Quarto would otherwise pick its own.
    env["QUARTO_PYTHON"] = sys.executable
    declared = declared_formats(project, document.front_matter) or set(formats)
    per_call = None if timeout is None else timeout * len(formats)
    done = False
    with _project_lock(qmd.parent):
        stage = Path(tempfile.mkdtemp(prefix=".lussi-render-", dir=paths[formats[0]].parent))
        try:
            for args in _invocations(qmd, formats, declared, params, stage):
                _render_once([quarto, *args], qmd, document, env, progress, per_call)
            produced = {fmt: stage / paths[fmt].name for fmt in formats}
            missing = [str(path) for path in produced.values() if not path.is_file()]
            if missing:
                raise RenderError(f"quarto render succeeded but did not write {', '.join(missing)}")
            for fmt, path in produced.items():
                shutil.move(path, paths[fmt])  # a rename when both lie on one file system
            done = True
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            if not done:  # what Quarto wrote in place before it failed or was stopped
                for fmt in formats:
                    (qmd.parent / paths[fmt].name).unlink(missing_ok=True)
            for leftover in qmd.parent.glob(f"{qmd.stem}.quarto_ipynb*"):
                leftover.unlink(missing_ok=True)
