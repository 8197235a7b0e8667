"""Tests for lussi.report.render: the built-in Quarto-compatible renderer and the quarto dispatch."""

import datetime as dt
import json
import os
import re
import shutil
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from lussi.report.browser import find_chromium, inspect_page
from lussi.report.qmd import QmdSyntaxError, format_config, parse_qmd
from lussi.report.render import RenderError, external_resources, output_paths, render_report

FIXTURES = Path(__file__).parent / "fixtures" / "render"


def _copy_fixture(name, tmp_path):
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


def _write(path, text):
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _no_quarto(monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "quarto" else real_which(name, *a, **k))


def _visible(html):
    """The page's markup with embedded data URIs collapsed, for readable assertions."""
    return re.sub(r"data:[^\"')]+", "DATA", html)


# --------------------------------------------------------------------------- parsing and config


def test_parse_qmd_splits_front_matter_markdown_and_cells():
    doc = parse_qmd(
        textwrap.dedent(
            """\
            ---
            title: T
            jupyter: python3
            ---

            Text `{python} x`.

            ```{python}
            #| label: fig-a
            #| fig-cap: "A caption"
            #| echo: true
            x = 1
            ```

            ````{python}
            print("```")
            ````
            """
        )
    )
    assert doc.front_matter == {"title": "T", "jupyter": "python3"}
    first, second = doc.cells
    assert first.options == {"label": "fig-a", "fig-cap": "A caption", "echo": True}
    assert first.source == "x = 1"
    assert (first.first_line, first.last_line, first.number) == (8, 13, 1)
    assert first.describe() == "cell 'fig-a' (lines 8-13)"
    assert second.source == 'print("```")'
    assert second.describe() == "cell #2 (lines 15-17)"
    assert "`{python} x`" in doc.chunks[0].text


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("---\ntitle: x\n", "front matter starting on line 1 is never closed"),
        ("```{python}\nx = 1\n", "code cell opened on line 1 is never closed"),
        ("```{r}\nx <- 1\n```\n", r"only \{python\} cells can be executed, got \{r\}"),
        ("```{python}\n#| echo: [oops\nx = 1\n```\n", "invalid YAML in .* options of the cell on line 1"),
    ],
)
def test_parse_qmd_rejects_malformed_documents(text, match):
    with pytest.raises(QmdSyntaxError, match=match):
        parse_qmd(text)


def test_format_config_front_matter_and_format_sections_win():
    project = {"toc": False, "execute": {"echo": False}, "format": {"html": {"toc": True, "output-file": "a.html"}}}
    front = {"title": "T", "execute": {"warning": False}, "format": {"revealjs": {"output-file": "b.html"}}}
    html = format_config(project, front, "html")
    slides = format_config(project, front, "revealjs")
    assert html == {"toc": True, "execute": {"echo": False, "warning": False}, "output-file": "a.html", "title": "T"}
    assert slides["output-file"] == "b.html" and slides["toc"] is False
    with pytest.raises(ValueError, match="format must be one of"):
        format_config(project, front, "pdf")


def test_output_paths_use_output_file_or_quarto_defaults(tmp_path):
    qmd = _write(tmp_path / "doc.qmd", "---\ntitle: x\n---\n")
    assert output_paths(qmd) == {"html": tmp_path / "doc.html", "revealjs": tmp_path / "doc-slides.html"}
    _write(
        tmp_path / "_quarto.yml",
        "format:\n  html:\n    output-file: same.html\n  revealjs:\n    output-file: same.html\n",
    )
    with pytest.raises(RenderError, match="both be written to same.html"):
        output_paths(qmd)


def test_render_report_validates_arguments(tmp_path):
    qmd = _write(tmp_path / "doc.qmd", "# hi\n")
    with pytest.raises(FileNotFoundError, match="no such report"):
        render_report(tmp_path / "missing.qmd")
    with pytest.raises(ValueError, match="qmd must be a .qmd file"):
        render_report(tmp_path / "doc.md")
    with pytest.raises(ValueError, match="engine must be one of"):
        render_report(qmd, engine="knitr")
    with pytest.raises(ValueError, match=r"formats must be among .* got \['pdf'\]"):
        render_report(qmd, formats=("html", "pdf"))
    with pytest.raises(ValueError, match="at least one"):
        render_report(qmd, formats=())
    with pytest.raises(ValueError, match="parameter names must be Python identifiers, got 'n-train'"):
        render_report(qmd, params={"n-train": 1})
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        render_report(qmd, timeout=0)


