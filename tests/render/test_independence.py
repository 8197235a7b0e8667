"""The renderer stands alone: it imports nothing else from lussi, and nothing in lussi but the CLI imports it.

So it can become a distribution of its own: rename the folder and it runs.
Checked on the source (every import statement, lazy ones included), on what
importing it loads, and on the renderer's own tests.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lussi"
RENDERER = PACKAGE / "render"
# The CLI's `render` command is the one way into the renderer from lussi.
MAY_IMPORT_RENDERER = {PACKAGE / "cli.py"}
# What stays with lussi if the renderer leaves (it renders lussi's own report and runs its CLI).
LUSSI_TESTS = {"test_lussi_report.py"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(source: str, module: str, is_package: bool) -> list[str]:
    """Every module an import statement in ``source`` names, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append(target)
            found += [f"{target}.{alias.name}" for alias in node.names]  # `from lussi import render`
    return found


def _file_imports(path: Path) -> list[str]:
    return _imports(path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py")


def _is_renderer(name: str) -> bool:
    return name == "lussi.render" or name.startswith("lussi.render.")


def test_the_import_checker_resolves_relative_imports():
    assert _imports("from ..cache import Cache", "lussi.render.api", False) == ["lussi.cache", "lussi.cache.Cache"]
    assert _imports("from . import render", "lussi", True) == ["lussi", "lussi.render"]
    assert _imports("def f():\n    import lussi.data\n", "lussi.render.api", False) == ["lussi.data"]


def test_the_renderer_imports_only_itself_and_only_relatively():
    offending = []
    for path in sorted(RENDERER.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.split(".")[0] == "lussi":
                offending.append(f"{path.name}: from {node.module} (use a relative import)")
            elif isinstance(node, ast.Import):
                offending += [f"{path.name}: import {a.name}" for a in node.names if a.name.split(".")[0] == "lussi"]
        offending += [f"{path.name}: {name}" for name in _file_imports(path)
                      if name.split(".")[0] == "lussi" and not _is_renderer(name)]
        if re.search(r"""(import_module|__import__)\(\s*['"]lussi""", source):
            offending.append(f"{path.name}: a dynamic import of lussi")
    assert offending == []


def test_importing_the_renderer_loads_no_other_lussi_module():
    modules = [_module_name(path) for path in sorted(RENDERER.rglob("*.py"))]
    code = (f"import sys\nfor m in {modules!r}:\n    __import__(m)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'lussi'))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    assert set(ast.literal_eval(loaded.stdout)) == {"lussi", *modules}


def test_no_lussi_module_but_the_cli_imports_the_renderer():
    importers = [
        str(path.relative_to(ROOT))
        for path in sorted(PACKAGE.rglob("*.py"))
        if RENDERER not in path.parents and path not in MAY_IMPORT_RENDERER
        and any(_is_renderer(name) for name in _file_imports(path))
    ]
    assert importers == []


def test_the_report_cells_do_not_import_the_renderer():
    report = (ROOT / "report.qmd").read_text(encoding="utf-8")
    cells = re.findall(r"^```\{python\}\n(.*?)^```", report, flags=re.MULTILINE | re.DOTALL)
    assert cells
    names = [name for cell in cells for name in _imports(cell, "report", False)]
    assert [name for name in names if _is_renderer(name)] == []


def test_the_renderers_tests_use_only_the_renderer():
    here = Path(__file__).parent
    offending = [
        f"{path.name}: {name}"
        for path in sorted(here.glob("*.py"))
        if path.name not in LUSSI_TESTS
        for name in _imports(path.read_text(encoding="utf-8"), "tests", False)
        if name.split(".")[0] == "lussi" and not _is_renderer(name)
    ]
    assert offending == []


def test_the_renderers_filter_and_assets_ship_with_the_package():
    tomllib = pytest.importorskip("tomllib")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"]["lussi"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern) if path.is_file()}
    data = {path for path in RENDERER.rglob("*")
            if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts}
    assert {RENDERER / "filters" / "quarto.lua", RENDERER / "assets" / "revealjs" / "dist" / "reveal.js"} <= data
    assert sorted(str(p.relative_to(RENDERER)) for p in data - shipped) == []
