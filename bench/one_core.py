"""The figures that matter on a Raspberry Pi, measured with the process held to one core.

    python -m bench.one_core [--json FILE]

A stand-in, not a Pi: one core of this machine is faster than a Pi's. The README scales these
figures to a Pi 4 and a Pi 5 and says that it is an estimate. Measured: the reply latency of
the default recogniser (Whisper with PocketSphinx beside it) and of PocketSphinx alone (end of
speech to the reply's first audio, as bench.speech measures it), each engine's real-time factor
over the same recordings, understanding one request, and the wake phrase search.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

from bench import print_and_save
from common.memory import share_one_heap

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "audio"


def _items():
    from bench.speech_set import Item

    with (FIXTURES / "manifest.tsv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t")
                if r["voice"] == "piper-joe" and r["condition"] == "clean"
                and not r["file"].startswith("piper-joe--wake")]
    return [Item(FIXTURES / r["file"], "piper-joe", "clean", None, r["text"],
                 tuple(r["expected"].split("|"))) for r in rows]


def _rtf(engine, items) -> float:
    from voice.listening import transcribe_recording
    from voice.wav import read_speech_wav

    audio = cpu = 0.0
    for item in items:
        recording = read_speech_wav(item.path)
        started = time.process_time()
        transcribe_recording(engine, recording)
        cpu += time.process_time() - started
        audio += recording.duration
    return cpu / audio


def measure() -> dict:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from bench.speech import Config, latency, load
    from intents.library import load_library
    from intents.matcher import IntentMatcher
    from voice.models import WHISPER_INSTALL
    from voice.settings import default_models_root
    from voice.wake import WakeSettings, WakeSpotter
    from voice.wav import iter_wav_chunks

    library = load_library()
    matcher = IntentMatcher(library)
    items = _items()
    whisper_dir = default_models_root() / WHISPER_INSTALL
    report: dict = {"cores": len(os.sched_getaffinity(0)), "recordings": len(items)}
    for name, config in (
            ("whisper + pocketsphinx (default)",
             Config("default", "whisper", True,
                    whisper_dir if (whisper_dir / "model.bin").is_file() else None)),
            ("pocketsphinx alone", Config("pocketsphinx", "pocketsphinx", True))):
        engine = load(config, library)
        report[name] = {"latency_ms": latency(engine, matcher, items, sample=20),
                        "rtf": _rtf(engine, items[:20])}
    timings = []
    for item in items[:40]:
        started = time.perf_counter()
        matcher.understand(item.text)
        timings.append(1000 * (time.perf_counter() - started))
    report["understanding_ms"] = {"mean": statistics.fmean(timings), "max": max(timings)}
    spotter = WakeSpotter(WakeSettings())
    audio = cpu = 0.0
    for item in items:
        started = time.process_time()
        for chunk in iter_wav_chunks(item.path, 0.05):
            spotter.accept(chunk)
            audio += chunk.duration
        cpu += time.process_time() - started
    report["wake_spotter_cpu_share"] = cpu / audio
    return report


def render(report: dict) -> list[str]:
    lines = []
    for name in ("whisper + pocketsphinx (default)", "pocketsphinx alone"):
        row = report[name]
        lines.append(f"- {name}: end of speech to the reply's first audio mean "
                     f"{row['latency_ms']['mean']:.0f} ms, 95th percentile "
                     f"{row['latency_ms']['p95']:.0f} ms; real-time factor {row['rtf']:.3f}.")
    lines.append(f"- Understanding one request: mean {report['understanding_ms']['mean']:.1f} "
                 f"ms, worst {report['understanding_ms']['max']:.1f} ms; the wake phrase search "
                 f"takes {100 * report['wake_spotter_cpu_share']:.1f} % of the core.")
    return lines


def main() -> None:
    share_one_heap()  # as the program does
    parser = argparse.ArgumentParser(prog="python -m bench.one_core")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print_and_save(measure(), args.json)


if __name__ == "__main__":
    main()
