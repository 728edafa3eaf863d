"""The benchmark suite: `make bench` or `python -m bench [--quick] [--scenario NAME] [--repeat K]`.

It starts a private Redis and real worker (and API) processes, runs the scenarios of SPEC §8 and
prints a table plus a JSON summary. See docs/benchmarks.md for what each scenario measures.
"""
