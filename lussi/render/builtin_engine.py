"""The ``builtin`` engine: the cells run once in a Jupyter kernel, then pandoc writes each format.

Quarto cannot be installed everywhere (its PyPI wheel downloads a binary at
build time), so the ``.qmd`` is also rendered without it: :mod:`.notebook`
builds and executes the notebook, :mod:`.markdown` puts the outputs back into
the document's text, and :mod:`.pandoc` writes self-contained HTML and
reveal.js slides with the Lua filter ``filters/quarto.lua`` and the vendored
assets.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from .deferred import DeferredScripts
from .errors import RenderError
from .markdown import Figures, assemble
from .notebook import build_notebook, execute, kernel_name
from .pandoc import metadata, run_pandoc
from .qmd import format_config

__all__ = ["execute_builtin", "render_builtin"]


def _prepare(qmd: Path, document, project: dict, formats: tuple, params: dict):
    configs = {fmt: format_config(project, document.front_matter, fmt) for fmt in formats}
    primary = configs["html"] if "html" in configs else configs[formats[0]]
    execute_options = primary.get("execute") or {}
    if not isinstance(execute_options, dict):
        raise RenderError(f"`execute:` in {qmd.name} or _quarto.yml must be a mapping, got {execute_options!r}")
    kernel = kernel_name(primary)
    nb, steps = build_notebook(document, primary, execute_options, params, kernel)
    return configs, nb, steps, kernel


def execute_builtin(qmd: Path, document, project: dict, formats: tuple, params: dict, progress: bool, timeout):
    """Execute the document's cells; returns the executed notebook."""
    _, nb, _, _ = _run(qmd, document, project, formats, params, progress, timeout)
    return nb


def _run(qmd, document, project, formats, params, progress, timeout):
    configs, nb, steps, kernel = _prepare(qmd, document, project, formats, params)
    execute(nb, steps, qmd, kernel, progress, timeout)
    return configs, nb, steps, kernel


def render_builtin(qmd: Path, document, project: dict, formats: tuple, params: dict, paths: dict, progress: bool,
                   timeout) -> None:
    """Render ``formats`` of ``document`` into ``paths`` (format to file)."""
    configs, nb, steps, _ = _run(qmd, document, project, formats, params, progress, timeout)
    with tempfile.TemporaryDirectory(prefix="lussi-render-") as tmp:
        workdir = Path(tmp)
        deferred = DeferredScripts()
        body = assemble(document, nb, steps, qmd, Figures(workdir, deferred))
        markdown = workdir / "report.md"
        markdown.write_text(body, encoding="utf-8")
        metas = {}
        for fmt in formats:
            metas[fmt] = workdir / f"meta-{fmt}.yaml"
            metas[fmt].write_text(yaml.safe_dump(metadata(configs[fmt], qmd), allow_unicode=True), encoding="utf-8")
        # One pandoc process per format, side by side: each is single-threaded (about 0.9 s for the report's
        # HTML, 4 s before its large scripts were deferred), and each moves its own output into place only
        # when it succeeded.
        with ThreadPoolExecutor(max_workers=len(formats)) as pool:
            runs = [pool.submit(run_pandoc, markdown, metas[fmt], fmt, configs[fmt], paths[fmt], qmd, workdir,
                                deferred=deferred) for fmt in formats]
        for run in runs:
            run.result()  # the first format's error first, as when they ran one after the other
