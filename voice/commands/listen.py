"""`trust-coach listen`: the hands-free conversation."""

from __future__ import annotations

from dataclasses import replace

from voice import web, wiring
from voice.commands import until_interrupted
from voice.settings import Settings


def run(settings: Settings, show_page: bool = False) -> int:
    if show_page:  # the page keeps time with the sound: a recording is heard at its own pace
        settings = replace(settings, realtime=True)
    content = wiring.library(settings) if show_page else None
    with web.observers(settings, content, wiring.print_error) as observers:
        source = wiring.speech_source(settings)
        loop = wiring.voice_loop(settings, source, adapt=True, with_timers=True, hands_free=True,
                                 **observers)
        wake = wiring.wake_settings(settings)
        waiting = f'; say "{wake.phrase}" first' if wake is not None else ""
        wiring.print_error(f"listening: {source.describe()}{waiting}")
        return until_interrupted(loop.run, loop.speaker)
