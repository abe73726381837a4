"""How long understanding one utterance takes: the safety check and the matcher (both signals,
the lexical and the meaning), on text, one thread; and one text of over 100,000 characters."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(repeats: int = 5) -> dict[str, float]:
    from intents.evaluate import load_eval_set
    from intents.library import load_library
    from intents.matcher import IntentMatcher

    started = time.perf_counter()
    library = load_library()
    matcher = IntentMatcher(library)
    ready = time.perf_counter() - started
    lines = [row.text for row in load_eval_set(ROOT / "tests" / "data" / "eval.tsv")]
    for text in lines:  # warm the caches once, as a running program would be
        matcher.understand(text)
    timings, cpu = [], []
    for _ in range(repeats):
        for text in lines:
            t, c = time.perf_counter(), time.thread_time()
            matcher.understand(text)
            timings.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
    timings.sort()
    cpu.sort()
    long_text = "tell me about couples therapy and " + "what happened next " * 6_000
    started = time.perf_counter()
    matcher.understand(long_text)  # 100,000 characters and more
    long_seconds = time.perf_counter() - started
    return {
        "library_and_matcher_ready_s": ready,
        "match_mean_ms": 1000 * statistics.fmean(timings),
        "match_p95_ms": 1000 * timings[int(0.95 * len(timings))],
        "match_max_ms": 1000 * timings[-1],
        # CPU time of this thread: what one core spends, whatever else the machine is doing
        "match_cpu_mean_ms": 1000 * statistics.fmean(cpu),
        "match_cpu_p95_ms": 1000 * cpu[int(0.95 * len(cpu))],
        "utterances": len(lines) * repeats,
        "long_text_chars": len(long_text),
        "long_text_s": long_seconds,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
