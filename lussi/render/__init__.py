"""Render Quarto documents (``.qmd``) to self-contained HTML and reveal.js slides, with or without Quarto.

:func:`render_report` runs the real Quarto CLI when it is on PATH and the
built-in engine (a Jupyter kernel, then pandoc with a Lua filter and vendored
reveal.js) otherwise; both write the same files. :func:`external_resources`
and :func:`inspect_page` (headless Chromium) check what a rendered page shows
and fetches.

The package depends on nothing else in lussi (its imports are relative, and a
test keeps them so), and nothing in lussi but the CLI imports it: it can become
a distribution of its own. Its parts:

- :mod:`.api`: the engine dispatch, output paths, argument checks;
- :mod:`.qmd`: the ``.qmd`` parser and ``_quarto.yml`` configuration merging;
- :mod:`.quarto_engine`: one ``quarto render``, staged, all or nothing;
- :mod:`.builtin_engine`, with :mod:`.notebook` (build and execute the cells),
  :mod:`.markdown` (outputs back into the text) and :mod:`.pandoc` (metadata
  and pandoc), ``filters/quarto.lua`` and ``assets/``;
- :mod:`.resources` and :mod:`.browser`: checks of a rendered page.
"""

from __future__ import annotations

from .api import RenderResult, execute_report, output_paths, render_report
from .browser import ChromiumNotFound, find_chromium, inspect_page
from .errors import RenderError
from .resources import external_resources

__all__ = [
    "ChromiumNotFound",
    "RenderError",
    "RenderResult",
    "execute_report",
    "external_resources",
    "find_chromium",
    "inspect_page",
    "output_paths",
    "render_report",
]
