"""Tests for lussi.render.browser (headless Chromium helper); the tests that run Chromium are slow."""

import base64
import io
import os
import shutil

import pytest

from lussi.render import browser
from lussi.render.browser import ChromiumNotFound, find_chromium, inspect_page


def _png_data_uri(size=(120, 80), color=(30, 90, 200)):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_find_chromium_returns_none_without_a_browser(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert find_chromium() is None


def test_inspect_page_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no such page"):
        inspect_page(tmp_path / "missing.html")
    page = tmp_path / "page.html"
    page.write_text("<html></html>")
    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    with pytest.raises(ChromiumNotFound, match="no chromium found"):
        inspect_page(page)


@pytest.mark.slow
def test_inspect_page_reads_dom_after_scripts_and_screenshots(chromium, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Static title</title></head><body>"
        f"<p>{'word ' * 40}</p>"
        f'<img src="{_png_data_uri()}"><img src="missing-file.png">'
        # Scripts run before the DOM is read: the title the test sees is the scripted one.
        "<script>document.title = 'Scripted title';</script>"
        "</body></html>"
    )
    result = inspect_page(page, screenshot=tmp_path / "shot.png")
    assert result["title"] == "Scripted title"
    assert result["text_length"] == len(("word " * 40).strip())
    assert (result["images"], result["images_loaded"]) == (2, 1)
    assert result["screenshot_size"] == (1280, 2000)
    assert result["screenshot_bytes"] > 1000
    assert 0.0005 < result["nonwhite_fraction"] < 0.1
    # The DOM probe works on a temporary copy that is removed afterwards.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html", "shot.png"]


@pytest.mark.slow
def test_inspect_page_blank_page_is_white(chromium, tmp_path):
    page = tmp_path / "blank.html"
    page.write_text("<html><head><title>Blank</title></head><body></body></html>")
    result = inspect_page(page, screenshot=tmp_path / "blank.png", window_size=(400, 300))
    assert result["text_length"] == 0 and result["images"] == 0
    assert result["screenshot_size"] == (400, 300)
    assert result["nonwhite_fraction"] == 0.0
