"""Render lussi's Quarto report to HTML and reveal.js slides.

Two engines produce the same files:

``quarto``
    the real Quarto CLI (:mod:`lussi.report.quarto_engine`), used when ``quarto``
    is on PATH: one ``quarto render FILE -P key:value ...`` for both formats,
    which execute the cells once through Quarto's Jupyter cache.
``builtin``
    Quarto cannot be installed everywhere (its PyPI wheel downloads a binary at
    build time), so lussi also renders the ``.qmd`` itself: the Python cells run
    once in a Jupyter kernel (nbclient) and the executed outputs are converted by
    pandoc (``pypandoc_binary``) with the Lua filter ``filters/quarto.lua``
    (callouts, conditional content, figure/table cross-references) and vendored
    reveal.js 5 under ``assets/revealjs``. Both outputs are single self-contained
    files (``--embed-resources``) that open offline.

Output files are never left half-written: existing outputs are deleted before
rendering starts (so a failed render cannot leave an old report that looks new)
and each new file is written to a temporary name in the same directory and moved
into place with :func:`os.replace` only once pandoc or Quarto succeeded.

Use :func:`external_resources` to check that an HTML file fetches nothing from
the network.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import keyword
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import yaml

from lussi.report.qmd import (
    FORMATS,
    INLINE_EXPR,
    CodeCell,
    MarkdownChunk,
    QmdSyntaxError,
    format_config,
    load_project_config,
    parse_qmd,
)

__all__ = ["RenderError", "RenderResult", "execute_report", "external_resources", "output_paths", "render_report"]

ENGINES = ("auto", "builtin", "quarto")
_HERE = Path(__file__).resolve().parent
FILTER = _HERE / "filters" / "quarto.lua"
ASSETS = _HERE / "assets"
REVEALJS = ASSETS / "revealjs"
_DEFAULT_SUFFIX = {"html": ".html", "revealjs": "-slides.html"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_INLINE_MARKER = "__LUSSI_INLINE__"
# Cell options that Quarto lets `execute:` set for every cell.
_EXECUTE_KEYS = ("echo", "eval", "include", "output", "warning", "error")


class RenderError(RuntimeError):
    """Rendering failed: a cell raised, the kernel died, or pandoc/Quarto failed.

    Attributes
    ----------
    traceback : str or None
        The kernel's traceback (ANSI escapes removed) when a cell failed.
    """

    def __init__(self, message: str, *, traceback: str | None = None):
        super().__init__(message)
        self.traceback = traceback


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


def strip_ansi(text: str) -> str:
    """Remove ANSI colour/control escapes (kernel tracebacks are coloured)."""
    return _ANSI.sub("", text)


# --------------------------------------------------------------------------- checks


class _ResourceScanner(HTMLParser):
    # Attributes through which a browser fetches something by itself; <a href> is navigation.
    _FETCHING: ClassVar[dict] = {
        "script": ("src",),
        "img": ("src", "srcset"),
        "link": ("href",),
        "iframe": ("src",),
        "frame": ("src",),
        "embed": ("src",),
        "object": ("data",),
        "source": ("src", "srcset"),
        "video": ("src", "poster"),
        "audio": ("src",),
        "track": ("src",),
        "input": ("src",),
        "image": ("href", "xlink:href"),
        "use": ("href", "xlink:href"),
    }

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        names = self._FETCHING.get(tag, ())
        for name, value in attrs:
            if value is None:
                continue
            if name in names and _is_remote(value):
                self.found.append(value.strip())
            elif name == "style":
                self.found.extend(_css_remote(value))
        self._in_style = tag == "style"

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.found.extend(_css_remote(data))


def _is_remote(url: str) -> bool:
    return re.match(r"\s*(https?:)?//", url, flags=re.IGNORECASE) is not None


def _css_remote(css: str) -> list[str]:
    urls = re.findall(r"""url\(\s*['"]?([^'")\s]+)""", css, flags=re.IGNORECASE)
    urls += re.findall(r"""@import\s+['"]([^'"]+)['"]""", css, flags=re.IGNORECASE)
    return [url for url in urls if _is_remote(url)]


def external_resources(html: str) -> list[str]:
    """List the network resources an HTML page would fetch by itself.

    Scans ``src``/``href``/``srcset``/``data``/``poster`` attributes of fetching
    elements (``script``, ``img``, ``link``, ``iframe``, ``source``, ``video``,
    ``audio``, ``embed``, ``object``, SVG ``image``/``use``...) and CSS ``url()``
    / ``@import`` in ``<style>`` blocks and ``style`` attributes, for absolute
    ``http(s)://`` and protocol-relative ``//`` URLs. Hyperlinks (``<a href>``)
    are navigation, not resources, and are ignored.

    Parameters
    ----------
    html : str
        The page's source.

    Returns
    -------
    list of str
        The remote URLs, in document order (empty for a self-contained page).
    """
    scanner = _ResourceScanner()
    scanner.feed(html)
    scanner.close()
    return scanner.found


# --------------------------------------------------------------------------- config


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


def render_report(
    qmd,
    *,
    engine="auto",
    formats=FORMATS,
    params=None,
    output_dir=None,
    progress=True,
    timeout=None,
) -> RenderResult:
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
    quarto = shutil.which("quarto")
    if engine == "quarto" and quarto is None:
        raise RenderError("engine='quarto' but `quarto` is not on PATH; install Quarto or use engine='builtin'")
    if engine == "quarto" or (engine == "auto" and quarto is not None):
        _render_with_quarto(quarto, qmd, document, project, formats, params, paths, progress, timeout)
        used = "quarto"
    else:
        _render_builtin(qmd, document, project, formats, params, paths, progress, timeout)
        used = "builtin"
    return RenderResult(outputs=paths, engine=used, seconds=time.perf_counter() - start)


# --------------------------------------------------------------------------- quarto engine


def _quarto_value(value) -> str:
    # Quarto parses -P values as YAML; JSON is valid YAML and keeps types.
    return value if isinstance(value, str) else json.dumps(value)


def _render_with_quarto(quarto, qmd, document, project, formats, params, paths, progress, timeout):
    from .quarto_engine import QuartoFailure, render_with_quarto

    try:
        render_with_quarto(quarto, qmd, document, project, formats, params, paths, progress=progress,
                           timeout=timeout, quarto_value=_quarto_value)
    except QuartoFailure as failure:
        raise RenderError(str(failure), traceback=failure.detail or None) from None


# --------------------------------------------------------------------------- builtin engine


def _kernel_name(config: dict) -> str:
    jupyter = config.get("jupyter")
    if isinstance(jupyter, str) and jupyter.strip():
        return jupyter.strip()
    if isinstance(jupyter, dict):
        spec = jupyter.get("kernelspec")
        if isinstance(spec, dict) and spec.get("name"):
            return str(spec["name"])
    return "python3"


def _cell_options(cell: CodeCell, execute: dict) -> dict:
    options = {"echo": True, "eval": True, "include": True, "output": True, "warning": True, "error": False}
    options.update({k: execute[k] for k in _EXECUTE_KEYS if k in execute})
    options.update(cell.options)
    return options


def _setup_source(config: dict) -> str:
    width = float(config.get("fig-width", 7))
    height = float(config.get("fig-height", 5))
    dpi = float(config.get("fig-dpi", 96))
    # Same defaults Quarto applies to Jupyter kernels; matplotlib is optional in the kernel.
    return (
        "try:\n"
        "    import matplotlib as _lussi_mpl\n"
        f"    _lussi_mpl.rcParams['figure.figsize'] = ({width}, {height})\n"
        f"    _lussi_mpl.rcParams['figure.dpi'] = {dpi}\n"
        f"    _lussi_mpl.rcParams['savefig.dpi'] = {dpi}\n"
        "    del _lussi_mpl\n"
        # As Quarto's own setup does: register the inline PNG formatter, so a returned
        # matplotlib Figure displays as an image even when pyplot was never imported.
        "    from matplotlib_inline.backend_inline import set_matplotlib_formats as _lussi_formats\n"
        "    _lussi_formats('png')\n"
        "    del _lussi_formats\n"
        "except ImportError:\n"
        "    pass\n"
    )


def _inline_source(expressions: list[str]) -> str:
    lambdas = ", ".join(f"lambda: ({expr})" for expr in expressions)
    return (
        "def _lussi_inline(fns):\n"
        "    import json\n"
        "    out = []\n"
        "    for fn in fns:\n"
        "        try:\n"
        "            value = fn()\n"
        "        except Exception as exc:\n"
        "            out.append({'error': type(exc).__name__ + ': ' + str(exc)})\n"
        "            continue\n"
        "        md = getattr(value, '_repr_markdown_', None)\n"
        "        md = md() if callable(md) else None\n"
        "        if isinstance(md, tuple):\n"
        "            md = md[0]\n"
        "        out.append({'value': md if isinstance(md, str) else str(value)})\n"
        f"    print({_INLINE_MARKER!r} + json.dumps(out))\n"
        f"_lussi_inline([{lambdas}])\n"
        "del _lussi_inline\n"
    )


@dataclass
class _Step:
    kind: str  # "setup" | "params" | "code" | "inline"
    cell_index: int
    chunk: object = None
    options: dict | None = None


def _build_notebook(document, config, execute, params, kernel):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    steps: list[_Step] = []

    def add(kind, source, chunk=None, options=None):
        nb.cells.append(nbformat.v4.new_code_cell(source))
        steps.append(_Step(kind, len(nb.cells) - 1, chunk, options))

    add("setup", _setup_source(config))
    injected = not params
    tagged = any("parameters" in (c.options.get("tags") or []) for c in document.cells)
    params_source = "# Injected parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in params.items())
    if not injected and not tagged:
        # papermill's behaviour without a parameters cell: inject at the top.
        add("params", params_source)
        injected = True
    for chunk in document.chunks:
        if isinstance(chunk, MarkdownChunk):
            expressions = [m["expr"] for m in INLINE_EXPR.finditer(chunk.text)]
            if expressions:
                add("inline", _inline_source(expressions), chunk)
            continue
        options = _cell_options(chunk, execute)
        if options["eval"]:
            add("code", chunk.source, chunk, options)
        else:
            steps.append(_Step("code", -1, chunk, options))
        if not injected and "parameters" in (chunk.options.get("tags") or []):
            add("params", params_source)
            injected = True
    return nb, steps


def _error_of(cell):
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output
    return None


def _execute(nb, steps, qmd, kernel, progress, timeout):
    """Run the notebook's cells in order; stop at the first unexpected error."""
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from tqdm import tqdm

    class _EchoingClient(NotebookClient):
        """Forwards the kernel's stderr stream live, so training progress shows during a render."""

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            if progress and msg.get("msg_type") == "stream" and content.get("name") == "stderr":
                sys.stderr.write(content.get("text", ""))
                sys.stderr.flush()
            return super().output(outs, msg, display_id, cell_index)

    client = _EchoingClient(
        nb,
        timeout=timeout,
        kernel_name=kernel,
        allow_errors=True,
        record_timing=False,
        resources={"metadata": {"path": str(qmd.parent)}},
    )
    runnable = [s for s in steps if s.cell_index >= 0]
    bar = tqdm(total=len(runnable), desc=f"render {qmd.name}", unit="cell", file=sys.stderr, disable=not progress)
    # The kernel's stderr (ipykernel's transport warning, TensorFlow's start-up chatter) goes to a
    # log that is only shown when the kernel fails to start or dies.
    kernel_log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")

    def log_tail():
        kernel_log.flush()
        kernel_log.seek(0)
        tail = strip_ansi(kernel_log.read()).strip()[-1500:]
        return f"\nkernel stderr:\n{tail}" if tail else ""

    try:
        try:
            context = client.setup_kernel(stderr=kernel_log)
            context.__enter__()
        except NoSuchKernel:
            from jupyter_client.kernelspec import KernelSpecManager

            available = ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"
            raise RenderError(
                f"{qmd.name} asks for Jupyter kernel {kernel!r} (front matter `jupyter:`), which is not installed "
                f"(available: {available}); install it with `python -m ipykernel install --user --name {kernel}`"
            ) from None
        except Exception as exc:
            raise RenderError(
                f"could not start Jupyter kernel {kernel!r}: {type(exc).__name__}: {exc}{log_tail()}"
            ) from None
        failure = None
        try:
            for step in runnable:
                cell = nb.cells[step.cell_index]
                where = step.chunk.describe() if step.kind == "code" else None
                try:
                    client.execute_cell(cell, step.cell_index)
                except DeadKernelError as exc:
                    raise RenderError(
                        f"the Jupyter kernel died while running {where or step.kind + ' code'} of {qmd.name} "
                        f"(out of memory or a crash in native code?): {exc}{log_tail()}"
                    ) from None
                except CellTimeoutError:
                    raise RenderError(
                        f"{where or step.kind + ' code'} of {qmd.name} ran longer than timeout={timeout} s"
                    ) from None
                bar.update(1)
                error = _error_of(cell)
                if error is None:
                    continue
                if step.kind == "code" and step.options.get("error"):
                    continue
                traceback = strip_ansi("\n".join(error.get("traceback", [])))
                message = f"{error.get('ename', 'Error')}: {strip_ansi(error.get('evalue', ''))}"
                if step.kind == "code":
                    failure = RenderError(f"{where} of {qmd.name} failed: {message}", traceback=traceback)
                elif step.kind == "inline":
                    failure = RenderError(
                        f"inline code in lines {step.chunk.first_line}-"
                        f"{step.chunk.first_line + step.chunk.text.count(chr(10))} of {qmd.name} failed: {message}",
                        traceback=traceback,
                    )
                else:
                    failure = RenderError(f"{step.kind} code for {qmd.name} failed: {message}", traceback=traceback)
                break
        finally:
            try:
                context.__exit__(None, None, None)
            except Exception:  # a dead kernel can fail to shut down cleanly; the real error is raised below
                pass
        if failure is not None:
            raise failure
    finally:
        bar.close()
        kernel_log.close()


# --------------------------------------------------------------------------- markdown assembly


def _fenced(text: str, info: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip(chr(10))}\n{fence}"


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


class _Figures:
    """Writes images from cell outputs to files that pandoc embeds."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.count = 0

    def save(self, data: str | bytes, suffix: str) -> Path:
        self.count += 1
        path = self.directory / f"figure-{self.count}{suffix}"
        if suffix == ".svg":
            path.write_text(_text(data), encoding="utf-8")
        else:
            path.write_bytes(base64.b64decode(_text(data)))
        return path


def _display_block(data: dict, asis: bool, figures: _Figures, alt: str) -> str | None:
    if "text/markdown" in data:
        return _text(data["text/markdown"]).strip("\n")
    if "text/html" in data:
        return _fenced(_text(data["text/html"]), "{=html}")
    if "image/svg+xml" in data:
        return f"![{alt}](<{figures.save(data['image/svg+xml'], '.svg').as_posix()}>)"
    for mime, suffix in (("image/png", ".png"), ("image/jpeg", ".jpg"), ("image/gif", ".gif")):
        if mime in data:
            return f"![{alt}](<{figures.save(data[mime], suffix).as_posix()}>)"
    if "text/plain" in data:
        text = strip_ansi(_text(data["text/plain"]))
        return text.strip("\n") if asis else _fenced(text, " {.cell-output .cell-output-display}")
    return None


def _one_line(value) -> str:
    return " ".join(str(value).split())


def _cell_markdown(step: _Step, cell, figures: _Figures) -> str:
    chunk: CodeCell = step.chunk
    options = step.options
    if not options["include"]:
        return ""
    blocks: list[str] = []
    if options["echo"]:
        blocks.append(_fenced(chunk.source, " {.python .cell-code}"))
    outputs = cell.get("outputs", []) if cell is not None and options["output"] else []
    asis = options["output"] == "asis"
    label = chunk.label or ""
    float_kind = label.split("-", 1)[0] if label.startswith(("fig-", "tbl-")) else None
    caption = options.get(f"{float_kind}-cap") if float_kind else None
    floating: list[str] = []  # display outputs that go inside the figure/table float
    stream_text: dict[str, str] = {}

    def flush_streams():
        for name, text in stream_text.items():
            text = strip_ansi(text)
            if not text.strip():
                continue
            if name == "stdout" and asis:
                blocks.append(text.strip("\n"))
            else:
                blocks.append(_fenced(text, f" {{.cell-output .cell-output-{name}}}"))
        stream_text.clear()

    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            name = output.get("name", "stdout")
            if name == "stderr" and not options["warning"]:
                continue
            stream_text[name] = stream_text.get(name, "") + _text(output.get("text", ""))
            continue
        flush_streams()
        if kind == "error":
            traceback = strip_ansi("\n".join(output.get("traceback", [])))
            blocks.append(_fenced(traceback, " {.cell-output .cell-output-error}"))
        elif kind in ("display_data", "execute_result"):
            if float_kind == "fig" or options.get("fig-cap") is None:
                alt = _one_line(options.get("fig-alt", ""))
            else:
                # An unlabelled captioned image: pandoc makes a lone image with alt text a captioned figure.
                alt = _one_line(options["fig-cap"])
            block = _display_block(output.get("data", {}), asis, figures, alt)
            if block is None:
                continue
            if caption is not None:
                floating.append(block)
            else:
                blocks.append(block)
    flush_streams()
    if caption is not None and floating:
        inner = "\n\n".join(floating)
        blocks.append(f"::: {{#{label}}}\n\n{inner}\n\n{_one_line(caption)}\n\n:::")
    elif label and not float_kind and not asis and blocks:
        # A labelled cell is an anchor, as in Quarto; as-is output stays unwrapped so its headings make slides.
        return f"::: {{#{label} .cell}}\n\n" + "\n\n".join(blocks) + "\n\n:::"
    return "\n\n".join(blocks)


def _inline_values(cell) -> list[dict]:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            for line in _text(output.get("text", "")).splitlines():
                if line.startswith(_INLINE_MARKER):
                    return json.loads(line[len(_INLINE_MARKER) :])
    return []


def _substitute_inline(chunk: MarkdownChunk, values: list[dict], qmd: Path) -> str:
    matches = list(INLINE_EXPR.finditer(chunk.text))
    if len(values) != len(matches):
        last_line = chunk.first_line + chunk.text.count("\n")
        raise RenderError(
            f"inline code in lines {chunk.first_line}-{last_line} of {qmd.name} produced no result; "
            "did an expression exit or restart the kernel?"
        )
    pieces, last = [], 0
    for match, value in zip(matches, values):
        if "error" in value:
            line = chunk.first_line + chunk.text.count("\n", 0, match.start())
            raise RenderError(
                f"inline code `{{python}} {match['expr']}` on line {line} of {qmd.name} failed: {value['error']}"
            )
        pieces += [chunk.text[last : match.start()], value["value"]]
        last = match.end()
    pieces.append(chunk.text[last:])
    return "".join(pieces)


def _assemble(document, nb, steps, qmd, figures) -> str:
    code_steps = {id(s.chunk): s for s in steps if s.kind == "code"}
    inline_steps = {id(s.chunk): s for s in steps if s.kind == "inline"}
    parts: list[str] = []
    for chunk in document.chunks:
        if isinstance(chunk, MarkdownChunk):
            step = inline_steps.get(id(chunk))
            if step is None:
                parts.append(chunk.text)
            else:
                parts.append(_substitute_inline(chunk, _inline_values(nb.cells[step.cell_index]), qmd))
        else:
            step = code_steps[id(chunk)]
            cell = nb.cells[step.cell_index] if step.cell_index >= 0 else None
            parts.append(_cell_markdown(step, cell, figures))
    return "\n\n".join(part for part in parts if part.strip()) + "\n"


# --------------------------------------------------------------------------- metadata


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _format_date(value, qmd: Path, style) -> str:
    if isinstance(value, _dt.datetime):
        day = value.date()
    elif isinstance(value, _dt.date):
        day = value
    elif str(value).strip() == "today" or str(value).strip() == "now":
        day = _dt.date.today()
    elif str(value).strip() == "last-modified":
        day = _dt.date.fromtimestamp(qmd.stat().st_mtime)
    else:
        try:
            day = _dt.date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            return str(value)  # free text such as "Spring 2025" is shown as written
    style = str(style or "long")
    month = _MONTHS[day.month - 1]
    styles = {
        "full": f"{day.strftime('%A')}, {month} {day.day}, {day.year}",
        "long": f"{month} {day.day}, {day.year}",
        "medium": f"{month[:3]} {day.day}, {day.year}",
        "short": f"{day.month}/{day.day}/{day.year % 100:02d}",
        "iso": day.isoformat(),
    }
    if style in styles:
        return styles[style]
    # A dayjs-style pattern such as "YYYY-MM-DD" or "D MMMM YYYY".
    tokens = {
        "YYYY": str(day.year),
        "YY": f"{day.year % 100:02d}",
        "MMMM": month,
        "MMM": month[:3],
        "MM": f"{day.month:02d}",
        "M": str(day.month),
        "DD": f"{day.day:02d}",
        "D": str(day.day),
        "dddd": day.strftime("%A"),
        "ddd": day.strftime("%a"),
    }
    return re.sub(r"YYYY|YY|MMMM|MMM|MM|M|DD|D|dddd|ddd", lambda m: tokens[m.group(0)], style)


def _authors(value) -> list[str]:
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        if isinstance(item, dict):
            name = item.get("name")
            if isinstance(name, dict):
                name = name.get("literal") or " ".join(str(name.get(k, "")) for k in ("given", "family")).strip()
            if name:
                names.append(str(name))
        elif item:
            names.append(str(item))
    return names


def _metadata(config: dict, qmd: Path) -> dict:
    meta = {}
    for key in ("title", "subtitle", "lang", "toc-title", "abstract", "description", "number-sections"):
        if key in config:
            meta[key] = config[key]
    if "author" in config:
        meta["author"] = _authors(config["author"])
    if "date" in config:
        meta["date"] = _format_date(config["date"], qmd, config.get("date-format"))
    if "pagetitle" not in config:
        meta["pagetitle"] = _one_line(config["title"]) if "title" in config else qmd.stem
    return meta


# --------------------------------------------------------------------------- pandoc


def _pandoc_path() -> str:
    try:
        import pypandoc

        return pypandoc.get_pandoc_path()
    except (ImportError, OSError) as exc:
        found = shutil.which("pandoc")
        if found:
            return found
        raise RenderError(f"pandoc is needed to render the report: install pypandoc_binary ({exc})") from None


def _pandoc_args(fmt: str, config: dict) -> list[str]:
    args = ["--from", "markdown", "--standalone", "--embed-resources", "--lua-filter", str(FILTER), "--mathml"]
    if config.get("toc"):
        args.append("--toc")
        if "toc-depth" in config:
            args.append(f"--toc-depth={int(config['toc-depth'])}")
    if config.get("number-sections"):
        args.append("--number-sections")
    if fmt == "html":
        return args + ["--to", "html5", "--css", str(ASSETS / "lussi.css")]
    args += [
        "--to",
        "revealjs",
        "--css",
        str(ASSETS / "slides.css"),
        "-V",
        f"revealjs-url={REVEALJS.as_posix()}",
        # Only the white theme is vendored; any `theme:` maps onto it.
        "-V",
        "theme=white",
        f"--slide-level={int(config.get('slide-level', 2))}",
    ]
    if config.get("incremental"):
        args.append("--incremental")
    slide_number = config.get("slide-number")
    if slide_number:
        value = "true" if slide_number is True else f"'{slide_number}'"
        args += ["-V", f"slideNumber={value}"]
    for key, variable in (
        ("width", "width"),
        ("height", "height"),
        ("transition", "transition"),
        ("center", "center"),
        ("controls", "controls"),
        ("progress", "progress"),
    ):
        if key in config:
            value = config[key]
            args += ["-V", f"{variable}={str(value).lower() if isinstance(value, bool) else value}"]
    return args


def _run_pandoc(markdown: Path, meta: Path, fmt: str, config: dict, target: Path, qmd: Path, workdir: Path):
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    temp = Path(temp_name)
    cmd = [
        _pandoc_path(),
        str(markdown),
        "--metadata-file",
        str(meta),
        *_pandoc_args(fmt, config),
        f"--resource-path={qmd.parent}{os.pathsep}{workdir}",
        "--output",
        str(temp),
    ]
    try:
        proc = subprocess.run(cmd, check=False, cwd=qmd.parent, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RenderError(
                f"pandoc failed to write {fmt} for {qmd.name} (exit code {proc.returncode}):\n"
                f"{proc.stderr.strip()[-2000:]}"
            )
        fetch_failures = [line for line in proc.stderr.splitlines() if "Could not fetch resource" in line]
        if fetch_failures:
            raise RenderError(
                f"pandoc could not embed resources in the {fmt} output of {qmd.name}: " + "; ".join(fetch_failures[:5])
            )
        # mkstemp creates 0600 files; give the report the permissions a normal file would get.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return proc.stderr


def _prepare_builtin(qmd, document, project, formats, params):
    configs = {fmt: format_config(project, document.front_matter, fmt) for fmt in formats}
    primary = configs["html"] if "html" in configs else configs[formats[0]]
    execute = primary.get("execute") or {}
    if not isinstance(execute, dict):
        raise RenderError(f"`execute:` in {qmd.name} or _quarto.yml must be a mapping, got {execute!r}")
    kernel = _kernel_name(primary)
    nb, steps = _build_notebook(document, primary, execute, params, kernel)
    return configs, nb, steps, kernel


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
    _, nb, steps, kernel = _prepare_builtin(qmd, document, project, formats, params)
    _execute(nb, steps, qmd, kernel, progress, timeout)
    return nb


def _render_builtin(qmd, document, project, formats, params, paths, progress, timeout):
    configs, nb, steps, kernel = _prepare_builtin(qmd, document, project, formats, params)
    _execute(nb, steps, qmd, kernel, progress, timeout)
    with tempfile.TemporaryDirectory(prefix="lussi-render-") as tmp:
        workdir = Path(tmp)
        body = _assemble(document, nb, steps, qmd, _Figures(workdir))
        markdown = workdir / "report.md"
        markdown.write_text(body, encoding="utf-8")
        for fmt in formats:
            meta = workdir / f"meta-{fmt}.yaml"
            meta.write_text(yaml.safe_dump(_metadata(configs[fmt], qmd), allow_unicode=True), encoding="utf-8")
            _run_pandoc(markdown, meta, fmt, configs[fmt], paths[fmt], qmd, workdir)
