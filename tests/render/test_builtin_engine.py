"""Tests for the built-in engine (lussi.render.builtin_engine): a Jupyter kernel, then pandoc.

Every test that starts a kernel is marked ``slow``; ``test_markdown.py`` tests
the assembly of outputs without one.
"""

import datetime as dt
import re
import shutil
import stat
from pathlib import Path

import pytest

from lussi.render import RenderError, external_resources, inspect_page, render_report

FIXTURES = Path(__file__).parent / "fixtures"


def _visible(html):
    """The page's markup with embedded data URIs collapsed, for readable assertions."""
    return re.sub(r"data:[^\"')]+", "DATA", html)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The basic fixture rendered once, to both formats, with a parameter override."""
    tmp = tmp_path_factory.mktemp("render")
    doc = tmp / "basic"
    shutil.copytree(FIXTURES / "basic", doc)
    out = tmp / "out"
    result = render_report(
        doc / "report.qmd", engine="builtin", params={"profile": "quick"}, output_dir=out, progress=False
    )
    html = result.outputs["html"].read_text(encoding="utf-8")
    slides = result.outputs["revealjs"].read_text(encoding="utf-8")
    return result, html, slides


@pytest.mark.slow
def test_builtin_writes_output_files_from_quarto_yml(rendered):
    result, _, _ = rendered
    assert result.engine == "builtin"
    assert result.outputs["html"].name == "fixture-report.html"
    assert result.outputs["revealjs"].name == "fixture-deck.html"
    # Only the two outputs: the temporary files were renamed into place.
    assert sorted(p.name for p in result.outputs["html"].parent.iterdir()) == [
        "fixture-deck.html",
        "fixture-report.html",
    ]
    assert result.outputs["html"].stat().st_mode & stat.S_IRGRP  # not mkstemp's 0600


@pytest.mark.slow
def test_builtin_html_title_block_toc_and_params(rendered):
    _, html, _ = rendered
    today = dt.date.today()
    assert "<title>Fixture Report</title>" in html
    assert '<p class="subtitle">Rendering without Quarto</p>' in html
    assert f"{today.strftime('%B')} {today.day}, {today.year}" in html
    assert 'id="TOC"' in html and 'class="header-section-number">1.1</span> Results' in html
    # The injected parameter overrides the default in the `parameters` cell, also in inline code.
    assert "PROFILE=quick" in html and "PROFILE=full" not in html
    assert "The profile is quick and twice the points is 6." in html


@pytest.mark.slow
def test_builtin_cell_options(rendered):
    _, html, _ = rendered
    page = _visible(html)
    # echo: true shows the code; the project default echo: false hides the rest.
    assert "cell-code" in page and "PROFILE=</span>" in page and "import pandas" not in page
    assert "INCLUDE-FALSE-TEXT" not in page and "hidden =" not in page  # include: false
    assert "Some <strong>ASIS-BOLD</strong> text from stdout." in page  # output: asis
    assert "<em>MD-DISPLAY</em>" in page  # text/markdown display
    assert '<p class="html-display">HTML-DISPLAY</p>' in page  # text/html display, raw
    # ANSI escapes are stripped from outputs (the echoed source keeps its literal "\x1b").
    assert '<pre class="cell-output cell-output-stdout"><code>PROFILE=quick\nANSI-RED</code></pre>' in page
    assert "WARNING-HIDDEN" not in page and "WARNING-SHOWN" in page  # warning: false / default
    assert "ValueError: EXPECTED-ERROR" in page  # error: true shows the error and goes on
    assert "OUTPUT-FALSE-TEXT" not in page  # output: false
    assert "EVAL-FALSE-NOT-RUN" in page  # eval: false shows the code and does not run it
    assert "&lt;Figure size" not in page  # text/plain is dropped when an image exists


@pytest.mark.slow
def test_builtin_figure_and_table_cross_references(rendered):
    _, html, _ = rendered
    page = _visible(html)
    figure = re.search(r'<figure id="fig-line"[^>]*>(.*?)</figure>', page, flags=re.DOTALL)
    assert figure and '<img role="img" src="DATA"' in figure.group(1)
    assert "<figcaption>Figure 1: A straight line through the points.</figcaption>" in figure.group(1)
    assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/]{200}', html)
    assert '<a href="#fig-line" class="quarto-xref">Figure 1</a>' in page
    assert '<a href="#tbl-squares" class="quarto-xref">Table 1</a>' in page
    table = re.search(r'<div id="tbl-squares"[^>]*>(.*?)</table>', page, flags=re.DOTALL)
    assert table and "Table 1: Squares of small numbers." in table.group(1) and "<td>9</td>" in table.group(1)
    # A captioned figure without a fig- label is a figure with a caption but no number.
    assert re.search(
        r"<figure>\s*<img [^>]*src=\"DATA\"[^>]*/>\s*<figcaption[^>]*>UNNUMBERED-CAPTION</figcaption>", page
    )


@pytest.mark.slow
def test_builtin_callouts_and_conditional_content(rendered):
    _, html, slides = rendered
    assert re.search(
        r'class="callout callout-tip">\s*<div class="callout-title">\s*<strong>Remember this</strong>', html
    )
    assert "## Remember this" not in html and "CALLOUT-BODY text." in html
    assert re.search(
        r'class="callout callout-warning">\s*<div class="callout-title">\s*<strong>Be careful</strong>', html
    )
    assert "VISIBLE-IN-HTML-ALIAS" in html and "ONLY-IN-DOCUMENT" in html and "ONLY-IN-SLIDES" not in html
    assert "SLIDE-ONLY-BODY" not in html and "Slides only" not in html
    assert "<p>VISIBLE-IN-HTML-ALIAS</p>" in html and "<div>\n<p>VISIBLE-IN-HTML-ALIAS" not in html  # unwrapped
    # Quarto's `html` alias matches revealjs too.
    assert "VISIBLE-IN-HTML-ALIAS" in slides and "ONLY-IN-SLIDES" in slides and "ONLY-IN-DOCUMENT" not in slides


@pytest.mark.slow
def test_builtin_slides_structure(rendered):
    _, _, slides = rendered
    page = _visible(slides)
    assert '<section id="title-slide">' in page and '<h1 class="title">Fixture Report</h1>' in page
    assert re.search(r'<section id="sec-intro" class="title-slide slide level1">\s*<h1>Introduction</h1>', page)
    assert re.search(r'<section id="results" class="slide level2">\s*<h2>Results</h2>', page)
    assert re.search(r'<section id="notes" class="slide level2">', page)
    # A heading inside a shown .content-visible div still starts a slide.
    assert re.search(
        r'<section id="slides-only" class="slide level2">\s*<h2>Slides only</h2>\s*<p>SLIDE-ONLY-BODY', page
    )
    assert "slideNumber: true" in slides
    # The figure fills what is left of its slide (reveal.js r-stretch).
    assert '<figure id="fig-line" class="quarto-float-fig r-stretch">' in page
    assert "Figure 1: A straight line" in page and '<a href="#/fig-line" class="quarto-xref">Figure 1</a>' in page
    assert "Reveal.initialize" in slides


@pytest.mark.slow
def test_builtin_outputs_are_self_contained(rendered):
    _, html, slides = rendered
    for page in (html, slides):
        assert external_resources(page) == []
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", re.sub(r"<a [^>]*>", "", page))
    # reveal.js and its theme are inlined, not linked.
    assert "<script src=" not in slides and 'rel="stylesheet" href=' not in slides


@pytest.mark.slow
def test_builtin_failing_cell_names_label_and_lines_and_leaves_no_output(copy_fixture, no_quarto):
    doc = copy_fixture("failing")
    stale = doc / "broken.html"
    stale.write_text("<html>an old, complete-looking report</html>")
    with pytest.raises(
        RenderError, match=r"cell 'divide' \(lines 12-15\) of broken.qmd failed: ZeroDivisionError: division by zero"
    ) as info:
        render_report(doc / "broken.qmd", progress=False)
    assert "\x1b" not in str(info.value) and "ZeroDivisionError" in info.value.traceback
    assert sorted(p.name for p in doc.iterdir()) == ["broken.qmd"]


@pytest.mark.slow
def test_builtin_unlabelled_failing_cell_is_named_by_number(tmp_path, no_quarto, write_doc, capfd):
    qmd = write_doc(
        tmp_path / "doc.qmd",
        """
        ---
        title: x
        ---

        ```{python}
        import json
        json.loads("{oops")
        ```
        """,
    )
    with pytest.raises(RenderError, match=r"cell #1 \(lines 5-8\) of doc.qmd failed: JSONDecodeError: Expecting"):
        render_report(qmd, formats=["html"], progress=False)
    assert not (tmp_path / "doc.html").exists()
    assert capfd.readouterr().err == ""  # progress=False: no bar, and the kernel's stderr is kept in a log


@pytest.mark.slow
def test_builtin_dead_kernel_is_reported(tmp_path, no_quarto, write_doc, capfd):
    qmd = write_doc(tmp_path / "doc.qmd", "```{python}\n#| label: crash\nimport os\nos._exit(3)\n```\n")
    with pytest.raises(RenderError, match=r"kernel died while running cell 'crash' \(lines 1-5\) of doc.qmd"):
        render_report(qmd, formats=["html"], progress=True)
    assert "render doc.qmd" in capfd.readouterr().err  # the progress bar
    assert not (tmp_path / "doc.html").exists()


def test_builtin_missing_kernelspec(tmp_path, no_quarto, write_doc):
    qmd = write_doc(tmp_path / "doc.qmd", "---\njupyter: no-such-kernel-xyz\n---\n\n```{python}\n1\n```\n")
    with pytest.raises(RenderError, match="kernel 'no-such-kernel-xyz' .* not installed"):
        render_report(qmd, progress=False)


def test_execute_must_be_a_mapping(tmp_path, no_quarto, write_doc):
    qmd = write_doc(tmp_path / "doc.qmd", "---\nexecute: yes\n---\n\n```{python}\n1\n```\n")
    with pytest.raises(RenderError, match="`execute:` in doc.qmd or _quarto.yml must be a mapping, got True"):
        render_report(qmd, progress=False)


@pytest.mark.slow
def test_chromium_shows_rendered_report(rendered, chromium, tmp_path):
    result, _, _ = rendered
    page = inspect_page(result.outputs["html"], screenshot=tmp_path / "report.png")
    assert page["title"] == "Fixture Report"
    assert page["text_length"] > 500
    assert page["images"] == page["images_loaded"] == 2
    assert page["screenshot_size"] == (1280, 2000)
    assert page["screenshot_bytes"] > 20_000
    assert 0.005 < page["nonwhite_fraction"] < 0.5
    deck = inspect_page(result.outputs["revealjs"], screenshot=tmp_path / "deck.png")
    # reveal.js ran: the title slide is laid out and drawn with the embedded theme.
    assert deck["title"] == "Fixture Report" and deck["text_length"] > 20
    assert deck["nonwhite_fraction"] > 0.005


_BIG_SCRIPTS_DOC = """
---
title: A page with a large inline script
---

