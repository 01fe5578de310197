"""Benchmarks (`make bench`): each figure beside its ceiling on the same machine.

Never imported by the application or collected by pytest; results go to docs/BENCHMARKS.md.
"""
