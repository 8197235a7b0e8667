"""Tests for lussi.render.api: arguments, output paths and the engine choice (no kernel, no Quarto)."""

import pytest

from lussi.render import RenderError, output_paths, render_report


def test_output_paths_use_output_file_or_quarto_defaults(tmp_path, write_doc):
    qmd = write_doc(tmp_path / "doc.qmd", "---\ntitle: x\n---\n")
    assert output_paths(qmd) == {"html": tmp_path / "doc.html", "revealjs": tmp_path / "doc-slides.html"}
    write_doc(
        tmp_path / "_quarto.yml",
        "format:\n  html:\n    output-file: same.html\n  revealjs:\n    output-file: same.html\n",
    )
    with pytest.raises(RenderError, match="both be written to same.html"):
        output_paths(qmd)


def test_output_file_is_a_name_and_gets_html_when_it_has_no_suffix(tmp_path, write_doc):
    qmd = write_doc(tmp_path / "doc.qmd", "---\nformat:\n  html:\n    output-file: page\n---\n")
    assert output_paths(qmd, ["html"], output_dir=tmp_path / "out") == {"html": tmp_path / "out" / "page.html"}
    write_doc(qmd, "---\nformat:\n  html:\n    output-file: ../elsewhere.html\n---\n")
    with pytest.raises(RenderError, match="must be a file name without directories"):
        output_paths(qmd, ["html"])


def test_render_report_validates_arguments(tmp_path, write_doc):
    qmd = write_doc(tmp_path / "doc.qmd", "# hi\n")
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
    with pytest.raises(ValueError, match="formats must not repeat"):
        render_report(qmd, formats=("html", "html"))
    with pytest.raises(ValueError, match="parameter names must be Python identifiers, got 'n-train'"):
        render_report(qmd, params={"n-train": 1})
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        render_report(qmd, timeout=0)


def test_quarto_engine_without_quarto_on_path(tmp_path, no_quarto, write_doc):
    qmd = write_doc(tmp_path / "doc.qmd", "# hi\n")
    with pytest.raises(RenderError, match="`quarto` is not on PATH"):
        render_report(qmd, engine="quarto")


def test_a_report_that_is_not_utf8_is_one_line_naming_it(tmp_path):
    qmd = tmp_path / "latin.qmd"
    qmd.write_bytes("# Caf\xe9\n".encode("latin-1"))
    with pytest.raises(RenderError, match=r"latin\.qmd is not UTF-8 text \(byte 5: invalid continuation byte\)"):
        render_report(qmd, engine="builtin", progress=False)
    qmd.write_text("# hi\n", encoding="utf-8")
    (tmp_path / "_quarto.yml").write_bytes(b"title: \xff\n")
    with pytest.raises(RenderError, match=r"_quarto\.yml is not UTF-8 text"):
        render_report(qmd, engine="builtin", progress=False)


def test_a_malformed_document_is_a_render_error_before_any_kernel(tmp_path, write_doc):
    qmd = write_doc(tmp_path / "doc.qmd", "```{python}\nx = 1\n")
    with pytest.raises(RenderError, match="doc.qmd: code cell opened on line 1 is never closed"):
        render_report(qmd, engine="builtin", progress=False)