def test_external_resources_finds_fetches_but_not_links():
    html = """<html><head>
    <link rel="stylesheet" href="https://cdn.example.com/a.css">
    <script src="//cdn.example.com/b.js"></script>
    <style>@import url("https://fonts.example.com/c.css"); body { background: url(data:image/png;base64,AA); }</style>
    </head><body>
    <a href="https://example.com/page">a link is fine</a>
    <img src="data:image/png;base64,AAAA"><img src="http://example.com/d.png">
    <div style="background-image: url('https://example.com/e.png')"></div>
    <script>var s = "https://in-a-string.example.com";</script>
    </body></html>"""
    assert external_resources(html) == [
        "https://cdn.example.com/a.css",
        "//cdn.example.com/b.js",
        "https://fonts.example.com/c.css",
        "http://example.com/d.png",
        "https://example.com/e.png",
    ]
    assert external_resources("<p>plain <a href='http://x.org'>x</a></p>") == []


# --------------------------------------------------------------------------- quarto dispatch


FAKE_QUARTO = """\
#!{python}
import json, os, sys
with open(os.environ["FAKE_QUARTO_LOG"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd()}}) + "\\n")
if os.environ.get("FAKE_QUARTO_FAIL"):
    print("ERROR: something broke", file=sys.stderr)
    sys.exit(1)
names = json.loads(os.environ["FAKE_QUARTO_OUTPUTS"])
formats = [sys.argv[sys.argv.index("--to") + 1]] if "--to" in sys.argv else list(names)
for fmt in formats:
    with open(os.path.join(sys.argv[sys.argv.index("--output-dir") + 1], names[fmt]), "w") as out:
        out.write("<html><title>fake</title></html>")
"""


