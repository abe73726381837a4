"""`trust-coach timers`: show or cancel the time-out timer."""

from __future__ import annotations

from common.errors import EXIT_OK
from voice import wiring
from voice.settings import Settings


def run(settings: Settings, cancel: bool) -> int:
    book = wiring.timers(settings)
    if cancel:
        timer = book.cancel()
        print("cancelled" if timer else "no timer running")
        return EXIT_OK
    left = book.seconds_left()
    if left is None:
        print("no timer running")
    else:
        print(f"{book.active.minutes} minute break: {left / 60:.1f} minutes left")
    return EXIT_OK
