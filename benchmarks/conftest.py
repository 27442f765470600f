"""Speed benchmarks (pytest-benchmark). Run: ``python -m pytest benchmarks/``.

Each file compares two implementations side by side in one run; read the ratio of their means
in the table pytest-benchmark prints (group by ``group``). Not part of the default test run.
"""
