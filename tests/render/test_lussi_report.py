"""lussi's own report and CLI through the renderer: both engines give the same report.

The only tests of ``tests/render`` that use lussi beyond :mod:`lussi.render`
(its ``report.qmd`` and its CLI); they stay with lussi if the renderer becomes
a distribution of its own. They run the real Quarto CLI and are skipped where
it is not on PATH.
"""

from __future__ import annotations

import html as html_lib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lussi.render import external_resources, render_report

ROOT = Path(__file__).resolve().parents[2]
QUARTO = shutil.which("quarto")
needs_quarto = pytest.mark.skipif(QUARTO is None, reason="the Quarto CLI is not on PATH")


def _text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def _headings(page: str) -> list[str]:
    body = page[page.find("</header>"):] if "</header>" in page else page
    found = re.findall(r"(?is)<h([12])\b[^>]*>(.*?)</h\1>", body)
    return [_text(inner) for _, inner in found if _text(inner) not in ("Contents", "")]


def _summary_numbers(page: str) -> list[str]:
    text = _text(page)
    start = text.index("Executive summary", text.index("Executive summary") + 1)  # skip the table of contents
    end = text.index("The data", start)
    return re.findall(r"\d[\d,.]*", text[start:end])


def _floats(page: str, kind: str) -> set[str]:
    """Labels of the figure (``fig``) or table (``tbl``) floats; Quarto also ids each float's caption."""
    return {label for label in re.findall(rf'id="({kind}-[\w-]+)"', page) if "-caption" not in label}


def _copy_project(directory: Path) -> Path:
    for name in ("report.qmd", "_quarto.yml", ".gitignore"):
        shutil.copy(ROOT / name, directory / name)
    return directory / "report.qmd"


@needs_quarto
@pytest.mark.slow
def test_lussi_render_honours_to_and_profile_with_quarto(copy_fixture, capsys):
    from lussi.cli import main

    doc = copy_fixture("quarto")
    status = main(["render", str(doc / "small.qmd"), "--engine", "quarto", "--to", "revealjs", "--profile", "quick"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "rendered with quarto" in out
    assert (doc / "small-slides.html").is_file() and not (doc / "small.html").exists()
    assert "profile=quick" in _text((doc / "small-slides.html").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory):
    if QUARTO is None:
        pytest.skip("the Quarto CLI is not on PATH")
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("LUSSI_CACHE_DIR")
    os.environ["LUSSI_CACHE_DIR"] = str(cache)  # both kernels inherit it: one training, two renders
    try:
        pages = {}
        for engine in ("builtin", "quarto"):
            # A copy of the project: Quarto renders in the document's folder, whatever --output-dir says.
            qmd = _copy_project(tmp_path_factory.mktemp(engine))
            result = render_report(qmd, engine=engine, params={"profile": "quick"}, progress=False)
            pages[engine] = {fmt: path.read_text(encoding="utf-8") for fmt, path in result.outputs.items()}
    finally:
        if old is None:
            os.environ.pop("LUSSI_CACHE_DIR")
        else:
            os.environ["LUSSI_CACHE_DIR"] = old
    return pages


@pytest.mark.slow
def test_either_engine_gives_the_same_report(both_engines):
    builtin, quarto = both_engines["builtin"], both_engines["quarto"]
    for engine in (builtin, quarto):
        for page in engine.values():
            assert external_resources(page) == []
            assert "jquery@3.5.1" not in page and "require.min.js" not in page  # what widgets.ts adds
    assert _headings(builtin["html"]) == _headings(quarto["html"])
    assert "Per digit" in _headings(quarto["html"])
    assert _summary_numbers(builtin["html"]) == _summary_numbers(quarto["html"])
    assert len(_summary_numbers(quarto["html"])) >= 10
    for kind in ("fig", "tbl"):
        assert _floats(builtin["html"], kind) == _floats(quarto["html"], kind)
        assert len(_floats(quarto["html"], kind)) > 5
    assert builtin["html"].count("<table") == quarto["html"].count("<table")
    assert builtin["html"].count("data:image/png") == quarto["html"].count("data:image/png")
    assert _headings(builtin["revealjs"]) == _headings(quarto["revealjs"])


@needs_quarto
@pytest.mark.slow
def test_rendering_a_checkout_leaves_it_clean(tmp_path, monkeypatch):
    monkeypatch.setenv("LUSSI_CACHE_DIR", str(tmp_path / "cache"))

    def git(*args):
        return subprocess.run(["git", *args], cwd=clone, check=True, capture_output=True, text=True).stdout

    clone = tmp_path / "clone"
    clone.mkdir()
    qmd = _copy_project(clone)
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "project")
    render_report(qmd, engine="quarto", params={"profile": "quick", "dataset": "digits"}, progress=False)
    # Only the two outputs are new; what Quarto writes on the way is ignored, and it leaves .gitignore alone.
    assert git("status", "--porcelain", "--untracked-files=all").splitlines() == []
    assert (clone / "report.html").is_file() and (clone / "report-slides.html").is_file()
