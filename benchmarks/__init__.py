"""`python -m benchmarks`: CNN Lens measured against its baselines (see benchmarks/__main__.py)."""
