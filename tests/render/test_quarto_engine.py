"""Tests for the quarto engine (lussi.render.quarto_engine).

A stand-in ``quarto`` script tests the dispatch (arguments, staging, failure)
without Quarto; the engine's pure helpers are tested on a recorded Quarto
output. The tests marked ``slow`` run ``quarto`` itself on small documents and
are skipped where it is not on PATH (CI builds it with
``../shared/tools/build-quarto``, see ``.ci/run``).
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import stat
import sys
from pathlib import Path

import pytest

from lussi.render import RenderError, external_resources, output_paths, render_report
from lussi.render.qmd import parse_qmd
from lussi.render.quarto_engine import cell_failure, declared_formats, filter_noise

FIXTURES = Path(__file__).parent / "fixtures"
QUARTO = shutil.which("quarto")
if QUARTO is None and os.environ.get("LUSSI_REQUIRE_QUARTO"):  # set by .ci/run once it has built Quarto
    raise RuntimeError("LUSSI_REQUIRE_QUARTO is set but `quarto` is not on PATH")
needs_quarto = pytest.mark.skipif(QUARTO is None, reason="the Quarto CLI is not on PATH")


def _text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


# --------------------------------------------------------------------------- the dispatch, a stand-in quarto


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
    """A stand-in for the CLI on PATH; returns the log of its calls (one JSON line each)."""
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


def test_auto_engine_runs_quarto_once_for_both_formats_with_params(copy_fixture, fake_quarto, monkeypatch):
    doc = copy_fixture("quarto")  # _quarto.yml names both formats
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


def test_formats_the_document_does_not_name_are_asked_for_one_by_one(copy_fixture, fake_quarto, monkeypatch):
    doc = copy_fixture("basic")  # the front matter names html alone: a bare render writes no slides
    qmd = doc / "report.qmd"
    monkeypatch.setenv("FAKE_QUARTO_OUTPUTS", json.dumps({k: v.name for k, v in output_paths(qmd).items()}))
    result = render_report(qmd, progress=False)
    assert [call["argv"][-2:] for call in _calls(fake_quarto)] == [["--to", "html"], ["--to", "revealjs"]]
    assert all(path.is_file() for path in result.outputs.values())


def test_one_format_is_asked_for_by_name(copy_fixture, fake_quarto, monkeypatch):
    qmd = copy_fixture("basic") / "report.qmd"
    monkeypatch.setenv("FAKE_QUARTO_OUTPUTS", json.dumps({k: v.name for k, v in output_paths(qmd).items()}))
    result = render_report(qmd, engine="quarto", formats=["revealjs"], progress=False)
    (call,) = _calls(fake_quarto)
    assert call["argv"][-2:] == ["--to", "revealjs"] and set(result.outputs) == {"revealjs"}


def test_quarto_failure_raises_and_leaves_no_output(copy_fixture, fake_quarto, monkeypatch):
    qmd = copy_fixture("basic") / "report.qmd"
    stale = output_paths(qmd)["html"]
    stale.write_text("<html>old report</html>")
    monkeypatch.setenv("FAKE_QUARTO_OUTPUTS", json.dumps({"html": stale.name}))
    monkeypatch.setenv("FAKE_QUARTO_FAIL", "1")
    with pytest.raises(RenderError, match="quarto render failed with exit code 1: ERROR: something broke") as info:
        render_report(qmd, engine="quarto", formats=["html"], progress=False)
    assert "ERROR: something broke" in info.value.traceback  # the end of Quarto's output
    assert not stale.exists()
    assert not list(qmd.parent.glob(".lussi-render-*"))


def test_a_quarto_that_writes_nothing_is_a_failure(copy_fixture, fake_quarto, monkeypatch):
    qmd = copy_fixture("basic") / "report.qmd"
    monkeypatch.setenv("FAKE_QUARTO_OUTPUTS", json.dumps({"html": "somewhere-else.html"}))
    with pytest.raises(RenderError, match="quarto render succeeded but did not write .*fixture-report.html"):
        render_report(qmd, engine="quarto", formats=["html"], progress=False)
    assert not list(qmd.parent.glob(".lussi-render-*")) and not (qmd.parent / "fixture-report.html").exists()


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


def test_declared_formats_front_matter_first():
    assert declared_formats({"format": {"html": {}, "revealjs": {}}}, {"format": "html"}) == {"html"}
    assert declared_formats({"format": {"html": {}, "revealjs": {}}}, {}) == {"html", "revealjs"}
    assert declared_formats({}, {}) == set()


# --------------------------------------------------------------------------- small documents, real Quarto


@needs_quarto
@pytest.mark.slow
def test_params_one_execution_and_self_contained_files(copy_fixture, capfd):
    doc = copy_fixture("quarto")
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
@pytest.mark.slow
def test_params_reach_a_document_that_names_its_own_formats(copy_fixture):
    doc = copy_fixture("basic")  # front matter names html only; the slides come from _quarto.yml
    result = render_report(doc / "report.qmd", engine="quarto", params={"profile": "quick"}, progress=False)
    assert set(result.outputs) == {"html", "revealjs"}
    assert all("PROFILE=quick" in path.read_text(encoding="utf-8") for path in result.outputs.values())


@needs_quarto
@pytest.mark.slow
def test_a_failing_cell_is_one_line_naming_the_cell_and_no_output_is_left(copy_fixture):
    doc = copy_fixture("failing")
    qmd = doc / "broken.qmd"
    stale = doc / "broken.html"
    stale.write_text("<html>an old report</html>")
    with pytest.raises(RenderError) as raised:
        render_report(qmd, engine="quarto", formats=["html"], progress=False)
    assert str(raised.value) == "cell 'divide' (lines 12-15) of broken.qmd failed: ZeroDivisionError: division by zero"
    assert not stale.exists()
    assert not list(doc.glob(".lussi-render-*")) and not list(doc.glob("*.quarto_ipynb*"))
