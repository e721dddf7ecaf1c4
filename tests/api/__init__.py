"""JSON API tests (fixtures in conftest.py)."""
