"""The renderer's tests (lussi.render). A package, so that its conftest.py does not shadow tests/conftest.py
(``from conftest import ...`` in the other tests)."""
