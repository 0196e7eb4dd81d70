"""Browser suites (a package so that their conftest does not shadow tests/conftest.py)."""
