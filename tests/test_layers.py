"""Data flows one way: data -> models -> experiments -> report -> render (ARCHITECTURE.md).

Checked on the source, lazy imports included: no module imports from a layer to
its right.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "render"))
from test_independence import PACKAGE, _file_imports, _module_name  # noqa: E402

# Each layer and the lussi packages it must never import.
LAYERS = {
    "lussi.models": ("lussi.experiments", "lussi.report", "lussi.study", "lussi.render"),
    "lussi.experiments": ("lussi.report", "lussi.render", "lussi.cli"),
    "lussi.report": ("lussi.render", "lussi.cli"),
}


def _layer_files(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer.split(".", 1)[1]).rglob("*.py"))


@pytest.mark.parametrize("layer", list(LAYERS))
def test_no_layer_imports_a_layer_to_its_right(layer):
    files = _layer_files(layer)
    assert files, layer
    wrong = [
        f"{_module_name(path)} imports {name}"
        for path in files for name in _file_imports(path)
        if any(name == banned or name.startswith(banned + ".") for banned in LAYERS[layer])
    ]
    assert wrong == []


def test_the_check_sees_a_wrong_import(tmp_path, monkeypatch):
    # The scan resolves relative imports: an experiment reaching into the report is caught.
    bad = PACKAGE / "experiments" / "_layer_probe.py"
    bad.write_text("def f():\n    from ..report import views\n")
    try:
        with pytest.raises(AssertionError, match="lussi.report"):
            test_no_layer_imports_a_layer_to_its_right("lussi.experiments")
    finally:
        bad.unlink()
