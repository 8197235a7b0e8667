"""The built-in engine without a kernel: the notebook it builds, the markdown of outputs, pandoc's metadata."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest

from lussi.render import RenderError
from lussi.render.markdown import Figures, assemble, cell_markdown
from lussi.render.notebook import INLINE_MARKER, Step, build_notebook, cell_options
from lussi.render.pandoc import _format_date, metadata, pandoc_args
from lussi.render.qmd import parse_qmd

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n-not-really").decode()


def _step(source: str, execute: dict | None = None) -> Step:
    (cell,) = parse_qmd(f"```{{python}}\n{source}\n```\n").cells
    return Step("code", 0, cell, cell_options(cell, execute or {}))


def test_build_notebook_injects_params_after_the_parameters_cell():
    doc = parse_qmd("```{python}\n#| tags: [parameters]\nn = 1\n```\n\nn is `{python} n`.\n\n"
                    "```{python}\n#| eval: false\nnot_run()\n```\n")
    nb, steps = build_notebook(doc, {}, {}, {"n": 3}, "python3")
    assert [s.kind for s in steps] == ["setup", "code", "params", "inline", "code"]
    assert steps[-1].cell_index == -1 and len(nb.cells) == 4  # eval: false has no cell
    assert nb.cells[2].source == "# Injected parameters\nn = 3\n"
    assert "lambda: (n)" in nb.cells[3].source and INLINE_MARKER in nb.cells[3].source
    assert nb.metadata["kernelspec"]["name"] == "python3"
    _, untagged = build_notebook(parse_qmd("```{python}\n1\n```\n"), {}, {}, {"n": 3}, "python3")
    assert [s.kind for s in untagged] == ["setup", "params", "code"]  # papermill: at the top


def test_cell_options_execute_defaults_then_cell_lines():
    step = _step("#| echo: true\nx", {"echo": False, "warning": False, "unknown": 1})
    assert step.options["echo"] is True and step.options["warning"] is False and "unknown" not in step.options


def test_streams_are_joined_per_name_and_warnings_dropped_on_request(tmp_path):
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "a\n"},
        {"output_type": "stream", "name": "stderr", "text": "careful\n"},
        {"output_type": "stream", "name": "stdout", "text": "\x1b[31mb\x1b[0m\n"},
        {"output_type": "execute_result", "data": {"text/plain": "42"}},
    ]
    text = cell_markdown(_step("print(1)"), {"outputs": outputs}, Figures(tmp_path))
    assert text == ("``` {.python .cell-code}\nprint(1)\n```\n\n"
                    "``` {.cell-output .cell-output-stdout}\na\nb\n```\n\n"
                    "``` {.cell-output .cell-output-stderr}\ncareful\n```\n\n"
                    "``` {.cell-output .cell-output-display}\n42\n```")
    quiet = cell_markdown(_step("#| echo: false\n#| warning: false\nx"), {"outputs": outputs}, Figures(tmp_path))
    assert "careful" not in quiet and "cell-code" not in quiet


def test_a_captioned_figure_cell_is_a_float_with_its_image_saved(tmp_path):
    step = _step('#| label: fig-one\n#| fig-cap: "One  line"\n#| fig-alt: "alt"\nplot()')
    outputs = [{"output_type": "stream", "name": "stdout", "text": "log\n"},
               {"output_type": "display_data", "data": {"image/png": PNG, "text/plain": "<Figure>"}}]
    text = cell_markdown(step, {"outputs": outputs}, Figures(tmp_path))
    image = tmp_path / "figure-1.png"
    assert image.read_bytes().startswith(b"\x89PNG")
    assert text.endswith(f"::: {{#fig-one}}\n\n![alt](<{image.as_posix()}>)\n\nOne line\n\n:::")
    assert "``` {.cell-output .cell-output-stdout}\nlog\n```" in text  # outside the float


def test_labels_asis_include_and_errors(tmp_path):
    figures = Figures(tmp_path)
    out = {"outputs": [{"output_type": "stream", "name": "stdout", "text": "**bold**\n"}]}
    assert cell_markdown(_step("#| label: anchor\n#| echo: false\nx"), out, figures) == (
        "::: {#anchor .cell}\n\n``` {.cell-output .cell-output-stdout}\n**bold**\n```\n\n:::")
    assert cell_markdown(_step("#| label: a\n#| echo: false\n#| output: asis\nx"), out, figures) == "**bold**"
    assert cell_markdown(_step("#| include: false\nx"), out, figures) == ""
    error = {"outputs": [{"output_type": "error", "traceback": ["\x1b[31mValueError\x1b[0m: no"]}]}
    assert cell_markdown(_step("#| echo: false\nx"), error, figures) == (
        "``` {.cell-output .cell-output-error}\nValueError: no\n```")


def test_fences_are_longer_than_any_run_of_backticks_in_the_text(tmp_path):
    text = cell_markdown(_step('print("```")'), None, Figures(tmp_path))
    assert text == '```` {.python .cell-code}\nprint("```")\n````'


def test_assemble_substitutes_inline_values_and_names_failures(tmp_path):
    doc = parse_qmd("Two is `{python} 1 + 1`.\n")
    nb, steps = build_notebook(doc, {}, {}, {}, "python3")
    nb.cells[1].outputs = [{"output_type": "stream", "name": "stdout",
                            "text": INLINE_MARKER + '[{"value": "2"}]\n'}]
    assert assemble(doc, nb, steps, Path("doc.qmd"), Figures(tmp_path)) == "Two is 2.\n"
    nb.cells[1].outputs = [{"output_type": "stream", "name": "stdout",
                            "text": INLINE_MARKER + '[{"error": "NameError: x"}]\n'}]
    with pytest.raises(RenderError, match=r"inline code `\{python\} 1 \+ 1` on line 1 of doc.qmd failed: NameError"):
        assemble(doc, nb, steps, Path("doc.qmd"), Figures(tmp_path))
    nb.cells[1].outputs = []
    with pytest.raises(RenderError, match="inline code in lines 1-1 of doc.qmd produced no result"):
        assemble(doc, nb, steps, Path("doc.qmd"), Figures(tmp_path))


@pytest.mark.parametrize(
    ("style", "expected"),
    [(None, "March 5, 2024"), ("full", "Tuesday, March 5, 2024"), ("medium", "Mar 5, 2024"), ("short", "3/5/24"),
     ("iso", "2024-03-05"), ("D MMMM YYYY", "5 March 2024"), ("DD/MM/YY", "05/03/24")],
)
def test_dates_follow_quartos_date_formats(style, expected):
    assert _format_date(dt.date(2024, 3, 5), Path("doc.qmd"), style) == expected
    assert _format_date("2024-03-05", Path("doc.qmd"), style) == expected


def test_metadata_names_authors_and_keeps_free_text_dates():
    config = {"title": "A\n title", "author": [{"name": {"given": "Ada", "family": "L"}}, "Bo"], "date": "Spring 2025",
              "toc": True}
    assert metadata(config, Path("doc.qmd")) == {"title": "A\n title", "author": ["Ada L", "Bo"],
                                                 "date": "Spring 2025", "pagetitle": "A title"}
    assert metadata({}, Path("doc.qmd")) == {"pagetitle": "doc"}


def test_pandoc_args_per_format():
    html = pandoc_args("html", {"toc": True, "toc-depth": 2, "number-sections": True})
    assert "--toc" in html and "--toc-depth=2" in html and "--number-sections" in html
    assert html[html.index("--to") + 1] == "html5"
    slides = pandoc_args("revealjs", {"slide-number": True, "center": False, "incremental": True})
    assert slides[slides.index("--to") + 1] == "revealjs" and "--slide-level=2" in slides
    assert "slideNumber=true" in slides and "center=false" in slides and "--incremental" in slides
