"""The report through the real Quarto CLI: params, one execution, self-contained files, errors, both engines alike.

Every test here runs ``quarto`` itself and is skipped where it is not on PATH
(CI builds it with ``../shared/tools/build-quarto``, see ``.ci/run``). The
engine's pure helpers are tested without Quarto at the end.
"""

from __future__ import annotations

import html as html_lib
import os
import re
import shutil
from pathlib import Path

import pytest

from lussi.report.qmd import parse_qmd
from lussi.report.quarto_engine import cell_failure, filter_noise
from lussi.report.render import RenderError, external_resources, render_report

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "render"
QUARTO = shutil.which("quarto")
if QUARTO is None and os.environ.get("LUSSI_REQUIRE_QUARTO"):  # set by .ci/run once it has built Quarto
    raise RuntimeError("LUSSI_REQUIRE_QUARTO is set but `quarto` is not on PATH")
needs_quarto = pytest.mark.skipif(QUARTO is None, reason="the Quarto CLI is not on PATH")


def _text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


# --------------------------------------------------------------------------- small documents, real Quarto


@needs_quarto
def test_params_one_execution_and_self_contained_files(tmp_path, capfd):
    doc = _copy("quarto", tmp_path)
    result = render_report(doc / "small.qmd", engine="quarto", params={"profile": "quick"})
    assert result.engine == "quarto" and set(result.outputs) == {"html", "revealjs"}
    assert (doc / "executions.log").read_text().splitlines() == ["executed"]  # the slides reused the notebook
    for path in result.outputs.values():
        page = path.read_text(encoding="utf-8")
        assert external_resources(page) == []
        assert "profile=quick" in _text(page) and "Table 1: Squares." in _text(page)
    terminal = capfd.readouterr().err
    assert "Notebook read from cache" in terminal
    assert "Kernel is running over TCP" not in terminal
    assert "Could not fetch" not in terminal and "WARN" not in terminal
    assert not list(doc.glob(".lussi-render-*")) and not list(doc.glob("*.quarto_ipynb*"))


@needs_quarto
def test_params_reach_a_document_that_names_its_own_formats(tmp_path):
    doc = _copy("basic", tmp_path)  # front matter names html only; the slides come from _quarto.yml
    result = render_report(doc / "report.qmd", engine="quarto", params={"profile": "quick"}, progress=False)
    assert set(result.outputs) == {"html", "revealjs"}
    assert all("PROFILE=quick" in path.read_text(encoding="utf-8") for path in result.outputs.values())


@needs_quarto
def test_lussi_render_honours_to_and_profile_with_quarto(tmp_path, capsys):
    from lussi.cli import main

    doc = _copy("quarto", tmp_path)
    status = main(["render", str(doc / "small.qmd"), "--engine", "quarto", "--to", "revealjs", "--profile", "quick"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "rendered with quarto" in out
    assert (doc / "small-slides.html").is_file() and not (doc / "small.html").exists()
    assert "profile=quick" in _text((doc / "small-slides.html").read_text(encoding="utf-8"))


@needs_quarto
def test_a_failing_cell_is_one_line_naming_the_cell_and_no_output_is_left(tmp_path):
    doc = _copy("failing", tmp_path)
    qmd = doc / "broken.qmd"
    stale = doc / "broken.html"
    stale.write_text("<html>an old report</html>")
    with pytest.raises(RenderError) as raised:
        render_report(qmd, engine="quarto", formats=["html"], progress=False)
    assert str(raised.value) == "cell 'divide' (lines 12-15) of broken.qmd failed: ZeroDivisionError: division by zero"
    assert not stale.exists()
    assert not list(doc.glob(".lussi-render-*")) and not list(doc.glob("*.quarto_ipynb*"))


# --------------------------------------------------------------------------- the report, both engines


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
            project = tmp_path_factory.mktemp(engine)
            for name in ("report.qmd", "_quarto.yml", ".gitignore"):
                shutil.copy(ROOT / name, project / name)
            result = render_report(project / "report.qmd", engine=engine, params={"profile": "quick"},
                                   progress=False)
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
    import subprocess

    monkeypatch.setenv("LUSSI_CACHE_DIR", str(tmp_path / "cache"))
    def git(*args):
        return subprocess.run(["git", *args], cwd=clone, check=True, capture_output=True, text=True).stdout

    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("report.qmd", "_quarto.yml", ".gitignore"):
        shutil.copy(ROOT / name, clone / name)
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "project")
    render_report(clone / "report.qmd", engine="quarto", params={"profile": "quick", "dataset": "digits"},
                  progress=False)
    # Only the two outputs are new; what Quarto writes on the way is ignored, and it leaves .gitignore alone.
    assert git("status", "--porcelain", "--untracked-files=all").splitlines() == []
    assert (clone / "report.html").is_file() and (clone / "report-slides.html").is_file()


# --------------------------------------------------------------------------- helpers, no Quarto needed


QUARTO_FAILURE = """\
  Cell 3/3: 'divide'...

An error occurred while executing the following cell:
------------------
y = x / 0
------------------


\x1b[31m---------------------------------------------------------------------------\x1b[39m
\x1b[31mZeroDivisionError\x1b[39m                         Traceback (most recent call last)
Cell In[3], line 1
----> 1 y = x / 0

\x1b[31mZeroDivisionError\x1b[39m: division by zero

\x1b[33mWARN: Error encountered when rendering files\x1b[39m
"""


def test_cell_failure_names_the_cell_from_quartos_output():
    qmd = FIXTURES / "failing" / "broken.qmd"
    document = parse_qmd(qmd.read_text(encoding="utf-8"))
    message = cell_failure(QUARTO_FAILURE, document, qmd)
    assert message == "cell 'divide' (lines 12-15) of broken.qmd failed: ZeroDivisionError: division by zero"
    assert cell_failure("ERROR: pandoc failed", document, qmd) is None


def test_noise_from_the_kernel_is_dropped_and_quartos_lines_kept():
    notice = ("[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication "
              "(including code and outputs) is sent in plain text.")
    assert filter_noise("Starting python3 kernel..." + notice) == "Starting python3 kernel..."
    assert filter_noise(notice) is None
    assert filter_noise("I0000 00:00:1764621000.123456   1234 cpu_feature_guard.cc:210] This TensorFlow binary") is None
    assert filter_noise("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR") is None
    assert filter_noise("  Cell 4/60: 'tbl-ladder'...Done") == "  Cell 4/60: 'tbl-ladder'...Done"
    assert filter_noise("Output created: report.html") == "Output created: report.html"
