"""Benchmarks (``make bench`` → ``python -m bench.run``) and the replaced system's sync loop
re-implemented as a baseline.  Nothing here is imported by ``dags/``, ``plugins/`` or
``include/``; results go to ``bench/results/`` and ``docs/BENCHMARKS.md``.
"""
