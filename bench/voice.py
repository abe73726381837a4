"""Speech out: how soon a reply starts to sound, in each voice, over the library's real replies.

- **First audio**: from the reply's text being ready to the first audio handed to the sink, the
  way the loop speaks (`Speaker.say`: the first sentence is made and played while a worker makes
  the next). Wall time, and the CPU time spent by then (steadier on a busy machine). Target:
  150 ms.
- **Whole reply**: synthesising all of it, and the real-time factor (seconds of synthesis per
  second of speech).
- **Piper's load**: a fresh process importing Piper and loading the voice: seconds, and resident
  memory after loading and after speaking a reply.

    python -m bench.voice                 both voices
    python -m bench.voice --natural-rate  the Piper voice's words per minute at length_scale 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from bench import rss_mb

VOICES = ("joe", "en-us")  # Piper's default voice, espeak-ng's


def reply_texts() -> list[str]:
    """Every reply of the library as it is spoken: each topic's answer and its follow-ups,
    and the crisis reply."""
    from intents.library import DEFAULT_LIBRARY, load_library, spoken_text

    library = load_library(DEFAULT_LIBRARY)
    texts = [library.crisis_reply("US")]
    for entry in library.intents.values():
        texts += [entry.reply, *entry.follow_up]
    return [spoken_text(text) for text in texts if text.strip()]


class _FirstAudio:
    """A sink that notes when the first audio of each reply arrives, and keeps nothing."""

    audible = False
    position = 0.0

    def __init__(self) -> None:
        self.first: tuple[float, float] | None = None  # (wall, CPU) clocks

    def play(self, chunk) -> None:
        if self.first is None:
            self.first = (time.perf_counter(), time.process_time())

    def pause(self, seconds: float) -> None:
        pass

    def close(self) -> None:
        pass


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(voice: str, texts: list[str], prepared: bool = False) -> dict[str, float | str | int]:
    """`prepared`: Piper's first sentences made beforehand, as the program does on a worker
    when it starts (voice.piper_voice.PiperSynthesizer.prepare); else every sentence is made
    as it is needed, as on the very first run."""
    import os
    import tempfile

    from voice.piper_voice import choose_synthesizer
    from voice.tts import Speaker

    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="bench-voice-")  # nothing made yet
    synthesizer = choose_synthesizer(wanted=voice)
    synthesizer.synthesize("A first sentence, to warm up.")
    if prepared and hasattr(synthesizer, "prepare"):
        synthesizer.prepare(texts)
    # Whole replies are timed on a copy with a cache of its own, so they are made, not read.
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="bench-voice-whole-")
    whole = synthesizer.with_rate(synthesizer.rate)
    first_ms, first_cpu_ms, whole_ms, speech_s = [], [], [], 0.0
    for text in texts:
        sink = _FirstAudio()
        wall, cpu = time.perf_counter(), time.process_time()
        Speaker(synthesizer, sink).say(text)
        if sink.first is not None:
            first_ms.append(1000 * (sink.first[0] - wall))
            first_cpu_ms.append(1000 * (sink.first[1] - cpu))
        started = time.perf_counter()
        speech_s += whole.synthesize(text).duration
        whole_ms.append(1000 * (time.perf_counter() - started))
    return {
        "voice": synthesizer.name + (", first sentences prepared" if prepared else ""),
        "replies": len(texts),
        "first_audio_mean_ms": statistics.fmean(first_ms),
        "first_audio_p95_ms": _p95(first_ms),
        "first_audio_cpu_mean_ms": statistics.fmean(first_cpu_ms),
        "first_audio_cpu_p95_ms": _p95(first_cpu_ms),
        "whole_reply_mean_ms": statistics.fmean(whole_ms),
        "whole_reply_p95_ms": _p95(whole_ms),
        "rtf": sum(whole_ms) / 1000 / speech_s,
    }


def load_probe() -> dict[str, float]:
    """In a fresh process: Piper's import and the voice's load, and the memory they take."""
    before = rss_mb()
    started = time.perf_counter()
    from voice.piper_voice import PiperSynthesizer

    synthesizer = PiperSynthesizer()
    loaded = time.perf_counter() - started
    after_load = rss_mb()
    synthesizer.synthesize(reply_texts()[1])
    return {"load_s": loaded, "rss_before_mb": before, "rss_loaded_mb": after_load,
            "rss_speaking_mb": rss_mb()}


def piper_load() -> dict[str, float]:
    done = subprocess.run([sys.executable, "-m", "bench.voice", "--load-probe"],
                          capture_output=True, text=True, check=True, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


def natural_rate() -> float:
    """Words per minute of the Piper voice at length_scale 1, pauses included: what --rate is
    mapped against (voice.piper_voice.NATURAL_RATE)."""
    from voice.piper_voice import PiperSynthesizer

    synthesizer = PiperSynthesizer()
    synthesizer = synthesizer.with_rate(synthesizer.voice.natural_rate)  # length_scale 1
    texts = reply_texts()
    seconds = sum(synthesizer.synthesize(text).duration for text in texts)
    return 60 * sum(len(text.split()) for text in texts) / seconds


def run(voices: tuple[str, ...] = VOICES, limit: int | None = None) -> dict:
    texts = reply_texts()[:limit]
    rows = [measure(voice, texts) for voice in voices]
    rows.append(measure(voices[0], texts, prepared=True))
    return {"voices": rows, "piper_load": piper_load()}


def render(result: dict) -> list[str]:
    lines = []
    for row in result["voices"]:
        lines.append(
            f"- Speech out, {row['voice']} ({row['replies']} library replies): first audio "
            f"mean {row['first_audio_mean_ms']:.0f} ms, 95th percentile "
            f"{row['first_audio_p95_ms']:.0f} ms (CPU {row['first_audio_cpu_mean_ms']:.0f} / "
            f"{row['first_audio_cpu_p95_ms']:.0f} ms); whole reply mean "
            f"{row['whole_reply_mean_ms']:.0f} ms, real-time factor {row['rtf']:.3f}.")
    load = result["piper_load"]
    lines.append(f"- Piper voice load in a fresh process: {load['load_s']:.2f} s; resident "
                 f"memory {load['rss_before_mb']:.0f} MB before, {load['rss_loaded_mb']:.0f} MB "
                 f"loaded, {load['rss_speaking_mb']:.0f} MB after speaking a reply.")
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.voice")
    parser.add_argument("--natural-rate", action="store_true")
    parser.add_argument("--load-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help="only the first N replies")
    args = parser.parse_args()
    if args.load_probe:
        print(json.dumps(load_probe()))
    elif args.natural_rate:
        print(f"natural rate: {natural_rate():.0f} words per minute")
    else:
        print("\n".join(render(run(limit=args.limit))))