@pytest.fixture
def fake_quarto(tmp_path, monkeypatch):
    """A stand-in for the CLI (unit tests of the dispatch); tests/test_quarto.py runs the real one."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "quarto"
    script.write_text(FAKE_QUARTO.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "quarto-calls.jsonl"
    monkeypatch.setenv("FAKE_QUARTO_LOG", str(log))
    return log


def _calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_auto_engine_runs_quarto_once_for_both_formats_with_params(tmp_path, fake_quarto, monkeypatch):
    doc = _copy_fixture("quarto", tmp_path)  # _quarto.yml names both formats
    qmd = doc / "small.qmd"
    expected = output_paths(qmd)
    monkeypatch.setenv("FAKE_QUARTO_OUTPUTS", json.dumps({k: v.name for k, v in expected.items()}))
    result = render_report(qmd, params={"profile": "quick", "n_points": 5}, progress=False)
    assert result.engine == "quarto"
    assert result.outputs == expected and all(p.is_file() for p in expected.values())
    (call,) = _calls(fake_quarto)
    staging = Path(call["argv"][call["argv"].index("--output-dir") + 1])
    assert staging.parent == doc and not staging.exists()  # written aside, moved into place, cleaned up
    assert call["argv"] == ["render", str(qmd), "--output-dir", str(staging), "-P", "profile:quick",
                            "-P", "n_points:5"]
    assert Path(call["cwd"]) == doc


def test_formats_the_document_does_not_name_are_asked_for_one_by_one(tmp_path, fake_quarto, monkeypatch):
    doc = _copy_fixture("basic", tmp_path)  # the front matter names html alone: a bare render writes no slides
    qmd = doc / "report.qmd"
    monkeypatch.setenv("FAKE_QUARTO_OUTPUTS", json.dumps({k: v.name for k, v in output_paths(qmd).items()}))
    result = render_report(qmd, progress=False)
    assert [call["argv"][-2:] for call in _calls(fake_quarto)] == [["--to", "html"], ["--to", "revealjs"]]
    assert all(path.is_file() for path in result.outputs.values())


def test_one_format_is_asked_for_by_name(tmp_path, fake_quarto, monkeypatch):
    qmd = _copy_fixture("basic", tmp_path) / "report.qmd"
    monkeypatch.setenv("FAKE_QUARTO_OUTPUTS", json.dumps({k: v.name for k, v in output_paths(qmd).items()}))
    result = render_report(qmd, engine="quarto", formats=["revealjs"], progress=False)
    (call,) = _calls(fake_quarto)
    assert call["argv"][-2:] == ["--to", "revealjs"] and set(result.outputs) == {"revealjs"}


def test_quarto_failure_raises_and_leaves_no_output(tmp_path, fake_quarto, monkeypatch):
    qmd = _copy_fixture("basic", tmp_path) / "report.qmd"
    stale = output_paths(qmd)["html"]
    stale.write_text("<html>old report</html>")
    monkeypatch.setenv("FAKE_QUARTO_OUTPUTS", json.dumps({"html": stale.name}))
    monkeypatch.setenv("FAKE_QUARTO_FAIL", "1")
    with pytest.raises(RenderError, match="quarto render failed with exit code 1: ERROR: something broke"):
        render_report(qmd, engine="quarto", formats=["html"], progress=False)
    assert not stale.exists()
    assert not list(qmd.parent.glob(".lussi-render-*"))


def test_quarto_engine_without_quarto_on_path(tmp_path, monkeypatch):
    _no_quarto(monkeypatch)
    qmd = _write(tmp_path / "doc.qmd", "# hi\n")
    with pytest.raises(RenderError, match="`quarto` is not on PATH"):
        render_report(qmd, engine="quarto")


# --------------------------------------------------------------------------- builtin engine


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


def test_builtin_outputs_are_self_contained(rendered):
    _, html, slides = rendered
    for page in (html, slides):
        assert external_resources(page) == []
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", re.sub(r"<a [^>]*>", "", page))
    # reveal.js and its theme are inlined, not linked.
    assert "<script src=" not in slides and 'rel="stylesheet" href=' not in slides


def test_builtin_failing_cell_names_label_and_lines_and_leaves_no_output(tmp_path, monkeypatch):
    _no_quarto(monkeypatch)
    doc = _copy_fixture("failing", tmp_path)
    stale = doc / "broken.html"
    stale.write_text("<html>an old, complete-looking report</html>")
    with pytest.raises(
        RenderError, match=r"cell 'divide' \(lines 12-15\) of broken.qmd failed: ZeroDivisionError: division by zero"
    ) as info:
        render_report(doc / "broken.qmd", progress=False)
    assert "\x1b" not in str(info.value) and "ZeroDivisionError" in info.value.traceback
    assert sorted(p.name for p in doc.iterdir()) == ["broken.qmd"]


def test_builtin_unlabelled_failing_cell_is_named_by_number(tmp_path, monkeypatch, capfd):
    _no_quarto(monkeypatch)
    qmd = _write(
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


def test_builtin_dead_kernel_is_reported(tmp_path, monkeypatch, capfd):
    _no_quarto(monkeypatch)
    qmd = _write(tmp_path / "doc.qmd", "```{python}\n#| label: crash\nimport os\nos._exit(3)\n```\n")
    with pytest.raises(RenderError, match=r"kernel died while running cell 'crash' \(lines 1-5\) of doc.qmd"):
        render_report(qmd, formats=["html"], progress=True)
    assert "render doc.qmd" in capfd.readouterr().err  # the progress bar
    assert not (tmp_path / "doc.html").exists()


def test_builtin_missing_kernelspec(tmp_path, monkeypatch):
    _no_quarto(monkeypatch)
    qmd = _write(tmp_path / "doc.qmd", "---\njupyter: no-such-kernel-xyz\n---\n\n```{python}\n1\n```\n")
    with pytest.raises(RenderError, match="kernel 'no-such-kernel-xyz' .* not installed"):
        render_report(qmd, progress=False)


def test_chromium_shows_rendered_report(rendered, tmp_path):
    if find_chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium not installed")
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


def test_a_report_that_is_not_utf8_is_one_line_naming_it(tmp_path):
    qmd = tmp_path / "latin.qmd"
    qmd.write_bytes("# Caf\xe9\n".encode("latin-1"))
    with pytest.raises(RenderError, match=r"latin\.qmd is not UTF-8 text \(byte 5: invalid continuation byte\)"):
        render_report(qmd, engine="builtin", progress=False)
    qmd.write_text("# hi\n", encoding="utf-8")
    (tmp_path / "_quarto.yml").write_bytes(b"title: \xff\n")
    with pytest.raises(RenderError, match=r"_quarto\.yml is not UTF-8 text"):
        render_report(qmd, engine="builtin", progress=False)
