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


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux)."""
    return memory_mb("VmRSS")[0]


def memory_mb(*fields: str) -> tuple[float, ...]:
    """Fields of this process's /proc/self/status in MB, read at one moment (0 when absent):
    "VmRSS" (resident), "RssAnon" (of it, allocated), "RssFile" (of it, mapped files)."""
    found = dict.fromkeys(fields, 0.0)
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        name, _, value = line.partition(":")
        if name in found:
            found[name] = int(value.split()[0]) / 1024
    return tuple(found[field] for field in fields)
