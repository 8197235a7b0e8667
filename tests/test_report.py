"""End to end: render report.qmd (quick profile, built-in engine) and check what a reader gets."""

from __future__ import annotations

import html as html_lib
import os
import re
import shutil
from pathlib import Path

import pytest

from lussi.cache import Cache
from lussi.render import execute_report, external_resources, find_chromium, inspect_page, render_report
from lussi.report.facts import summary_facts
from lussi.report.text import ms, pct, seconds
from lussi.study import run_study

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("Executive summary", "The data", "Method", "Results", "Speed analysis", "Reproducibility")


def _text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", markup))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def kernel_cache(cache_dir):
    """LUSSI_CACHE_DIR for kernels started by this module's renders (a kernel inherits the environment)."""
    old = os.environ.get("LUSSI_CACHE_DIR")
    os.environ["LUSSI_CACHE_DIR"] = str(cache_dir)
    yield cache_dir
    if old is None:
        os.environ.pop("LUSSI_CACHE_DIR")
    else:
        os.environ["LUSSI_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, kernel_cache):
    workdir = tmp_path_factory.mktemp("report")
    for name in ("report.qmd", "_quarto.yml"):
        shutil.copy(ROOT / name, workdir / name)
    result = render_report(workdir / "report.qmd", engine="builtin", params={"profile": "quick"}, progress=False)
    study = run_study("quick", cache=Cache(kernel_cache), progress=False)  # everything cached by the render
    return result, study


# What makes real Quarto add require.js and jQuery from a CDN (src/core/jupyter/widgets.ts), or run scripts.
FORBIDDEN_MIME = ("text/html", "application/javascript", "application/vnd.jupyter.widget-view+json")


@pytest.mark.slow
def test_no_cell_of_the_report_outputs_html_or_javascript(rendered):
    nb = execute_report(ROOT / "report.qmd", params={"profile": "quick"})
    outputs = [(index, output) for index, cell in enumerate(nb.cells) for output in cell.get("outputs", [])]
    displays = [(index, output) for index, output in outputs if output["output_type"] in ("display_data", "execute_result")]
    assert len(displays) > 30  # every figure, table and gallery of the report
    offending = [(index, mime) for index, output in displays for mime in output.get("data", {}) if mime in FORBIDDEN_MIME]
    assert offending == []
    assert not [output for _, output in outputs if output["output_type"] == "error"]
    markdown = [output for _, output in displays if "text/markdown" in output.get("data", {})]
    assert len(markdown) >= 20 and all("{=html}" in output["data"]["text/markdown"] for output in markdown)


@pytest.mark.slow
def test_both_outputs_are_complete_and_self_contained(rendered):
    result, _ = rendered
    assert result.engine == "builtin"
    assert set(result.outputs) == {"html", "revealjs"}
    assert result.outputs["html"].name == "report.html" and result.outputs["revealjs"].name == "report-slides.html"
    for path in result.outputs.values():
        markup = path.read_text()
        assert external_resources(markup) == []
        assert "Traceback" not in markup and "Error" not in _text(markup)[:2000]
    article = result.outputs["html"].read_text()
    for section in SECTIONS:
        assert f">{section}<" in article or f">{section} <" in article, section
    assert article.count("<img") >= 10  # figures and digit galleries are embedded
    slides = result.outputs["revealjs"].read_text()
    assert "reveal" in slides and slides.count("<section") >= 8
    assert "Executive summary" not in slides  # the article's body is hidden from the deck


@pytest.mark.slow
def test_summary_numbers_equal_the_computed_results(rendered):
    result, study = rendered
    facts = summary_facts(study)
    text = _text(result.outputs["html"].read_text())
    for model in ("knn", "net"):
        assert pct(facts[model]["accuracy"]) in text
        assert pct(facts[model]["low"]) in text and pct(facts[model]["high"]) in text
        assert seconds(facts[model]["training_seconds"]) in text
    assert facts["recommendation"]["pick_label"] in text
    single = facts["single"]
    assert ms(single["a_ms"]) in text and ms(single["b_ms"]) in text
    slides = _text(result.outputs["revealjs"].read_text())
    assert pct(facts["knn"]["accuracy"]) in slides and facts["recommendation"]["pick_label"] in slides


@pytest.mark.slow
def test_report_opens_in_headless_chromium(rendered, tmp_path):
    if find_chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install chromium (see .ci/run)")
        pytest.skip("no chromium on this machine")
    result, _ = rendered
    page = inspect_page(result.outputs["html"], screenshot=tmp_path / "report.png")
    assert "k-nearest neighbours vs neural networks" in page["title"]
    assert page["text_length"] > 3000
    assert page["nonwhite_fraction"] > 0.02
    assert page["images"] >= 10 and page["images_loaded"] == page["images"]
    deck = inspect_page(result.outputs["revealjs"], screenshot=tmp_path / "slides.png")
    assert deck["nonwhite_fraction"] > 0.01
