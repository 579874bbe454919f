"""Benchmarks of `hardness`: `python -m benchmarks all --quick` runs them together (see README "Performance")."""
