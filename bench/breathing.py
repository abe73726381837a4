"""Cue timing of a real-time breathing session with real speech output.

Runs a session on the monotonic clock, speaking in the product's voice (Piper when installed,
else espeak-ng; `--voice` picks one) into a WAV file that is written
at the pace of a speaker (so each cue takes as long as it would in the room), and reports how
far each cue's start was from its due time: mean, worst, and drift from the first cue to the
last. Target: worst under 50 ms, no drift.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path


def run(minutes: float = 5.0, pattern: str = "resonance",
        voice: str | None = None) -> dict[str, float]:
    from intents.coach import Coach
    from intents.conversation import Conversation
    from intents.library import load_library
    from voice.clock import MonotonicClock
    from voice.executor import LocalExecutor
    from voice.piper_voice import choose_synthesizer
    from voice.tts import Speaker, WavFileSink

    library = load_library()
    chosen = library.breathing.patterns[pattern]
    rounds = max(1, round(minutes * 60 / chosen.round_seconds))
    synthesizer = choose_synthesizer(wanted=voice, notice=print)
    clock = MonotonicClock()
    with tempfile.TemporaryDirectory() as tmp:
        sink = WavFileSink(Path(tmp) / "session.wav", pace=True)
        executor = LocalExecutor(Conversation(Coach(library)),
                                 Speaker(synthesizer, sink), clock,
                                 out=lambda line: None, report=print)
        executor.start_exercise(pattern, rounds)
        while executor.exercise_running:
            clock.sleep_until(executor.next_due())
            executor.tick(clock.now())
        sink.close()
    errors = [1000 * (onset.actual - onset.due) for onset in executor.onsets]
    return {
        "voice": synthesizer.name,
        "cues": len(errors),
        "session_minutes": rounds * chosen.round_seconds / 60,
        "onset_error_mean_ms": statistics.fmean(errors),
        "onset_error_worst_ms": max(errors, key=abs),
        "drift_first_to_last_ms": errors[-1] - errors[0],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--pattern", default="resonance")
    parser.add_argument("--voice", help="a Piper or espeak-ng voice (default: the product's)")
    args = parser.parse_args()
    for key, value in run(args.minutes, args.pattern, args.voice).items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