```{python}
import json
from IPython.display import HTML
from lussi.visualize import HtmlBlock

data = json.dumps({"weights": [i / 7 for i in range(8000)], "note": "it's \\\\1 \\\\g<0> </p>"})
dot = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
HtmlBlock(f'<div class="pad"><img alt="a dot" src="data:image/png;base64,{dot}"> it\\'s drawn '
          f'<script type="application/json" class="pad-data">{data}</script></div>')
```

```{python}
HTML(f"<script>window.padData = {data};</script>")
```
"""


@pytest.mark.slow
def test_large_inline_scripts_skip_pandoc_and_the_page_is_the_one_pandoc_writes(tmp_path, no_quarto, write_doc,
                                                                                monkeypatch):
    from lussi.render import builtin_engine
    from lussi.render.deferred import DeferredScripts

    qmd = write_doc(tmp_path / "doc.qmd", _BIG_SCRIPTS_DOC)
    pandoc_inputs = []
    real_pandoc = builtin_engine.run_pandoc

    def reading_pandoc(markdown, *args, **kwargs):
        pandoc_inputs.append(markdown.read_text(encoding="utf-8"))
        return real_pandoc(markdown, *args, **kwargs)

    monkeypatch.setattr(builtin_engine, "run_pandoc", reading_pandoc)
    deferred = render_report(qmd, output_dir=tmp_path / "deferred", progress=False).outputs
    monkeypatch.setattr(builtin_engine, "DeferredScripts", lambda: DeferredScripts(min_chars=10**12))
    whole = render_report(qmd, output_dir=tmp_path / "whole", progress=False).outputs
    body = '"weights": [0.0, 0.14285714285714285'
    assert body not in pandoc_inputs[0] and body in pandoc_inputs[-1]
    for fmt in ("html", "revealjs"):
        page = deferred[fmt].read_text(encoding="utf-8")
        assert page == whole[fmt].read_text(encoding="utf-8")
        assert page.count(body) == 2 and "lussi-deferred" not in page
        assert 'role="img" aria-label="a dot"' in page  # pandoc still saw the rest of the HTML
