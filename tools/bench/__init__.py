"""`make bench` (`python -m tools.bench`): report (runs the benchmarks and rewrites
BENCHMARKS.md) and benchmarks/ (the MicroPython scripts it runs, one per measurement)."""
