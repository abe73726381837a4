"""`trust-coach breathe`: a guided breathing exercise straight away.

It listens for "stop", "slower" and the like on the microphone (or --input). With only --output,
the whole session is rendered into the WAV file, timed by the file itself, so every cue starts
exactly where the schedule puts it; nobody is there to listen to. With --web the session runs
in real time instead, for the page to follow.
"""

from __future__ import annotations

from dataclasses import replace

from common.errors import DeviceError, UsageError
from voice import web, wiring
from voice.commands import until_interrupted
from voice.settings import Settings

MAX_ROUNDS = 100  # the longest pattern's hundred rounds last 32 minutes


def run(settings: Settings, pattern: str, rounds: int | None, show_page: bool = False) -> int:
    content = wiring.library(settings)
    if pattern not in content.breathing.patterns:
        raise UsageError(f"unknown pattern {pattern!r}; choose one of "
                         f"{', '.join(content.breathing.patterns)}")
    if rounds is not None and not 1 <= rounds <= MAX_ROUNDS:
        raise UsageError(f"--rounds must be between 1 and {MAX_ROUNDS}")
    intro = content.entry("calm_down").reply
    if show_page:  # the page keeps time with the sound: a recording is heard at its own pace
        settings = replace(settings, realtime=True)
    with web.observers(settings, content if show_page else None,
                       wiring.print_error) as observers:
        source = _listening_source(settings)
        if source is not None:
            loop = wiring.voice_loop(settings, source, adapt=source.live, **observers)
            wiring.print_error(f"listening: {source.describe()}; say stop to end")
            return until_interrupted(lambda: loop.run((pattern, rounds), intro=intro),
                                     loop.speaker)
        return _without_listening(settings, pattern, rounds, intro, observers)


def _listening_source(settings: Settings):
    """Where `breathe` hears the person: --input, else the microphone; None when rendering
    into a file, or when there is no microphone (then the exercise plays without listening,
    as a recording would)."""
    if settings.input_path is None and settings.output_path is not None:
        return None
    try:
        return wiring.speech_source(settings)
    except DeviceError as error:
        if settings.device is not None:
            raise  # a microphone was asked for by name: that it is missing is the answer
        wiring.print_error(f"trust-coach: {error}; breathing without listening "
                           "(Ctrl-C ends it)")
        return None


def _without_listening(settings: Settings, pattern: str, rounds: int | None,
                       intro: str, observers: dict) -> int:
    from voice.clock import MonotonicClock, SinkClock
    from voice.executor import LocalExecutor

    speaker = wiring.speaker(settings)
    # A page to keep in step with (observers) needs real time; the file still gets every cue
    # at its place in the schedule.
    rendering = settings.output_path is not None and not observers
    clock = SinkClock(speaker.sink) if rendering else MonotonicClock()
    executor = LocalExecutor(wiring.conversation(settings), speaker, clock,
                             out=wiring.print_line, report=wiring.print_error,
                             tone=settings.tone, count_aloud=settings.count_aloud, **observers)

    def play() -> None:
        executor.say(intro)
        executor.start_exercise(pattern, rounds)
        while executor.exercise_running:
            clock.sleep_until(executor.next_due())
            executor.tick(clock.now())

    code = until_interrupted(play, speaker)
    if executor.onsets:
        worst = max(abs(onset.actual - onset.due) for onset in executor.onsets)
        wiring.print_error(f"{len(executor.onsets)} cues, worst onset error "
                           f"{1000 * worst:.1f} ms")
    return code
