"""Tests for lussi.render.qmd: the .qmd parser and the configuration merging."""

import textwrap

import pytest

from lussi.render.qmd import QmdSyntaxError, format_config, parse_qmd


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


def test_parse_qmd_numbers_the_markdown_between_cells_by_line():
    doc = parse_qmd("intro\n```{python}\n1\n```\nmiddle\n\n```{python}\n2\n```\nend\n")
    kinds = [(type(chunk).__name__, getattr(chunk, "first_line", None)) for chunk in doc.chunks]
    assert kinds == [("MarkdownChunk", 1), ("CodeCell", 2), ("MarkdownChunk", 5), ("CodeCell", 7),
                     ("MarkdownChunk", 10)]
    assert doc.chunks[2].text == "middle\n" and [c.number for c in doc.cells] == [1, 2]
    assert parse_qmd("").chunks == [] and parse_qmd("").front_matter == {}


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
