"""Benchmarks of the zen-flow hooks: ``python bench/run.py`` (``make bench``)."""
