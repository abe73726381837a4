"""Clocks for anything that happens on a schedule (the breathing coach, timers).

Waiting goes through a clock so a five-minute session can run in milliseconds in a test, and so
a session rendered into a WAV file is timed by the file itself.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep_until(self, moment: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, moment: float) -> None:
        # Sleep most of the way, then wait out the last few milliseconds, so cues start
        # within a millisecond or two of their time rather than a scheduler tick late.
        while (left := moment - time.monotonic()) > 0:
            time.sleep(left - 0.002 if left > 0.004 else 0)


class VirtualClock:
    """Time that passes only when asked to (tests, typed chat)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def sleep_until(self, moment: float) -> None:
        self._now = max(self._now, moment)

    def advance(self, seconds: float) -> None:
        self._now += seconds


class SinkClock:
    """A WAV file as the clock: now is how much has been written, and waiting writes silence.
    Rendering a session this way puts every cue exactly where its schedule says, and speech in
    between takes the time it really takes."""

    def __init__(self, sink) -> None:
        self.sink = sink  # a WavFileSink: it has a position and can pause

    def now(self) -> float:
        return self.sink.position

    def sleep_until(self, moment: float) -> None:
        if (gap := moment - self.sink.position) > 0:
            self.sink.pause(gap)


class StreamClock:
    """A recording read faster than real time is its own clock: now is how much of it has been
    heard. Once it has ended, time simply jumps to whatever is waited for."""

    def __init__(self) -> None:
        self._now = 0.0

    def now(self) -> float:
        return self._now

    def advance_to(self, moment: float) -> None:
        self._now = max(self._now, moment)

    def sleep_until(self, moment: float) -> None:
        self.advance_to(moment)
