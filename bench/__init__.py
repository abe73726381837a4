"""Speed and accuracy benchmarks for trust-coach (run: make bench). Targets live here, not in
timed unit tests; results are written to bench/results/."""

import json
from pathlib import Path


def print_and_save(report: dict, path: Path | None) -> None:
    """A benchmark's figures as JSON: printed, and also written to `path` when given."""
    text = json.dumps(report, indent=1)
    print(text)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
