"""Fixtures of the renderer's tests: small documents to render and a PATH without Quarto."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def copy_fixture(tmp_path):
    """Copy a document folder of ``tests/render/fixtures`` (``basic``, ``failing``, ``quarto``) into tmp_path."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURES / name, target)
        return target

    return copy


@pytest.fixture
def write_doc():
    """Write dedented text to a path and return the path."""

    def write(path: Path, text: str) -> Path:
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def no_quarto(monkeypatch):
    """``shutil.which("quarto")`` finds nothing, so ``engine="auto"`` picks the built-in engine."""
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "quarto" else real_which(name, *a, **k))


@pytest.fixture
def chromium():
    """The Chromium to test with; skips where there is none (fails in CI, where there must be one)."""
    from lussi.render import find_chromium

    found = find_chromium()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium not installed")
    return found
