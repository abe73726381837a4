"""Devices that go away and come back: a USB microphone knocked out, a Bluetooth speaker that
drops. Each is reported once when it is lost and once when it is back; in between it is tried
again with growing pauses, and the conversation goes on (replies are printed meanwhile).

Both wrappers sit at the audio seam, around any source or sink, so they are tested with ones
that fail on cue and used around the real microphone and speaker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from common.errors import DeviceError
from voice.audio import AudioChunk
from voice.listening import AudioSource
from voice.tts import AudioSink

log = logging.getLogger(__name__)

BACK_OFF = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds between tries; the last one repeats


def back_off(attempt: int) -> float:
    return BACK_OFF[min(attempt, len(BACK_OFF) - 1)]


class ResilientSource:
    """A source that may fail (raise DeviceError from `run`) and come back."""

    def __init__(self, source: AudioSource, name: str = "microphone",
                 notice: Callable[[str], None] | None = None) -> None:
        self.source = source
        self.name = name
        self.live = source.live
        self._notice = notice or (lambda line: log.warning("%s", line))

    def describe(self) -> str:
        return self.source.describe()

    def run(self, emit: Callable[[AudioChunk], None], report: Callable[[Exception], None],
            stop: threading.Event) -> None:
        lost = threading.Event()  # set while the device is gone; cleared by its first chunk
        attempt = 0

        def emit_and_notice(chunk: AudioChunk) -> None:
            if lost.is_set():
                lost.clear()
                self._notice(f"the {self.name} is back")
            emit(chunk)

        while not stop.is_set():
            try:
                self.source.run(emit_and_notice, report, stop)
                return  # it ended as a stream ends (a recording), or we were stopped
            except DeviceError as error:
                if not lost.is_set():  # a new loss (it may have come back in between)
                    attempt = 0
                    lost.set()
                    report(DeviceError(f"the {self.name} was lost ({error}); trying again "
                                       "until it is back"))
                else:
                    log.debug("%s still gone (%s)", self.name, error)
                if stop.wait(back_off(attempt)):
                    return
                attempt += 1


class ResilientSink:
    """A sink that may fail (DeviceError from `play`) and come back. While it is gone, what
    would have been played is skipped (the reply is printed anyway)."""

    def __init__(self, sink: AudioSink, name: str = "speaker",
                 notice: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sink = sink
        self.name = name
        self._notice = notice or (lambda line: log.warning("%s", line))
        self._clock = clock
        self._attempt = 0
        self._retry_at: float | None = None  # when lost: when to try again

    @property
    def audible(self) -> bool:
        return self.sink.audible and self._retry_at is None

    @property
    def lost(self) -> bool:
        return self._retry_at is not None

    def play(self, chunk: AudioChunk) -> None:
        if self._retry_at is not None and self._clock() < self._retry_at:
            return  # still waiting before the next try
        try:
            self.sink.play(chunk)
        except DeviceError as error:
            if self._retry_at is None:
                self._notice(f"error: the {self.name} was lost ({error}); replies are printed "
                             "until it is back")
            self._retry_at = self._clock() + back_off(self._attempt)
            self._attempt += 1
            return
        if self._retry_at is not None:
            self._notice(f"the {self.name} is back")
        self._retry_at = None
        self._attempt = 0

    def pause(self, seconds: float) -> None:
        self.sink.pause(seconds)

    def close(self) -> None:
        self.sink.close()
