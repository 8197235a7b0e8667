"""Render a Quarto document to HTML and reveal.js slides, with either engine.

Two engines produce the same files:

``quarto``
    the real Quarto CLI (:mod:`.quarto_engine`), used when ``quarto`` is on
    PATH: one ``quarto render FILE -P key:value ...`` for both formats, which
    execute the cells once through Quarto's Jupyter cache.
``builtin``
    the document rendered without Quarto (:mod:`.builtin_engine`): the Python
    cells run once in a Jupyter kernel (nbclient) and the executed outputs are
    converted by pandoc with the Lua filter ``filters/quarto.lua`` (callouts,
    conditional content, figure/table cross-references) and vendored reveal.js 5
    under ``assets/revealjs``.

Both outputs are single self-contained files (``--embed-resources``) that open
offline. Output files are never left half-written: existing outputs are deleted
before rendering starts (so a failed render cannot leave an old report that
looks new) and each new file is written to a temporary name in the same
directory and moved into place only once pandoc or Quarto succeeded.
"""

from __future__ import annotations

import keyword
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .builtin_engine import execute_builtin, render_builtin
from .errors import RenderError
from .qmd import FORMATS, QmdSyntaxError, format_config, load_project_config, parse_qmd
from .quarto_engine import render_with_quarto

__all__ = ["ENGINES", "RenderResult", "execute_report", "output_paths", "render_report"]

ENGINES = ("auto", "builtin", "quarto")
_DEFAULT_SUFFIX = {"html": ".html", "revealjs": "-slides.html"}


@dataclass(frozen=True)
class RenderResult:
    """What :func:`render_report` produced.

    Attributes
    ----------
    outputs : dict of str to Path
        Output file per format (``"html"``, ``"revealjs"``).
    engine : {"builtin", "quarto"}
        The engine that ran.
    seconds : float
        Wall-clock time of the whole render.
    """

    outputs: dict
    engine: str
    seconds: float


def _read_document(qmd: Path):
    try:
        text = qmd.read_text(encoding="utf-8-sig")  # a leading byte-order mark is not part of the text
    except OSError as exc:
        raise RenderError(f"cannot read {qmd}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise RenderError(
            f"{qmd} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it with UTF-8 encoding"
        ) from None
    try:
        return parse_qmd(text, source_name=qmd.name), load_project_config(qmd)
    except QmdSyntaxError as exc:
        raise RenderError(str(exc)) from None


def output_paths(qmd, formats=FORMATS, *, output_dir=None) -> dict:
    """Where each format's output goes, as Quarto would write it.

    ``output-file`` from the merged ``_quarto.yml`` + front matter configuration
    wins; the defaults are ``<stem>.html`` and ``<stem>-slides.html``.

    Parameters
    ----------
    qmd : str or Path
        The ``.qmd`` document.
    formats : sequence of {"html", "revealjs"}
    output_dir : str or Path, optional
        Directory for the outputs; default the document's directory.

    Returns
    -------
    dict of str to Path
    """
    qmd = Path(qmd)
    document, project = _read_document(qmd)
    return _output_paths(qmd, document.front_matter, project, tuple(formats), output_dir)


def _output_paths(qmd, front_matter, project, formats, output_dir) -> dict:
    directory = Path(output_dir) if output_dir is not None else qmd.parent
    paths = {}
    for fmt in formats:
        name = format_config(project, front_matter, fmt).get("output-file")
        if not name:
            name = qmd.stem + _DEFAULT_SUFFIX[fmt]
        elif Path(str(name)).name != str(name):
            raise RenderError(f"output-file for {fmt} must be a file name without directories, got {name!r}")
        elif not Path(str(name)).suffix:
            name = f"{name}.html"
        paths[fmt] = (directory / str(name)).resolve()
    if len(set(paths.values())) < len(paths):
        raise RenderError(
            f"html and revealjs would both be written to {paths[formats[0]].name}; "
            "set a different `output-file:` for one of them under `format:` in _quarto.yml or the front matter"
        )
    return paths


