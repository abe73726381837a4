"""`trust-coach listen`: the hands-free conversation."""

from __future__ import annotations

from voice import wiring
from voice.commands import until_interrupted
from voice.settings import Settings


def run(settings: Settings) -> int:
    source = wiring.speech_source(settings)
    loop = wiring.voice_loop(settings, source, adapt=True, with_timers=True)
    wiring.print_error(f"listening: {source.describe()}")
    return until_interrupted(loop.run, loop.speaker)
