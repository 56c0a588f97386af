"""Benchmarks, run from the repository root as modules: `.venv/bin/python -m bench.<name>` (docs/benchmarks.md).

Each builds its own embedded Postgres through the product's migrations and fills it through the product's own
services, so what it measures is what the product serves. Shared pieces: bench/harness.py (command line, data
directory, servers, summaries), bench/machine.py (machine facts and CPU accounting), bench/synth.py (synthetic
content), bench/retrieval/load.py (the synthetic knowledge base).
"""