def _validate(qmd, engine, formats, params, timeout):
    qmd = Path(qmd)
    if qmd.suffix != ".qmd":
        raise ValueError(f"qmd must be a .qmd file, got {str(qmd)!r}")
    if not qmd.is_file():
        raise FileNotFoundError(f"no such report: {qmd}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if isinstance(formats, str):
        formats = (formats,)
    formats = tuple(formats)
    if not formats:
        raise ValueError("formats must name at least one of 'html', 'revealjs', got an empty sequence")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"formats must be among {FORMATS}, got {unknown}")
    if len(set(formats)) != len(formats):
        raise ValueError(f"formats must not repeat, got {formats}")
    params = dict(params or {})
    for key in params:
        if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
            raise ValueError(f"parameter names must be Python identifiers, got {key!r}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    return qmd.resolve(), formats, params


def _quarto_for(engine: str) -> str | None:
    """The Quarto CLI to render with, or None for the built-in engine."""
    quarto = shutil.which("quarto")
    if engine == "quarto" and quarto is None:
        raise RenderError("engine='quarto' but `quarto` is not on PATH; install Quarto or use engine='builtin'")
    return quarto if engine in ("quarto", "auto") else None


def render_report(qmd, *, engine="auto", formats=FORMATS, params=None, output_dir=None, progress=True,
                  timeout=None) -> RenderResult:
    """Render a Quarto report to self-contained HTML and/or reveal.js slides.

    Parameters
    ----------
    qmd : str or Path
        The ``.qmd`` document. Its directory is the kernel's working directory
        and where ``_quarto.yml`` is read from.
    engine : {"auto", "builtin", "quarto"}, default "auto"
        ``"auto"`` uses Quarto when ``quarto`` is on PATH, else the built-in engine.
    formats : sequence of {"html", "revealjs"}, default both
    params : dict, optional
        Report parameters. The built-in engine assigns them (``repr``) in a cell
        inserted after the cell tagged ``parameters`` (papermill/Quarto style);
        Quarto receives ``-P key:value``.
    output_dir : str or Path, optional
        Where to write the outputs; default the document's directory. File names
        come from each format's ``output-file`` (see :func:`output_paths`).
    progress : bool, default True
        Show a progress bar over cells (built-in) or Quarto's own output on stderr.
    timeout : float, optional
        Built-in engine: seconds any one cell may run; Quarto: seconds per
        format. ``None`` waits forever.

    Returns
    -------
    RenderResult

    Raises
    ------
    RenderError
        A cell raised (the message names the cell's label or number, its lines
        in the ``.qmd`` and the exception), the kernel could not start or died,
        or pandoc/Quarto failed. No output file is left behind for a failed format.
    ValueError, FileNotFoundError
        Invalid arguments.
    """
    start = time.perf_counter()
    qmd, formats, params = _validate(qmd, engine, formats, params, timeout)
    if output_dir is not None:
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
    document, project = _read_document(qmd)
    paths = _output_paths(qmd, document.front_matter, project, formats, output_dir)
    # Delete stale outputs first: a failed render must not leave an old report that looks new.
    for path in paths.values():
        path.unlink(missing_ok=True)
    quarto = _quarto_for(engine)
    if quarto is not None:
        render_with_quarto(quarto, qmd, document, project, formats, params, paths, progress=progress, timeout=timeout)
    else:
        render_builtin(qmd, document, project, formats, params, paths, progress, timeout)
    return RenderResult(outputs=paths, engine="builtin" if quarto is None else "quarto",
                        seconds=time.perf_counter() - start)


def execute_report(qmd, *, params=None, progress=False, timeout=None):
    """Run a ``.qmd``'s cells as the built-in engine does and return the executed notebook.

    What a render would embed, before any conversion: a test can read every
    cell's outputs and their mime types.

    Parameters
    ----------
    qmd : str or Path
    params : dict, optional
        Report parameters, as for :func:`render_report`.
    progress : bool, default False
    timeout : float, optional
        Seconds any one cell may run.

    Returns
    -------
    nbformat.NotebookNode
    """
    qmd, formats, params = _validate(qmd, "builtin", FORMATS, params, timeout)
    document, project = _read_document(qmd)
    return execute_builtin(qmd, document, project, formats, params, progress, timeout)
