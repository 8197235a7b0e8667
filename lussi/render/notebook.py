"""The built-in engine's notebook: built from a parsed ``.qmd``, executed in a Jupyter kernel.

:func:`build_notebook` turns the document into code cells (a setup cell, the
injected parameters, the document's cells and one cell per markdown chunk with
inline expressions) and the :class:`Step` list that ties each cell back to the
``.qmd``. :func:`execute` runs them in order with nbclient and stops at the
first unexpected error, naming the cell and its lines.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass

from .errors import RenderError, strip_ansi
from .qmd import INLINE_EXPR, CodeCell, MarkdownChunk

__all__ = ["INLINE_MARKER", "Step", "build_notebook", "cell_options", "execute", "kernel_name"]

INLINE_MARKER = "__LUSSI_INLINE__"
# Cell options that Quarto lets `execute:` set for every cell.
_EXECUTE_KEYS = ("echo", "eval", "include", "output", "warning", "error")


@dataclass
class Step:
    """One cell of the notebook and the part of the ``.qmd`` it came from.

    ``kind`` is ``"setup"``, ``"params"``, ``"code"`` or ``"inline"``;
    ``cell_index`` is -1 for a code cell that is not evaluated.
    """

    kind: str
    cell_index: int
    chunk: object = None
    options: dict | None = None


def kernel_name(config: dict) -> str:
    """The Jupyter kernel the front matter's ``jupyter:`` asks for (default ``python3``)."""
    jupyter = config.get("jupyter")
    if isinstance(jupyter, str) and jupyter.strip():
        return jupyter.strip()
    if isinstance(jupyter, dict):
        spec = jupyter.get("kernelspec")
        if isinstance(spec, dict) and spec.get("name"):
            return str(spec["name"])
    return "python3"


def cell_options(cell: CodeCell, execute: dict) -> dict:
    """A cell's options: Quarto's defaults, then ``execute:``, then the cell's ``#|`` lines."""
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
        f"    print({INLINE_MARKER!r} + json.dumps(out))\n"
        f"_lussi_inline([{lambdas}])\n"
        "del _lussi_inline\n"
    )


def _is_parameters_cell(cell: CodeCell) -> bool:
    return "parameters" in (cell.options.get("tags") or [])


def build_notebook(document, config: dict, execute: dict, params: dict, kernel: str):
    """The notebook that runs ``document``, and one :class:`Step` per cell (and per unevaluated cell).

    ``params`` are assigned (``repr``) in a cell after the cell tagged
    ``parameters``, or at the top when no cell is tagged (papermill's rules).
    """
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    steps: list[Step] = []

    def add(kind, source, chunk=None, options=None):
        nb.cells.append(nbformat.v4.new_code_cell(source))
        steps.append(Step(kind, len(nb.cells) - 1, chunk, options))

    add("setup", _setup_source(config))
    injected = not params
    params_source = "# Injected parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in params.items())
    if not injected and not any(_is_parameters_cell(c) for c in document.cells):
        # papermill's behaviour without a parameters cell: inject at the top.
        add("params", params_source)
        injected = True
    for chunk in document.chunks:
        if isinstance(chunk, MarkdownChunk):
            expressions = [m["expr"] for m in INLINE_EXPR.finditer(chunk.text)]
            if expressions:
                add("inline", _inline_source(expressions), chunk)
            continue
        options = cell_options(chunk, execute)
        if options["eval"]:
            add("code", chunk.source, chunk, options)
        else:
            steps.append(Step("code", -1, chunk, options))
        if not injected and _is_parameters_cell(chunk):
            add("params", params_source)
            injected = True
    return nb, steps


# --------------------------------------------------------------------------- execution


class _KernelLog:
    """The kernel's stderr (ipykernel's transport warning, TensorFlow's start-up chatter), kept for error messages.

    It is shown only when the kernel fails to start or dies.
    """

    def __init__(self):
        self.file = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")

    def tail(self) -> str:
        self.file.flush()
        self.file.seek(0)
        tail = strip_ansi(self.file.read()).strip()[-1500:]
        return f"\nkernel stderr:\n{tail}" if tail else ""

    def close(self) -> None:
        self.file.close()


