"""End to end: render report.qmd (quick profile, built-in engine) and check what a reader gets."""

from __future__ import annotations

import html as html_lib
import os
import re
import shutil
from pathlib import Path

import pytest

from lussi.cache import Cache
from lussi.report.browser import find_chromium, inspect_page
from lussi.report.facts import summary_facts
from lussi.report.render import external_resources, render_report
from lussi.report.text import ms, pct, seconds
from lussi.study import run_study

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("Executive summary", "The data", "Method", "Results", "Speed analysis", "Reproducibility")


def _text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", markup))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("report")
    cache_dir = tmp_path_factory.mktemp("cache")
    for name in ("report.qmd", "_quarto.yml"):
        shutil.copy(ROOT / name, workdir / name)
    old = os.environ.get("LUSSI_CACHE_DIR")
    os.environ["LUSSI_CACHE_DIR"] = str(cache_dir)  # the kernel inherits it
    try:
        result = render_report(workdir / "report.qmd", engine="builtin", params={"profile": "quick"}, progress=False)
    finally:
        if old is None:
            os.environ.pop("LUSSI_CACHE_DIR")
        else:
            os.environ["LUSSI_CACHE_DIR"] = old
    study = run_study("quick", cache=Cache(cache_dir), progress=False)  # everything cached by the render
    return result, study


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
