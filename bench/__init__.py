"""Speed and accuracy benchmarks for trust-coach (run: make bench). Targets live here, not in
timed unit tests; results are written to bench/results/."""