def _client(nb, qmd, kernel: str, progress: bool, timeout):
    from nbclient import NotebookClient

    class _EchoingClient(NotebookClient):
        """Forwards the kernel's stderr stream live, so training progress shows during a render."""

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            if progress and msg.get("msg_type") == "stream" and content.get("name") == "stderr":
                sys.stderr.write(content.get("text", ""))
                sys.stderr.flush()
            return super().output(outs, msg, display_id, cell_index)

    return _EchoingClient(
        nb,
        timeout=timeout,
        kernel_name=kernel,
        allow_errors=True,
        record_timing=False,
        # Every cell has run by then: a graceful shutdown only waits ~2 s for TensorFlow's teardown.
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(qmd.parent)}},
    )


def _start_kernel(client, qmd, kernel: str, log: _KernelLog):
    """Start the kernel; returns the context to exit when done."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        context = client.setup_kernel(stderr=log.file)
        context.__enter__()
    except NoSuchKernel:
        available = ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"
        raise RenderError(
            f"{qmd.name} asks for Jupyter kernel {kernel!r} (front matter `jupyter:`), which is not installed "
            f"(available: {available}); install it with `python -m ipykernel install --user --name {kernel}`"
        ) from None
    except Exception as exc:
        raise RenderError(
            f"could not start Jupyter kernel {kernel!r}: {type(exc).__name__}: {exc}{log.tail()}"
        ) from None
    return context


def _run_cell(client, cell, step: Step, qmd, timeout, log: _KernelLog) -> None:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    where = step.chunk.describe() if step.kind == "code" else f"{step.kind} code"
    try:
        client.execute_cell(cell, step.cell_index)
    except DeadKernelError as exc:
        raise RenderError(
            f"the Jupyter kernel died while running {where} of {qmd.name} "
            f"(out of memory or a crash in native code?): {exc}{log.tail()}"
        ) from None
    except CellTimeoutError:
        raise RenderError(f"{where} of {qmd.name} ran longer than timeout={timeout} s") from None


def _failure(cell, step: Step, qmd) -> RenderError | None:
    """The error a cell's outputs report, or None when it raised nothing (or may raise: ``error: true``)."""
    error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
    if error is None or (step.kind == "code" and step.options.get("error")):
        return None
    traceback = strip_ansi("\n".join(error.get("traceback", [])))
    message = f"{error.get('ename', 'Error')}: {strip_ansi(error.get('evalue', ''))}"
    if step.kind == "code":
        where = f"{step.chunk.describe()} of {qmd.name}"
    elif step.kind == "inline":
        last_line = step.chunk.first_line + step.chunk.text.count("\n")
        where = f"inline code in lines {step.chunk.first_line}-{last_line} of {qmd.name}"
    else:
        where = f"{step.kind} code for {qmd.name}"
    return RenderError(f"{where} failed: {message}", traceback=traceback)


def execute(nb, steps: list[Step], qmd, kernel: str, progress: bool, timeout) -> None:
    """Run the notebook's cells in order in the document's folder; stop at the first unexpected error.

    Raises
    ------
    RenderError
        A cell raised (naming it and its lines), ran past ``timeout``, or the
        kernel could not start or died.
    """
    from tqdm import tqdm

    client = _client(nb, qmd, kernel, progress, timeout)
    runnable = [s for s in steps if s.cell_index >= 0]
    bar = tqdm(total=len(runnable), desc=f"render {qmd.name}", unit="cell", file=sys.stderr, disable=not progress)
    log = _KernelLog()
    try:
        context = _start_kernel(client, qmd, kernel, log)
        failure = None
        try:
            for step in runnable:
                cell = nb.cells[step.cell_index]
                _run_cell(client, cell, step, qmd, timeout, log)
                bar.update(1)
                failure = _failure(cell, step, qmd)
                if failure is not None:
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
        log.close()
